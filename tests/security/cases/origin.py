"""DNS rebinding and discovery: a foreign Host or Origin gets 403 on every route of the port,
and each endpoint's protected resource metadata names that endpoint, so a token asked for
one endpoint is never good at another."""

from __future__ import annotations

from harness import Area, expect, rpc_error, status, tool_text
from mcp import ACCEPT, Session
from wire import connect, read_until_closed, request, split_url, status_of

AREA = Area("origin", "DNS rebinding (Host, Origin), metadata per endpoint, discovery documents")
case = AREA.case

PRM = "/.well-known/oauth-protected-resource"
JSON = [("Content-Type", "application/json"), ACCEPT]


def post_mcp(w, **kw):
    return request(w.main.mcp, "POST", headers=JSON + kw.pop("extra", []), body=b"{}", **kw)


for label, host in [
    ("another name", "evil.example"),
    ("another name on the right port", "evil.example:{port}"),
    ("a name that starts like loopback", "127.0.0.1.evil.example:{port}"),
    ("localhost as a subdomain", "localhost.evil.example"),
]:

    @case(f"a foreign Host is 403 at /mcp: {label}")
    def _(w, host=host):
        saw = rpc_error(post_mcp(w, host_header=host.format(port=w.main.port)), 403, -32600, says="Host header")
        status(post_mcp(w), 401)
        return saw + "; with the loopback Host: 401 (on to sign-in)"


@case("a foreign Host is 403 on the authorization server's routes too")
def _(w):
    host = "evil.example"
    seen = []
    for method, path in [("GET", "/authorize?client_id=x"), ("POST", "/token"), ("POST", "/register"),
                         ("GET", "/.well-known/oauth-authorization-server"), ("GET", PRM + "/mcp"), ("GET", "/jwks.json")]:
        answer = request(w.base + path, method, host_header=host, body=b"" if method == "POST" else None)
        rpc_error(answer, 403, -32600, says="Host header")
        seen.append(path.split("?")[0])
    status(request(w.base + "/jwks.json"), 200)
    return f"403 on {', '.join(seen)}; the loopback Host: 200"


for label, origin in [
    ("another site", "https://evil.example"),
    ("a site named like localhost", "http://localhost.evil.example"),
    ("an opaque origin", "null"),
    ("a loopback-looking name", "http://127.0.0.1.evil.example:8000"),
]:

    @case(f"a foreign Origin is 403: {label}")
    def _(w, origin=origin):
        saw = rpc_error(post_mcp(w, extra=[("Origin", origin)]), 403, -32600, says="Origin")
        status(post_mcp(w, extra=[("Origin", "http://localhost:6274")]), 401)
        return saw + "; a loopback page's Origin: 401 (on to sign-in)"


@case("a request without a Host header is refused")
def _(w):
    host, port, _ = split_url(w.base)
    sock = connect(host, port)
    sock.sendall(b"GET /jwks.json HTTP/1.1\r\nConnection: close\r\n\r\n")
    raw, _, _ = read_until_closed(sock, 5)
    sock.close()
    expect(status_of(raw) == 403 and b"missing or non-ASCII Host" in raw, f"{raw[:200]!r}")
    return "403 (missing Host), no keys served"


ENDPOINTS = ["/mcp", "/sse", "/servers/stock/mcp", "/servers/stock/sse", "/servers/whoami/mcp"]


@case("each endpoint's metadata names that endpoint as the resource and the issuer as its server")
def _(w):
    for path in ENDPOINTS:
        answer = request(w.base + PRM + path)
        status(answer, 200)
        doc = answer.json()
        expect(doc.get("resource") == w.base + path and doc.get("authorization_servers") == [w.base]
               and doc.get("bearer_methods_supported") == ["header"], f"{path}: {doc}")
    return f"{len(ENDPOINTS)} documents, each naming its own URL"


@case("each endpoint's 401 points at its own metadata")
def _(w):
    for path in ENDPOINTS:
        method = "GET" if path.endswith("/sse") else "POST"
        answer = request(w.base + path, method, headers=JSON, body=b"{}" if method == "POST" else None)
        header = answer.header("www-authenticate") or ""
        expect(answer.status == 401 and f'resource_metadata="{w.base}{PRM}{path}"' in header, f"{path}: {header}")
    return f"{len(ENDPOINTS)} endpoints, each 401 naming {PRM}<its path>"


@case("an upstream that does not exist is 404, as is its metadata")
def _(w):
    saw = rpc_error(request(w.base + "/servers/nosuch/mcp", "POST", headers=JSON, body=b"{}"), 404, -32600,
                    says="no upstream `nosuch`")
    status(request(w.base + PRM + "/servers/nosuch/mcp"), 404)
    return saw


@case("the authorization server advertises only what it enforces")
def _(w):
    doc = request(w.base + "/.well-known/oauth-authorization-server").json()
    expect(doc["issuer"] == w.base and doc["code_challenge_methods_supported"] == ["S256"]
           and doc["response_types_supported"] == ["code"] and doc["authorization_response_iss_parameter_supported"]
           is True and "password" not in doc["grant_types_supported"]
           and "implicit" not in doc["grant_types_supported"], f"{doc}")
    return "issuer = base, PKCE S256 only, code only, iss on responses, no password or implicit grant"


@case("the JWKS publishes public keys only")
def _(w):
    keys = request(w.base + "/jwks.json").json()["keys"]
    private = [k["kid"] for k in keys if any(m in k for m in ("d", "p", "q", "dp", "dq", "qi", "k"))]
    expect(keys and not private and all(k.get("use") == "sig" and k.get("alg") in ("ES256", "RS256") for k in keys),
           f"keys {keys}")
    return f"{len(keys)} key(s), {', '.join(k['alg'] for k in keys)}, no private members"


@case("/metrics needs no token but names no person, client or argument")
def _(w):
    s = Session(w.main.mcp, w.token("alice", w.main.mcp))
    s.initialize()
    tool_text(s.call("weather__get_weather", {"city": "Reykjavik"}), "Reykjavik")
    answer = request(w.base + "/metrics")
    status(answer, 200)
    text = answer.text
    leaked = [v for v in (w.person("alice").sub, "alice", w.client().client_id, "Reykjavik") if v in text]
    expect("belay_gateway_requests_total" in text and not leaked, f"leaked {leaked}")
    rpc_error(request(w.base + "/metrics", host_header="evil.example"), 403, -32600)
    return "200 with belay_gateway_requests_total, no user, client or argument; a foreign Host: 403"
