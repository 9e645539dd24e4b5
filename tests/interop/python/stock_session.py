"""Scripted interop session against `belay serve stock` using the official MCP Python SDK.

Runs one session per transport (stdio, Streamable HTTP, legacy HTTP+SSE) through
`mcp.Client`, the SDK's high-level client, on top of the SDK's own transports
(`stdio_client`, `streamable_http_client`, `sse_client`). By default the client
negotiates in `mode="auto"` (what SDK users get: probe the 2026-07-28
`server/discover` flow, fall back to the `initialize` handshake); `--mode legacy`
forces the handshake.

Every check prints one line; the exit code is non-zero if any check failed.
Checks marked WARN test behaviour the spec does not pin down and never fail the run.

    .tools/bin/python tests/interop/python/stock_session.py                 # all transports
    .tools/bin/python tests/interop/python/stock_session.py --transport sse
    .tools/bin/python tests/interop/python/stock_session.py --transport http --url http://127.0.0.1:8000/mcp

The server binary is $BELAY_BIN or target/debug/belay. Without --url, http/sse
servers are started on a free port and stopped afterwards (see belay_server.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import re
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from belay_server import belay_bin, running_server, server_command, stop_on_sigterm  # noqa: E402

TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "META", "NVDA"]
TOOLS = [
    "get_stock_price",
    "get_stock_history",
    "compare_stock_prices",
    "get_ticker_info",
    "stock_headline_sampling",
    "calculate_portfolio_value",
    "get_investment_advice",
]
PROMPTS = ["stock_analysis_prompt", "risk_assessment_prompt"]
PERIODS = ["1d", "5d", "1mo", "3mo", "6mo", "1y"]
CSV_HEADER = ["Date", "Open", "High", "Low", "Close", "Volume"]
UNKNOWN = "ZZZZ"
# What our sampling callback "generates"; a marker no server could produce by itself.
HEADLINE = "INTEROP-7f3a: Belay stock server headline round-trips through sampling"
SAMPLING_MODEL = "belay-interop-fixed-model"
CHECK_TIMEOUT_S = 30.0
HUMANIZED = re.compile(r"\b\d+(?:\.\d+)?[KMBT]\b")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# "52-week range", "52 week", "52W": not a bare "52", which a number like "52.3M" contains.
WEEK_RANGE = re.compile(r"\b52(?:[\s-]*weeks?\b|W\b)", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------
class CheckFailed(Exception):
    """A mismatch between what the server did and what the spec says."""


@dataclass
class Report:
    label: str
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    warned: int = 0

    def ok(self, name: str, detail: str = "") -> None:
        self.passed += 1
        print(f"  PASS  {self.label} {name}{': ' + detail if detail else ''}", flush=True)

    def fail(self, name: str, detail: str) -> None:
        self.failed.append(f"{name}: {detail}")
        print(f"  FAIL  {self.label} {name}: {detail}", flush=True)

    def warn(self, name: str, detail: str) -> None:
        self.warned += 1
        print(f"  WARN  {self.label} {name}: {detail}", flush=True)


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def short(text: str, limit: int = 160) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Client-side callbacks: elicitation and sampling
# --------------------------------------------------------------------------------------------
@dataclass
class Callbacks:
    """Answers the server's elicitation/sampling requests and records them for the checks."""

    elicit_action: str = "accept"
    elicitations: list[types.ElicitRequestFormParams | Any] = field(default_factory=list)
    samplings: list[types.CreateMessageRequestParams] = field(default_factory=list)

    async def elicitation(self, context: Any, params: Any) -> types.ElicitResult | types.ErrorData:
        self.elicitations.append(params)
        if getattr(params, "mode", "form") != "form":
            return types.ErrorData(code=-32602, message="interop client only answers form elicitations")
        if self.elicit_action != "accept":
            return types.ElicitResult(action=self.elicit_action)
        properties = (params.requested_schema or {}).get("properties", {})
        content: dict[str, Any] = {}
        for name, schema in properties.items():
            content[name] = answer_for(name, schema)
        return types.ElicitResult(action="accept", content=content)

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.samplings.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=HEADLINE),
            model=SAMPLING_MODEL,
            stop_reason="endTurn",
        )


def answer_for(name: str, schema: dict[str, Any]) -> Any:
    """The elicitation answers the spec asks for, plus sane values for anything unexpected."""
    fixed = {"include_week_range": True, "risk_level": "high", "time_horizon": "long"}
    if name in fixed:
        return fixed[name]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    return {"boolean": True, "integer": 1, "number": 1.0}.get(schema.get("type", ""), "x")


# --------------------------------------------------------------------------------------------
# Helpers over SDK results
# --------------------------------------------------------------------------------------------
def text_of(result: Any) -> str:
    """Concatenate the text content blocks of a tool/prompt/resource result."""
    if isinstance(result, types.CallToolResult):
        return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
    if isinstance(result, types.ReadResourceResult):
        return "\n".join(c.text for c in result.contents if isinstance(c, types.TextResourceContents))
    if isinstance(result, types.GetPromptResult):
        return "\n".join(m.content.text for m in result.messages if isinstance(m.content, types.TextContent))
    raise TypeError(type(result))


def numbers_in(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(text)]


def parse_price(result: types.CallToolResult) -> float:
    """`get_stock_price -> float`: the text block is the number (structured content may repeat it)."""
    text = text_of(result).strip()
    try:
        value = float(text)
    except ValueError:
        sc = result.structured_content
        if isinstance(sc, (int, float)) and not isinstance(sc, bool):
            value = float(sc)
        elif isinstance(sc, dict) and isinstance(sc.get("result"), (int, float)):
            value = float(sc["result"])
        else:
            raise CheckFailed(f"price is not a float: text={text!r} structuredContent={sc!r}") from None
    expect(math.isfinite(value) and value > 0, f"price {value} is not a positive finite number")
    return value


def parse_history(text: str) -> list[dict[str, Any]]:
    """Validate the CSV of get_stock_history and return its rows as dicts."""
    rows = list(csv.reader(io.StringIO(text.strip())))
    expect(bool(rows), "empty CSV")
    expect(rows[0] == CSV_HEADER, f"header is {rows[0]!r}, want {CSV_HEADER!r}")
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows[1:], start=2):
        expect(len(row) == 6, f"line {i} has {len(row)} fields: {row!r}")
        try:
            d = date.fromisoformat(row[0][:10])
            o, h, lo, c = (float(x) for x in row[1:5])
            v = int(float(row[5]))
        except ValueError as exc:
            raise CheckFailed(f"line {i} does not parse ({exc}): {row!r}") from None
        expect(h >= max(o, c) - 1e-9 and lo <= min(o, c) + 1e-9 and lo > 0, f"line {i} has inconsistent OHLC: {row!r}")
        expect(v >= 0, f"line {i} has negative volume: {row!r}")
        out.append({"date": d, "open": o, "high": h, "low": lo, "close": c, "volume": v})
    expect(bool(out), "CSV has a header but no rows")
    dates = [r["date"] for r in out]
    expect(dates == sorted(dates) and len(set(dates)) == len(dates), "dates are not strictly increasing")
    return out


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------
class StockSession:
    def __init__(self, client: Client, cb: Callbacks, report: Report) -> None:
        self.client = client
        self.cb = cb
        self.report = report
        self.prices: dict[str, float] = {}

    async def check(self, name: str, body: Callable[[], Awaitable[str | None]]) -> None:
        """Run one check with a timeout; a CheckFailed, RPC error or timeout fails it."""
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                detail = await body()
            self.report.ok(name, detail or "")
        except CheckFailed as exc:
            self.report.fail(name, str(exc))
        except MCPError as exc:
            self.report.fail(name, f"JSON-RPC error {exc.code}: {exc.message}")
        except TimeoutError:
            self.report.fail(name, f"no answer within {CHECK_TIMEOUT_S:.0f}s")
        except Exception as exc:  # an SDK-side validation error is a finding too
            self.report.fail(name, f"{type(exc).__name__}: {short(str(exc), 400)}")

    def warn_unless(self, cond: bool, name: str, detail: str) -> None:
        if not cond:
            self.report.warn(name, detail)

    async def tool(self, name: str, args: dict[str, Any]) -> types.CallToolResult:
        return await self.client.call_tool(name, args)

    async def tool_ok(self, name: str, args: dict[str, Any]) -> tuple[types.CallToolResult, str]:
        result = await self.tool(name, args)
        text = text_of(result)
        expect(not result.is_error, f"{name}({args}) returned isError: {short(text)}")
        return result, text

    async def expect_unknown_ticker_error(self, name: str, args: dict[str, Any]) -> str:
        result = await self.tool(name, args)
        text = text_of(result)
        expect(result.is_error is True, f"{name}({args}) isError={result.is_error}, text={short(text)!r}")
        missing = [t for t in TICKERS if t not in text]
        expect(not missing, f"error text does not list valid tickers {missing}: {short(text)!r}")
        return f"isError, lists valid tickers: {short(text, 80)!r}"

    async def run(self) -> None:
        c = self.client
        caps = c.server_capabilities

        # ---- connection & discovery ------------------------------------------------------
        async def connected() -> str:
            info = c.server_info
            missing = [n for n in ("tools", "resources", "prompts", "completions") if getattr(caps, n) is None]
            expect(not missing, f"server capabilities lack {missing}: {caps.model_dump(exclude_none=True)}")
            return f"protocol {c.protocol_version}, server {info.name if info else '?'} {info.version if info else ''}"

        await self.check("connect", connected)

        async def list_tools() -> str:
            listed = {t.name: t for t in (await c.list_tools()).tools}
            missing = [t for t in TOOLS if t not in listed]
            expect(not missing, f"missing tools {missing}; got {sorted(listed)}")
            req = {
                "get_stock_price": ["symbol"],
                "get_stock_history": ["symbol"],
                "compare_stock_prices": ["symbol1", "symbol2"],
                "get_ticker_info": ["symbol"],
                "stock_headline_sampling": ["symbol"],
                "calculate_portfolio_value": ["holdings"],
                "get_investment_advice": ["symbol"],
            }
            for tool, params in req.items():
                schema = listed[tool].input_schema
                props = schema.get("properties", {})
                for p in params:
                    expect(p in props, f"{tool} inputSchema has no property {p!r}: {schema}")
                    expect(p in schema.get("required", []), f"{tool}.{p} is not required: {schema}")
            hist = listed["get_stock_history"].input_schema
            expect("period" in hist.get("properties", {}), f"get_stock_history has no 'period': {hist}")
            expect("period" not in hist.get("required", []), f"get_stock_history.period should be optional: {hist}")
            return f"{len(listed)} tools: {', '.join(sorted(listed))}"

        await self.check("tools/list", list_tools)

        async def list_resources() -> str:
            uris = [r.uri for r in (await c.list_resources()).resources]
            for want in ("stock://tickers", "stock://sectors"):
                expect(want in uris, f"{want} not listed; got {uris}")
            return ", ".join(uris)

        await self.check("resources/list", list_resources)

        async def list_templates() -> str:
            templates = [t.uri_template for t in (await c.list_resource_templates()).resource_templates]
            expect("stock://{symbol}" in templates, f"stock://{{symbol}} not listed; got {templates}")
            return ", ".join(templates)

        await self.check("resources/templates/list", list_templates)

        async def list_prompts() -> str:
            prompts = {p.name: p for p in (await c.list_prompts()).prompts}
            missing = [p for p in PROMPTS if p not in prompts]
            expect(not missing, f"missing prompts {missing}; got {sorted(prompts)}")
            args = {p: {a.name: bool(a.required) for a in (prompts[p].arguments or [])} for p in PROMPTS}
            expect(
                args["stock_analysis_prompt"].get("symbol") is True and args["stock_analysis_prompt"].get("period") is False,
                f"stock_analysis_prompt arguments (name: required) are {args['stock_analysis_prompt']}, "
                "want symbol required, period optional",
            )
            expect(
                args["risk_assessment_prompt"].get("symbol") is True and "risk_tolerance" in args["risk_assessment_prompt"],
                f"risk_assessment_prompt arguments are {args['risk_assessment_prompt']}, want symbol, risk_tolerance",
            )
            return f"{args}"

        await self.check("prompts/list", list_prompts)

        # ---- plain tools ------------------------------------------------------------------
        async def prices() -> str:
            for t in TICKERS:
                result, _ = await self.tool_ok("get_stock_price", {"symbol": t})
                self.prices[t] = parse_price(result)
            again, _ = await self.tool_ok("get_stock_price", {"symbol": "AAPL"})
            expect(parse_price(again) == self.prices["AAPL"], "AAPL price changed between two calls")
            return ", ".join(f"{t}={p}" for t, p in self.prices.items())

        await self.check("get_stock_price (all tickers)", prices)
        await self.check(
            "get_stock_price unknown ticker", lambda: self.expect_unknown_ticker_error("get_stock_price", {"symbol": UNKNOWN})
        )

        async def history() -> str:
            _, first = await self.tool_ok("get_stock_history", {"symbol": "AAPL", "period": "1mo"})
            rows = parse_history(first)
            _, second = await self.tool_ok("get_stock_history", {"symbol": "AAPL", "period": "1mo"})
            expect(first == second, "two identical calls returned different CSV (not deterministic)")
            _, default = await self.tool_ok("get_stock_history", {"symbol": "AAPL"})
            expect(default == first, "history without period differs from period='1mo' (default should be 1mo)")
            _, other = await self.tool_ok("get_stock_history", {"symbol": "MSFT", "period": "1mo"})
            parse_history(other)
            expect(other != first, "MSFT and AAPL histories are identical")
            last_close = rows[-1]["close"]
            if self.prices.get("AAPL") is not None:
                self.warn_unless(
                    abs(last_close - self.prices["AAPL"]) < 0.01,
                    "get_stock_history last close",
                    f"last 1mo Close {last_close} != get_stock_price {self.prices['AAPL']}",
                )
            return f"header ok, {len(rows)} rows {rows[0]['date']}..{rows[-1]['date']}, deterministic, default=1mo"

        await self.check("get_stock_history AAPL", history)

        async def history_periods() -> str:
            counts: dict[str, int] = {}
            for period in PERIODS:
                _, text = await self.tool_ok("get_stock_history", {"symbol": "NVDA", "period": period})
                counts[period] = len(parse_history(text))
            expect(counts["1d"] == 1, f"period 1d gave {counts['1d']} rows, want 1 ({counts})")
            expect(counts["5d"] == 5, f"period 5d gave {counts['5d']} rows, want 5 ({counts})")
            seq = [counts[p] for p in PERIODS]
            expect(all(a < b for a, b in zip(seq, seq[1:])), f"row counts do not grow with the period: {counts}")
            return ", ".join(f"{p}:{n}" for p, n in counts.items())

        await self.check("get_stock_history periods", history_periods)
        async def bad_period() -> str:
            # The spec lists the valid periods but not what happens outside them; an error
            # result is the helpful answer, so anything else is only a warning.
            result = await self.tool("get_stock_history", {"symbol": "AAPL", "period": "2w"})
            text = text_of(result)
            self.warn_unless(
                result.is_error is True and "1mo" in text,
                "get_stock_history bad period",
                f"period '2w' gave isError={result.is_error}: {short(text)!r}",
            )
            return f"isError={result.is_error}: {short(text, 80)!r}"

        await self.check("get_stock_history period '2w'", bad_period)
        await self.check(
            "get_stock_history unknown ticker",
            lambda: self.expect_unknown_ticker_error("get_stock_history", {"symbol": UNKNOWN, "period": "1mo"}),
        )

        async def compare() -> str:
            _, text = await self.tool_ok("compare_stock_prices", {"symbol1": "AAPL", "symbol2": "MSFT"})
            expect("AAPL" in text and "MSFT" in text, f"result does not name both symbols: {short(text)!r}")
            for sym in ("AAPL", "MSFT"):
                if sym in self.prices:
                    self.warn_unless(
                        f"{self.prices[sym]:.2f}" in text,
                        "compare_stock_prices prices",
                        f"{sym} price {self.prices[sym]:.2f} not shown in {short(text)!r}",
                    )
            return short(text, 100)

        await self.check("compare_stock_prices AAPL MSFT", compare)
        await self.check(
            "compare_stock_prices unknown ticker",
            lambda: self.expect_unknown_ticker_error("compare_stock_prices", {"symbol1": "AAPL", "symbol2": UNKNOWN}),
        )

        async def portfolio() -> str:
            holdings = {"AAPL": 10, "MSFT": 5, "NVDA": 2}
            result, text = await self.tool_ok("calculate_portfolio_value", {"holdings": holdings})
            expect(all(s in self.prices for s in holdings), "prices unknown (get_stock_price check failed)")
            want = sum(n * self.prices[s] for s, n in holdings.items())
            found = numbers_in(text)
            sc = result.structured_content
            if isinstance(sc, dict):
                found += [float(v) for v in sc.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            expect(any(abs(x - want) <= 0.011 for x in found), f"total {want:.2f} not found in {short(text)!r}")
            return f"total {want:.2f} present"

        await self.check("calculate_portfolio_value", portfolio)
        await self.check(
            "calculate_portfolio_value unknown ticker",
            lambda: self.expect_unknown_ticker_error("calculate_portfolio_value", {"holdings": {UNKNOWN: 1}}),
        )

        # ---- elicitation ------------------------------------------------------------------
        async def ticker_info(accept: bool) -> str:
            self.cb.elicitations.clear()
            self.cb.elicit_action = "accept" if accept else "decline"
            try:
                _, text = await self.tool_ok("get_ticker_info", {"symbol": "AAPL"})
            finally:
                self.cb.elicit_action = "accept"
            expect(len(self.cb.elicitations) == 1, f"expected 1 elicitation, got {len(self.cb.elicitations)}")
            schema = getattr(self.cb.elicitations[0], "requested_schema", None) or {}
            prop = schema.get("properties", {}).get("include_week_range")
            expect(
                isinstance(prop, dict) and prop.get("type") == "boolean",
                f"elicitation schema has no boolean include_week_range: {schema}",
            )
            expect("AAPL" in text, f"result does not mention AAPL: {short(text)!r}")
            expect(bool(HUMANIZED.search(text)), f"no humanized number (e.g. 2.80T) in {short(text)!r}")
            has_range = bool(WEEK_RANGE.search(text))
            expect(has_range == accept, f"52-week range {'missing' if accept else 'present after decline'}: {short(text)!r}")
            return f"elicited {list(schema.get('properties', {}))}, {HUMANIZED.search(text).group(0)} shown"  # type: ignore[union-attr]

        await self.check("get_ticker_info (elicitation: accept)", lambda: ticker_info(True))
        await self.check("get_ticker_info (elicitation: decline)", lambda: ticker_info(False))

        async def advice() -> str:
            self.cb.elicitations.clear()
            _, text = await self.tool_ok("get_investment_advice", {"symbol": "AAPL"})
            expect(bool(self.cb.elicitations), "no elicitation request reached the client")
            props: dict[str, Any] = {}
            for params in self.cb.elicitations:
                props.update((getattr(params, "requested_schema", None) or {}).get("properties", {}))
            for name, values in (("risk_level", {"low", "medium", "high"}), ("time_horizon", {"short", "medium", "long"})):
                expect(name in props, f"elicitation schema lacks {name}: {props}")
                enum = set(props[name].get("enum") or [o.get("const") for o in props[name].get("oneOf", [])])
                self.warn_unless(enum == values, f"{name} options", f"{name} options are {sorted(enum)}, want {sorted(values)}")
            lowered = text.lower()
            expect("high" in lowered and "long" in lowered, f"advice ignores risk_level=high/time_horizon=long: {short(text)!r}")
            return f"{len(self.cb.elicitations)} elicitation(s), advice mentions high/long"

        await self.check("get_investment_advice (elicitation)", advice)

        # ---- sampling ---------------------------------------------------------------------
        async def headline() -> str:
            self.cb.samplings.clear()
            _, text = await self.tool_ok("stock_headline_sampling", {"symbol": "TSLA"})
            expect(len(self.cb.samplings) == 1, f"expected 1 sampling request, got {len(self.cb.samplings)}")
            asked = " ".join(
                m.content.text for m in self.cb.samplings[0].messages if isinstance(m.content, types.TextContent)
            )
            self.warn_unless("TSLA" in asked, "sampling prompt", f"sampling request does not mention TSLA: {short(asked)!r}")
            expect(HEADLINE in text, f"sampled headline not in result: {short(text)!r}")
            return f"sampled text returned; server asked {short(asked, 60)!r}"

        await self.check("stock_headline_sampling (sampling)", headline)

        # ---- resources ----------------------------------------------------------------------
        async def tickers() -> str:
            text = text_of(await c.read_resource("stock://tickers"))
            missing = [t for t in TICKERS if t not in text]
            expect(not missing, f"stock://tickers lacks {missing}: {short(text)!r}")
            return short(text, 80)

        await self.check("read stock://tickers", tickers)

        async def sectors() -> str:
            text = text_of(await c.read_resource("stock://sectors"))
            expect(bool(text.strip()), "stock://sectors is empty")
            self.warn_unless("Technology" in text, "stock://sectors content", f"no 'Technology' sector: {short(text)!r}")
            return short(text, 80)

        await self.check("read stock://sectors", sectors)

        async def template() -> str:
            text = text_of(await c.read_resource("stock://AAPL"))
            expect("AAPL" in text, f"stock://AAPL does not mention AAPL: {short(text)!r}")
            if "AAPL" in self.prices:
                self.warn_unless(f"{self.prices['AAPL']:.2f}" in text, "stock://AAPL price", f"price not shown: {short(text)!r}")
            return short(text, 80)

        await self.check("read stock://AAPL (template)", template)

        # ---- prompts ------------------------------------------------------------------------
        async def analysis_prompt() -> str:
            res = await c.get_prompt("stock_analysis_prompt", {"symbol": "AAPL", "period": "3mo"})
            text = text_of(res)
            expect(bool(res.messages), "no messages")
            expect("AAPL" in text, f"prompt does not mention AAPL: {short(text)!r}")
            self.warn_unless("3mo" in text, "stock_analysis_prompt period", f"period 3mo not mentioned: {short(text)!r}")
            default = text_of(await c.get_prompt("stock_analysis_prompt", {"symbol": "MSFT"}))
            expect("MSFT" in default, f"prompt without period does not mention MSFT: {short(default)!r}")
            return f"{len(res.messages)} message(s), {short(text, 60)!r}"

        await self.check("prompts/get stock_analysis_prompt", analysis_prompt)

        async def risk_prompt() -> str:
            res = await c.get_prompt("risk_assessment_prompt", {"symbol": "TSLA", "risk_tolerance": "high"})
            text = text_of(res)
            expect(bool(res.messages), "no messages")
            expect("TSLA" in text, f"prompt does not mention TSLA: {short(text)!r}")
            return f"{len(res.messages)} message(s), {short(text, 60)!r}"

        await self.check("prompts/get risk_assessment_prompt", risk_prompt)

        # ---- completion ---------------------------------------------------------------------
        async def complete_prompt() -> str:
            res = await c.complete(types.PromptReference(type="ref/prompt", name="stock_analysis_prompt"), {"name": "symbol", "value": "A"})
            values = res.completion.values
            expect({"AAPL", "AMZN"} <= set(values), f"completing 'A' gave {values}, want AAPL and AMZN")
            expect(all(v.startswith("A") for v in values), f"completing 'A' gave non-matching values {values}")
            return f"'A' -> {values}"

        await self.check("completion/complete prompt symbol", complete_prompt)

        async def complete_template() -> str:
            res = await c.complete(
                types.ResourceTemplateReference(type="ref/resource", uri="stock://{symbol}"), {"name": "symbol", "value": "M"}
            )
            values = res.completion.values
            expect({"MSFT", "META"} <= set(values), f"completing 'M' gave {values}, want MSFT and META")
            return f"'M' -> {values}"

        await self.check("completion/complete template symbol", complete_template)


# --------------------------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def connect(transport: str, url: str | None, mode: str, cb: Callbacks, errlog: Any) -> AsyncIterator[Client]:
    if transport == "stdio":
        cmd = server_command("stdio")
        params = StdioServerParameters(command=cmd[0], args=cmd[1:])
        streams: Any = stdio_client(params, errlog=errlog)
    elif transport == "http":
        assert url
        streams = streamable_http_client(url)
    else:
        assert url
        streams = sse_client(url)
    client = Client(
        streams,
        mode=mode,
        sampling_callback=cb.sampling,
        elicitation_callback=cb.elicitation,
        client_info=types.Implementation(name="belay-interop-python", version="0"),
        read_timeout_seconds=CHECK_TIMEOUT_S,
    )
    # No fail_after around the connect: the SDK's transports open task groups that must not
    # outlive an enclosing cancel scope. read_timeout_seconds bounds the handshake instead.
    async with client:
        yield client


async def run_one(transport: str, url: str | None, mode: str) -> Report:
    report = Report(label=f"[py/{transport}/{mode}]")
    cb = Callbacks()
    print(f"== python SDK session over {transport} (mode={mode}) ==", flush=True)
    # stdio servers write their logs to stderr; keep them out of the report unless needed.
    with tempfile.TemporaryFile(mode="w+") as errlog:
        try:
            async with connect(transport, url, mode, cb, errlog) as client:
                await StockSession(client, cb, report).run()
        except BaseException as exc:  # noqa: BLE001 - report and continue with the next transport
            if isinstance(exc, KeyboardInterrupt):
                raise
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            if isinstance(exc, BaseExceptionGroup):
                detail += " :: " + "; ".join(short(repr(e), 200) for e in exc.exceptions)
            report.fail("session", short(detail, 600))
        if report.failed and transport == "stdio":
            errlog.seek(0)
            tail = errlog.read().splitlines()[-30:]
            if tail:
                print("--- stdio server stderr (tail) ---\n" + "\n".join(tail) + "\n--- end ---", flush=True)
    return report


class _ShowServerLog(Exception):
    pass


async def run_all(transports: list[str], url: str | None, mode: str) -> list[Report]:
    reports = []
    for transport in transports:
        if transport == "stdio" or url:
            reports.append(await run_one(transport, url, mode))
        else:
            try:
                with running_server(transport) as server_url:
                    report = await run_one(transport, server_url, mode)
                    reports.append(report)
                    if report.failed:
                        raise _ShowServerLog  # running_server prints the log on the way out
            except _ShowServerLog:
                pass
            except RuntimeError as exc:
                report = Report(label=f"[py/{transport}/{mode}]")
                report.fail("server", str(exc))
                reports.append(report)
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["stdio", "http", "sse", "all"], default="all")
    parser.add_argument("--url", help="connect to an already running http/sse server instead of starting one")
    parser.add_argument("--mode", default="auto", help="Client mode: auto (default, what SDK users get) or legacy")
    args = parser.parse_args()
    transports = ["stdio", "http", "sse"] if args.transport == "all" else [args.transport]
    if args.url and (len(transports) != 1 or transports[0] == "stdio"):
        parser.error("--url needs --transport http or sse")
    print(f"server binary: {belay_bin()}", flush=True)
    stop_on_sigterm()

    reports = anyio.run(run_all, transports, args.url, args.mode)

    failed = [r for r in reports if r.failed]
    for r in reports:
        status = "FAILED" if r.failed else "ok"
        print(f"{r.label} {status}: {r.passed} checks passed, {len(r.failed)} failed, {r.warned} warnings")
        for f in r.failed:
            print(f"    - {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
