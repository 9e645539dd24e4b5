"""Token exchange (RFC 8693): only an administrator's client, only a token minted for its
own resource, only to the audiences it fronts, never outliving or outlasting its subject."""

from __future__ import annotations

import time

import forge
import oauth
from harness import Area, challenge, expect, oauth_error, status
from mcp import Session, initialize_message
from wire import request

AREA = Area("exchange", "token exchange: laundering, rights, audiences, lifetimes")
case = AREA.case

EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


def exchanger(w, up=None) -> oauth.Client:
    """An administrator's client that may trade `UP/mcp` tokens for `UP/userinfo` ones."""
    up = up or w.main
    def make() -> oauth.Client:
        made = up.add_client("exchanger", "--exchange-from", f"{up.base}/mcp", "--exchange-to", f"{up.base}/userinfo")
        return oauth.Client(made["client_id"], "", made["client_secret"])

    return w.kept(f"exchanger:{up.label}", make)


def userinfo(base: str, token: str):
    return request(f"{base}/userinfo", headers=[("Authorization", f"Bearer {token}")])


def honest(w, subject: str) -> str:
    answer = oauth.exchange(w.base, exchanger(w), subject, f"{w.base}/userinfo")
    status(answer, 200)
    return answer.json()["access_token"]


@case("an honest exchange: /mcp's token for /userinfo, acting as the exchanger, naming the user")
def _(w):
    token = honest(w, w.token("alice", w.main.mcp))
    claims = oauth.claims(token)
    expect(claims["aud"] == f"{w.base}/userinfo" and claims["act"]["sub"] == "exchanger"
           and claims["sub"] == w.person("alice").sub, f"claims {claims}")
    profile = userinfo(w.base, token)
    status(profile, 200)
    expect(profile.json()["preferred_username"] == "alice", profile.brief())
    return f"200 aud {claims['aud']}, act {claims['act']}; /userinfo: alice"


@case("laundering: a token minted for another audience is refused")
def _(w):
    evil = w.token("alice", "https://evil.example/mcp")
    saw = oauth_error(oauth.exchange(w.base, exchanger(w), evil, f"{w.base}/userinfo"), 400, "invalid_request",
                      says="not a resource of client")
    stock = w.token("alice", w.main.server("stock"))
    oauth_error(oauth.exchange(w.base, exchanger(w), stock, f"{w.base}/userinfo"), 400, "invalid_request",
                says="not a resource of client")
    honest(w, w.token("alice", w.main.mcp))
    return saw + "; a /servers/stock/mcp token too; a /mcp token: 200"


@case("laundering through the gateway's own client is refused too")
def _(w):
    secret = (w.main.data / "gateway-client.secret").read_text().strip()
    gateway = oauth.Client("belay-gateway", "", secret)
    evil = w.token("alice", "https://evil.example/mcp")
    saw = oauth_error(oauth.exchange(w.base, gateway, evil, f"{w.base}/userinfo"), 400, "invalid_request",
                      says="not a resource of client `belay-gateway`")
    oauth_error(oauth.exchange(w.base, gateway, w.token("alice", w.main.mcp), f"{w.base}/userinfo"), 400,
                "invalid_target", says="may not obtain tokens")
    return saw + "; /mcp's token for /userinfo: invalid_target"


@case("an audience the exchanger does not front is refused")
def _(w):
    return oauth_error(oauth.exchange(w.base, exchanger(w), w.token("alice", w.main.mcp), w.main.server("stock")),
                       400, "invalid_target", says="may not obtain tokens")


@case("exchanging for the audience the token already has is refused")
def _(w):
    return oauth_error(oauth.exchange(w.base, exchanger(w), w.token("alice", w.main.mcp), w.main.mcp),
                       400, "invalid_target", says="already for this resource")


@case("a self-registered client cannot exchange, public or confidential")
def _(w):
    subject = w.token("alice", w.main.mcp)
    saw = oauth_error(oauth.exchange(w.base, w.client(), subject, f"{w.base}/userinfo"), 400, "unauthorized_client",
                      says="not registered")
    made = oauth.register(w.base, redirect_uris=[oauth.REDIRECT], token_endpoint_auth_method="client_secret_basic")
    status(made, 201)
    confidential = oauth.Client(made.json()["client_id"], "", made.json()["client_secret"])
    oauth_error(oauth.exchange(w.base, confidential, subject, f"{w.base}/userinfo"), 400, "unauthorized_client")
    return saw


@case("an administrator's client without exchange rights cannot exchange")
def _(w):
    made = w.main.add_client("reporter")
    reporter = oauth.Client(made["client_id"], "", made["client_secret"])
    return oauth_error(oauth.exchange(w.base, reporter, w.token("alice", w.main.mcp), f"{w.base}/userinfo"),
                       400, "unauthorized_client")


@case("a service token (no person signed in) cannot be exchanged")
def _(w):
    made = w.main.add_client("batch-job")
    job = oauth.Client(made["client_id"], "", made["client_secret"])
    issued = oauth.client_credentials(w.base, job, w.main.mcp)
    status(issued, 200)
    return oauth_error(oauth.exchange(w.base, exchanger(w), issued.json()["access_token"], f"{w.base}/userinfo"),
                       400, "invalid_request", says="not issued to a user's sign-in")


@case("a revoked or forged subject token cannot be exchanged")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    status(oauth.revoke(w.base, client, issued["access_token"], "access_token"), 200)
    saw = oauth_error(oauth.exchange(w.base, exchanger(w), issued["access_token"], f"{w.base}/userinfo"),
                      400, "invalid_request", says="revoked")
    forged = forge.unsigned(w.token("alice", w.main.mcp))
    oauth_error(oauth.exchange(w.base, exchanger(w), forged, f"{w.base}/userinfo"), 400, "invalid_request",
                says="not acceptable")
    return saw + "; alg none: invalid_request"


@case("an exchange cannot widen the scope, nor bring an actor token")
def _(w):
    subject = w.tokens("alice", "/mcp", scope="mcp:tools")["access_token"]
    saw = oauth_error(oauth.exchange(w.base, exchanger(w), subject, f"{w.base}/userinfo", scope="mcp:tools mcp:prompts"),
                      400, "invalid_scope", says="mcp:prompts")
    oauth_error(oauth.exchange(w.base, exchanger(w), subject, f"{w.base}/userinfo", actor_token=subject,
                               actor_token_type="urn:ietf:params:oauth:token-type:access_token"),
                400, "invalid_request", says="actor_token")
    return saw + "; actor_token: invalid_request"


@case("an exchanged token never outlives its subject")
def _(w):
    subject = w.tokens("alice", "/mcp")["access_token"]
    time.sleep(1.2)  # a token minted now for the full lifetime would end after the subject
    exchanged = honest(w, subject)
    expect(oauth.claims(exchanged)["exp"] <= oauth.claims(subject)["exp"],
           f"exchanged exp {oauth.claims(exchanged)['exp']} > subject exp {oauth.claims(subject)['exp']}")
    return f"exp {oauth.claims(exchanged)['exp']} <= subject's {oauth.claims(subject)['exp']}"


@case("an exchanged token is revoked with its subject's grant")
def _(w):
    client = w.client()
    issued = w.tokens("alice", "/mcp", client)
    exchanged = honest(w, issued["access_token"])
    status(userinfo(w.base, exchanged), 200)
    status(oauth.revoke(w.base, client, issued["refresh_token"], "refresh_token"), 200)
    answer = userinfo(w.base, exchanged)
    return oauth_error(answer, 401, "invalid_token", says="revoked")


@case("an exchanged token dies with its short-lived subject (4 s tokens)")
def _(w):
    up = w.expiry
    client = oauth.new_client(up.base)
    subject = oauth.tokens(up.base, client, "demo", up.demo_password, up.mcp)["access_token"]
    time.sleep(1.5)
    answer = oauth.exchange(up.base, exchanger(w, up), subject, f"{up.base}/userinfo")
    status(answer, 200)
    exchanged = answer.json()
    expect(oauth.claims(exchanged["access_token"])["exp"] <= oauth.claims(subject)["exp"]
           and exchanged["expires_in"] <= 3, f"exchanged {oauth.claims(exchanged['access_token'])}, expires_in "
           f"{exchanged['expires_in']}, subject exp {oauth.claims(subject)['exp']}")
    status(userinfo(up.base, exchanged["access_token"]), 200)
    time.sleep(max(0.0, oauth.claims(subject)["exp"] - time.time()) + 1.1)
    saw = oauth_error(userinfo(up.base, exchanged["access_token"]), 401, "invalid_token", says="expired")
    return f"expires_in {exchanged['expires_in']} s; after the subject's end: {saw}"


@case("an exchanged token opens no gateway endpoint")
def _(w):
    exchanged = honest(w, w.token("alice", w.main.mcp))
    answer = Session(w.main.mcp, exchanged).post(initialize_message())
    return challenge(answer, 401, "invalid_token", says="audience")
