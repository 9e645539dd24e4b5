"""An upstream written with the official Python SDK (PyPI `mcp`), for the gateway's tests.

The gateway opens its upstream sessions with `initialize`, so this server serves the
handshake era on them, and the SDK refuses there any request whose `_meta` carries the
2026-07-28 envelope (-32600 "this connection serves the handshake protocol era").

Tools:

* `inspect`: reports progress 1/2 and 2/2, logs one message at each of debug, info, warning
  and error that the last `logging/setLevel` lets through (the handshake era leaves that
  filtering to the application), and answers JSON: the `_meta` the request arrived with and
  the level the last `logging/setLevel` asked for (null before any).
* `ask`: elicits `{"include": boolean}` from the client and answers `include=<value>`, or
  the action when the client did not accept.
* `headline`: asks the client's model for a headline (sampling) and answers its text.
* `burst`: reports progress 1 to `count` and logs `burst` at warning, then answers at once
  (nothing held back for the notifications to get ahead of the result).
* `chatter`: answers, then 200 ms later logs `chatter` at info and at error on its own,
  outside any call (as server-everything's simulated logging does), whatever the level set.
* `touch`: tells the session that resource `sdk://note` changed.
* `subscriptions`: answers each `resources/subscribe` (+1) and `resources/unsubscribe` (-1)
  received so far, in order, as JSON.

Resource: `sdk://note`, which clients may subscribe to.

    python sdk_upstream.py stdio
    python sdk_upstream.py streamable-http PORT
    python sdk_upstream.py sse PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

# Logging and sampling are deprecated by SEP-2577 but still served; say so once, not per call.
warnings.filterwarnings("ignore", message=".*deprecated as of 2026-07-28")

server = MCPServer("sdk-upstream")
level: dict[str, str | None] = {"set": None}


async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    level["set"] = params.level
    return types.EmptyResult()


# MCPServer has no setLevel hook of its own; the low-level server's declares `logging`.
server._lowlevel_server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)

NOTE = "sdk://note"
subscriptions: list[int] = []


async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    subscriptions.append(1)
    return types.EmptyResult()


async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    subscriptions.append(-1)
    return types.EmptyResult()


server._lowlevel_server.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
server._lowlevel_server.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)


@server.resource(NOTE, name="note", mime_type="text/plain")
def note() -> str:
    return "a note"


@server.tool()
async def inspect(ctx: Context) -> str:
    """What this request carried: its `_meta` and the session's log level."""
    await ctx.report_progress(1, 2)
    levels = ["debug", "info", "warning", "error"]
    floor = levels.index(level["set"]) if level["set"] in levels else 0
    for at in levels[floor:]:
        await ctx.log(at, f"log at {at}")
    await ctx.report_progress(2, 2)
    # A notice that reaches the gateway together with the result can lose the race to it
    # (rmcp hands each notification to a task of its own); this tests translation, not that.
    await anyio.sleep(0.2)
    meta = (ctx.request_context.params or {}).get("_meta") or {}  # as it came on the wire
    return json.dumps({"meta": meta, "level": level["set"]})


class Include(BaseModel):
    include: bool


@server.tool()
async def ask(ctx: Context) -> str:
    """Asks the client whether to include something."""
    answer = await ctx.elicit("Include the extra detail?", Include)
    if answer.action == "accept" and answer.data is not None:
        return f"include={str(answer.data.include).lower()}"
    return answer.action


@server.tool()
async def headline(ctx: Context) -> str:
    """Asks the client's model for a headline."""
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text="Write a headline"))
    result = await ctx.request_context.session.create_message(messages=[message], max_tokens=50)
    content = result.content
    return content.text if isinstance(content, types.TextContent) else str(content)


@server.tool()
async def burst(count: int, ctx: Context) -> str:
    """Reports progress 1 to `count`, logs once, and answers at once."""
    for step in range(1, count + 1):
        await ctx.report_progress(step, count)
    await ctx.log("warning", "burst")
    return f"burst of {count}"


# Background tasks, kept so that they are not collected while they run.
background: set[asyncio.Task[None]] = set()


@server.tool()
async def chatter(ctx: Context) -> str:
    """Answers, then logs on its own a moment later."""
    session = ctx.request_context.session

    async def later() -> None:
        await anyio.sleep(0.2)
        for at in ("info", "error"):
            await session.send_log_message(at, "chatter", logger="sdk-upstream")

    task = asyncio.get_running_loop().create_task(later())
    background.add(task)
    task.add_done_callback(background.discard)
    return "chattering"


@server.tool()
async def touch(ctx: Context) -> str:
    """Tells the session that the note changed."""
    await ctx.request_context.session.send_resource_updated(NOTE)
    return f"touched {NOTE}"


@server.tool(name="subscriptions")
async def subscription_log() -> str:
    """Every subscribe (+1) and unsubscribe (-1) so far."""
    return json.dumps(subscriptions)


def main() -> None:
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if transport == "stdio":
        server.run("stdio")
    elif transport in ("streamable-http", "sse"):
        server.run(transport, host="127.0.0.1", port=int(sys.argv[2]))  # type: ignore[call-overload]
    else:
        sys.exit(f"unknown transport {transport!r}: stdio, streamable-http or sse")


if __name__ == "__main__":
    main()
