//! The 2024-11-05 HTTP+SSE transport, driven by a minimal client written from the spec.

use std::time::Duration;

use belay_mcp::http;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::probe::Probe;

/// Reads SSE events (`event`, `data`) from a streaming response.
struct Events {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> anyhow::Result<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.trim_start().to_owned());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Ok((event, data.join("\n")));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream ended"))??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn message(&mut self) -> anyhow::Result<Value> {
        let (event, data) = self.next().await?;
        anyhow::ensure!(event == "message", "unexpected event {event}");
        Ok(serde_json::from_str(&data)?)
    }
}

#[tokio::test]
async fn a_session_initialises_lists_and_calls() -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let router = http::guarded(
        http::sse_router(Probe::new(), shutdown.clone()),
        Default::default(),
    );
    let (listener, addr) = http::bind("127.0.0.1:0").await?;
    tokio::spawn(http::run(listener, router, shutdown.clone()));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let response = http.get(format!("{base}/sse")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = Events {
        stream: response.bytes_stream().boxed(),
        buffer: String::new(),
    };
    let (event, endpoint) = events.next().await?;
    assert_eq!(event, "endpoint");
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let post_url = format!("{base}{endpoint}");
    let send = |body: Value| http.post(&post_url).json(&body).send();

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "legacy", "version": "0"}}});
    assert_eq!(send(init).await?.status(), StatusCode::ACCEPTED);
    let reply = events.message().await?;
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["result"]["protocolVersion"], "2024-11-05");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;

    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await?;
    let reply = events.message().await?;
    let names: Vec<_> = reply["result"]["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"echo") && names.contains(&"confirm"),
        "{names:?}"
    );

    send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "over sse"}}}))
    .await?;
    let reply = events.message().await?;
    assert_eq!(reply["result"]["content"][0]["text"], "over sse");

    // Garbage gets a 400 naming the problem, and the session survives it.
    let response = http.post(&post_url).body("{oops").send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], -32700);
    send(json!({"jsonrpc": "2.0", "id": 4, "method": "ping"})).await?;
    assert_eq!(events.message().await?["id"], 4);

    // Unknown sessions and missing ids are refused clearly.
    let response = http
        .post(format!("{base}/messages?sessionId=nope"))
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http
        .post(format!("{base}/messages"))
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Closing the stream ends the session: its id stops working.
    drop(events);
    let mut closed = false;
    for _ in 0..50 {
        let status = http
            .post(&post_url)
            .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
            .send()
            .await?
            .status();
        if status == StatusCode::NOT_FOUND {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "session still open after its stream closed");
    Ok(())
}
