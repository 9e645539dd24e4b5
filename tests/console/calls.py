"""Tool calls for the console's browser test, made by the official Python SDK client.

Signs in to `belay up`'s gateway as `demo` (the SDK's OAuthClientProvider through Belay's
login form, as tests/interop/python/up_session.py does), calls `matheval__evaluate` COUNT
times, and with `--expect-tool NAME` first waits (up to 20 s) until `tools/list` shows NAME:
the console's approval of a changed tool must reach clients. With `--expect-blocked`, each
call must instead be refused by the gateway as blocked (the console blocked the tool).
Prints one JSON line: {"calls": N, "tools": [...], "refusals": [...]}; exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "python"))
from oauth_weather import MemoryStorage, ScriptedPerson, provider  # noqa: E402
from stock_session import text_of  # noqa: E402


async def run(
    url: str, password: str, count: int, expect: str | None, blocked: bool
) -> dict[str, object]:
    refusals: list[str] = []
    storage, person = MemoryStorage(), ScriptedPerson(password=password, user="demo")
    async with httpx2.AsyncClient(auth=provider(url, storage, person), timeout=30) as http:
        client = Client(
            streamable_http_client(url, http_client=http),
            mode="legacy",
            client_info=types.Implementation(name="belay-console-test", version="0"),
            read_timeout_seconds=30,
        )
        async with client:
            tools = [t.name for t in (await client.list_tools()).tools]
            if expect:
                with anyio.fail_after(20):
                    while expect not in tools:
                        await anyio.sleep(0.5)
                        tools = [t.name for t in (await client.list_tools()).tools]
            for i in range(count):
                try:
                    result = await client.call_tool("matheval__evaluate", {"expression": f"{i}+1"})
                except Exception as refused:  # the SDK raises the JSON-RPC error
                    if blocked and "blocked" in str(refused):
                        refusals.append(str(refused))
                        continue
                    raise
                if blocked:
                    raise RuntimeError(f"matheval__evaluate was not refused: {text_of(result)!r}")
                if str(i + 1) not in text_of(result):
                    raise RuntimeError(f"matheval__evaluate({i}+1) answered {text_of(result)!r}")
    return {"calls": count, "tools": tools, "refusals": refusals}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("password")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--expect-tool")
    parser.add_argument("--expect-blocked", action="store_true")
    args = parser.parse_args()
    outcome = anyio.run(run, args.url, args.password, args.count, args.expect_tool, args.expect_blocked)
    print(json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
