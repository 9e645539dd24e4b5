//! The stdio framing: bad lines get JSON-RPC errors and the session goes on.

use rmcp::ServiceExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::probe::Probe;

#[tokio::test]
async fn garbage_lines_are_answered_and_do_not_end_the_session() -> anyhow::Result<()> {
    let (server_in, mut client_out) = tokio::io::duplex(1 << 16);
    let (client_in, server_out) = tokio::io::duplex(1 << 16);
    let (transport, written) = belay_mcp::stdio::transport(server_in, server_out);
    let server = tokio::spawn(async move {
        if let Ok(running) = Probe::new().serve(transport).await {
            let _ = running.waiting().await;
        }
    });
    let lines = [
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc": "2.0", "id": "#,
        r#"{"jsonrpc":"2.0","id":1,"result":"I am not a request"} trailing"#,
        r#"{"id":2}"#,
        "",
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"still here"}}}"#,
    ];
    for line in lines {
        client_out.write_all(format!("{line}\n").as_bytes()).await?;
    }
    let mut replies = BufReader::new(client_in).lines();
    let mut codes = Vec::new();
    let mut echoed = None;
    while echoed.is_none() {
        let Some(line) = replies.next_line().await? else {
            break;
        };
        let reply: Value = serde_json::from_str(&line)?;
        if let Some(code) = reply["error"]["code"].as_i64() {
            codes.push(code);
        }
        if reply["id"] == 3 {
            echoed = reply["result"]["content"][0]["text"]
                .as_str()
                .map(str::to_owned);
        }
    }
    codes.sort();
    assert_eq!(codes, vec![-32700, -32700, -32600]);
    assert_eq!(echoed.as_deref(), Some("still here"));

    // Closing stdin ends the server, and the writer finishes after the last reply.
    drop(client_out);
    server.await?;
    written.await?;
    Ok(())
}
