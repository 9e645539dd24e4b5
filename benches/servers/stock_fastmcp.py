"""The benchmark's Python baseline: Belay's `stock` server's `get_stock_price`, on the official
MCP Python SDK's high-level server (FastMCP; renamed `MCPServer` in mcp 2.x).

Only what the benchmark drives is here: one tool, `get_stock_price(symbol) -> float`, over the
same mock prices as `belay serve stock`, with the same unknown-ticker behaviour (an `isError`
result that lists the valid tickers). Everything else is the SDK's defaults, except logging,
which is turned down to WARNING (as for every server in the benchmark) so that no server pays
for a log line per request.

    .tools/venv/bin/python benches/servers/stock_fastmcp.py                          # stdio
    .tools/venv/bin/python benches/servers/stock_fastmcp.py --transport http --port 8000
"""

from __future__ import annotations

import argparse

# mcp 2.x (pinned in tests/interop/python/requirements.txt) renamed FastMCP to MCPServer.
from mcp.server.mcpserver import MCPServer as FastMCP
from mcp.server.mcpserver.exceptions import ToolError

# Keep in sync with Belay's stock server (crates/belay-servers/src/stock/data.rs) and benches/loadgen/src/mcp.rs (the load generator
# checks every answer against this table, so a drift shows up as errors in the results).
MOCK_PRICES: dict[str, float] = {
    "AAPL": 150.25,
    "MSFT": 380.50,
    "GOOGL": 140.80,
    "AMZN": 145.30,
    "TSLA": 242.60,
    "META": 335.20,
    "NVDA": 485.10,
}

mcp = FastMCP("stock-fastmcp", log_level="WARNING")


# `async def`, not `def`: the SDK runs a plain `def` tool in a worker thread, which costs a
# thread hop per call; the coroutine is the fastest way to write it on this SDK.
@mcp.tool()
async def get_stock_price(symbol: str) -> float:
    """Retrieve the current stock price for the given ticker symbol."""
    price = MOCK_PRICES.get(symbol.strip().upper())
    if price is None:
        valid = ", ".join(MOCK_PRICES)
        raise ToolError(f'Unknown ticker "{symbol.strip().upper()}". Valid tickers: {valid}.')
    return price


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.transport == "stdio":
        mcp.run("stdio")
    else:
        mcp.run("streamable-http", host=args.host, port=args.port)


if __name__ == "__main__":
    main()
