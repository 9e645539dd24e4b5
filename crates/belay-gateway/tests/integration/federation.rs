//! One endpoint for every upstream, prefixed; routing; the per-upstream endpoints.

use belay_mcp::testkit::{object, text_of};
use belay_servers::ServerName;
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::json;

use crate::support::{gateway, http_upstream};

fn two_upstreams(stock: &str, weather: &str) -> String {
    format!(
        r#"
page_size = 5
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{stock}" }}
[[upstream]]
name = "weather"
prefix = "wx_"
transport = {{ type = "http", url = "{weather}" }}
"#
    )
}

#[tokio::test]
async fn lists_every_upstreams_tools_with_prefixes_across_pages() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let (weather, _, _w) = http_upstream(ServerName::Weather).await?;
    let gw = gateway(&two_upstreams(&stock, &weather)).await?;
    gw.up("stock").await?;
    gw.up("weather").await?;
    let client = gw.plain("/mcp").await?;

    // Page by page, with page_size 5, so pagination is exercised.
    let mut names = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_tools(Some(
                rmcp::model::PaginatedRequestParams::default().with_cursor(cursor),
            ))
            .await?;
        pages += 1;
        names.extend(page.tools.iter().map(|t| t.name.to_string()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages > 1, "more tools than one page of 5");
    assert!(
        names.contains(&"stock__get_stock_price".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"stock__get_ticker_info".to_owned()),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("wx_")), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("stock__") || n.starts_with("wx_")),
        "every tool is prefixed: {names:?}"
    );
    let prompts = client.list_all_prompts().await?;
    assert!(
        prompts
            .iter()
            .any(|p| p.name == "stock__stock_analysis_prompt")
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn routes_calls_prompts_and_resources_to_the_right_upstream() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let (weather, _, _w) = http_upstream(ServerName::Weather).await?;
    let gw = gateway(&two_upstreams(&stock, &weather)).await?;
    gw.up("stock").await?;
    gw.up("weather").await?;
    let client = gw.plain("/mcp").await?;

    let price = client
        .call_tool(
            CallToolRequestParams::new("stock__get_stock_price")
                .with_arguments(object(json!({"symbol": "AAPL"}))),
        )
        .await?;
    assert!(text_of(&price).contains("150.25"), "{}", text_of(&price));

    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("stock__stock_analysis_prompt")
                .with_arguments(object(json!({"symbol": "MSFT"}))),
        )
        .await?;
    assert!(!prompt.messages.is_empty());

    let tickers = client
        .read_resource(ReadResourceRequestParams::new("stock://tickers"))
        .await?;
    assert!(!tickers.contents.is_empty());
    let one = client
        .read_resource(ReadResourceRequestParams::new("stock://AAPL"))
        .await?;
    assert!(
        !one.contents.is_empty(),
        "routed by the template stock://{{symbol}}"
    );

    let unknown = client
        .call_tool(CallToolRequestParams::new("nobody__tool"))
        .await
        .expect_err("no upstream has that prefix");
    assert!(unknown.to_string().contains("prefix"), "{unknown}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn per_upstream_endpoint_passes_names_through_unprefixed() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let (weather, _, _w) = http_upstream(ServerName::Weather).await?;
    let gw = gateway(&two_upstreams(&stock, &weather)).await?;
    gw.up("stock").await?;
    let client = gw.plain("/servers/stock/mcp").await?;
    let tools = client.list_all_tools().await?;
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"get_stock_price".to_owned()), "{names:?}");
    assert!(names.iter().all(|n| !n.contains("__")), "{names:?}");
    let price = client
        .call_tool(
            CallToolRequestParams::new("get_stock_price")
                .with_arguments(object(json!({"symbol": "NVDA"}))),
        )
        .await?;
    assert!(!price.is_error.unwrap_or(false), "{}", text_of(&price));
    client.cancel().await?;
    Ok(())
}

/// One 2026-07-28 request on the wire (no session: the envelope travels in `_meta` and the
/// `Mcp-Method`/`Mcp-Name` headers); returns the JSON-RPC response.
async fn round_trip_era(
    url: &str,
    method: &str,
    name: &str,
    mut params: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .header("mcp-name", name)
        .json(&body)
        .send()
        .await?;
    let text = response.text().await?;
    // JSON, or one SSE event carrying it.
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or(&text);
    Ok(serde_json::from_str(json)?)
}

#[tokio::test]
async fn relayed_results_carry_result_type_for_round_trip_era_clients() -> anyhow::Result<()> {
    // The upstream session is handshake-era, so its results have no `resultType`; a
    // 2026-07-28 client (the Python SDK in its default mode) rejects a result without one.
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let (weather, _, _w) = http_upstream(ServerName::Weather).await?;
    let gw = gateway(&two_upstreams(&stock, &weather)).await?;
    gw.up("stock").await?;
    let url = format!("{}/mcp", gw.base);
    let calls = [
        (
            "tools/call",
            "stock__get_stock_price",
            json!({"name": "stock__get_stock_price", "arguments": {"symbol": "AAPL"}}),
        ),
        (
            "prompts/get",
            "stock__stock_analysis_prompt",
            json!({"name": "stock__stock_analysis_prompt", "arguments": {"symbol": "AAPL"}}),
        ),
        (
            "resources/read",
            "stock://tickers",
            json!({"uri": "stock://tickers"}),
        ),
    ];
    for (method, name, params) in calls {
        let reply = round_trip_era(&url, method, name, params).await?;
        assert_eq!(
            reply["result"]["resultType"], "complete",
            "{method}: {reply}"
        );
    }
    Ok(())
}
