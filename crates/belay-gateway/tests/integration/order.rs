//! What an upstream sends about a call before its result reaches the caller before the
//! result: read off the wire, as the caller's HTTP response stream carries it (a client SDK
//! hands notifications to tasks of their own, so its callbacks cannot tell the order).
//!
//! rmcp runs each notification the gateway gets from an upstream in a task of its own, and
//! hands the result to the call that waits for it: on a runtime with several threads, the
//! result used to overtake the last notifications, which were then dropped (their call was
//! gone) or sent after the result.

use belay_mcp::testkit::requests::{open_session, send};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    lab::{BURST, Lab},
    support::one_upstream,
};

/// Calls per era: each is a fresh chance for the result to overtake its notifications.
const CALLS: u64 = 5;

/// The JSON-RPC messages of an SSE response body, in order.
pub(crate) fn messages(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

/// What came before the answer to request `id` in `messages`: the progress values with
/// `token`, and the log lines; fails if the answer is missing or anything comes after it.
pub(crate) fn before_answer(
    messages: &[Value],
    id: u64,
    token: &str,
) -> anyhow::Result<(Vec<f64>, Vec<Value>)> {
    let answer = messages
        .iter()
        .position(|m| m["id"] == id)
        .ok_or_else(|| anyhow::anyhow!("no answer to {id}: {messages:?}"))?;
    anyhow::ensure!(
        answer + 1 == messages.len(),
        "messages after the answer: {messages:?}"
    );
    let progress = messages[..answer]
        .iter()
        .filter(|m| {
            m["method"] == "notifications/progress" && m["params"]["progressToken"] == token
        })
        .filter_map(|m| m["params"]["progress"].as_f64())
        .collect();
    let logs = messages[..answer]
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["data"].clone())
        .collect();
    Ok((progress, logs))
}

/// A 2026-07-28 `tools/call` of `tool` with id `id`, asking for progress (`token`) and
/// logs at debug; its response body.
pub(crate) async fn round_trip_call(
    url: &str,
    id: u64,
    tool: &str,
    arguments: Value,
    token: &str,
) -> anyhow::Result<String> {
    let call = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": tool, "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/logLevel": "debug",
                "progressToken": token,
            },
        },
    });
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(call.to_string())
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "{}", response.status());
    Ok(response.text().await?)
}

/// A handshake-era `tools/call` of `tool` with id `id` in `session`, asking for progress
/// (`token`); its response body.
pub(crate) async fn handshake_call(
    url: &str,
    session: &str,
    id: u64,
    tool: &str,
    arguments: Value,
    token: &str,
) -> anyhow::Result<String> {
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments, "_meta": {"progressToken": token}}});
    let answer = send(url, Method::POST, None, Some(session), Some(&call)).await?;
    anyhow::ensure!(answer.status == 200, "{answer:?}");
    Ok(answer.body)
}

/// Every step of `count`, in order.
pub(crate) fn steps(count: usize) -> Vec<f64> {
    (1..=count).map(|s| s as f64).collect()
}

// Several threads, as `belay gateway serve` runs: the race needs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_sent_before_the_result_reaches_the_caller_before_it_in_order()
-> anyhow::Result<()> {
    let (_lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let url = format!("{}/mcp", gw.base);
    let session = open_session(&url, None).await?;
    for id in 1..=CALLS {
        let token = format!("handshake-{id}");
        let body = handshake_call(&url, &session, id, "lab__burst", json!({}), &token).await?;
        let (progress, _) = before_answer(&messages(&body), id, &token)?;
        // A handshake session's log lines ride its standalone stream, apart from the call.
        assert_eq!(progress, steps(BURST), "handshake call {id}: {body}");

        // An rmcp server sends its log lines on its standalone stream, apart from the
        // call, so only progress is in order here (`foreign_events` checks log lines too).
        let token = format!("round-trip-{id}");
        let body = round_trip_call(&url, id, "lab__burst", json!({}), &token).await?;
        let (progress, _) = before_answer(&messages(&body), id, &token)?;
        assert_eq!(progress, steps(BURST), "2026-07-28 call {id}: {body}");
    }
    Ok(())
}
