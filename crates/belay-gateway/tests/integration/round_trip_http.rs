//! 2026-07-28 callers through the gateway to a Streamable HTTP upstream that serves that era
//! too: each call reaches the upstream with the caller's own capabilities, so the upstream
//! refuses (-32021, HTTP 400) what needs one the caller did not declare, and asks a caller
//! that did.
//!
//! The upstream is the conformance fixture: `test_missing_capability` needs sampling, and
//! `test_streaming_elicitation` asks a question only of a client that can show forms.

use belay_servers::ServerName;
use serde_json::{Value, json};

use crate::support::{http_upstream, one_upstream};

/// A 2026-07-28 `tools/call` of `tool` declaring `capabilities`, with `arguments` (each
/// also sent as the `Mcp-Param-*` header `headers` names); the HTTP status and the
/// JSON-RPC response.
async fn call(
    url: &str,
    tool: &str,
    arguments: Value,
    headers: &[(&str, &str)],
    capabilities: Value,
) -> anyhow::Result<(u16, Value)> {
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {
            "name": tool, "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": capabilities,
            },
        },
    });
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    // JSON, or an event stream whose last message is the answer.
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| !d.is_empty())
        .unwrap_or(&text);
    Ok((status, serde_json::from_str(json)?))
}

fn text_of(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_http_upstream_sees_what_the_caller_declared() -> anyhow::Result<()> {
    let (upstream, _, _guard) = http_upstream(ServerName::Conformance).await?;
    let gw = one_upstream("conf", &upstream).await?;
    let url = format!("{}/mcp", gw.base);

    // No sampling declared: the upstream refuses as the specification names it.
    let (status, reply) = call(
        &url,
        "conf__test_missing_capability",
        json!({}),
        &[],
        json!({}),
    )
    .await?;
    assert_eq!(reply["error"]["code"], -32021, "{reply}");
    assert!(
        reply["error"]["data"]["requiredCapabilities"]["sampling"].is_object(),
        "{reply}"
    );
    assert_eq!(status, 400, "{reply}");
    // Declared: it runs.
    let sampling = json!({"sampling": {}});
    let (status, reply) = call(
        &url,
        "conf__test_missing_capability",
        json!({}),
        &[],
        sampling,
    )
    .await?;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(text_of(&reply), "The client can sample", "{reply}");

    // A client that cannot show forms is not asked; one that can is, in its call's round.
    let tool = "conf__test_streaming_elicitation";
    let (_, reply) = call(&url, tool, json!({}), &[], json!({})).await?;
    assert!(
        text_of(&reply).contains("needs a client that can show forms"),
        "{reply}"
    );
    let forms = json!({"elicitation": {}});
    let (_, reply) = call(&url, tool, json!({}), &[], forms).await?;
    assert_eq!(reply["result"]["resultType"], "input_required", "{reply}");
    assert_eq!(
        reply["result"]["inputRequests"]["answer"]["method"], "elicitation/create",
        "{reply}"
    );
    Ok(())
}

#[tokio::test]
async fn arguments_marked_for_headers_reach_an_http_upstream_in_them() -> anyhow::Result<()> {
    // The upstream refuses (-32020) a call whose `Mcp-Param-Region` is missing or differs
    // from the argument: the gateway's own POST must carry it.
    let (upstream, _, _guard) = http_upstream(ServerName::Conformance).await?;
    let gw = one_upstream("conf", &upstream).await?;
    let url = format!("{}/mcp", gw.base);
    let (status, reply) = call(
        &url,
        "conf__test_custom_header",
        json!({"region": "eu-west"}),
        &[("mcp-param-region", "eu-west")],
        json!({}),
    )
    .await?;
    assert_eq!(status, 200, "{reply}");
    assert!(text_of(&reply).contains("eu-west"), "{reply}");
    Ok(())
}
