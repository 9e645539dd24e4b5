//! One MCP session over Streamable HTTP: its own HTTP/1.1 keep-alive connection (TCP_NODELAY),
//! the `initialize` handshake, then one request at a time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::mcp;

const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// An initialized MCP session on its own connection.
pub(crate) struct HttpSession {
    sender: SendRequest<Full<Bytes>>,
    connection: JoinHandle<()>,
    authority: HeaderValue,
    path: String,
    session_id: Option<HeaderValue>,
    protocol: Option<HeaderValue>,
    /// The protocol version the server chose.
    pub(crate) version: String,
}

impl Drop for HttpSession {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Connects to `addr`, retrying refused connections until `deadline` (a server that is still
/// starting up), and gives up early if `alive` says the server has exited.
pub(crate) async fn connect_when_up(
    addr: SocketAddr,
    deadline: Instant,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<TcpStream> {
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) if Instant::now() >= deadline => {
                return Err(err)
                    .with_context(|| format!("{addr} did not accept connections in time"));
            }
            Err(_) => {
                alive()?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

impl HttpSession {
    /// Opens an HTTP/1.1 connection on `stream` and performs the MCP handshake at `path`.
    pub(crate) async fn start(stream: TcpStream, path: &str, init_id: u64) -> anyhow::Result<Self> {
        // Nagle + delayed ACK would stall small request/response pairs by ~40 ms.
        stream.set_nodelay(true).context("set TCP_NODELAY")?;
        let authority = HeaderValue::try_from(stream.peer_addr()?.to_string())?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        let connection = tokio::spawn(async move {
            // The error, if any, surfaces on the next request.
            let _ = conn.await;
        });
        let mut session = Self {
            sender,
            connection,
            authority,
            path: path.to_owned(),
            session_id: None,
            protocol: None,
            version: String::new(),
        };

        let (status, headers, body) = session.post(mcp::initialize(init_id)).await?;
        if status != StatusCode::OK {
            bail!(
                "initialize: HTTP {status}: {}",
                mcp::short(&String::from_utf8_lossy(&body))
            );
        }
        // Stateless servers send no session id; then there is none to echo.
        session.session_id = headers.get(SESSION_ID).cloned();
        let sse = is_sse(&headers);
        let response = mcp::find_response(&body, sse, init_id).context("initialize")?;
        session.version = mcp::negotiated_version(&response)?;
        session.protocol = Some(HeaderValue::try_from(session.version.as_str())?);

        let (status, _, body) = session.post(mcp::initialized()).await?;
        if !status.is_success() {
            bail!(
                "notifications/initialized: HTTP {status}: {}",
                mcp::short(&String::from_utf8_lossy(&body))
            );
        }
        Ok(session)
    }

    /// Sends one JSON-RPC request and returns the response with `id`.
    pub(crate) async fn request(&mut self, body: String, id: u64) -> anyhow::Result<Value> {
        let (status, headers, bytes) = self.post(body).await?;
        if status != StatusCode::OK {
            bail!(
                "HTTP {status}: {}",
                mcp::short(&String::from_utf8_lossy(&bytes))
            );
        }
        mcp::find_response(&bytes, is_sse(&headers), id)
    }

    /// Ends the session (HTTP DELETE with its id), so the server can free it; a server that
    /// does not support that answers 405, which is fine.
    pub(crate) async fn close(mut self) -> anyhow::Result<()> {
        let Some(id) = self.session_id.clone() else {
            return Ok(());
        };
        let mut req = Request::delete(self.path.as_str())
            .header(HOST, self.authority.clone())
            .header(SESSION_ID, id);
        if let Some(version) = &self.protocol {
            req = req.header(PROTOCOL_VERSION, version.clone());
        }
        let req = req.body(Full::new(Bytes::new()))?;
        self.sender.ready().await.context("connection closed")?;
        let response = self.sender.send_request(req).await.context("send DELETE")?;
        response
            .into_body()
            .collect()
            .await
            .context("read DELETE response")?;
        Ok(())
    }

    /// One POST on the session's connection; the body is read to its end so the connection
    /// can carry the next request.
    async fn post(&mut self, body: String) -> anyhow::Result<(StatusCode, http::HeaderMap, Bytes)> {
        let mut req = Request::post(self.path.as_str())
            .header(HOST, self.authority.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        if let Some(id) = &self.session_id {
            req = req.header(SESSION_ID, id.clone());
        }
        if let Some(version) = &self.protocol {
            req = req.header(PROTOCOL_VERSION, version.clone());
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        self.sender.ready().await.context("connection closed")?;
        let response = self
            .sender
            .send_request(req)
            .await
            .context("send request")?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .context("read response body")?
            .to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }
}

fn is_sse(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}
