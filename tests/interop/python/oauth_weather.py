"""The official Python SDK's OAuth client signs in to `belay serve weather --auth`.

Starts Belay's embedded authorization server (`belay auth serve`) on a fresh data folder
with one user, and `belay serve weather --transport http --auth` trusting it. Then PyPI
`mcp`'s `OAuthClientProvider` does what a real client does: it reads the protected
resource metadata named by the 401, registers itself (RFC 7591), sends the person to the
authorization URL, exchanges the code with PKCE and calls `get_weather`. The person is a
script that fills in Belay's login form the documented way: fields `username`, `password`
and `consent=approve`.

Checks, each reported on its own line:
  * an unauthenticated request gets 401 with `WWW-Authenticate: Bearer resource_metadata=…`;
  * a wrong password shows the form again (401), and no code is issued;
  * sign-in, then `get_weather` answers for London;
  * a second session reuses the stored tokens: nobody is sent to sign in again;
  * a person who presses "deny" gets `access_denied` back at the redirect URI.
Exit code 0 only if every check passed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

sys.path.insert(0, str(Path(__file__).resolve().parent))
import logging  # noqa: E402

from belay_server import HOST, belay_bin, free_port, running, stop_on_sigterm  # noqa: E402

USER, PASSWORD = "alice", "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:33418/callback"  # never listened on: the script reads Location
TIMEOUT_S = 60


class FormReader(HTMLParser):
    """Collects the first form's action and its inputs' names and values (hidden ones too)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif tag == "input" and "name" in a:
            if a.get("type") == "submit":
                self.buttons.setdefault(a["name"], []).append(a.get("value", ""))
            else:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and "name" in a:
            self.buttons.setdefault(a["name"], []).append(a.get("value", ""))


class ScriptedPerson:
    """Opens the authorization URL and answers Belay's login and consent form."""

    def __init__(self, password: str = PASSWORD, consent: str = "approve", user: str = USER) -> None:
        self.user = user
        self.password = password
        self.consent = consent
        self.visits = 0
        self.last_status = 0
        self.redirect: str | None = None

    async def open(self, authorization_url: str) -> None:
        self.visits += 1
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as http:
            page = await http.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"authorization page answered {page.status_code}: {page.text[:300]}")
            form = FormReader()
            form.feed(page.text)
            if form.action is None or "username" not in form.fields or "password" not in form.fields:
                raise RuntimeError(f"no login form with username and password fields: {page.text[:300]}")
            if self.consent not in form.buttons.get("consent", []):
                raise RuntimeError(f"no consent={self.consent} button: {form.buttons}")
            fields = dict(form.fields, username=self.user, password=self.password, consent=self.consent)
            answer = await http.post(urljoin(str(page.url), form.action), data=fields)
            self.last_status = answer.status_code
            self.redirect = answer.headers.get("location") if answer.is_redirect else None

    async def callback(self) -> AuthorizationCodeResult:
        if not self.redirect:
            raise RuntimeError(f"sign-in did not redirect (status {self.last_status})")
        query = parse_qs(urlparse(self.redirect).query)
        if "code" not in query:
            raise RuntimeError(f"redirect carries no code: {self.redirect}")
        return AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def provider(url: str, storage: MemoryStorage, person: ScriptedPerson) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        client_name="belay interop (python)",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=person.open,
        callback_handler=person.callback,
    )


async def weather_for(url: str, auth: OAuthClientProvider) -> str:
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=TIMEOUT_S) as client:
            result = await client.call_tool("get_weather", {"city": "London"})
            text = " ".join(getattr(c, "text", "") for c in result.content)
            if result.is_error:
                raise RuntimeError(f"get_weather failed: {text}")
            return text


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, ok: bool, detail: Any = "") -> None:
        print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""), flush=True)
        self.failed += 0 if ok else 1


async def session(mcp_url: str, report: Report) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        bare = await http.post(
            mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"accept": "application/json, text/event-stream"},
        )
        challenge = bare.headers.get("www-authenticate", "")
        report.check(
            "no token: 401 with resource_metadata",
            bare.status_code == 401 and "resource_metadata=" in challenge,
            f"{bare.status_code} {challenge!r}",
        )

    # A wrong password: the form again with 401, and no code.
    wrong = ScriptedPerson(password="not the password")
    with contextlib.suppress(Exception):
        with anyio.fail_after(TIMEOUT_S):
            await weather_for(mcp_url, provider(mcp_url, MemoryStorage(), wrong))
    report.check("wrong password: form again, no code", wrong.last_status == 401 and not wrong.redirect, wrong.last_status)

    storage, person = MemoryStorage(), ScriptedPerson()
    with anyio.fail_after(TIMEOUT_S):
        text = await weather_for(mcp_url, provider(mcp_url, storage, person))
    report.check("sign in, then get_weather(London)", "London" in text and person.visits == 1, text[:200])
    report.check("registered by DCR", storage.client is not None and bool(storage.client.client_id))

    again = ScriptedPerson()
    with anyio.fail_after(TIMEOUT_S):
        text = await weather_for(mcp_url, provider(mcp_url, storage, again))
    report.check("second session reuses the tokens", "London" in text and again.visits == 0, again.visits)

    denied = ScriptedPerson(consent="deny")
    with contextlib.suppress(Exception):
        with anyio.fail_after(TIMEOUT_S):
            await weather_for(mcp_url, provider(mcp_url, MemoryStorage(), denied))
    error = parse_qs(urlparse(denied.redirect or "").query).get("error", [""])[0]
    report.check("deny: access_denied at the redirect URI", error == "access_denied", denied.redirect)


def main() -> int:
    # The wrong-password and deny checks make the SDK log its (expected) failures loudly.
    logging.getLogger("mcp.client.auth").setLevel(logging.CRITICAL)
    stop_on_sigterm()
    belay = belay_bin()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="belay-oauth-") as data:
        subprocess.run(
            [belay, "auth", "user", "add", USER, "--password", PASSWORD, "--data-dir", data],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        as_port, mcp_port = free_port(), free_port()
        issuer = f"http://{HOST}:{as_port}"
        mcp_url = f"http://{HOST}:{mcp_port}/mcp"
        auth_cmd = [belay, "auth", "serve", "--host", HOST, "--port", str(as_port), "--data-dir", data]
        weather_cmd = [belay, "serve", "weather", "--transport", "http", "--host", HOST, "--port", str(mcp_port)]
        weather_cmd += ["--auth", "--issuer", issuer]
        with running(auth_cmd, as_port, "auth"), running(weather_cmd, mcp_port, "weather"):
            try:
                anyio.run(session, mcp_url, report)
            except BaseException as exc:  # noqa: BLE001 - report, then fail
                if isinstance(exc, KeyboardInterrupt):
                    raise
                report.check("session", False, repr(exc)[:600])
    print(f"python OAuth: {'ok' if not report.failed else f'{report.failed} failed'}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
