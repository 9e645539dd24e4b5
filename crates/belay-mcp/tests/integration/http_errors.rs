//! Raw HTTP against the harness: JSON-RPC error codes and the DNS rebinding guard.

use belay_mcp::http;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::probe::Probe;

struct Running {
    url: String,
    shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(stateless: bool) -> anyhow::Result<Running> {
    let shutdown = CancellationToken::new();
    let router = http::streamable_router(Probe::new(), "/mcp", stateless, shutdown.clone());
    let router = http::guarded(router, Default::default());
    let (listener, addr) = http::bind("127.0.0.1:0").await?;
    tokio::spawn(http::run(listener, router, shutdown.clone()));
    Ok(Running {
        url: format!("http://{addr}/mcp"),
        shutdown,
    })
}

fn post(url: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body)
}

/// Reads a JSON-RPC message from a JSON or SSE response body.
fn message_of(body: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(belay_mcp::testkit::message_text(
        body,
    ))?)
}

async fn initialize(url: &str) -> anyhow::Result<Option<String>> {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let response = post(url, init.to_string()).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = response.text().await?;
    Ok(session)
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() -> anyhow::Result<()> {
    let server = start(true).await?;
    let response = post(&server.url, "{\"jsonrpc\": \"2.0\", ").send().await?;
    let status = response.status();
    let text = response.text().await?;
    assert!(status.is_client_error(), "{status} {text}");
    let body = message_of(&text).map_err(|e| anyhow::anyhow!("{status} {text:?}: {e}"))?;
    assert_eq!(body["error"]["code"], -32700, "{body}");
    Ok(())
}

#[tokio::test]
async fn unknown_method_and_bad_params_get_their_codes() -> anyhow::Result<()> {
    let server = start(false).await?;
    let session = initialize(&server.url).await?.unwrap_or_default();
    let with_session =
        |body: Value| post(&server.url, body.to_string()).header("mcp-session-id", session.clone());
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    with_session(ack).send().await?;

    let unknown = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/explode"});
    let body = message_of(&with_session(unknown).send().await?.text().await?)?;
    assert_eq!(body["error"]["code"], -32601, "{body}");

    let no_tool = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "nope", "arguments": {}}});
    let body = message_of(&with_session(no_tool).send().await?.text().await?)?;
    assert_eq!(body["error"]["code"], -32602, "{body}");

    // Since 2025-11-25 (SEP-1303) wrong tool arguments are a tool error the model can read
    // and correct, not a protocol error; the message must say what is wrong.
    let bad = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": 42}}});
    let body = message_of(&with_session(bad).send().await?.text().await?)?;
    assert_eq!(body["result"]["isError"], true, "{body}");
    let message = body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("expected a string"), "{message}");

    let good = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"}}});
    let body = message_of(&with_session(good).send().await?.text().await?)?;
    assert_eq!(body["result"]["content"][0]["text"], "hi", "{body}");
    Ok(())
}

#[tokio::test]
async fn foreign_host_and_origin_are_forbidden() -> anyhow::Result<()> {
    let server = start(true).await?;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let response = post(&server.url, ping.clone())
        .header("host", "attacker.example")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Host")
    );

    let response = post(&server.url, ping)
        .header("origin", "https://attacker.example")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The same request from a loopback page passes the guard.
    assert_eq!(initialize(&server.url).await.map(|_| ()).ok(), Some(()));
    Ok(())
}

#[tokio::test]
async fn every_malformed_body_gets_a_json_rpc_error_and_the_server_keeps_serving()
-> anyhow::Result<()> {
    for stateless in [false, true] {
        let server = start(stateless).await?;
        for case in belay_mcp::testkit::malformed_bodies() {
            let response = post(&server.url, case.body.clone()).send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            belay_mcp::testkit::check_refusal(&case, status, &text)
                .map_err(|e| anyhow::anyhow!("stateless={stateless}: {e}"))?;
        }
        // Still serving.
        assert!(initialize(&server.url).await?.is_some() || stateless);
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_media_type_gets_a_json_rpc_error_naming_it() -> anyhow::Result<()> {
    let server = start(false).await?;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body(ping.clone())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("application/json"),
        "{body}"
    );

    let response = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(ping)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], -32600, "{body}");
    Ok(())
}

/// Sends `method` (GET or DELETE) for `session`; the status and the body as JSON.
async fn session_request(
    url: &str,
    method: reqwest::Method,
    session: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = reqwest::Client::new()
        .request(method, url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", session)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn delete_ends_a_session_with_204_and_an_ended_or_unknown_session_gets_404()
-> anyhow::Result<()> {
    let server = start(false).await?;
    let session = initialize(&server.url)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no session id"))?;
    let (status, _) = session_request(&server.url, reqwest::Method::DELETE, &session).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Gone: every method now answers 404, with a JSON-RPC error saying to start again.
    for method in [reqwest::Method::DELETE, reqwest::Method::GET] {
        let (status, body) = session_request(&server.url, method.clone(), &session).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(body["error"]["code"], -32600, "{method}: {body}");
    }
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let response = post(&server.url, ping.to_string())
        .header("mcp-session-id", session.clone())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let gone: Value = response.json().await?;
    let (_, never) = session_request(&server.url, reqwest::Method::DELETE, "no-such-id").await?;
    assert_eq!(
        gone, never,
        "an ended session looks like one that never was"
    );
    Ok(())
}
