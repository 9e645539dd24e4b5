//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout.
//!
//! rmcp's own codec answers a line that is not JSON with a bare `-32600 Invalid request`
//! (or nothing), so a client cannot tell a framing mistake from a bad message. This
//! framing reads each line itself, answers malformed JSON with `-32700` and a message that
//! names the position, and hands every well-formed message to rmcp. Lines are capped in
//! length so one endless line cannot exhaust memory.
//!
//! The transport is rmcp's [`Transport`] trait implemented directly: rmcp's receive loop
//! reads and decodes lines itself, and answers are encoded where rmcp sends them, so a
//! request crosses no task of ours on the way in. One writer task owns the output and
//! writes whatever answers are queued in one go (several per system call when requests
//! are pipelined).

pub mod decode;

use futures::StreamExt;
use rmcp::{
    ErrorData, RoleServer,
    model::{ClientJsonRpcMessage, ErrorCode, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    sync::mpsc,
    task::JoinHandle,
};
use tokio_util::{
    bytes::{Bytes, BytesMut},
    codec::{AnyDelimiterCodec, AnyDelimiterCodecError, Decoder, FramedRead},
};

/// Longest accepted line (one JSON-RPC message), matching the HTTP body limit.
pub const MAX_LINE_BYTES: usize = crate::http::MAX_BODY_BYTES;

/// Encoded answers queued for the writer; rmcp's sends wait when it is full.
const CHANNEL_DEPTH: usize = 64;

/// Most bytes gathered into one write when answers queue up.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Builds the transport over `input` and `output` (stdin and stdout for a real server).
///
/// A writer task writes rmcp's messages and our error replies to `output` in order, whole
/// lines only. The returned handle finishes once every reply has been written: await it
/// before the process exits, or answers to the last requests are lost.
pub fn transport<R, W>(input: R, output: W) -> (StdioTransport<R>, JoinHandle<()>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_writer, queued) = mpsc::channel(CHANNEL_DEPTH);
    let writer = tokio::spawn(write_lines(output, queued));
    let codec = AnyDelimiterCodec::new_with_max_length(vec![b'\n'], vec![b'\n'], MAX_LINE_BYTES);
    let transport = StdioTransport {
        lines: FramedRead::new(input, LineCodec(codec)),
        to_writer,
        reply: None,
    };
    (transport, writer)
}

/// rmcp's transport over a line-oriented input and the writer task of [`transport`].
pub struct StdioTransport<R> {
    lines: FramedRead<R, LineCodec>,
    to_writer: mpsc::Sender<Vec<u8>>,
    /// An error reply not yet queued. Kept here, not in the receive future, because rmcp
    /// may drop that future at any await (it selects over several events).
    reply: Option<Vec<u8>>,
}

impl<R> std::fmt::Debug for StdioTransport<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioTransport").finish_non_exhaustive()
    }
}

/// Why a message could not be handed to the writer.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The writer stopped (stdout closed).
    #[error("stdout is closed")]
    Closed,
    /// The message could not be encoded (a bug, never the client's fault).
    #[error("cannot encode a server message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl<R> Transport<RoleServer> for StdioTransport<R>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    type Error = StdioError;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), StdioError>> + Send + 'static {
        let line = encode(&item);
        let to_writer = self.to_writer.clone();
        async move { to_writer.send(line?).await.map_err(|_| StdioError::Closed) }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.next_message()
    }

    async fn close(&mut self) -> Result<(), StdioError> {
        Ok(())
    }
}

impl<R: AsyncRead + Unpin> StdioTransport<R> {
    /// The next well-formed message; malformed lines are answered on the way. Every await
    /// leaves `self` consistent, so dropping this future loses nothing.
    async fn next_message(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            if self.reply.is_some() {
                let permit = self.to_writer.reserve().await.ok()?;
                if let Some(reply) = self.reply.take() {
                    permit.send(reply);
                }
            }
            let line = match self.lines.next().await? {
                Ok(Line::Complete(line)) => line,
                Ok(Line::TooLong) => {
                    self.reply = Some(error_line(
                        ErrorCode::INVALID_REQUEST,
                        &format!("message longer than {MAX_LINE_BYTES} bytes was dropped"),
                    ));
                    continue;
                }
                Err(e) => {
                    tracing::info!(error = %e, "stdin closed");
                    return None;
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match decode::client_message(&line) {
                Ok(message) => return Some(message),
                Err(malformed) => self.reply = Some(error_line(malformed.code, &malformed.message)),
            }
        }
    }
}

/// A line of input, or the news that one was too long (its bytes are skipped).
enum Line {
    Complete(Bytes),
    TooLong,
}

/// Lines with a length limit, where an overlong line is an item and not an error: after
/// a decoder error `FramedRead` stops decoding what it has buffered until more input
/// arrives, which would leave the requests behind that line unanswered.
struct LineCodec(AnyDelimiterCodec);

impl LineCodec {
    fn line(
        decoded: Result<Option<Bytes>, AnyDelimiterCodecError>,
    ) -> Result<Option<Line>, std::io::Error> {
        match decoded {
            Ok(line) => Ok(line.map(Line::Complete)),
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => Ok(Some(Line::TooLong)),
            Err(AnyDelimiterCodecError::Io(e)) => Err(e),
        }
    }
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        Self::line(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        Self::line(self.0.decode_eof(buf))
    }
}

/// One message as a line, newline included.
fn encode(message: &ServerJsonRpcMessage) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = Vec::with_capacity(256);
    serde_json::to_writer(&mut line, message)?;
    line.push(b'\n');
    Ok(line)
}

async fn write_lines<W: AsyncWrite + Unpin>(mut output: W, mut queued: mpsc::Receiver<Vec<u8>>) {
    while let Some(mut batch) = queued.recv().await {
        while batch.len() < MAX_BATCH_BYTES {
            match queued.try_recv() {
                Ok(line) => batch.extend_from_slice(&line),
                Err(_) => break,
            }
        }
        let written = async {
            output.write_all(&batch).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            tracing::info!(error = %e, "stdout closed");
            return;
        }
    }
}

fn error_line(code: ErrorCode, message: &str) -> Vec<u8> {
    let error = ErrorData::new(code, message.to_owned(), None);
    let mut line = crate::http::error_body(&serde_json::Value::Null, &error)
        .to_string()
        .into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use rmcp::model::{JsonRpcMessage, NumberOrString, ServerResult};
    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream, Lines};

    use super::*;

    const PING: &str = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;

    fn setup() -> (
        StdioTransport<DuplexStream>,
        DuplexStream,
        Lines<BufReader<DuplexStream>>,
        JoinHandle<()>,
    ) {
        let (server_in, client_out) = tokio::io::duplex(MAX_LINE_BYTES * 2);
        let (client_in, server_out) = tokio::io::duplex(1 << 20);
        let (transport, written) = transport(server_in, server_out);
        (
            transport,
            client_out,
            BufReader::new(client_in).lines(),
            written,
        )
    }

    async fn error_code(replies: &mut Lines<BufReader<DuplexStream>>) -> Option<i64> {
        let line = replies.next_line().await.ok()??;
        serde_json::from_str::<Value>(&line).ok()?["error"]["code"].as_i64()
    }

    fn is_ping(message: Option<ClientJsonRpcMessage>) -> bool {
        matches!(message, Some(JsonRpcMessage::Request(r)) if r.request.method() == "ping")
    }

    #[tokio::test]
    async fn an_overlong_line_is_refused_and_the_session_goes_on() {
        let (mut transport, mut client, mut replies, _written) = setup();
        let long = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(MAX_LINE_BYTES));
        let sent = async {
            client.write_all(long.as_bytes()).await?;
            client.write_all(format!("{PING}\n").as_bytes()).await
        };
        let (sent, received) = tokio::join!(sent, transport.receive());
        assert!(sent.is_ok());
        assert!(is_ping(received));
        assert_eq!(error_code(&mut replies).await, Some(-32600));
    }

    #[tokio::test]
    async fn lines_that_are_not_json_or_utf8_get_parse_errors() {
        let (mut transport, mut client, mut replies, _written) = setup();
        client.write_all(b"\xff\xfe\n").await.ok();
        client
            .write_all(b"  \r\n{\"id\":1} trailing\r\n")
            .await
            .ok();
        client
            .write_all(format!("{PING}\r\n").as_bytes())
            .await
            .ok();
        assert!(is_ping(transport.receive().await));
        assert_eq!(error_code(&mut replies).await, Some(-32700));
        assert_eq!(error_code(&mut replies).await, Some(-32700));
    }

    #[tokio::test]
    async fn answers_are_written_whole_and_in_order_then_the_writer_ends() {
        let (mut transport, client, mut replies, written) = setup();
        for i in 0..200 {
            let answer =
                JsonRpcMessage::response(ServerResult::empty(()), NumberOrString::Number(i));
            assert!(transport.send(answer).await.is_ok());
        }
        // The end of input ends the transport; once it is dropped, the writer finishes.
        drop(client);
        assert!(transport.receive().await.is_none());
        drop(transport);
        assert!(written.await.is_ok());
        let mut ids = Vec::new();
        while let Ok(Some(line)) = replies.next_line().await {
            let reply: Value = serde_json::from_str(&line).unwrap_or_default();
            ids.push(reply["id"].as_i64().unwrap_or(-1));
        }
        assert_eq!(ids, (0..200).collect::<Vec<_>>());
    }
}
