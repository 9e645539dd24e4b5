//! The request path: arbitrary bytes as one stdio line to the stock server.
//!
//! Each input is parsed the way the transports parse it, and when it is a message the
//! server is driven with it after a real handshake. A panic anywhere (parser, router,
//! tool) aborts the fuzzer; the server must answer or ignore, nothing else.
#![no_main]

use std::sync::OnceLock;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The legacy SSE transport's parser sees the raw body.
    let _ = belay_mcp::legacy_sse::parse_message(data);
    // Newlines frame stdio messages; keep the input to one frame.
    if data.contains(&b'\n') {
        return;
    }
    runtime().block_on(async {
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            use rmcp::ServiceExt;
            if let Ok(running) = belay_servers::stock::StockServer::new().serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let (read, mut write) = tokio::io::split(client_io);
        let mut lines = BufReader::new(read).lines();
        let mut frame = Vec::with_capacity(data.len() + 1);
        for line in [INIT.as_bytes(), INITIALIZED.as_bytes(), data, PING.as_bytes()] {
            frame.clear();
            frame.extend_from_slice(line);
            frame.push(b'\n');
            if write.write_all(&frame).await.is_err() {
                break;
            }
        }
        // The server must still answer the ping that follows the fuzzed line (it may drop
        // the connection on garbage, which is also acceptable, but it must not panic).
        let deadline = tokio::time::Duration::from_secs(5);
        let _ = tokio::time::timeout(deadline, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("\"after\"") {
                    break;
                }
            }
        })
        .await;
        drop(write);
        server.abort();
        if let Err(e) = server.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    });
});
