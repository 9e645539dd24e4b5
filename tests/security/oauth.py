"""OAuth as a client (honest or not) speaks it to Belay's authorization server: dynamic
registration, PKCE, the sign-in form (its hidden fields and CSRF cookie), the token,
revocation and introspection endpoints, and JWTs read or forged by hand.
"""

from __future__ import annotations

import base64
import html
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from wire import Answer, request

# Never listened on: the suite reads the Location header instead of following it.
REDIRECT = "http://127.0.0.1:33418/cb"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = b64url(secrets.token_bytes(48))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def json_post(url: str, document: Any, source: str | None = None, raw: bytes | None = None) -> Answer:
    body = raw if raw is not None else json.dumps(document).encode()
    return request(url, "POST", headers=[("Content-Type", "application/json")], body=body, source=source)


def form_post(url: str, fields: dict[str, str] | list[tuple[str, str]], *, basic: tuple[str, str] | None = None,
              headers: list[tuple[str, str]] | None = None, source: str | None = None) -> Answer:
    pairs = [("Content-Type", "application/x-www-form-urlencoded")] + list(headers or [])
    if basic:
        pairs.append(("Authorization", "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()))
    return request(url, "POST", headers=pairs, body=urlencode(fields).encode(), source=source)


@dataclass
class Client:
    client_id: str
    redirect_uri: str = REDIRECT
    secret: str | None = None

    @property
    def basic(self) -> tuple[str, str] | None:
        return (self.client_id, self.secret) if self.secret else None

    def auth_fields(self) -> dict[str, str]:
        """What a public client sends to identify itself at the token endpoint."""
        return {} if self.secret else {"client_id": self.client_id}


def register(base: str, source: str | None = None, **metadata: Any) -> Answer:
    return json_post(f"{base}/register", metadata, source=source)


def new_client(base: str, *, name: str = "security suite", redirect_uris: list[str] | None = None,
               grant_types: list[str] | None = None, source: str | None = None, **extra: Any) -> Client:
    """A public client registered by DCR (as MCP clients do); raises if refused."""
    uris = redirect_uris or [REDIRECT]
    answer = register(base, source=source, client_name=name, redirect_uris=uris,
                      grant_types=grant_types or ["authorization_code", "refresh_token"],
                      token_endpoint_auth_method="none", **extra)
    if answer.status != 201:
        raise RuntimeError(f"registration refused: {answer.brief()}")
    return Client(answer.json()["client_id"], uris[0])


class FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action")
        if tag == "input" and a.get("type") == "hidden" and "name" in a:
            self.fields[a["name"]] = a.get("value", "")


def hidden_fields(page: Answer) -> dict[str, str]:
    reader = FormReader()
    reader.feed(page.text)
    return reader.fields


def csrf_cookie(page: Answer) -> str:
    """`name=value` of the page's CSRF cookie."""
    cookie = page.header("set-cookie") or ""
    return cookie.split(";", 1)[0]


def authorize_query(client: Client, challenge: str, resource: str, *, state: str = "st4te",
                    scope: str | None = None, **extra: str) -> dict[str, str]:
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
             "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource, "state": state}
    if scope:
        query["scope"] = scope
    query.update(extra)
    return {k: v for k, v in query.items() if v is not None}


def open_page(base: str, query: dict[str, str] | list[tuple[str, str]], source: str | None = None) -> Answer:
    return request(f"{base}/authorize?{urlencode(query)}", source=source)


def submit(base: str, page: Answer, username: str, password: str, consent: str = "approve",
           source: str | None = None, cookie: str | None = None, **override: str | None) -> Answer:
    """POSTs the page's form as a person would, with its cookie unless `cookie` says otherwise."""
    fields = dict(hidden_fields(page), username=username, password=password, consent=consent)
    for k, v in override.items():
        if v is None:
            fields.pop(k, None)
        else:
            fields[k] = v
    cookie = csrf_cookie(page) if cookie is None else cookie
    headers = [("Cookie", cookie)] if cookie else []
    return form_post(f"{base}/authorize", fields, headers=headers, source=source)


def location_query(answer: Answer) -> dict[str, str]:
    location = answer.header("location") or ""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Code:
    code: str
    verifier: str
    client: Client
    redirect: dict[str, str]


def sign_in(base: str, client: Client, username: str, password: str, resource: str, *,
            scope: str | None = None, source: str | None = None) -> Code:
    """The authorization code a person gets by signing in; raises on any refusal."""
    verifier, challenge = pkce()
    page = open_page(base, authorize_query(client, challenge, resource, scope=scope), source=source)
    if page.status != 200:
        raise RuntimeError(f"sign-in page: {page.brief()}")
    answer = submit(base, page, username, password, source=source)
    query = location_query(answer)
    if answer.status != 303 or "code" not in query:
        raise RuntimeError(f"sign-in refused: {answer.status} {answer.header('location')} {answer.brief()}")
    return Code(query["code"], verifier, client, query)


def token(base: str, fields: dict[str, str], client: Client | None = None,
          basic: tuple[str, str] | None = None, source: str | None = None) -> Answer:
    if client is not None:
        fields = {**client.auth_fields(), **fields}
        basic = basic or client.basic
    return form_post(f"{base}/token", fields, basic=basic, source=source)


def redeem(base: str, code: Code, **extra: str) -> Answer:
    fields = {"grant_type": "authorization_code", "code": code.code, "code_verifier": code.verifier,
              "redirect_uri": code.client.redirect_uri, **extra}
    return token(base, fields, code.client)


def tokens(base: str, client: Client, username: str, password: str, resource: str,
           scope: str | None = None) -> dict[str, Any]:
    """Signs in and redeems the code: the token response."""
    answer = redeem(base, sign_in(base, client, username, password, resource, scope=scope))
    if answer.status != 200:
        raise RuntimeError(f"code refused: {answer.brief()}")
    return answer.json()


def refresh(base: str, client: Client, refresh_token: str, **extra: str) -> Answer:
    return token(base, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, client)


def revoke(base: str, client: Client, value: str, hint: str | None = None) -> Answer:
    fields = {**client.auth_fields(), "token": value}
    if hint:
        fields["token_type_hint"] = hint
    return form_post(f"{base}/revoke", fields, basic=client.basic)


def exchange(base: str, client: Client, subject: str, resource: str, **extra: str) -> Answer:
    fields = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": subject,
              "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "resource": resource, **extra}
    return token(base, fields, client)


def client_credentials(base: str, client: Client, resource: str) -> Answer:
    return token(base, {"grant_type": "client_credentials", "resource": resource}, client)


def jwt_parts(jwt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims), unverified."""
    header, claims, _ = jwt.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))


def claims(jwt: str) -> dict[str, Any]:
    return jwt_parts(jwt)[1]


def compact(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{b64url(signature)}"


def page_message(page: Answer) -> str:
    """The error text of an HTML page (its `class="error"` paragraph)."""
    found = re.search(r'class="error"[^>]*>(.*?)</p>', page.text, re.S)
    return html.unescape(re.sub(r"\s+", " ", found.group(1)).strip()) if found else ""
