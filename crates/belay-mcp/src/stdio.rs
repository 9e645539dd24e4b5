//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout.
//!
//! rmcp's own codec answers a line that is not JSON with a bare `-32600 Invalid request`
//! (or nothing), so a client cannot tell a framing mistake from a bad message. This
//! framing reads each line itself, answers malformed JSON with `-32700` and a message that
//! names the position, and hands every well-formed message to rmcp. Lines are capped in
//! length so one endless line cannot exhaust memory.

use futures::{SinkExt, StreamExt, channel::mpsc};
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    task::JoinHandle,
};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// Longest accepted line (one JSON-RPC message), matching the HTTP body limit.
pub const MAX_LINE_BYTES: usize = crate::http::MAX_BODY_BYTES;

/// Messages buffered between the reader, rmcp and the writer.
const CHANNEL_DEPTH: usize = 64;

/// Builds the transport over `input` and `output` (stdin and stdout for a real server).
///
/// Two tasks do the I/O: one reads and parses lines, one writes rmcp's messages and our
/// error replies to `output` in order, so the two never interleave inside a line. The
/// returned handle finishes once every reply has been written: await it before the
/// process exits, or answers to the last requests are lost.
pub fn transport<R, W>(input: R, output: W) -> (impl Transport<rmcp::RoleServer>, JoinHandle<()>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_client, outgoing) = mpsc::channel::<String>(CHANNEL_DEPTH);
    let (to_server, incoming) = mpsc::channel::<ClientJsonRpcMessage>(CHANNEL_DEPTH);
    let writer = tokio::spawn(write_lines(output, outgoing));
    tokio::spawn(read_lines(input, to_server, to_client.clone()));
    let sink = to_client
        .sink_map_err(StdioError::from)
        .with(|message: ServerJsonRpcMessage| {
            futures::future::ready(serde_json::to_string(&message).map_err(StdioError::from))
        });
    let transport =
        rmcp::transport::sink_stream::SinkStreamTransport::new(Box::pin(sink), incoming);
    (transport, writer)
}

/// Why a message could not be handed to the writer.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The writer stopped (stdout closed).
    #[error("stdout is closed")]
    Closed(#[from] mpsc::SendError),
    /// The message could not be encoded (a bug, never the client's fault).
    #[error("cannot encode a server message: {0}")]
    Encode(#[from] serde_json::Error),
}

async fn read_lines<R: AsyncRead + Unpin>(
    input: R,
    mut to_server: mpsc::Sender<ClientJsonRpcMessage>,
    mut to_client: mpsc::Sender<String>,
) {
    let mut lines = FramedRead::new(input, LinesCodec::new_with_max_length(MAX_LINE_BYTES));
    while let Some(line) = lines.next().await {
        let reply = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => match crate::legacy_sse::parse_message(line.as_bytes()) {
                Ok(message) => {
                    if to_server.send(message).await.is_err() {
                        return; // rmcp has stopped: nothing left to serve.
                    }
                    continue;
                }
                Err((code, reason)) => error_line(code, &reason),
            },
            Err(LinesCodecError::MaxLineLengthExceeded) => error_line(
                -32600,
                &format!("message longer than {MAX_LINE_BYTES} bytes was dropped"),
            ),
            Err(LinesCodecError::Io(e)) => {
                tracing::info!(error = %e, "stdin closed");
                return;
            }
        };
        if to_client.send(reply).await.is_err() {
            return;
        }
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(mut output: W, mut outgoing: mpsc::Receiver<String>) {
    while let Some(mut line) = outgoing.next().await {
        line.push('\n');
        let written = async {
            output.write_all(line.as_bytes()).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            tracing::info!(error = %e, "stdout closed");
            return;
        }
    }
}

fn error_line(code: i32, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    })
    .to_string()
}
