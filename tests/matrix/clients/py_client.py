"""The interop matrix, driven by the official Python SDK client (PyPI `mcp`, `mcp.Client`).

    python py_client.py PLAN.json --mode auto|legacy --out RESULTS.json

PLAN.json (written by tests/matrix/matrix.py) lists the rows: for each upstream behind the
gateway, its two endpoints (the federated `/mcp`, where names carry the upstream's prefix,
and `/servers/NAME/mcp`) and, per feature, what to call and what must come back (or why the
feature is not applicable). One session per endpoint: `/mcp` is shared by the rows of one
gateway, each `/servers/NAME/mcp` has its own. RESULTS.json gets one record per cell:
{"row", "route", "feature", "status": "PASS"|"FAIL"|"N/A", "detail"}.

`auto` is the SDK's default (it probes 2026-07-28 `server/discover` and falls back to the
initialize handshake); `legacy` forces the handshake. The checks follow the era the session
negotiated: `logging/setLevel`, `resources/subscribe` and notifications in the handshake era;
the per-request log level in `_meta`, `subscriptions/listen` and `input_required` rounds
from 2026-07-28.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

# The deprecated (2026-07-28) logging, sampling and subscribe APIs are what the handshake era
# still uses; the matrix exercises them on purpose.
warnings.simplefilter("ignore")

CHECK_TIMEOUT_S = 20.0
NOTICE_WAIT_S = 3.0  # how long to wait for a notification the call should have caused
LOG_LEVEL_META = "io.modelcontextprotocol/logLevel"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Fail(Exception):
    """The check saw something else than it needed."""


class NotApplicable(Exception):
    """The check cannot run with this client (the reason is the message)."""


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise Fail(message)


def short(value: Any, limit: int = 240) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- what this client answers when a server asks ------------------------------------------
@dataclass
class Session:
    """The callbacks of one client session and what reached them."""

    marker: str
    answer_name: str
    logs: list[types.LoggingMessageNotificationParams] = field(default_factory=list)
    notices: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    samplings: int = 0
    elicitations: int = 0
    on_log_at: list[float] | None = None  # when set, each log's arrival time goes here too

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)
        if self.on_log_at is not None:
            self.on_log_at.append(time.monotonic())

    async def on_message(self, message: Any) -> None:
        inner = getattr(message, "root", message)
        method = getattr(inner, "method", None)
        if isinstance(method, str) and method.startswith("notifications/"):
            params = getattr(inner, "params", None)
            dumped = params.model_dump(mode="json", by_alias=True) if params is not None else {}
            self.notices.append((time.monotonic(), method, dumped))

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.samplings += 1
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=self.marker),
            model="belay-matrix-model",
            stop_reason="endTurn",
        )

    async def elicitation(self, context: Any, params: Any) -> types.ElicitResult | types.ErrorData:
        self.elicitations += 1
        if getattr(params, "mode", "form") != "form":
            return types.ErrorData(code=-32602, message="the matrix client answers form elicitations only")
        properties = (params.requested_schema or {}).get("properties", {})
        return types.ElicitResult(action="accept", content={k: answer_for(k, s, self.answer_name) for k, s in properties.items()})


def answer_for(name: str, schema: dict[str, Any], answer_name: str) -> Any:
    if name == "name":
        return answer_name
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    fmt = schema.get("format")
    if fmt == "email":
        return "matrix@example.com"
    if fmt == "uri":
        return "https://example.com/matrix"
    if fmt == "date":
        return "2024-01-01"
    kind = schema.get("type")
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return answer_name


# ---- helpers over SDK results ---------------------------------------------------------------
def texts(result: Any) -> str:
    out: list[str] = []
    for block in getattr(result, "content", None) or []:
        if isinstance(block, types.TextContent):
            out.append(block.text)
    for block in getattr(result, "contents", None) or []:
        if isinstance(block, types.TextResourceContents):
            out.append(block.text)
    for message in getattr(result, "messages", None) or []:
        if isinstance(message.content, types.TextContent):
            out.append(message.content.text)
    return "\n".join(out)


async def list_all(client: Client, kind: str) -> tuple[list[Any], int]:
    """Every item of a list, following cursors; and how many pages it took."""
    method = {
        "tools": (client.list_tools, "tools"),
        "resources": (client.list_resources, "resources"),
        "templates": (client.list_resource_templates, "resource_templates"),
        "prompts": (client.list_prompts, "prompts"),
    }[kind]
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await method[0](cursor=cursor)
        pages += 1
        items.extend(getattr(page, method[1]))
        cursor = page.next_cursor
        if not cursor or pages > 200:
            return items, pages


def key_of(kind: str, item: Any) -> str:
    return item.uri_template if kind == "templates" else (str(item.uri) if kind == "resources" else item.name)


async def call(client: Client, row: Row, spec: dict[str, Any], **kw: Any) -> types.CallToolResult:
    result = await client.call_tool(row.name(spec["tool"]), spec.get("args") or {}, **kw)
    expect(not result.is_error, f"{row.name(spec['tool'])} answered isError: {short(texts(result))}")
    return result


async def wait_for(pred: Callable[[], bool], seconds: float = NOTICE_WAIT_S) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        await anyio.sleep(0.05)
    return pred()


# ---- the checks -------------------------------------------------------------------------------
@dataclass
class Row:
    row: str
    route: str
    prefix: str
    checks: dict[str, Any]

    def name(self, name: str) -> str:
        return self.prefix + name if self.route == "mcp" else name


Check = Callable[[Client, Session, Row, dict[str, Any]], Awaitable[str]]


def modern(client: Client) -> bool:
    return client.protocol_version in MODERN_PROTOCOL_VERSIONS


async def check_tools(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    tools, _ = await list_all(client, "tools")
    names = [t.name for t in tools]
    want = row.name(spec["tool"])
    expect(want in names, f"{want} not listed ({len(names)} tools)")
    if "tool_call" in spec and spec["tool_call"] is False:
        return f"{want} listed"
    result = await call(client, row, spec)
    expect(spec["expect"] in texts(result), f"{want} answered {short(texts(result))}")
    return f"{want} answered"


async def check_structured(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    tools, _ = await list_all(client, "tools")
    tool = next((t for t in tools if t.name == row.name(spec["tool"])), None)
    expect(tool is not None and tool.output_schema is not None, f"{row.name(spec['tool'])} has no outputSchema")
    result = await call(client, row, spec)
    sc = result.structured_content
    expect(isinstance(sc, dict), f"no structuredContent: {short(result)}")
    missing = [k for k in spec["keys"] if k not in sc]
    expect(not missing, f"structuredContent lacks {missing}: {short(sc)}")
    return f"structuredContent {short(sorted(sc), 80)}"


async def check_images(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    result = await call(client, row, spec)
    images = [b for b in result.content if isinstance(b, types.ImageContent)]
    expect(bool(images), f"no image content: {[b.type for b in result.content]}")
    data = base64.b64decode(images[0].data)
    expect(images[0].mime_type == "image/png" and data.startswith(PNG_SIGNATURE), f"not a PNG: {images[0].mime_type}")
    return f"PNG of {len(data)} bytes"


async def check_resources(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    resources, _ = await list_all(client, "resources")
    uris = {str(r.uri) for r in resources}
    missing = [u for u in spec["uris"] if u not in uris]
    expect(not missing, f"not listed: {missing}")
    result = await client.read_resource(spec["read"])
    body = texts(result)
    if "expect" in spec:
        expect(spec["expect"] in body, f"read {spec['read']}: {short(body)}")
    else:
        expect(bool(result.contents), f"read {spec['read']}: no contents")
    return f"{len(spec['uris'])} listed, read {spec['read']}"


async def check_templates(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    templates, _ = await list_all(client, "templates")
    listed = {t.uri_template for t in templates}
    expect(spec["template"] in listed, f"{spec['template']} not listed ({len(listed)} templates)")
    result = await client.read_resource(spec["read"])
    expect(spec["expect"] in texts(result), f"read {spec['read']}: {short(texts(result))}")
    return f"read {spec['read']}"


async def check_pagination(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    kind = spec["list"]
    items, pages = await list_all(client, kind)
    keys = [key_of(kind, i) for i in items]
    want = [row.name(n) if kind in ("tools", "prompts") else n for n in spec["names"]]
    missing = [n for n in want if n not in keys]
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    expect(pages > 1, f"{kind}: one page of {len(keys)}")
    expect(not missing and not doubled, f"{kind} over {pages} pages: missing {missing}, twice {doubled}")
    return f"{kind}: {len(keys)} over {pages} pages"


async def check_prompts(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    prompts, _ = await list_all(client, "prompts")
    want = row.name(spec["prompt"])
    prompt = next((p for p in prompts if p.name == want), None)
    expect(prompt is not None, f"{want} not listed")
    args = {a.name for a in prompt.arguments or []}
    expect(set(spec["args"]) <= args, f"{want} arguments {sorted(args)}")
    result = await client.get_prompt(want, spec["args"])
    expect(spec["expect"] in texts(result), f"{want}: {short(texts(result))}")
    return f"{want} with {sorted(spec['args'])}"


async def check_completions(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    if "prompt" in spec:
        ref: Any = types.PromptReference(type="ref/prompt", name=row.name(spec["prompt"]))
    else:
        ref = types.ResourceTemplateReference(type="ref/resource", uri=spec["template"])
    result = await client.complete(ref, {"name": spec["argument"], "value": spec["value"]})
    values = result.completion.values
    expect(spec["expect"] in values, f"completion of {spec['argument']}={spec['value']!r}: {values}")
    return f"{spec['argument']}={spec['value']!r} -> {values[:4]}"


async def check_logging(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    level = spec["level"]
    if "later" in spec and modern(client):
        raise NotApplicable(
            "2026-07-28 makes notifications/message request-scoped (never on a subscriptions/listen "
            "stream), so a message sent outside any call has no way to this client"
        )
    if not modern(client):
        await client.set_logging_level(level)
    before = len(s.logs)
    for step in spec["calls"]:
        await call(client, row, step, meta={LOG_LEVEL_META: level})
    try:
        if "later" in spec:
            # A message the server sends on its own, outside any call (the gateway must
            # still relay it): only what arrives a second after the call counts.
            since = time.monotonic() + 1.0
            arrived: list[float] = []
            s.on_log_at = arrived
            await wait_for(lambda: any(t >= since for t in arrived), spec["later"])
            late = [t for t in arrived if t >= since]
            expect(bool(late), f"no log message within {spec['later']:.0f}s of switching logging on (one every 5 s)")
            return f"{len(late)} message(s) sent outside a call arrived"
    finally:
        s.on_log_at = None
        for step in spec.get("finally", []):
            await call(client, row, step)
    await wait_for(lambda: len(s.logs) > before, 2.0)
    got = s.logs[before:]
    expect(bool(got), f"no log message (level {level})")
    if spec.get("absent"):
        low = [m.level for m in got if m.level == spec["absent"]]
        expect(not low, f"{len(low)} {spec['absent']} messages after asking for {level}")
    if spec.get("expect"):
        expect(any(spec["expect"] in str(m.data) for m in got), f"logs: {short([m.data for m in got])}")
    return f"{len(got)} messages at {sorted({m.level for m in got})}"


async def check_progress(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    await call(client, row, spec, progress_callback=on_progress)
    expect(len(seen) >= spec["min"], f"{len(seen)} progress notifications, want {spec['min']}")
    expect(seen == sorted(seen), f"progress not increasing: {seen}")
    return f"{len(seen)} notifications {seen}"


async def check_cancellation(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    before = await counter(client, row, spec)
    started = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    outcome: list[str] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            with anyio.CancelScope() as scope:
                cancel_scopes.append(scope)
                result = await client.call_tool(row.name(spec["tool"]), spec["args"], progress_callback=on_progress)
                outcome.append(f"finished: {short(texts(result))}")

        cancel_scopes: list[anyio.CancelScope] = []
        tg.start_soon(run)
        with anyio.fail_after(10):
            await started.wait()
        t0 = time.monotonic()
        cancel_scopes[0].cancel()
    expect(not outcome, f"the call was not cancelled: {outcome}")
    took = time.monotonic() - t0
    # The session goes on: the next call answers.
    after_ok = await client.call_tool(row.name(spec["after"]["tool"]), spec["after"].get("args") or {})
    expect(not after_ok.is_error, f"the next call failed: {short(texts(after_ok))}")
    if before is None:
        return f"cancelled in {took:.2f}s; session usable"
    seen = await wait_for_counter(client, row, spec, before)
    expect(seen > before, f"the server saw no cancellation (count stays {before})")
    return f"the server saw it (count {before} -> {seen})"


async def counter(client: Client, row: Row, spec: dict[str, Any]) -> int | None:
    if "counter" not in spec:
        return None
    result = await client.call_tool(row.name(spec["counter"]), {})
    return int(texts(result).strip())


async def wait_for_counter(client: Client, row: Row, spec: dict[str, Any], before: int) -> int:
    deadline = time.monotonic() + NOTICE_WAIT_S
    value = before
    while time.monotonic() < deadline:
        value = await counter(client, row, spec) or before
        if value > before:
            break
        await anyio.sleep(0.2)
    return value


async def check_subscriptions(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    uri = spec["uri"]
    if modern(client):
        async with client.listen(resource_subscriptions=[uri]) as sub:
            honored = sub.honored.resource_subscriptions or []
            expect(uri in honored, f"subscriptions/listen did not accept {uri} (accepted: {sub.honored})")
            for step in spec["trigger"]:
                await call(client, row, step)
            got = await next_event(sub, lambda e: getattr(e, "uri", None) == uri)
        expect(got, f"no update for {uri} on the listen stream")
        return f"update for {uri} (subscriptions/listen)"
    mark = time.monotonic()
    await client.subscribe_resource(uri)
    try:
        for step in spec["trigger"]:
            await call(client, row, step)
        ok = await wait_for(lambda: any(t >= mark and m == "notifications/resources/updated" and p.get("uri") == uri for t, m, p in s.notices))
    finally:
        await client.unsubscribe_resource(uri)
    expect(ok, f"no notifications/resources/updated for {uri}; saw {[m for t, m, _ in s.notices if t >= mark]}")
    return f"update for {uri} (resources/subscribe)"


async def next_event(sub: Any, pred: Callable[[Any], bool]) -> bool:
    with anyio.move_on_after(NOTICE_WAIT_S):
        async for event in sub:
            if pred(event):
                return True
    return False


async def check_list_changed(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    kind = spec["list"]
    method = {"tools": "notifications/tools/list_changed", "resources": "notifications/resources/list_changed"}[kind]
    if modern(client):
        flags = {"tools_list_changed": kind == "tools", "resources_list_changed": kind == "resources"}
        async with client.listen(**flags) as sub:
            result = await call(client, row, spec["trigger"])
            got = await next_event(sub, lambda e: type(e).__name__.lower().startswith(kind))
        expect(got, f"no {kind} list-changed event on the listen stream")
    else:
        mark = time.monotonic()
        result = await call(client, row, spec["trigger"])
        got = await wait_for(lambda: any(t >= mark and m == method for t, m, _ in s.notices))
        expect(got, f"no {method}; saw {sorted({m for t, m, _ in s.notices if t >= mark})}")
    new = spec["new"] if "new" in spec else texts(result).strip()
    items, _ = await list_all(client, kind)
    keys = [key_of(kind, i) for i in items]
    name = row.name(new) if kind == "tools" else new
    expect(name in keys, f"{name} not in the new {kind} list")
    return f"{kind} changed; {name} listed"


async def check_sampling(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    await require_tool(client, row, spec)
    before = s.samplings
    result = await call(client, row, spec)
    expect(s.samplings > before, "the sampling callback was not called")
    expect(s.marker in texts(result), f"the sampled text is not in the result: {short(texts(result))}")
    return "sampled text in the result"


async def check_elicitation(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    await require_tool(client, row, spec)
    before = s.elicitations
    result = await call(client, row, spec)
    expect(s.elicitations > before, "the elicitation callback was not called")
    expect(s.answer_name in texts(result), f"the answer is not in the result: {short(texts(result))}")
    return "the answer is in the result"


async def check_task_form(client: Client, s: Session, row: Row, spec: dict[str, Any]) -> str:
    raise NotApplicable("the Python SDK client cannot run a server's request as a task (no client tasks capability)")


async def require_tool(client: Client, row: Row, spec: dict[str, Any]) -> None:
    tools, _ = await list_all(client, "tools")
    want = row.name(spec["tool"])
    expect(want in {t.name for t in tools}, f"{want} not listed (the upstream did not offer it)")


CHECKS: dict[str, Check] = {
    "tools": check_tools,
    "structured": check_structured,
    "images": check_images,
    "resources": check_resources,
    "templates": check_templates,
    "pagination": check_pagination,
    "prompts": check_prompts,
    "completions": check_completions,
    "logging": check_logging,
    "progress": check_progress,
    "cancellation": check_cancellation,
    "subscriptions": check_subscriptions,
    "list-changed": check_list_changed,
    "sampling": check_sampling,
    "elicitation": check_elicitation,
    "sampling-async": check_task_form,
    "elicitation-async": check_task_form,
}


# ---- sessions -------------------------------------------------------------------------------
async def run_endpoint(url: str, rows: list[Row], mode: str, plan: dict[str, Any], out: list[dict[str, Any]]) -> None:
    s = Session(marker=plan["marker"], answer_name=plan["answer_name"])
    record = lambda row, feature, status, detail: out.append(  # noqa: E731
        {"row": row.row, "route": row.route, "feature": feature, "status": status, "detail": detail}
    )
    try:
        client = Client(
            streamable_http_client(url),
            mode=mode,
            sampling_callback=s.sampling,
            elicitation_callback=s.elicitation,
            logging_callback=s.on_log,
            message_handler=s.on_message,
            client_info=types.Implementation(name=f"belay-matrix-python-{mode}", version="0"),
            read_timeout_seconds=CHECK_TIMEOUT_S,
            cache=None,  # every list goes to the gateway: the checks are about what it answers
        )
        async with client:
            print(f"  [py/{mode}] {url}: protocol {client.protocol_version}", flush=True)
            for row in rows:
                for feature in plan["features"]:
                    spec = row.checks.get(feature)
                    if isinstance(spec, str):
                        record(row, feature, "N/A", spec)
                        continue
                    spec = spec_for_route(spec, row.route)
                    if isinstance(spec, str):
                        record(row, feature, "N/A", spec)
                        continue
                    try:
                        with anyio.fail_after(CHECK_TIMEOUT_S):
                            detail = await CHECKS[feature](client, s, row, with_nonce(spec, secrets.token_hex(4)))
                        record(row, feature, "PASS", detail)
                    except NotApplicable as na:
                        record(row, feature, "N/A", str(na))
                    except Exception as e:  # noqa: BLE001 - every failure is a cell's finding
                        record(row, feature, "FAIL", describe(e))
    except Exception as e:  # noqa: BLE001 - the session itself failed: every cell not yet run
        done = {(r["row"], r["feature"]) for r in out if r["route"] == rows[0].route}
        for row in rows:
            for feature in plan["features"]:
                if (row.row, feature) not in done:
                    spec = row.checks.get(feature)
                    if isinstance(spec, str):
                        record(row, feature, "N/A", spec)
                    else:
                        record(row, feature, "FAIL", f"session: {describe(e)}")


def with_nonce(spec: Any, nonce: str) -> Any:
    """`{nonce}` in a spec becomes a value new to this check (names that must not exist yet)."""
    if isinstance(spec, str):
        return spec.replace("{nonce}", nonce)
    if isinstance(spec, list):
        return [with_nonce(v, nonce) for v in spec]
    if isinstance(spec, dict):
        return {k: with_nonce(v, nonce) for k, v in spec.items()}
    return spec


def spec_for_route(spec: dict[str, Any], route: str) -> dict[str, Any] | str:
    """A spec may hold a per-route N/A (`{"na_route": {"server": "why"}}`)."""
    return spec.get("na_route", {}).get(route, spec)


def describe(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(describe(x) for x in e.exceptions)
    if isinstance(e, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:.0f}s"
    return short(f"{type(e).__name__}: {e}", 400)


async def main_async(plan: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    endpoints: dict[str, list[Row]] = {}
    for r in plan["rows"]:
        for route, url in r["urls"].items():
            endpoints.setdefault(url, []).append(Row(r["row"], route, r["prefix"], r["checks"]))
    for url, rows in endpoints.items():
        await run_endpoint(url, rows, mode, plan, out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan")
    parser.add_argument("--mode", choices=["auto", "legacy"], required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    results = anyio.run(main_async, plan, args.mode)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
