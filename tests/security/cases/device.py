"""The device flow (RFC 8628): user codes cannot be guessed from one address, polling
has its pace, a device code belongs to its client and is exchanged once."""

from __future__ import annotations

import secrets

import oauth
from harness import Area, expect, oauth_error, status
from wire import request

AREA = Area("device", "device authorization: user-code guessing, polling, one client, one exchange")
case = AREA.case

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_client(w, label: str = "device") -> oauth.Client:
    def make() -> oauth.Client:
        made = oauth.register(w.base, client_name=label, grant_types=[DEVICE_GRANT], token_endpoint_auth_method="none")
        status(made, 201)
        return oauth.Client(made.json()["client_id"], "")

    return w.kept(f"device:{label}", make)


def start(w, client: oauth.Client) -> dict:
    answer = oauth.form_post(f"{w.base}/device_authorization", {"client_id": client.client_id, "resource": w.main.mcp})
    status(answer, 200)
    return answer.json()


def poll(w, client: oauth.Client, device_code: str):
    return oauth.token(w.base, {"grant_type": DEVICE_GRANT, "device_code": device_code}, client)


def code_page(w, user_code: str, source: str | None = None):
    return request(f"{w.base}/device?user_code={user_code}", source=source)


@case("user-code guessing is capped per address (429 + Retry-After); another address enters its code")
def _(w):
    issued = start(w, device_client(w))
    guesses = [code_page(w, "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8)), "127.0.0.16")
               for _ in range(11)]
    codes = [g.status for g in guesses]
    expect(codes[:10] == [400] * 10 and codes[10] == 429 and (guesses[10].header("retry-after") or "").isdigit(),
           f"statuses {codes}, Retry-After {guesses[10].header('retry-after')}")
    honest = code_page(w, issued["user_code"], "127.0.0.17")
    expect(honest.status == 200 and oauth.hidden_fields(honest).get("csrf"), f"the real code elsewhere: {honest.brief()}")
    return f"{codes}; the real code from 127.0.0.17: the consent page"


@case("polling before approval is authorization_pending, then slow_down when too fast")
def _(w):
    client = device_client(w)
    issued = start(w, client)
    saw = oauth_error(poll(w, client, issued["device_code"]), 400, "authorization_pending")
    oauth_error(poll(w, client, issued["device_code"]), 400, "slow_down")
    return saw + "; at once again: slow_down"


@case("a device code is the client's own: another client polling it is refused")
def _(w):
    issued = start(w, device_client(w))
    return oauth_error(poll(w, device_client(w, "other device"), issued["device_code"]), 400, "invalid_grant",
                       says="another client")


@case("the device consent form needs its CSRF cookie; approved, the code is exchanged once")
def _(w):
    client = device_client(w)
    issued = start(w, client)
    alice = w.person("alice")
    page = code_page(w, issued["user_code"])
    status(page, 200)
    fields = dict(oauth.hidden_fields(page), username=alice.username, password=alice.password, consent="approve")
    forged = oauth.form_post(f"{w.base}/device", fields)
    expect(forged.status == 403, f"without the cookie: {forged.brief()}")
    approved = oauth.form_post(f"{w.base}/device", fields, headers=[("Cookie", oauth.csrf_cookie(page))])
    expect(approved.status == 200, f"with the cookie: {approved.brief()}")
    first = poll(w, client, issued["device_code"])
    status(first, 200)
    expect(oauth.claims(first.json()["access_token"])["sub"] == alice.sub, "the token is not alice's")
    saw = oauth_error(poll(w, client, issued["device_code"]), 400, "invalid_grant")
    return f"403 without the cookie; approved; tokens once, then {saw}"


@case("a client not registered for the device grant cannot start one")
def _(w):
    answer = oauth.form_post(f"{w.base}/device_authorization", {"client_id": w.client().client_id,
                                                                "resource": w.main.mcp})
    return oauth_error(answer, 400, "unauthorized_client", says="device")
