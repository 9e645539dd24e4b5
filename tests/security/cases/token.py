"""The token endpoint: codes (PKCE verifier, single use, bound to a client, a redirect URI
and a resource, 60 s), client authentication, and refresh tokens (rotation, reuse
detection, a refused refresh that burns nothing, no refresh token without the grant)."""

from __future__ import annotations

import oauth
from harness import Area, Later, challenge, expect, oauth_error, status
from mcp import Session, initialize_message

AREA = Area("token", "/token: codes, PKCE verifiers, client authentication, refresh rotation")
case = AREA.case


def code(w, user: str = "alice", client: oauth.Client | None = None, resource: str | None = None,
         scope: str | None = None) -> oauth.Code:
    person = w.person(user)
    return oauth.sign_in(w.base, client or w.client(), person.username, person.password,
                         resource or w.main.mcp, scope=scope)


def works_at_gateway(w, access_token: str) -> None:
    answer = Session(w.main.mcp, access_token).post(initialize_message())
    expect(answer.status == 200, f"the token works at the gateway: {answer.brief()}")


def refused_at_gateway(w, access_token: str) -> str:
    answer = Session(w.main.mcp, access_token).post(initialize_message())
    return challenge(answer, 401, "invalid_token", says="revoked")


@case("a wrong PKCE verifier is refused, and the code is burned by the attempt")
def _(w):
    stolen = code(w)
    other, _ = oauth.pkce()
    saw = oauth_error(oauth.redeem(w.base, oauth.Code(stolen.code, other, stolen.client, {})), 400, "invalid_grant",
                      says="code_verifier does not match")
    oauth_error(oauth.redeem(w.base, stolen), 400, "invalid_grant", says="already used")
    honest = oauth.redeem(w.base, code(w))
    status(honest, 200)
    return saw + "; the right verifier afterwards: already used; a fresh code: 200"


@case("a missing or malformed PKCE verifier is refused")
def _(w):
    c = code(w)
    saw = oauth_error(oauth.token(w.base, {"grant_type": "authorization_code", "code": c.code,
                                           "redirect_uri": c.client.redirect_uri}, c.client),
                      400, "invalid_request", says="code_verifier is required")
    oauth_error(oauth.redeem(w.base, oauth.Code(c.code, "short", c.client, {})), 400, "invalid_request", says="43 to 128")
    status(oauth.redeem(w.base, c), 200)
    return saw + "; 'short': invalid_request; then the real verifier: 200 (nothing burned)"


@case("a code issued to another client is refused")
def _(w):
    c = code(w)
    thief = w.client("thief")
    saw = oauth_error(oauth.redeem(w.base, oauth.Code(c.code, c.verifier, thief, {})), 400, "invalid_grant",
                      says="another client")
    return saw


@case("the redirect URI at /token must be the one authorized")
def _(w):
    c = code(w)
    return oauth_error(oauth.redeem(w.base, c, redirect_uri="http://127.0.0.1:33418/other"), 400, "invalid_grant",
                       says="redirect_uri must be identical")


@case("the resource at /token must be the one authorized")
def _(w):
    c = code(w)
    return oauth_error(oauth.redeem(w.base, c, resource="https://evil.example/mcp"), 400, "invalid_target",
                       says="must be the one authorized")


@case("a replayed code is refused and revokes the tokens it gave")
def _(w):
    c = code(w)
    first = oauth.redeem(w.base, c)
    status(first, 200)
    issued = first.json()
    works_at_gateway(w, issued["access_token"])
    saw = oauth_error(oauth.redeem(w.base, c), 400, "invalid_grant", says="already used")
    refused_at_gateway(w, issued["access_token"])
    oauth_error(oauth.refresh(w.base, c.client, issued["refresh_token"]), 400, "invalid_grant", says="used twice")
    return saw + "; its access token: 401 revoked; its refresh token: invalid_grant"


@case("an expired code (after its 60 s) is refused; a fresh one works")
def _(w):
    c = code(w)

    def later() -> str:
        saw = oauth_error(oauth.redeem(w.base, c), 400, "invalid_grant", says="expired")
        status(oauth.redeem(w.base, code(w)), 200)
        return saw + "; a fresh code: 200"

    return Later(61, later)


@case("a public client that sends a secret is refused (401, WWW-Authenticate: Basic)")
def _(w):
    c = code(w)
    answer = oauth.token(w.base, {"grant_type": "authorization_code", "code": c.code, "code_verifier": c.verifier,
                                  "redirect_uri": c.client.redirect_uri}, basic=(c.client.client_id, "guessed"))
    saw = oauth_error(answer, 401, "invalid_client", says="public client")
    expect((answer.header("www-authenticate") or "").startswith("Basic"), f"WWW-Authenticate {answer.header('www-authenticate')}")
    status(oauth.redeem(w.base, c), 200)
    return saw + "; the code still works for its client"


@case("a confidential client with a wrong secret, or none, is refused")
def _(w):
    answer = oauth.register(w.base, redirect_uris=[oauth.REDIRECT], token_endpoint_auth_method="client_secret_basic")
    status(answer, 201)
    client = answer.json()
    fields = {"grant_type": "authorization_code", "code": "x" * 43, "code_verifier": "v" * 43,
              "redirect_uri": oauth.REDIRECT}
    saw = oauth_error(oauth.token(w.base, fields, basic=(client["client_id"], "wrong")), 401, "invalid_client",
                      says="wrong client secret")
    oauth_error(oauth.token(w.base, {**fields, "client_id": client["client_id"]}), 401, "invalid_client",
                says="confidential")
    oauth_error(oauth.token(w.base, fields, basic=(client["client_id"], client["client_secret"])), 400, "invalid_grant")
    return saw + "; no secret: invalid_client; the right secret gets as far as the code (invalid_grant)"


@case("an unknown client, or none, is refused")
def _(w):
    fields = {"grant_type": "authorization_code", "code": "x" * 43, "code_verifier": "v" * 43}
    saw = oauth_error(oauth.token(w.base, {**fields, "client_id": "nobody"}), 401, "invalid_client", says="unknown client")
    oauth_error(oauth.token(w.base, fields), 401, "invalid_client", says="client authentication required")
    return saw


@case("an unsupported grant type, a JSON body and repeated parameters are refused")
def _(w):
    saw = oauth_error(oauth.token(w.base, {"grant_type": "password", "username": "alice", "password": "x",
                                           "client_id": w.client().client_id}), 400, "unsupported_grant_type")
    json_body = oauth.json_post(f"{w.base}/token", {"grant_type": "authorization_code"})
    oauth_error(json_body, 400, "invalid_request", says="x-www-form-urlencoded")
    repeated = oauth.form_post(f"{w.base}/token", [("grant_type", "refresh_token"), ("client_id", w.client().client_id),
                                                   ("refresh_token", "a"), ("refresh_token", "b")])
    oauth_error(repeated, 400, "invalid_request", says="repeated")
    return saw


@case("refresh tokens rotate; reusing an old one revokes the whole grant")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    first = oauth.refresh(w.base, client, issued["refresh_token"])
    status(first, 200)
    rotated = first.json()
    expect(rotated["refresh_token"] != issued["refresh_token"], "the refresh token was not rotated")
    works_at_gateway(w, rotated["access_token"])
    saw = oauth_error(oauth.refresh(w.base, client, issued["refresh_token"]), 400, "invalid_grant", says="already used")
    oauth_error(oauth.refresh(w.base, client, rotated["refresh_token"]), 400, "invalid_grant", says="revoked")
    for access in (issued["access_token"], rotated["access_token"]):
        refused_at_gateway(w, access)
    return saw + "; the rotated one: revoked; both access tokens: 401 at the gateway"


@case("a refused refresh (a scope never granted) does not burn the refresh token")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client, scope="mcp:tools offline_access")
    saw = oauth_error(oauth.refresh(w.base, client, issued["refresh_token"], scope="mcp:tools mcp:prompts"),
                      400, "invalid_scope", says="mcp:prompts")
    oauth_error(oauth.refresh(w.base, client, issued["refresh_token"], resource="https://evil.example/mcp"),
                400, "invalid_target")
    status(oauth.refresh(w.base, client, issued["refresh_token"]), 200)
    return saw + "; another resource: invalid_target; then the same token refreshes (200)"


@case("a refresh token presented by another client is refused and left usable")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    saw = oauth_error(oauth.refresh(w.base, w.client("thief"), issued["refresh_token"]), 400, "invalid_grant",
                      says="unknown refresh token")
    status(oauth.refresh(w.base, client, issued["refresh_token"]), 200)
    return saw + "; its own client then refreshes (200)"


@case("no refresh token for a client without the refresh grant, even with offline_access")
def _(w):
    w.client("code-only", grant_types=["authorization_code"])
    issued = w.tokens("alice", "/mcp", w.client("code-only"), scope="mcp:tools offline_access")
    expect("refresh_token" not in issued and "offline_access" not in issued.get("scope", ""), f"{sorted(issued)}")
    return f"200 with {sorted(issued)}, scope {issued.get('scope')!r}"


@case("another client cannot revoke someone's tokens (200 per RFC 7009, and nothing revoked)")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    thief = w.client("thief")
    status(oauth.revoke(w.base, thief, issued["access_token"], "access_token"), 200)
    status(oauth.revoke(w.base, thief, issued["refresh_token"], "refresh_token"), 200)
    works_at_gateway(w, issued["access_token"])
    status(oauth.refresh(w.base, client, issued["refresh_token"]), 200)
    return "200 twice; the access token still opens the gateway and the refresh token still refreshes"


@case("a public client cannot introspect tokens")
def _(w):
    token = w.token("alice", w.main.mcp)
    answer = oauth.form_post(f"{w.base}/introspect", {"client_id": w.client().client_id, "token": token})
    saw = oauth_error(answer, 400, "unauthorized_client", says="confidential")
    expect("alice" not in answer.text, "the refusal shows the token's owner")
    return saw
