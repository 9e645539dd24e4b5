"""The main job as a newcomer meets it: `belay up`, then the official Python SDK, signed in.

Starts `belay up --port P --data-dir D --json` on a fresh data folder and reads the one JSON
line it prints (gateway URL, the demo user's password, shown once). Then PyPI `mcp`'s
`OAuthClientProvider` signs in as `demo` through Belay's login form at the gateway's `/mcp`
and, once per `--mode` (`legacy`: the initialize handshake, elicitation as a server-to-client
request; `auto`: the SDK default, 2026-07-28 first):

* lists the federated tools: every reference server's, prefixed (`stock__`, `weather__`,
  `matheval__`, `news__`, `whoami__`);
* calls `matheval__evaluate` and `weather__get_weather`;
* calls `whoami__whoami`, which must name `demo`: the gateway exchanged the user's token
  for one minted for whoami (RFC 8693), and whoami exchanged that for the user's profile;
* in legacy mode, `stock__get_ticker_info`, whose elicitation must cross the gateway.

Then `belay up` is stopped with SIGTERM (it must exit 0) and `belay audit verify` must pass
on the data folder, with one record per call made. Every check prints PASS/FAIL.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import belay_bin, free_port, stop_on_sigterm  # noqa: E402
from oauth_weather import MemoryStorage, Report, ScriptedPerson, provider  # noqa: E402
from stock_session import WEEK_RANGE, Callbacks, text_of  # noqa: E402

TIMEOUT_S = 60.0
SERVERS = ["stock", "weather", "matheval", "news", "whoami"]


async def session(url: str, password: str, mode: str, report: Report) -> int:
    """One signed-in session in `mode`; returns how many tools/call requests it made."""
    label = f"[up/{mode}]"
    storage, person = MemoryStorage(), ScriptedPerson(password=password, user="demo")
    cb = Callbacks()
    calls = 0
    async with httpx2.AsyncClient(auth=provider(url, storage, person), timeout=30) as http:
        client = Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            elicitation_callback=cb.elicitation,
            sampling_callback=cb.sampling,
            client_info=types.Implementation(name="belay-interop-up", version="0"),
            read_timeout_seconds=TIMEOUT_S,
        )
        async with client:
            report.check(f"{label} signed in as demo, connected", person.visits == 1 and storage.tokens is not None)
            print(f"     {label} protocol {client.protocol_version}", flush=True)
            tools = [t.name for t in (await client.list_tools()).tools]
            missing = [s for s in SERVERS if not any(t.startswith(f"{s}__") for t in tools)]
            report.check(f"{label} tools/list federates every reference server", not missing, f"missing {missing}")

            result = await client.call_tool("matheval__evaluate", {"expression": "6*7"})
            calls += 1
            report.check(f"{label} matheval__evaluate(6*7) = 42", "42" in text_of(result), text_of(result)[:200])

            result = await client.call_tool("weather__get_weather", {"city": "Paris"})
            calls += 1
            report.check(f"{label} weather__get_weather(Paris)", "Paris" in text_of(result), text_of(result)[:200])

            result = await client.call_tool("whoami__whoami", {})
            calls += 1
            who: dict[str, Any] = result.structured_content or {}
            report.check(f"{label} whoami__whoami names the signed-in user", who.get("username") == "demo", who)

            if mode == "legacy":
                result = await client.call_tool("stock__get_ticker_info", {"symbol": "AAPL"})
                calls += 1
                text = text_of(result)
                ok = len(cb.elicitations) == 1 and bool(WEEK_RANGE.search(text)) and not result.is_error
                report.check(f"{label} stock__get_ticker_info: elicitation crosses the gateway", ok, text[:200])
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", action="append", choices=["legacy", "auto"], help="default: legacy, then auto")
    args = parser.parse_args()
    stop_on_sigterm()
    report = Report()
    belay = belay_bin()
    with tempfile.TemporaryDirectory(prefix="belay-interop-up-") as data:
        port = free_port()
        log = Path(data) / "up.log"
        with log.open("wb") as err:
            up = subprocess.Popen(
                [belay, "up", "--port", str(port), "--data-dir", data, "--json"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            )
        try:
            line = up.stdout.readline() if up.stdout else b""
            info = json.loads(line or b"{}")
            url, password = info.get("gateway", {}).get("url"), info.get("user", {}).get("password")
            report.check("belay up printed the gateway URL and a new demo password", bool(url and password), info)
            if not (url and password):
                print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                return 1
            calls = 0
            for mode in args.mode or ["legacy", "auto"]:
                calls += anyio.run(session, url, password, mode, report)
        except BaseException:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            up.send_signal(signal.SIGTERM)
            try:
                code = up.wait(timeout=15)
            except subprocess.TimeoutExpired:
                up.kill()
                code = -9
        report.check("belay up exits 0 on SIGTERM", code == 0, f"exit {code}")
        verify = subprocess.run([belay, "audit", "verify", "--json", "--data-dir", data], capture_output=True, text=True)
        report.check("belay audit verify passes", verify.returncode == 0, verify.stdout + verify.stderr)
        audit = Path(info.get("audit") or Path(data) / "audit.jsonl")
        records = [json.loads(l) for l in audit.read_text().splitlines() if l.strip()]
        calls_logged = sum(1 for r in records if r.get("method") == "tools/call")
        report.check("one audit record per tools/call", calls_logged == calls, f"{calls_logged} records, {calls} calls")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
