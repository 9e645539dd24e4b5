//! Malformed bodies at the gateway's front door (every layer that reads a body sits in
//! front of the MCP harness: sign-in, size and time limits, the rate limiter): each gets
//! a JSON-RPC error with its status, and the gateway keeps serving. Here a signed-in
//! caller's, over loopback; the anonymous ones at every endpoint are in `edge`, on the router
//! without a socket.

use belay_mcp::testkit::{check_refusal, malformed_bodies};

use crate::{
    sessions::{ALICE, token, world},
    support::post_call,
};

/// Plays the table against `url`, with `token` if given, then checks a good request passes.
async fn refuses_every_malformed_body(url: &str, token: Option<&str>) -> anyhow::Result<()> {
    for case in malformed_bodies() {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(case.body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        check_refusal(&case, status, &text).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    }
    let params = serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}});
    let answer = post_call(url, token, "initialize", params).await?;
    assert_eq!(answer.status(), 200, "{url} still serves");
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_from_a_signed_in_caller_get_json_rpc_errors() -> anyhow::Result<()> {
    let (gw, stop) = world().await?;
    let _stop = stop.drop_guard();
    let url = format!("{}/mcp", gw.base);
    let alice = token(&url, ALICE).await?;
    refuses_every_malformed_body(&url, Some(&alice)).await
}
