"""Policy and tool names at the gateway: a denied tool is hidden from lists and refused
(-32001 naming the rule) on every endpoint and in both protocol eras, argument constraints
hold whatever the JSON looks like, tricks with names reach nothing, and a rate limit answers
429 with Retry-After for one person only."""

from __future__ import annotations

import json

from harness import Area, Fail, expect, rpc_error, tool_text
from mcp import Session, rpc

AREA = Area("policy", "policy rules, argument constraints, tool names, rate limits")
case = AREA.case

DENIED, UNKNOWN, LIMITED = -32001, -32602, -32029
ADVICE = "stock__get_investment_advice"


def session(w, user: str = "alice", path: str = "/mcp") -> Session:
    def make() -> Session:
        s = Session(w.base + path, w.token(user, w.base + path))
        s.initialize()
        return s

    return w.kept(f"policy:{user}:{path}", make)


def price_works(s: Session, name: str = "stock__get_stock_price") -> None:
    tool_text(s.call(name, {"symbol": "AAPL"}), "150.25")


@case("a denied tool is hidden from the lists of /mcp and /servers/stock/mcp")
def _(w):
    federated, single = session(w).tools(), session(w, path="/servers/stock/mcp").tools()
    expect(ADVICE not in federated and "stock__get_stock_price" in federated, f"/mcp lists {federated}")
    expect("get_investment_advice" not in single and "get_stock_price" in single, f"/servers/stock/mcp lists {single}")
    return f"/mcp lists {len(federated)} tools, /servers/stock/mcp {len(single)}, neither the denied one"


@case("a denied tool is refused with -32001 naming the rule and why")
def _(w):
    s = session(w)
    saw = rpc_error(s.call(ADVICE, {"symbol": "AAPL"}), 200, DENIED, says="no-investment-advice")
    expect("ask the desk" in saw, f"the rule's description is not shown: {saw}")
    price_works(s)
    return saw


@case("a denied tool is refused at /servers/stock/mcp too")
def _(w):
    s = session(w, path="/servers/stock/mcp")
    saw = rpc_error(s.call("get_investment_advice", {"symbol": "AAPL"}), 200, DENIED, says="no-investment-advice")
    price_works(s, "get_stock_price")
    return saw


def stateless_call(w, name: str, header_name: str | None = None):
    """A 2026-07-28 tools/call: no session, its `_meta` envelope and the SEP-2243 headers."""
    s = Session(w.main.mcp, w.token("alice", w.main.mcp))
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    headers = [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", header_name or name)]
    message = rpc("tools/call", {"name": name, "arguments": {"symbol": "AAPL"}, "_meta": meta})
    return s.post(message, session="", extra=headers)


@case("a denied tool is refused to a 2026-07-28 request without a session")
def _(w):
    saw = rpc_error(stateless_call(w, ADVICE), 200, DENIED, says="no-investment-advice")
    tool_text(stateless_call(w, "stock__get_stock_price"), "150.25")
    return saw


@case("2026-07-28: an Mcp-Name header naming an allowed tool does not carry the denied one through")
def _(w):
    answer = stateless_call(w, ADVICE, header_name="stock__get_stock_price")
    return rpc_error(answer, 400, -32020, says="does not match")


@case("an argument outside the allowed values is refused, naming the argument")
def _(w):
    s = session(w)
    saw = rpc_error(s.call("stock__get_stock_history", {"symbol": "AAPL", "period": "1y"}), 200, DENIED,
                    says="argument `period`")
    tool_text(s.call("stock__get_stock_history", {"symbol": "AAPL", "period": "5d"}), "Date,Open")
    return saw


@case("an argument of another type (an array) does not slip past the constraint")
def _(w):
    return rpc_error(session(w).call("stock__get_stock_history", {"symbol": "AAPL", "period": ["1d"]}), 200, DENIED,
                     says="history-periods")


@case("a pattern constraint refuses lower case and injected text")
def _(w):
    s = session(w)
    saw = rpc_error(s.call("stock__get_stock_history", {"symbol": "AAPL;DROP", "period": "1d"}), 200, DENIED,
                    says="argument `symbol`")
    rpc_error(s.call("stock__get_stock_history", {"symbol": "aapl", "period": "1d"}), 200, DENIED,
              says="argument `symbol`")
    return saw


@case("duplicate JSON keys cannot smuggle an argument past policy")
def _(w):
    s = session(w)
    s.next_id += 1
    # The same key twice: whatever value the gateway's policy reads must be the one the
    # upstream runs with, so either it is refused or it ran with an allowed period.
    raw = ('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"stock__get_stock_history",'
           '"arguments":{"symbol":"AAPL","period":"1d","period":"1y"}}}' % s.next_id).encode()
    answer = s.post(None, raw=raw)
    message = answer.json() or {}
    if "error" in message:
        return rpc_error(answer, 200, DENIED, says="period")
    rows = [line for line in " ".join(c.get("text", "") for c in message.get("result", {}).get("content", [])).splitlines()
            if line and line[0].isdigit()]
    if len(rows) > 21:
        raise Fail(f"the upstream ran with period 1y ({len(rows)} rows) that policy refuses")
    return f"ran with an allowed period ({len(rows)} rows)"


@case("a length cap on an argument is enforced")
def _(w):
    s = session(w)
    saw = rpc_error(s.call("matheval__evaluate", {"expression": "1+" * 40 + "1"}), 200, DENIED,
                    says="argument `expression`")
    tool_text(s.call("matheval__evaluate", {"expression": "6*7"}), "42")
    return saw


for label, name, code, says in [
    ("an unknown prefix", "nosuch__tool", UNKNOWN, "unknown tool"),
    ("a bare prefix", "stock__", UNKNOWN, "unknown tool"),
    ("no prefix at all", "get_stock_price", UNKNOWN, "unknown tool"),
    ("an unknown tool of a known upstream", "stock__no_such_tool", UNKNOWN, "not found"),
]:

    @case(f"tool names: {label} is -32602")
    def _(w, name=name, code=code, says=says):
        s = session(w)
        saw = rpc_error(s.call(name, {"symbol": "AAPL"}), 200, code, says=says)
        price_works(s)
        return saw


TRICKS = [
    "stock__GET_INVESTMENT_ADVICE",
    "STOCK__get_investment_advice",
    "stock__get_investment_advice ",
    " stock__get_investment_advice",
    "stock__get_investment_advice\u0000",
    "stock__get_investment_adv\u0456ce",
    "stock__stock__get_investment_advice",
    "weather__get_investment_advice",
    "stock__../stock__get_investment_advice",
    "stock__get_investment_advice\n",
    "stock__get_investment*",
]


@case(f"tool names: {len(TRICKS)} spellings of the denied tool reach nothing")
def _(w):
    s = session(w)
    seen = []
    for name in TRICKS:
        message = s.call(name, {"symbol": "AAPL"}, timeout=5).json() or {}
        error = message.get("error") or {}
        if error.get("code") not in (DENIED, UNKNOWN):
            raise Fail(f"{name!r}: {json.dumps(message)[:300]}")
        seen.append(error["code"])
    price_works(s)
    return f"every one refused ({', '.join(sorted(set(map(str, seen))))})"


@case("a 64 KiB tool name is refused and harms nothing")
def _(w):
    s = session(w)
    saw = rpc_error(s.call("stock__" + "a" * 65536, {}), 200, UNKNOWN)
    price_works(s)
    return saw


@case("a per-person tool limit answers 429 + Retry-After and -32029; another person is not held back")
def _(w):
    s = session(w)
    for _ in range(2):
        tool_text(s.call("news__search_news", {"query": "market"}))
    limited = s.call("news__search_news", {"query": "market"})
    saw = rpc_error(limited, 429, LIMITED)
    retry = limited.header("retry-after") or ""
    data = ((limited.json() or {}).get("error") or {}).get("data") or {}
    expect(retry.isdigit() and int(retry) >= 1 and data.get("retryAfter"), f"Retry-After {retry!r}, data {data}")
    tool_text(session(w, "bob").call("news__search_news", {"query": "market"}))
    price_works(s)
    return f"{saw}; Retry-After {retry}; bob's call and alice's other tools still served"
