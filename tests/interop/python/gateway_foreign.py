"""The Python SDK client through `belay gateway serve` to a Python SDK stdio server.

The most common setup there is, as a user meets it: an upstream made with the official
Python SDK (crates/belay-gateway/tests/python/sdk_upstream.py, run by this venv's Python
over stdio), `belay gateway serve` with sign-in off in front of it, and the official
Python SDK client on `/mcp`, once in each mode: `auto` (the SDK default, which negotiates
2026-07-28 with the gateway) and `legacy` (the initialize handshake). The gateway talks to
the upstream in the handshake era either way, so what it sends there must be of that era
(the SDK refuses a request carrying the 2026-07-28 envelope with -32600).

Each mode lists the tools, calls `sdk__inspect` (which reports the `_meta` it got: no
`io.modelcontextprotocol/` key may be there), `sdk__ask` (an elicitation, answered by the
client's callback) and `sdk__headline` (sampling, answered by the client's callback).
Every check prints PASS/FAIL; the exit code is non-zero on any FAIL.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import ROOT  # noqa: E402
from gateway_harness import client, gateway_home, main, tool_names  # noqa: E402
from oauth_weather import Report  # noqa: E402
from stock_session import HEADLINE, Callbacks, text_of  # noqa: E402

UPSTREAM = ROOT / "crates" / "belay-gateway" / "tests" / "python" / "sdk_upstream.py"


def config_toml() -> str:
    python = json.dumps(sys.executable)  # a TOML basic string is a JSON string
    upstream = json.dumps(str(UPSTREAM))
    return f"""\
[gateway]
auth = false

[[gateway.upstream]]
name = "sdk"
transport = {{ type = "stdio", command = {python}, args = [{upstream}, "stdio"] }}
"""


async def session(url: str, mode: str, report: Report) -> None:
    label = f"[py/{mode}]"
    cb = Callbacks()
    c = client(
        url,
        "belay-interop-gateway-foreign",
        mode=mode,
        elicitation_callback=cb.elicitation,
        sampling_callback=cb.sampling,
    )
    async with c:
        print(f"     {label} protocol {c.protocol_version}", flush=True)
        want = ["sdk__inspect", "sdk__ask", "sdk__headline"]
        tools = await tool_names(c, *want)
        report.check(f"{label} tools/list has the SDK server's tools", all(t in tools for t in want), tools)

        inspected = await c.call_tool("sdk__inspect", {})
        text = text_of(inspected)
        meta: dict[str, Any] = {}
        if not inspected.is_error:
            meta = json.loads(text).get("meta") or {}
        envelope = [k for k in meta if k.startswith("io.modelcontextprotocol/")]
        report.check(
            f"{label} sdk__inspect: the upstream gets a request of its own era",
            not inspected.is_error and not envelope,
            text[:300],
        )

        asked = await c.call_tool("sdk__ask", {})
        text = text_of(asked)
        report.check(
            f"{label} sdk__ask: elicitation crosses the gateway",
            not asked.is_error and text == "include=true" and len(cb.elicitations) == 1,
            f"elicitations={len(cb.elicitations)} text={text[:200]!r}",
        )

        headline = await c.call_tool("sdk__headline", {})
        text = text_of(headline)
        report.check(
            f"{label} sdk__headline: sampling crosses the gateway",
            not headline.is_error and text == HEADLINE and len(cb.samplings) == 1,
            f"samplings={len(cb.samplings)} text={text[:200]!r}",
        )


async def run(report: Report) -> None:
    with gateway_home("gateway-foreign") as gateway:
        gateway.configure(config_toml())
        with gateway.running("gateway-foreign"):
            for mode in ("auto", "legacy"):
                try:
                    await session(gateway.url, mode, report)
                except Exception as e:  # noqa: BLE001 - reported, then the other mode runs
                    report.check(f"[py/{mode}] session", False, repr(e))


if __name__ == "__main__":
    sys.exit(main(run))
