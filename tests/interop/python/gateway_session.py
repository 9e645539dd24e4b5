"""Official MCP SDK clients, signed in, through `belay gateway serve` to two upstreams.

Sets up, on a fresh data folder:

* a user (`belay auth user add alice --password …`) and `belay auth serve` on port P1;
* a belay.toml with `[gateway] auth = true`, `[resource] issuer = "http://127.0.0.1:P1"`,
  two stdio upstreams (`stock` = `belay serve stock`, `weather` = `belay serve weather`)
  and an `[audit]` table;
* `belay --config belay.toml gateway serve --port P2 --data-dir D`.

Then a client connects to `http://127.0.0.1:P2/mcp`:

* `--client python` (the default): PyPI `mcp`'s `OAuthClientProvider` signs in through
  Belay's login form (the scripted person of oauth_weather.py), lists the federated tools,
  calls one tool of each upstream, `stock__get_ticker_info`, whose elicitation must cross
  the gateway to the SDK's elicitation callback, and `stock__stock_headline_sampling`, whose
  sampling request must reach its sampling callback. It runs once per `--mode` (default:
  `legacy`, the initialize handshake, where both are server-to-client requests, then `auto`,
  the SDK default that negotiates 2026-07-28, where both come as `input_required` rounds).
  With `--transport sse` the same session uses the SDK's 2024-11-05 `sse_client` on the
  gateway's `/sse`, its provider built for that URL as a user's would be (`/sse` is a
  resource of its own, with its own metadata).
* `--client js`: the TypeScript SDK (tests/interop/js/gateway_session.mjs) does its own
  sign-in with an `OAuthClientProvider` and the same checks.

Afterwards the gateway is stopped (it flushes the audit log), and
`belay audit verify` must pass and `belay audit query --json` must show the calls, made by
the signed-in user. Every check prints PASS/FAIL; the exit code is non-zero on any FAIL.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import HOST, belay_bin, free_port, running, stop_on_sigterm  # noqa: E402
from oauth_weather import PASSWORD, USER, MemoryStorage, Report, ScriptedPerson, provider  # noqa: E402
from stock_session import HEADLINE, WEEK_RANGE, Callbacks, text_of  # noqa: E402

HERE = Path(__file__).resolve().parent
NODE = HERE.parents[2] / ".tools" / "bin" / "node"
JS_SESSION = HERE.parent / "js" / "gateway_session.mjs"
TIMEOUT_S = 60.0


def config_toml(issuer: str) -> str:
    belay = json.dumps(belay_bin())  # a TOML basic string is a JSON string
    return f"""\
[gateway]
auth = true

[resource]
issuer = "{issuer}"

[[gateway.upstream]]
name = "stock"
transport = {{ type = "stdio", command = {belay}, args = ["serve", "stock"] }}

[[gateway.upstream]]
name = "weather"
transport = {{ type = "stdio", command = {belay}, args = ["serve", "weather"] }}

[audit]
sinks = ["file", "store"]
file = "audit.jsonl"
"""


async def python_session(mcp_url: str, mode: str, transport: str, report: Report, tally: dict[str, int]) -> None:
    """One signed-in Python SDK session through the gateway in `mode` over `transport`."""
    label = f"[py/{mode}]" if transport == "http" else f"[py/{transport}/{mode}]"
    storage, person = MemoryStorage(), ScriptedPerson()
    cb = Callbacks()
    # As a user does: the provider is built for the URL the client is given. For `/sse` the
    # SDK then checks that the protected resource metadata names `/sse` (RFC 9728 §3.3).
    url = mcp_url.removesuffix("/mcp") + "/sse" if transport == "sse" else mcp_url
    auth = provider(url, storage, person)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        if transport == "sse":
            streams: Any = sse_client(url, auth=auth, timeout=30)
        else:
            streams = streamable_http_client(mcp_url, http_client=http)
        client = Client(
            streams,
            mode=mode,
            elicitation_callback=cb.elicitation,
            sampling_callback=cb.sampling,
            client_info=types.Implementation(name="belay-interop-gateway-python", version="0"),
            read_timeout_seconds=TIMEOUT_S,
        )
        # The SDK warns "Session termination failed: <status>" when its closing DELETE is not
        # answered 200 or 204 (the gateway used to say 202).
        transport_log = logging.getLogger("mcp.client.streamable_http")
        warnings = _Warnings()
        transport_log.addHandler(warnings)
        try:
            await _session_calls(client, label, person, storage, cb, report, tally)
        finally:
            transport_log.removeHandler(warnings)
        failed_close = [m for m in warnings.messages if "termination" in m]
        report.check(f"{label} the session closes cleanly (no termination warning)", not failed_close, failed_close)


async def _session_calls(
    client: Client,
    label: str,
    person: ScriptedPerson,
    storage: MemoryStorage,
    cb: Callbacks,
    report: Report,
    tally: dict[str, int],
) -> None:
    """The checks of one session, from connecting to its last call; the session closes after."""
    async with client:
        report.check(
            f"{label} signed in through the login form, connected",
            person.visits == 1 and storage.tokens is not None,
            f"visits={person.visits}",
        )
        print(f"     {label} protocol {client.protocol_version}", flush=True)

        tools = [t.name for t in (await client.list_tools()).tools]
        want = ["stock__get_stock_price", "weather__get_weather", "stock__get_ticker_info"]
        missing = [t for t in want if t not in tools]
        report.check(f"{label} tools/list has both upstreams' tools", not missing, f"missing {missing}; got {tools}")

        price = await client.call_tool("stock__get_stock_price", {"symbol": "AAPL"})
        text = text_of(price).strip()
        report.check(
            f"{label} stock__get_stock_price(AAPL)",
            not price.is_error and _is_positive_number(text),
            text[:200],
        )

        weather = await client.call_tool("weather__get_weather", {"city": "London"})
        text = text_of(weather)
        report.check(f"{label} weather__get_weather(London)", not weather.is_error and "London" in text, text[:200])

        # A 2026-07-28 client's call that asks for input takes two requests (the
        # `input_required` round and the retry with the answer), each audited.
        rounds = 2 if str(client.protocol_version) >= "2026-07-28" else 1

        # Elicitation: the stock upstream asks whether to include the 52-week range; the
        # gateway must carry the question to this client and the answer back.
        info = await client.call_tool("stock__get_ticker_info", {"symbol": "AAPL"})
        text = text_of(info)
        asked = len(cb.elicitations)
        schema = getattr(cb.elicitations[0], "requested_schema", None) or {} if asked else {}
        crossed = asked == 1 and "include_week_range" in schema.get("properties", {})
        print(
            f"     {label} get_ticker_info: {asked} elicitation(s) reached the client; "
            f"52-week range in result: {bool(WEEK_RANGE.search(text))}",
            flush=True,
        )
        ok = not info.is_error and crossed and bool(WEEK_RANGE.search(text))
        report.check(
            f"{label} stock__get_ticker_info: elicitation crosses the gateway (accept)",
            ok,
            f"elicitations={asked} isError={info.is_error} text={text[:200]!r}",
        )
        tally["elicitation_ok"] += ok
        tally["ticker_records"] += rounds if ok else 0

        # Sampling: the upstream asks this client's model for a headline.
        headline = await client.call_tool("stock__stock_headline_sampling", {"symbol": "TSLA"})
        text = text_of(headline)
        sampled = len(cb.samplings)
        ok = not headline.is_error and sampled == 1 and HEADLINE in text
        report.check(
            f"{label} stock__stock_headline_sampling: sampling crosses the gateway",
            ok,
            f"samplings={sampled} isError={headline.is_error} text={text[:200]!r}",
        )
        tally["headline_records"] += rounds if ok else 0


class _Warnings(logging.Handler):
    """Keeps what a logger warns about while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _is_positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def run_python(mcp_url: str, modes: list[str], transport: str, report: Report, tally: dict[str, int]) -> None:
    for mode in modes:
        print(f"== python SDK through the gateway (mode={mode}, transport={transport}) ==", flush=True)
        try:
            anyio.run(python_session, mcp_url, mode, transport, report, tally)
        except BaseException as exc:  # noqa: BLE001 - report, then go on to the audit checks
            if isinstance(exc, KeyboardInterrupt):
                raise
            report.check(f"[py/{mode}] session", False, _describe(exc))


def run_js(mcp_url: str, report: Report) -> None:
    print("== TypeScript SDK through the gateway ==", flush=True)
    env = dict(os.environ, BELAY_MCP_URL=mcp_url, BELAY_USER=USER, BELAY_PASSWORD=PASSWORD)
    rc = subprocess.call([str(NODE), str(JS_SESSION), mcp_url], env=env)
    report.check("[js] session (its checks above)", rc == 0, f"exit {rc}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return repr(exc)[:600]


def audit_checks(belay: str, config: Path, data: str, report: Report, sessions: int, tally: dict[str, int]) -> None:
    """The log must verify and hold every call, by the signed-in user."""
    base = [belay, "--config", str(config), "audit"]
    verify = subprocess.run([*base, "verify", "--data-dir", data], capture_output=True, text=True)
    report.check("belay audit verify passes", verify.returncode == 0, (verify.stdout + verify.stderr).strip()[-600:])
    if verify.returncode == 0:
        print("     " + verify.stdout.strip().replace("\n", "\n     "), flush=True)

    query = subprocess.run(
        [*base, "query", "--json", "--limit", "1000", "--data-dir", data], capture_output=True, text=True
    )
    report.check("belay audit query --json runs", query.returncode == 0, query.stderr.strip()[-600:])
    records: list[dict[str, Any]] = [json.loads(line) for line in query.stdout.splitlines() if line.strip()]
    tool_calls = [r for r in records if r.get("method") == "tools/call"]
    print(f"     audit: {len(records)} records, {len(tool_calls)} tools/call", flush=True)
    expected = [
        ("stock", "get_stock_price", "ok", sessions),
        ("weather", "get_weather", "ok", sessions),
        ("stock", "get_ticker_info", "ok", tally["ticker_records"]),
        ("stock", "stock_headline_sampling", "ok", tally["headline_records"]),
    ]
    for upstream, name, status, count in expected:
        if count == 0:
            continue
        found = [
            r
            for r in tool_calls
            if r.get("upstream") == upstream and r.get("name") == name and r["outcome"].get("status") == status
        ]
        report.check(
            f"audit records {upstream}/{name}: {count} allowed request(s), outcome {status}",
            len(found) == count and all(r.get("decision") == "allow" for r in found),
            [(r.get("decision"), r.get("outcome")) for r in tool_calls if r.get("name") == name] or "none",
        )
    users = {r.get("user") for r in tool_calls}
    clients = {r.get("client") for r in tool_calls}
    report.check(
        "audit names the signed-in user and client on every call",
        bool(tool_calls) and None not in users and "anonymous" not in users and None not in clients,
        f"users={users} clients={clients}",
    )
    if tool_calls:
        print(f"     audit: users {sorted(map(str, users))}, clients {sorted(map(str, clients))}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", choices=["python", "js"], default="python")
    parser.add_argument("--transport", choices=["http", "sse"], default="http", help="Python client transport")
    parser.add_argument(
        "--mode",
        action="append",
        choices=["auto", "legacy"],
        help="Python client mode; repeatable (default: legacy, then auto)",
    )
    args = parser.parse_args()
    modes = args.mode or ["legacy", "auto"]
    logging.getLogger("mcp.client.auth").setLevel(logging.CRITICAL)
    stop_on_sigterm()
    belay = belay_bin()
    report = Report()
    tally = {"elicitation_ok": 0, "ticker_records": 0, "headline_records": 0}
    with tempfile.TemporaryDirectory(prefix="belay-gateway-") as data:
        subprocess.run(
            [belay, "auth", "user", "add", USER, "--password", PASSWORD, "--data-dir", data],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        as_port, gw_port = free_port(), free_port()
        issuer = f"http://{HOST}:{as_port}"
        mcp_url = f"http://{HOST}:{gw_port}/mcp"
        config = Path(data) / "belay.toml"
        config.write_text(config_toml(issuer))
        check = subprocess.run([belay, "gateway", "check", str(config)], capture_output=True, text=True)
        report.check("belay gateway check", check.returncode == 0, (check.stdout + check.stderr).strip())

        auth_cmd = [belay, "auth", "serve", "--host", HOST, "--port", str(as_port), "--data-dir", data]
        gateway_cmd = [belay, "--config", str(config), "gateway", "serve", "--host", HOST, "--port", str(gw_port)]
        gateway_cmd += ["--data-dir", data]
        try:
            with running(auth_cmd, as_port, "auth"), running(gateway_cmd, gw_port, "gateway"):
                if args.client == "python":
                    run_python(mcp_url, modes, args.transport, report, tally)
                else:
                    run_js(mcp_url, report)
                    # The JS script failed the run if these did not cross (handshake era: one
                    # request each).
                    tally["elicitation_ok"] += 1
                    tally["ticker_records"] += 1
                if report.failed:
                    raise _ShowLogs
        except _ShowLogs:
            pass  # running() printed the gateway's log tail on the way out
        except RuntimeError as exc:
            report.check("servers", False, str(exc))
        # The gateway has stopped (and flushed its audit log): check what it recorded.
        sessions = len(modes) if args.client == "python" else 1
        audit_checks(belay, config, data, report, sessions, tally)
    print(f"gateway interop ({args.client}): {'ok' if not report.failed else f'{report.failed} failed'}")
    return 1 if report.failed else 0


class _ShowLogs(Exception):
    pass


if __name__ == "__main__":
    sys.exit(main())
