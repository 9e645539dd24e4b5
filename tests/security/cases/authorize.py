"""The authorization endpoint: exact redirect matching, PKCE, the sign-in page (its errors,
framing headers, CSRF double submit), `iss` and `state` on the way back, client ID
metadata documents that point inside, and password guessing."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import oauth
from harness import Area, Fail, expect, status
from wire import Answer

AREA = Area("authorize", "/authorize: redirect matching, PKCE, the sign-in page, CSRF, guessing")
case = AREA.case


def query(w, client: oauth.Client | None = None, **overrides: str | None) -> dict[str, str]:
    client = client or w.client()
    _, challenge = oauth.pkce()
    q = oauth.authorize_query(client, challenge, w.main.mcp)
    for k, v in overrides.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = v
    return q


def page(w, client: oauth.Client | None = None, **overrides: str | None) -> Answer:
    return oauth.open_page(w.base, query(w, client, **overrides))


def shown_not_redirected(answer: Answer, code: int, says: str) -> str:
    """An error the person reads on Belay's page: no Location, HTML, the framing headers."""
    message = oauth.page_message(answer)
    expect(answer.status == code and answer.header("location") is None
           and (answer.header("content-type") or "").startswith("text/html")
           and says.lower() in message.lower(),
           f"expected a {code} page saying {says!r}, got {answer.status} location={answer.header('location')} "
           f"{message or answer.brief()}")
    expect(answer.header("x-frame-options") == "DENY", f"X-Frame-Options {answer.header('x-frame-options')}")
    return f"{code} page: {message}"


def redirected_error(w, answer: Answer, error: str, says: str = "") -> str:
    """An error sent back to the (registered) redirect URI with state and iss."""
    q = oauth.location_query(answer)
    expect(answer.status == 303 and q.get("error") == error and q.get("state") == "st4te"
           and q.get("iss") == w.base and says.lower() in q.get("error_description", "").lower(),
           f"expected 303 to the client with error={error}, state, iss; got {answer.status} "
           f"{answer.header('location')} {answer.brief(200)}")
    return f"303 error={error}: {q.get('error_description', '')}"


def registered_page_works(w, client: oauth.Client | None = None, **overrides: str) -> None:
    answer = page(w, client, **overrides)
    expect(answer.status == 200 and oauth.hidden_fields(answer).get("request_id"),
           f"the honest request gets the sign-in page: {answer.brief()}")


@case("an unregistered redirect URI is shown on the page, never redirected to")
def _(w):
    saw = shown_not_redirected(page(w, redirect_uri="https://evil.example/steal"), 400, "not registered")
    registered_page_works(w)
    return saw


for label, uri in [
    ("another path", oauth.REDIRECT + "2"),
    ("a trailing slash", oauth.REDIRECT + "/"),
    ("an added query", oauth.REDIRECT + "?next=https://evil.example"),
    ("an added fragment", oauth.REDIRECT + "#x"),
    ("localhost for 127.0.0.1", oauth.REDIRECT.replace("127.0.0.1", "localhost")),
    ("user info in front of the host", "http://127.0.0.1:33418@evil.example/cb"),
]:

    @case(f"redirect matching is exact: {label}")
    def _(w, uri=uri):
        return shown_not_redirected(page(w, redirect_uri=uri), 400, "not registered")


@case("redirect matching: https on another port or host case is refused, loopback on another port allowed")
def _(w):
    https = w.client("https", redirect_uris=["https://app.example/cb"])
    saw = shown_not_redirected(page(w, https, redirect_uri="https://app.example:8443/cb"), 400, "not registered")
    shown_not_redirected(page(w, https, redirect_uri="https://APP.example/cb"), 400, "not registered")
    registered_page_works(w, https)
    registered_page_works(w, redirect_uri=oauth.REDIRECT.replace("33418", "51234"))
    return saw + "; RFC 8252 loopback port change allowed (200)"


@case("an unknown client, or none, gets the error page")
def _(w):
    saw = shown_not_redirected(page(w, client_id="no-such-client"), 400, "unknown client")
    shown_not_redirected(page(w, client_id=None), 400, "client_id is missing")
    return saw


@case("a repeated parameter (two redirect URIs) is refused on the page")
def _(w):
    q = list(query(w).items()) + [("redirect_uri", "https://evil.example/cb")]
    return shown_not_redirected(oauth.open_page(w.base, q), 400, "repeated")


@case("PKCE is required: no code_challenge goes back as invalid_request")
def _(w):
    return redirected_error(w, page(w, code_challenge=None), "invalid_request", "code_challenge is required")


@case("PKCE is S256 only: plain is refused")
def _(w):
    verifier, _ = oauth.pkce()
    return redirected_error(w, page(w, code_challenge=verifier[:43], code_challenge_method="plain"),
                            "invalid_request", "S256")


@case("PKCE: a challenge that is no SHA-256 is refused")
def _(w):
    return redirected_error(w, page(w, code_challenge="abc"), "invalid_request", "43 characters")


@case("response_type token (implicit) is refused")
def _(w):
    return redirected_error(w, page(w, response_type="token"), "unsupported_response_type")


@case("an unknown scope is refused")
def _(w):
    return redirected_error(w, page(w, scope="mcp:tools admin:all"), "invalid_scope", "admin:all")


@case("resource is required and must have no fragment (RFC 8707)")
def _(w):
    saw = redirected_error(w, page(w, resource=None), "invalid_target", "resource is required")
    redirected_error(w, page(w, resource=w.main.mcp + "#x"), "invalid_target", "fragment")
    return saw


@case("the sign-in page cannot be framed or cached, and its cookie is HttpOnly SameSite=Strict")
def _(w):
    answer = page(w)
    status(answer, 200)
    csp = answer.header("content-security-policy") or ""
    cookie = answer.header("set-cookie") or ""
    expect(answer.header("x-frame-options") == "DENY" and "frame-ancestors 'none'" in csp
           and answer.header("cache-control") == "no-store" and answer.header("referrer-policy") == "same-origin",
           f"headers: {answer.headers}")
    expect("HttpOnly" in cookie and "SameSite=Strict" in cookie and cookie.startswith("belay_csrf_"), cookie)
    return f"X-Frame-Options DENY, CSP {csp!r}, no-store, same-origin referrers; cookie {cookie.split('=')[0]}…; HttpOnly; SameSite=Strict"


@case("a client name with markup is escaped on the page")
def _(w):
    evil = oauth.new_client(w.base, name='<script>alert("x")</script><img src=x onerror=alert(1)>')
    answer = page(w, evil)
    status(answer, 200)
    expect("<script>alert" not in answer.text and "<img" not in answer.text and "&lt;script&gt;" in answer.text,
           "the markup appears unescaped")
    return "200, shown as &lt;script&gt;… (escaped)"


def csrf_case(w, **override) -> str:
    alice = w.person("alice")
    answer = page(w)
    refused = oauth.submit(w.base, answer, alice.username, alice.password, **override)
    expect(refused.status == 403 and refused.header("location") is None and "csrf" in oauth.page_message(refused).lower(),
           f"expected 403 without a code, got {refused.status} {refused.header('location')}")
    # The same page, submitted honestly, signs in.
    honest = oauth.submit(w.base, answer, alice.username, alice.password)
    expect(honest.status == 303 and "code" in oauth.location_query(honest), f"honest submit: {honest.brief()}")
    return f"403 {oauth.page_message(refused)}; the honest submit then 303 with a code"


@case("CSRF: the cookie missing is refused")
def _(w):
    return csrf_case(w, cookie="")


@case("CSRF: the form field missing is refused")
def _(w):
    return csrf_case(w, csrf=None)


@case("CSRF: a field that does not match the cookie is refused")
def _(w):
    return csrf_case(w, csrf="forged-token-forged-token-forged-token-00")


@case("CSRF: another sign-in's cookie does not open this one")
def _(w):
    other = page(w)
    return csrf_case(w, cookie=oauth.csrf_cookie(other))


@case("an unknown request_id, or one already used, is refused")
def _(w):
    alice = w.person("alice")
    answer = page(w)
    unknown = oauth.submit(w.base, answer, alice.username, alice.password, request_id="nope")
    saw = shown_not_redirected(unknown, 400, "unknown or expired")
    status(oauth.submit(w.base, answer, alice.username, alice.password), 303)
    again = oauth.submit(w.base, answer, alice.username, alice.password)
    shown_not_redirected(again, 400, "unknown or expired")
    return saw + "; a second approval of the same request: 400"


@case("consent must be approve or deny")
def _(w):
    alice = w.person("alice")
    return shown_not_redirected(oauth.submit(w.base, page(w), alice.username, alice.password, consent="yes"),
                                400, "approve")


@case("deny goes back as access_denied with state and iss")
def _(w):
    alice = w.person("alice")
    return redirected_error(w, oauth.submit(w.base, page(w), alice.username, alice.password, consent="deny"),
                            "access_denied")


@case("approval goes back with the code, the same state and iss (RFC 9207)")
def _(w):
    alice = w.person("alice")
    answer = oauth.submit(w.base, page(w), alice.username, alice.password)
    q = oauth.location_query(answer)
    expect(answer.status == 303 and (answer.header("location") or "").startswith(oauth.REDIRECT + "?")
           and q.get("state") == "st4te" and q.get("iss") == w.base and len(q.get("code", "")) >= 32,
           f"{answer.status} {answer.header('location')}")
    return f"303 {oauth.REDIRECT}?code=…&state=st4te&iss={w.base}"


@case("a state carrying `&iss=` cannot plant a second issuer in the answer (mix-up)")
def _(w):
    alice = w.person("alice")
    planted = "x&iss=https://evil.example&code=planted"
    answer = oauth.submit(w.base, page(w, state=planted), alice.username, alice.password)
    q = parse_qs(urlsplit(answer.header("location") or "").query)
    expect(answer.status == 303 and q.get("iss") == [w.base] and q.get("state") == [planted]
           and len(q.get("code", [])) == 1 and q["code"][0] != "planted", f"{answer.header('location')}")
    return "303 with one iss (the issuer), one code, and the state returned whole"


@case("a client registered for some scopes cannot ask for others")
def _(w):
    narrow = w.client("narrow", scope="mcp:tools")
    saw = redirected_error(w, page(w, narrow, scope="mcp:tools mcp:prompts"), "invalid_scope", "mcp:prompts")
    registered_page_works(w, narrow, scope="mcp:tools")
    return saw


@case("the consent page names the application, where it returns and the server it opens")
def _(w):
    answer = page(w)
    status(answer, 200)
    client = w.client()
    expect("suite default" in answer.text and client.client_id in answer.text and "127.0.0.1" in answer.text
           and w.main.mcp in answer.text, "the page leaves out who asks, where it returns or what for")
    return f"names 'suite default' ({client.client_id[:8]}…), 127.0.0.1 and {w.main.mcp}"


@case("a wrong password, or an unknown user, shows the page again (401) with the same message")
def _(w):
    alice = w.person("alice")
    wrong = oauth.submit(w.base, page(w), alice.username, "not the password")
    nobody = oauth.submit(w.base, page(w), "nobody-here", "not the password")
    for answer in (wrong, nobody):
        expect(answer.status == 401 and answer.header("location") is None, f"{answer.status} {answer.header('location')}")
    expect(oauth.page_message(wrong) == oauth.page_message(nobody),
           f"the messages tell users apart: {oauth.page_message(wrong)!r} vs {oauth.page_message(nobody)!r}")
    return f"401 {oauth.page_message(wrong)} (both)"


@case("password guessing is slowed (429 + Retry-After), the right password waits too, the person elsewhere does not")
def _(w):
    victim = w.person("victim")
    source = "127.0.0.5"
    answer = oauth.open_page(w.base, query(w), source=source)
    status(answer, 200)
    refusals = []
    for _ in range(16):
        tried = oauth.submit(w.base, answer, victim.username, "guess-" + str(len(refusals)), source=source)
        refusals.append(tried.status)
        wait = tried.header("retry-after")
        if tried.status == 429 and wait and int(wait) >= 2:
            break
        if tried.status == 429:
            time.sleep(int(wait or 1) + 0.1)
    else:
        raise Fail(f"never slowed down: {refusals}")
    expect(refusals[:5] == [401] * 5, f"five free tries first: {refusals}")
    right = oauth.submit(w.base, answer, victim.username, victim.password, source=source)
    wait = right.header("retry-after") or ""
    expect(right.status == 429 and right.header("location") is None and wait.isdigit()
           and "try again" in oauth.page_message(right).lower(),
           f"the right password during the wait: {right.status} {right.header('location')} {oauth.page_message(right)}")
    elsewhere = oauth.open_page(w.base, query(w), source="127.0.0.6")
    person = oauth.submit(w.base, elsewhere, victim.username, victim.password, source="127.0.0.6")
    expect(person.status == 303 and "code" in oauth.location_query(person),
           f"the person signing in from another address meanwhile: {person.brief()}")
    time.sleep(int(wait) + 1.1)
    later = oauth.submit(w.base, answer, victim.username, victim.password, source=source)
    expect(later.status == 303 and "code" in oauth.location_query(later), f"after the wait: {later.brief()}")
    return (f"{refusals} then the right password 429 (Retry-After {wait}: {oauth.page_message(right)}); "
            "the person from another address meanwhile: 303; after the wait, 303")


for label, url, says in [
    ("loopback", "https://127.0.0.1/client.json", "not a public address"),
    ("cloud metadata (link-local)", "https://169.254.169.254/latest/client.json", "not a public address"),
    ("a private network", "https://10.1.2.3/client.json", "not a public address"),
    ("site-local IPv6 (fec0::/10)", "https://[fec0::1]/client.json", "not a public address"),
    ("6to4 carrying 127.0.0.1", "https://[2002:7f00:1::1]/client.json", "not a public address"),
    ("Teredo carrying 10.0.0.1", "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/client.json", "not a public address"),
    ("plain http", "http://app.example/client.json", "https"),
]:

    @case(f"client ID metadata document: {label} is never fetched")
    def _(w, url=url, says=says):
        return shown_not_redirected(page(w, client_id=url), 400, says)
