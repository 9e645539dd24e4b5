"""An MCP server made with the official Python SDK (PyPI `mcp`), for the interop matrix.

It offers one of everything the matrix checks, the way an SDK user writes it:

* tools: `echo`, `weather` (structured content with an output schema), `tiny_image` (an
  image), `slow` (progress, a log line per step, and it counts the cancellations it sees:
  `cancellations` tells how many), `add_tool` (registers a tool: tools list changed),
  `touch` (a resource updated notification for a URI), `ask_name` (elicitation),
  `headline` (sampling);
* resources: `matrix://TAG/notes/0..11` (more than one gateway page) and the template
  `matrix://TAG/items/{item}`; subscribe and unsubscribe;
* prompts: `greet(name, style)`; completions for `style` and for the template's `item`;
* logging: `logging/setLevel`, and `slow` logs at debug and info.

TAG (`--tag`) goes into every URI, so that several copies behind one gateway do not claim
the same resources. Transports: `stdio`, `http` (Streamable HTTP on `/mcp`) and `sse` (the
2024-11-05 HTTP+SSE transport on `/sse`), on 127.0.0.1:`--port`.

    python py_server.py --transport http --port 8123 --tag py-http
"""

from __future__ import annotations

import argparse
import base64
import warnings
from typing import Annotated, Any

import anyio
import mcp_types as types
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    Image,
    MCPServer,
    Resolve,
    Sample,
)
from pydantic import BaseModel, Field

# A 1x1 PNG: what `tiny_image` returns (the matrix checks the PNG signature).
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)
LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
STYLES = ["formal", "friendly", "pirate"]
ITEMS = ["apple", "apricot", "banana"]
NOTES = 12

# The deprecated (2026-07-28) logging and sampling features are still served: the matrix
# checks them in the handshake era, where they are current.
warnings.simplefilter("ignore")


class Weather(BaseModel):
    city: str
    temperature_c: float = Field(description="Temperature in Celsius")
    conditions: str


class Name(BaseModel):
    name: str = Field(description="Your name")


# Elicitation and sampling through resolvers, the SDK's way that works in both eras:
# mid-call requests in the handshake era, input_required rounds from 2026-07-28. At module
# level: the SDK evaluates the tools' annotations, which must find them.
def ask(ctx: Context) -> Elicit[Name]:
    return Elicit("What is your name?", Name)


def sample(topic: str) -> Sample:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=f"Headline on {topic}"))
    return Sample([message], max_tokens=50)


def build(tag: str) -> MCPServer:
    mcp = MCPServer(name=f"matrix-python-{tag}", version="1.0.0")
    low = mcp._lowlevel_server  # noqa: SLF001 - the SDK's way to add handlers MCPServer has no decorator for
    state: dict[str, Any] = {"level": "debug", "cancelled": 0, "added": 0}

    # Say that lists change (tools are added at run time): MCPServer's handshake answer
    # leaves the listChanged flags off unless asked.
    plain_options = low.create_initialization_options
    low.create_initialization_options = lambda *a, **k: plain_options(  # type: ignore[method-assign]
        NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
    )

    @mcp.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return f"echo: {text}"

    @mcp.tool(description="Weather of a city, as structured content.")
    def weather(city: str) -> Weather:
        return Weather(city=city, temperature_c=21.5, conditions="sunny")

    @mcp.tool(description="A tiny PNG image.")
    def tiny_image() -> Image:
        return Image(data=PNG_1X1, format="png")

    @mcp.tool(description="Works for steps * step_ms milliseconds, with progress and logs.")
    async def slow(steps: int, step_ms: int, ctx: Context) -> str:
        try:
            for i in range(1, steps + 1):
                await anyio.sleep(step_ms / 1000)
                await ctx.report_progress(i, steps, f"step {i}")
                for level in ("debug", "info"):
                    if LEVELS.index(level) >= LEVELS.index(state["level"]):
                        await ctx.log(level, f"slow step {i} at {level}")
        except anyio.get_cancelled_exc_class():
            state["cancelled"] += 1
            raise
        return f"done after {steps} steps"

    @mcp.tool(description="How many calls of `slow` were cancelled.")
    def cancellations() -> int:
        return state["cancelled"]

    @mcp.tool(description="Adds a tool (the tools list changes).")
    async def add_tool(ctx: Context) -> str:
        state["added"] += 1
        name = f"extra_{state['added']}"
        mcp.add_tool(lambda: name, name=name, description="Added at run time.")
        await ctx.notify_tools_changed()  # 2026-07-28 listeners
        await ctx.session.send_tool_list_changed()  # handshake-era sessions
        return name

    @mcp.tool(description="Tells subscribers that a resource changed.")
    async def touch(uri: str, ctx: Context) -> str:
        await ctx.notify_resource_updated(uri)
        await ctx.session.send_resource_updated(uri)
        return f"touched {uri}"

    @mcp.tool(description="Asks the user's name (elicitation).")
    def ask_name(answer: Annotated[ElicitationResult[Name], Resolve(ask)]) -> str:
        if isinstance(answer, AcceptedElicitation):
            return f"hello {answer.data.name}"
        return f"no name ({answer.action})"

    @mcp.tool(description="Asks the client's model for a headline (sampling).")
    def headline(topic: str, result: Annotated[types.CreateMessageResult, Resolve(sample)]) -> str:
        text = result.content.text if isinstance(result.content, types.TextContent) else repr(result.content)
        return f"headline: {text}"

    def note(text: str) -> Any:
        return lambda: text  # the SDK maps handler parameters to URI variables: none here

    for i in range(NOTES):
        mcp.resource(f"matrix://{tag}/notes/{i}", name=f"note-{i}", mime_type="text/plain")(note(f"note {i} of {tag}"))

    @mcp.resource(f"matrix://{tag}/items/{{item}}", name="item", mime_type="text/plain")
    def item(item: str) -> str:
        return f"item {item} of {tag}"

    @mcp.prompt(description="Greets someone in a style.")
    def greet(name: str, style: str = "formal") -> str:
        return f"Write a {style} greeting for {name}."

    @mcp.completion()
    async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion | None:
        pool = {"style": STYLES, "item": ITEMS}.get(argument.name, [])
        return types.Completion(values=[v for v in pool if v.startswith(argument.value)])

    async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        state["level"] = params.level
        return types.EmptyResult()

    subscribed: set[str] = set()

    async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        subscribed.add(str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        subscribed.discard(str(params.uri))
        return types.EmptyResult()

    low.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)
    low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)
    return mcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["stdio", "http", "sse"], default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tag", default="py")
    args = parser.parse_args()
    mcp = build(args.tag)
    if args.transport == "stdio":
        anyio.run(mcp.run_stdio_async)
    elif args.transport == "http":
        anyio.run(lambda: mcp.run_streamable_http_async(host="127.0.0.1", port=args.port))
    else:
        anyio.run(lambda: mcp.run_sse_async(host="127.0.0.1", port=args.port))


if __name__ == "__main__":
    main()
