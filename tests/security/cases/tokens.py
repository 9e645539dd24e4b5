"""Bearer tokens at the gateway of `belay up`: forged, confused, misplaced, for another
endpoint, from another issuer, naming no person, revoked, expired, of a removed user."""

from __future__ import annotations

import time

import forge
import oauth
from harness import Area, challenge, expect, oauth_error, status, tool_text
from mcp import Session, initialize_message
from wire import Answer, request

AREA = Area("tokens", "the gateway's bearer checks: forgery, audience, issuer, service tokens, revocation")
case = AREA.case


def open_with(url: str, token: str, headers: list[tuple[str, str]] | None = None) -> Answer:
    """What a client opening a session at `url` with `token` is told (GET for an SSE endpoint)."""
    if url.endswith("/sse"):
        pairs = [("Accept", "text/event-stream"), ("Authorization", f"Bearer {token}")] + list(headers or [])
        return request(url, "GET", headers=pairs)
    return Session(url, token).post(initialize_message(), extra=headers)


def accepted(url: str, token: str) -> None:
    answer = open_with(url, token)
    expect(answer.status == 200, f"the genuine token is accepted at {url}: {answer.brief()}")


def refused(url: str, token: str, says: str, http: int = 401, error: str = "invalid_token") -> str:
    return challenge(open_with(url, token), http, error, says=says)


@case("no token: 401 naming the metadata and the scopes to ask for")
def _(w):
    answer = request(w.main.mcp, "POST", headers=[("Content-Type", "application/json")], body=b"{}")
    saw = challenge(answer, 401, None)
    header = answer.header("www-authenticate") or ""
    expect(f'resource_metadata="{w.base}/.well-known/oauth-protected-resource/mcp"' in header
           and 'scope="mcp:tools' in header, header)
    return saw + f": {header}"


@case("alg none is refused")
def _(w):
    real = w.token("alice", w.main.mcp)
    saw = refused(w.main.mcp, forge.unsigned(real), "alg `none` is refused")
    accepted(w.main.mcp, real)
    return saw


@case("HS256 signed with the issuer's public key (PEM and JWK) is refused")
def _(w):
    real = w.token("alice", w.main.mcp)
    keys = request(f"{w.base}/jwks.json").json()["keys"]
    kid = oauth.jwt_parts(real)[0]["kid"]
    jwk = next(k for k in keys if k["kid"] == kid)
    saw = refused(w.main.mcp, forge.hs256(real, forge.public_key_pem(jwk)), "alg `HS256` is refused")
    refused(w.main.mcp, forge.hs256(real, forge.jwk_text(jwk)), "alg `HS256` is refused")
    return saw


@case("a key of the attacker's own under an unknown kid is refused")
def _(w):
    header, claims = oauth.jwt_parts(w.token("alice", w.main.mcp))
    token = forge.es256({**header, "kid": "attacker-key-1"}, claims)
    return refused(w.main.mcp, token, "no signing key `attacker-key-1`")


@case("a key of the attacker's own under the issuer's kid is refused")
def _(w):
    header, claims = oauth.jwt_parts(w.token("alice", w.main.mcp))
    return refused(w.main.mcp, forge.es256(header, claims), "signature does not verify")


@case("a genuine token with its claims edited (another user, another audience) is refused")
def _(w):
    real = w.token("alice", w.main.mcp)
    saw = refused(w.main.mcp, forge.edited(real, sub=w.person("bob").sub, preferred_username="bob"),
                  "signature does not verify")
    refused(w.main.server("stock"), forge.edited(real, aud=w.main.server("stock")), "signature does not verify")
    return saw


@case("a token from another issuer signed with the very same key is refused")
def _(w):
    issuer = w.elsewhere
    alice = w.person("alice")
    client = oauth.new_client(issuer, name="elsewhere app")
    issued = oauth.tokens(issuer, client, alice.username, alice.password, w.main.mcp)["access_token"]
    expect(oauth.claims(issued)["iss"] == issuer and oauth.jwt_parts(issued)[0]["kid"]
           == oauth.jwt_parts(w.token("alice", w.main.mcp))[0]["kid"], "not the same key under another issuer")
    saw = refused(w.main.mcp, issued, "not issued by")
    accepted(w.main.mcp, w.token("alice", w.main.mcp))
    return saw


for minted, used in [
    ("/servers/stock/mcp", "/mcp"),
    ("/mcp", "/servers/stock/mcp"),
    ("/sse", "/mcp"),
    ("/mcp", "/sse"),
    ("/servers/stock/mcp", "/servers/weather/mcp"),
    ("/servers/stock/mcp", "/servers/stock/sse"),
    ("https://evil.example/mcp", "/mcp"),
    ("/userinfo", "/mcp"),
]:

    @case(f"a token minted for {minted} is refused at {used}")
    def _(w, minted=minted, used=used):
        resource = minted if minted.startswith("http") else w.base + minted
        token = w.token("alice", resource)
        saw = refused(w.base + used, token, "audience")
        if not minted.startswith("http") and minted != "/userinfo":
            accepted(resource, token)
        accepted(w.base + used, w.token("alice", w.base + used))
        return saw


@case("a token in the query string is refused, even a valid one")
def _(w):
    token = w.token("alice", w.main.mcp)
    answer = Session(f"{w.main.mcp}?access_token={token}").post(initialize_message())
    return challenge(answer, 400, "invalid_request", says="tokens in the URL are refused")


@case("two Authorization headers are refused, even two valid tokens")
def _(w):
    alice, bob = w.token("alice", w.main.mcp), w.token("bob", w.main.mcp)
    answer = open_with(w.main.mcp, alice, headers=[("Authorization", f"Bearer {bob}")])
    return challenge(answer, 400, "invalid_request", says="exactly one Authorization header")


@case("a Bearer header with two tokens, or with garbage, is refused")
def _(w):
    token = w.token("alice", w.main.mcp)
    saw = challenge(open_with(w.main.mcp, f"{token} {token}"), 400, "invalid_request")
    challenge(open_with(w.main.mcp, token + '"; x="'), 400, "invalid_request")
    return saw


@case("Basic credentials are no bearer token")
def _(w):
    answer = request(w.main.mcp, "POST", body=b"{}", headers=[("Content-Type", "application/json"),
                                                             ("Authorization", "Basic YWxpY2U6cGFzcw==")])
    return challenge(answer, 401, None)


@case("an ID token is not an access token")
def _(w):
    issued = w.tokens("alice", "/mcp", scope="openid profile mcp:tools")
    id_token = issued.get("id_token")
    expect(bool(id_token), f"no id_token in {sorted(issued)}")
    saw = refused(w.main.mcp, id_token, "at+jwt")
    accepted(w.main.mcp, issued["access_token"])
    return saw


def robot(w) -> oauth.Client:
    def make() -> oauth.Client:
        made = w.main.add_client("robot")
        return oauth.Client(made["client_id"], "", made["client_secret"])

    return w.kept("robot", make)


@case("a service token (admin-created client, client credentials) is refused at every endpoint")
def _(w):
    client = robot(w)
    saw = ""
    for url in (w.main.mcp, w.main.server("stock"), w.base + "/sse"):
        issued = oauth.client_credentials(w.base, client, url)
        status(issued, 200)
        saw = saw or refused(url, issued.json()["access_token"], "names no user")
        refused(url, issued.json()["access_token"], "names no user")
    return saw + " (/mcp, /servers/stock/mcp, /sse)"


@case("the gateway's own service token is refused at its public edge")
def _(w):
    secret = (w.main.data / "gateway-client.secret").read_text().strip()
    gateway = oauth.Client("belay-gateway", "", secret)
    issued = oauth.client_credentials(w.base, gateway, w.main.mcp)
    status(issued, 200)
    return refused(w.main.mcp, issued.json()["access_token"], "names no user")


@case("a revoked access token stops in its open session and cannot open a new one")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    session = Session(w.main.mcp, issued["access_token"])
    session.initialize()
    tool_text(session.call("stock__get_stock_price", {"symbol": "AAPL"}), "150.25")
    other = Session(w.main.mcp, w.token("bob", w.main.mcp))
    other.initialize()
    status(oauth.revoke(w.base, client, issued["access_token"], "access_token"), 200)
    saw = challenge(session.call("stock__get_stock_price", {"symbol": "AAPL"}), 401, "invalid_token", says="revoked")
    refused(w.main.mcp, issued["access_token"], "revoked")
    tool_text(other.call("stock__get_stock_price", {"symbol": "AAPL"}), "150.25")
    return saw + "; a new session: 401; another user's session carries on"


@case("revoking the refresh token stops the access tokens of its grant at the gateway")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    accepted(w.main.mcp, issued["access_token"])
    status(oauth.revoke(w.base, client, issued["refresh_token"], "refresh_token"), 200)
    return refused(w.main.mcp, issued["access_token"], "revoked")


@case("a token without mcp:tools cannot call tools, even inside a batch (403 insufficient_scope)")
def _(w):
    token = w.tokens("alice", "/mcp", scope="mcp:resources")["access_token"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "stock__get_stock_price",
                                                                          "arguments": {"symbol": "AAPL"}}}
    single = Session(w.main.mcp, token).post(call)
    saw = challenge(single, 403, "insufficient_scope", says="mcp:tools")
    expect('scope="mcp:resources mcp:tools"' in (single.header("www-authenticate") or ""),
           f"step-up scope: {single.header('www-authenticate')}")
    batch = Session(w.main.mcp, token).post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, call])
    challenge(batch, 403, "insufficient_scope", says="mcp:tools")
    accepted(w.main.mcp, token)
    return saw + "; asks to step up to mcp:resources mcp:tools; a batch hiding the call: 403 too"


def stops_within(session: Session, seconds: float = 6.0) -> Answer:
    """The open session's first refusal of `token`, polled while the running server learns
    of a revocation another process made (it re-reads the store every 2 s)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = session.call("stock__get_stock_price", {"symbol": "AAPL"})
        if answer.status == 401 or time.monotonic() > deadline:
            return answer
        time.sleep(0.25)


@case("a removed person's token stops at the gateway within seconds, in an open session and a new one")
def _(w):
    up = w.removals
    carol = w.person("removals:carol")
    client = oauth.new_client(up.base)
    issued = oauth.tokens(up.base, client, carol.username, carol.password, up.mcp)
    session = Session(up.mcp, issued["access_token"])
    session.initialize()
    tool_text(session.call("whoami__whoami", {}), "carol")
    tool_text(session.call("stock__get_stock_price", {"symbol": "AAPL"}), "150.25")
    demo = oauth.tokens(up.base, client, "demo", up.demo_password, up.mcp)["access_token"]
    removed = up.cli("auth", "user", "remove", "carol")
    expect(removed.returncode == 0, f"belay auth user remove: {removed.stderr}")
    saw = challenge(stops_within(session), 401, "invalid_token", says="revoked")
    refused(up.mcp, issued["access_token"], "revoked")
    oauth_error(oauth.refresh(up.base, client, issued["refresh_token"]), 400, "invalid_grant")
    accepted(up.mcp, demo)
    return saw + "; a new session: 401; refresh: invalid_grant; demo, through the same app, carries on"


@case("a removed client's tokens stop at the gateway within seconds")
def _(w):
    up = w.removals
    client = oauth.new_client(up.base, name="soon removed")
    issued = oauth.tokens(up.base, client, "demo", up.demo_password, up.mcp)
    session = Session(up.mcp, issued["access_token"])
    session.initialize()
    tool_text(session.call("stock__get_stock_price", {"symbol": "AAPL"}), "150.25")
    other = oauth.tokens(up.base, oauth.new_client(up.base), "demo", up.demo_password, up.mcp)["access_token"]
    removed = up.cli("auth", "client", "remove", client.client_id)
    expect(removed.returncode == 0, f"belay auth client remove: {removed.stderr}")
    saw = challenge(stops_within(session), 401, "invalid_token", says="revoked")
    refused(up.mcp, issued["access_token"], "revoked")
    accepted(up.mcp, other)
    return saw + "; a new session: 401; the same person through another app carries on"


@case("after those removals, stopping belay up logs no ERROR line (the sessions it cannot end are left to expire)")
def _(w):
    up = w.removals
    code = up.stop()
    log = up.log().splitlines()
    start = next((i for i, line in enumerate(log) if "shutdown signal received" in line), None)
    expect(code == 0 and start is not None, f"exit {code}; shutdown line: {start}")
    errors = [line for line in log[start:] if " ERROR " in line]
    expect(not errors, f"{len(errors)} ERROR line(s) after SIGTERM: {errors[:1]}")
    return f"exit 0, {len(log) - start} lines after SIGTERM, none ERROR"


@case("an expired token stops in its open session and cannot open a new one")
def _(w):
    up = w.expiry
    client = oauth.new_client(up.base)
    issued = oauth.tokens(up.base, client, "demo", up.demo_password, up.mcp)["access_token"]
    session = Session(up.mcp, issued)
    session.initialize()
    tool_text(session.call("weather__get_weather", {"city": "Paris"}), "Paris")
    time.sleep(max(0.0, oauth.claims(issued)["exp"] - time.time()) + 1.2)
    saw = challenge(session.call("weather__get_weather", {"city": "Paris"}), 401, "invalid_token", says="expired")
    challenge(open_with(up.mcp, issued), 401, "invalid_token", says="expired")
    return saw + "; a new session: 401"


@case("belay serve --auth: a service token is refused, a person's token works")
def _(w):
    issuer, url, person = w.pair
    made = w.pair_client()
    issued = oauth.client_credentials(issuer, made, url)
    status(issued, 200)
    saw = refused(url, issued.json()["access_token"], "names no user")
    client = oauth.new_client(issuer)
    token = oauth.tokens(issuer, client, person.username, person.password, url)["access_token"]
    session = Session(url, token)
    session.initialize()
    tool_text(session.call("get_weather", {"city": "London"}), "London")
    return saw + "; alice's token: get_weather(London) answered"
