"""Dynamic client registration (RFC 7591): what a stranger may register, and how often."""

from __future__ import annotations

import oauth
from harness import Area, expect, oauth_error, status
from wire import request

AREA = Area("registration", "anonymous registration: service grants, redirect URIs, metadata, floods")
case = AREA.case

# Refused registrations still spend this address's registration budget (40 in main's
# belay.toml): they come from an address of their own, so the flood case counts alone.
REFUSALS = "127.0.0.4"
FLOOD, BYSTANDER = "127.0.0.3", "127.0.0.2"
CODE_GRANTS = ["authorization_code", "refresh_token"]


def refused(w, error: str, says: str, **metadata) -> str:
    metadata.setdefault("redirect_uris", [oauth.REDIRECT])
    metadata.setdefault("token_endpoint_auth_method", "none")
    return oauth_error(oauth.register(w.base, source=REFUSALS, **metadata), 400, error, says=says)


def accepted(w, **metadata) -> dict:
    metadata.setdefault("redirect_uris", [oauth.REDIRECT])
    metadata.setdefault("token_endpoint_auth_method", "none")
    answer = oauth.register(w.base, source=REFUSALS, **metadata)
    status(answer, 201)
    return answer.json()


@case("client_credentials by anonymous registration is refused (an honest registration is not)")
def _(w):
    saw = refused(w, "invalid_client_metadata", "for service clients", grant_types=["client_credentials"],
                  token_endpoint_auth_method="client_secret_basic", redirect_uris=[])
    honest = accepted(w, grant_types=CODE_GRANTS)
    expect("client_secret" not in honest and honest["grant_types"] == CODE_GRANTS, f"public client: {honest}")
    return saw


@case("token exchange by anonymous registration is refused")
def _(w):
    return refused(w, "invalid_client_metadata", "for service clients",
                   grant_types=["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
                   token_endpoint_auth_method="client_secret_basic")


@case("a grant mixed into an honest list is refused as a whole")
def _(w):
    return refused(w, "invalid_client_metadata", "client_credentials",
                   grant_types=["authorization_code", "refresh_token", "client_credentials"])


@case("the password and implicit grants do not exist")
def _(w):
    saw = refused(w, "invalid_client_metadata", "not supported", grant_types=["password"])
    refused(w, "invalid_client_metadata", "not supported", grant_types=["implicit"])
    return saw


@case("response type token (implicit) is refused")
def _(w):
    return refused(w, "invalid_client_metadata", "code", response_types=["token"])


@case("a self-registered confidential client gets no client_credentials at /token")
def _(w):
    client = accepted(w, grant_types=CODE_GRANTS, token_endpoint_auth_method="client_secret_basic")
    secret = client["client_secret"]
    creds = (client["client_id"], secret)
    saw = oauth_error(oauth.token(w.base, {"grant_type": "client_credentials", "resource": w.main.mcp}, basic=creds),
                      400, "unauthorized_client", says="client_credentials")
    # Its secret does authenticate it: a bogus code is refused as a grant, not as a client.
    oauth_error(oauth.token(w.base, {"grant_type": "authorization_code", "code": "x" * 43,
                                     "code_verifier": "v" * 43, "redirect_uri": oauth.REDIRECT}, basic=creds),
                400, "invalid_grant")
    return saw


for label, uri, says in [
    ("http on a non-loopback host", "http://evil.example/cb", "non-loopback"),
    ("a loopback-looking name", "http://127.0.0.1.evil.example/cb", "non-loopback"),
    ("localhost as a subdomain", "http://localhost.evil.example/cb", "non-loopback"),
    ("javascript:", "javascript:alert(document.cookie)", "scheme"),
    ("data:", "data:text/html,<script>alert(1)</script>", "scheme"),
    ("a private-use scheme that is no reverse domain", "myapp:/cb", "reverse domain"),
    ("a fragment", "https://app.example/cb#frag", "fragment"),
    ("a relative URI", "/cb", "absolute"),
]:

    @case(f"redirect URI refused: {label}")
    def _(w, uri=uri, says=says):
        return refused(w, "invalid_redirect_uri", says, redirect_uris=["https://app.example/ok", uri])


@case("redirect URIs that are allowed: https, loopback http, reverse-domain schemes")
def _(w):
    client = accepted(w, redirect_uris=["https://app.example/cb", "http://localhost:9/cb", "http://[::1]/cb",
                                        "com.example.app:/oauth"])
    return f"201 {client['redirect_uris']}"


@case("authorization_code without any redirect URI is refused")
def _(w):
    return refused(w, "invalid_redirect_uri", "redirect_uris", redirect_uris=[])


@case("oversized metadata (70 KiB) is refused unread")
def _(w):
    return refused(w, "invalid_client_metadata", "too large", client_name="x" * 70_000)


@case("a body that is not JSON metadata is refused")
def _(w):
    answer = oauth.json_post(f"{w.base}/register", None, source=REFUSALS, raw=b"redirect_uris=http://x")
    saw = oauth_error(answer, 400, "invalid_client_metadata", says="JSON")
    oauth_error(oauth.json_post(f"{w.base}/register", None, source=REFUSALS, raw=b'["a"]'), 400, "invalid_client_metadata")
    return saw


@case("a scope the server does not offer is refused")
def _(w):
    return refused(w, "invalid_client_metadata", "admin", scope="mcp:tools admin")


@case("an unsupported client authentication method is refused")
def _(w):
    return refused(w, "invalid_client_metadata", "private_key_jwt", token_endpoint_auth_method="private_key_jwt")


@case("a registration flood from one address gets 429 + Retry-After; another address is served")
def _(w):
    answers = []
    while len(answers) < 60 and (not answers or answers[-1].status == 201):
        answers.append(oauth.register(w.base, source=FLOOD, redirect_uris=[oauth.REDIRECT],
                                      token_endpoint_auth_method="none"))
    codes = [a.status for a in answers]
    # 40 at once (the configured burst), a few more if the bucket refilled meanwhile.
    expect(codes[:40] == [201] * 40 and codes[-1] == 429, f"statuses: {codes}")
    saw = oauth_error(answers[-1], 429, "slow_down", says="retry in")
    expect((answers[-1].header("retry-after") or "").isdigit(), f"Retry-After: {answers[-1].header('retry-after')}")
    spoofed = request(f"{w.base}/register", "POST", source=FLOOD, body=b'{"redirect_uris":["http://127.0.0.1/cb"]}',
                      headers=[("Content-Type", "application/json"), ("X-Forwarded-For", "198.51.100.7")])
    status(spoofed, 429)
    other = oauth.register(w.base, source=BYSTANDER, redirect_uris=[oauth.REDIRECT], token_endpoint_auth_method="none")
    status(other, 201)
    return f"{saw}; X-Forwarded-For from an untrusted peer ignored (429); 127.0.0.2 served (201)"


@case("belay auth serve: client_credentials by anonymous registration is refused there too")
def _(w):
    issuer, _, _ = w.pair
    saw = oauth_error(oauth.register(issuer, grant_types=["client_credentials"],
                                     token_endpoint_auth_method="client_secret_basic"),
                      400, "invalid_client_metadata", says="for service clients")
    status(oauth.register(issuer, redirect_uris=[oauth.REDIRECT], token_endpoint_auth_method="none"), 201)
    return saw
