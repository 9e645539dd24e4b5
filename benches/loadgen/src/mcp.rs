//! The few MCP messages the load generator sends, and the checks on what comes back.

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The protocol revision every session asks for in `initialize`.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";

/// The tool every measured request calls (behind a gateway, with its prefix in front).
pub(crate) const TOOL: &str = "get_stock_price";

/// The mock prices all three stock servers serve; every answer is checked against them, so a
/// server whose data drifted shows up as errors instead of as a fast, wrong server.
/// Keep in sync with Belay's stock server (`crates/belay-servers/src/stock/data.rs`), `benches/servers/stock_fastmcp.py` and
/// `benches/servers/stock_ts.mjs`.
pub(crate) const PRICES: [(&str, f64); 7] = [
    ("AAPL", 150.25),
    ("MSFT", 380.50),
    ("GOOGL", 140.80),
    ("AMZN", 145.30),
    ("TSLA", 242.60),
    ("META", 335.20),
    ("NVDA", 485.10),
];

/// The `initialize` request of the handshake.
pub(crate) fn initialize(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "belay-loadgen", "version": env!("CARGO_PKG_VERSION") },
        },
    })
    .to_string()
}

/// The `notifications/initialized` notification that ends the handshake.
pub(crate) fn initialized() -> String {
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned()
}

/// A `tools/call` request of `tool` (`get_stock_price`, maybe prefixed) for the `n`-th
/// ticker (round robin).
pub(crate) fn call(id: u64, n: u64, tool: &str) -> (String, usize) {
    // The cast cannot truncate: the modulus is 7.
    let which = (n % PRICES.len() as u64) as usize;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"symbol":"{}"}}}}}}"#,
        PRICES[which].0
    );
    (body, which)
}

/// A `tools/list` request (first page).
pub(crate) fn list_tools(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#)
}

/// Whether a `tools/list` answer names `tool`. A gateway lists an upstream's tools only once
/// it is connected, so this is how a run waits for it.
pub(crate) fn lists_tool(response: &Value, tool: &str) -> anyhow::Result<bool> {
    let tools = result_of(response)?
        .get("tools")
        .and_then(Value::as_array)
        .context("tools/list result has no tools array")?;
    Ok(tools
        .iter()
        .any(|t| t.get("name").and_then(Value::as_str) == Some(tool)))
}

/// The `result` of a JSON-RPC response, or what is wrong with it.
pub(crate) fn result_of(response: &Value) -> anyhow::Result<&Value> {
    if let Some(error) = response.get("error") {
        bail!("JSON-RPC error {error}");
    }
    response
        .get("result")
        .context("response has neither result nor error")
}

/// The protocol version the server chose in its `initialize` result.
pub(crate) fn negotiated_version(response: &Value) -> anyhow::Result<String> {
    let result = result_of(response)?;
    result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("initialize result has no protocolVersion")
}

/// Checks a `get_stock_price` answer: not an error, and the price of ticker `which`.
pub(crate) fn check_price(response: &Value, which: usize) -> anyhow::Result<()> {
    let result = result_of(response)?;
    let (symbol, want) = PRICES[which];
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        bail!("{symbol}: isError result: {result}");
    }
    let from_text = result
        .pointer("/content/0/text")
        .and_then(Value::as_str)
        .and_then(|t| t.trim().parse::<f64>().ok());
    let from_structured = || {
        let sc = result.get("structuredContent")?;
        // `{price}` (Belay, TypeScript), `{result}` (FastMCP's wrapping of `-> float`), or bare.
        sc.as_f64()
            .or_else(|| sc.get("price").and_then(Value::as_f64))
            .or_else(|| sc.get("result")?.as_f64())
    };
    match from_text.or_else(from_structured) {
        Some(got) if (got - want).abs() < 1e-9 => Ok(()),
        Some(got) => bail!("{symbol}: price {got}, want {want}"),
        None => bail!("{symbol}: no price in {result}"),
    }
}

/// Finds the JSON-RPC response with `id` in a Streamable HTTP response body: a JSON object,
/// a JSON array (batch), or an SSE stream whose events carry JSON-RPC messages in `data:`.
pub(crate) fn find_response(body: &[u8], sse: bool, id: u64) -> anyhow::Result<Value> {
    if !sse {
        let value: Value = serde_json::from_slice(body).context("response body is not JSON")?;
        return match value {
            Value::Array(items) => items
                .into_iter()
                .find(|m| has_id(m, id))
                .with_context(|| format!("no response with id {id} in the batch")),
            m if has_id(&m, id) => Ok(m),
            m => bail!("response has another id: {m}"),
        };
    }
    let text = std::str::from_utf8(body).context("SSE body is not UTF-8")?;
    // Events end at a blank line; an event's `data:` lines join with `\n`.
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                if let Ok(m) = serde_json::from_str::<Value>(&data)
                    && has_id(&m, id)
                {
                    return Ok(m);
                }
                data.clear();
            }
        } else if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    bail!(
        "no response with id {id} in the SSE stream: {}",
        short(text)
    )
}

/// Whether `message` is a response (not a request) with this `id`.
pub(crate) fn has_id(message: &Value, id: u64) -> bool {
    message.get("method").is_none() && message.get("id").and_then(Value::as_u64) == Some(id)
}

/// The start of `text`, for error messages.
pub(crate) fn short(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_response_in_an_sse_stream_after_other_events() -> anyhow::Result<()> {
        let body = b"id: 0\nretry: 1000\ndata:\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"380.50\"}]}}\n\n";
        let m = find_response(body, true, 7)?;
        check_price(&m, 1)
    }

    #[test]
    fn json_bodies_and_structured_content_are_accepted() -> anyhow::Result<()> {
        let body = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"structuredContent":{"result":150.25}}}"#;
        check_price(&find_response(body, false, 3)?, 0)
    }

    #[test]
    fn wrong_prices_and_errors_are_caught() {
        let wrong =
            json!({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"1.0"}]}});
        assert!(check_price(&wrong, 0).is_err());
        let err = json!({"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[]}});
        assert!(check_price(&err, 0).is_err());
        assert!(find_response(b"data: {\"id\":2,\"result\":{}}\n\n", true, 1).is_err());
    }

    #[test]
    fn calls_rotate_through_the_tickers_with_their_own_ids() -> anyhow::Result<()> {
        let (a, i) = call(41, 8, TOOL);
        let v: Value = serde_json::from_str(&a)?;
        assert_eq!(v["id"], 41);
        assert_eq!(v["params"]["name"], TOOL);
        assert_eq!(v["params"]["arguments"]["symbol"], PRICES[i].0);
        assert_eq!(i, 1);
        let (b, _) = call(42, 0, "stock__get_stock_price");
        let v: Value = serde_json::from_str(&b)?;
        assert_eq!(v["params"]["name"], "stock__get_stock_price");
        Ok(())
    }

    #[test]
    fn a_tool_counts_as_listed_only_under_its_exact_name() -> anyhow::Result<()> {
        let listed = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"stock__get_stock_price","inputSchema":{}},
            {"name":"stock__compare_stock_prices","inputSchema":{}}]}});
        assert!(lists_tool(&listed, "stock__get_stock_price")?);
        assert!(!lists_tool(&listed, "get_stock_price")?);
        let empty = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[]}});
        assert!(!lists_tool(&empty, "stock__get_stock_price")?);
        assert!(lists_tool(&json!({"jsonrpc":"2.0","id":1,"result":{}}), "x").is_err());
        let v: Value = serde_json::from_str(&list_tools(9))?;
        assert_eq!(v["method"], "tools/list");
        assert_eq!(v["id"], 9);
        Ok(())
    }
}
