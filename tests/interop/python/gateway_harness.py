"""What the gateway interop runs (gateway_foreign.py, gateway_guard.py, gateway_openapi.py) share.

* `gateway_home()`: a temporary data directory with its belay.toml and a free loopback port,
  from which `belay gateway serve` starts (`Gateway.running`, as often as a run restarts it)
  and the belay CLI runs on the same configuration and data (`Gateway.belay`);
* `client()`: the official Python SDK client on the gateway's `/mcp`;
* `listed_tools()`: the tools once the upstreams' are there (the gateway listens before its
  upstreams are up);
* `refused()`: the error text of a call the gateway refuses;
* `audit_records()`: `belay audit verify` checked, then the log's records;
* `main()`: a run's entry point (a Report, SIGTERM stops the servers, exit 1 on any FAIL).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import HOST, belay_bin, free_port, running, stop_on_sigterm  # noqa: E402
from oauth_weather import Report  # noqa: E402
from stock_session import text_of  # noqa: E402

TIMEOUT_S = 60.0
# How long listed_tools() waits for the upstreams' tools.
UPSTREAMS_START_S = 30


@dataclass
class Gateway:
    """A gateway's configuration, data directory and port; started by `running`."""

    data: Path
    port: int

    @property
    def config(self) -> Path:
        return self.data / "belay.toml"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/mcp"

    def configure(self, toml: str) -> None:
        self.config.write_text(toml)

    @contextlib.contextmanager
    def running(self, label: str) -> Iterator[None]:
        """`belay gateway serve` until the block ends (started once the port accepts)."""
        cmd = [belay_bin(), "--config", str(self.config), "gateway", "serve"]
        cmd += ["--port", str(self.port), "--data-dir", str(self.data)]
        with running(cmd, self.port, label):
            yield

    def belay(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The belay CLI on this gateway's configuration and data directory."""
        return subprocess.run(
            [belay_bin(), "--config", str(self.config), *args, "--data-dir", str(self.data)],
            capture_output=True,
            text=True,
            timeout=60,
        )


@contextlib.contextmanager
def gateway_home(name: str) -> Iterator[Gateway]:
    """A gateway in a temporary data directory (removed after the block); configure() it first."""
    with tempfile.TemporaryDirectory(prefix=f"belay-{name}-") as tmp:
        yield Gateway(Path(tmp), free_port())


def client(url: str, name: str, *, mode: str = "auto", **callbacks: Any) -> Client:
    """The Python SDK client on `url`, introducing itself as `name`."""
    return Client(
        streamable_http_client(url),
        mode=mode,
        client_info=types.Implementation(name=name, version="0"),
        read_timeout_seconds=TIMEOUT_S,
        **callbacks,
    )


async def listed_tools(c: Client, *want: str) -> list[types.Tool]:
    """The tools listed once all of `want` are there, or after UPSTREAMS_START_S."""
    tools: list[types.Tool] = []
    with anyio.move_on_after(UPSTREAMS_START_S):
        while not set(want) <= {t.name for t in tools}:
            tools = (await c.list_tools()).tools
            if not set(want) <= {t.name for t in tools}:
                await anyio.sleep(0.2)
    return tools


async def tool_names(c: Client, *want: str) -> list[str]:
    """The names of listed_tools()."""
    return [t.name for t in await listed_tools(c, *want)]


async def refused(c: Client, tool: str, arguments: dict[str, Any]) -> str:
    """The error text of a call the gateway refuses ('' if it was answered)."""
    try:
        result = await c.call_tool(tool, arguments)
    except Exception as e:  # noqa: BLE001 - the refusal is a JSON-RPC error
        return str(e)
    return "" if not result.is_error else text_of(result)


def audit_records(gateway: Gateway, report: Report) -> list[dict[str, Any]]:
    """Checks that `belay audit verify` passes; the records `belay audit query` gives."""
    verify = gateway.belay("audit", "verify")
    report.check("belay audit verify passes", verify.returncode == 0, (verify.stdout + verify.stderr)[-600:])
    query = gateway.belay("audit", "query", "--json", "--limit", "1000")
    return [json.loads(line) for line in query.stdout.splitlines() if line.strip()]


def main(run: Callable[[Report], Awaitable[None]]) -> int:
    """Runs `run` with a Report; 1 if any check failed. SIGTERM stops the servers first."""
    stop_on_sigterm()
    report = Report()
    anyio.run(run, report)
    return 1 if report.failed else 0
