//! One MCP session over Streamable HTTP: its own HTTP/1.1 keep-alive connection (TCP_NODELAY),
//! the `initialize` handshake, then one request at a time. Extra headers (a bearer token for a
//! gateway that requires sign-in) go on every request of the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::mcp;

const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Headers sent on every request of every session, shared by the sessions of a run.
pub(crate) type Headers = Arc<[(HeaderName, HeaderValue)]>;

/// The extra headers of a run: `Name: value` lines, then `Authorization: Bearer TOKEN` if a
/// token is given.
pub(crate) fn extra_headers(lines: &[String], bearer: Option<&str>) -> anyhow::Result<Headers> {
    let mut headers = Vec::with_capacity(lines.len() + 1);
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("header `{line}` is not `Name: value`"))?;
        let name = HeaderName::try_from(name.trim())
            .with_context(|| format!("header `{line}`: bad name"))?;
        let value = HeaderValue::try_from(value.trim())
            .with_context(|| format!("header `{}`: bad value", name.as_str()))?;
        headers.push((name, value));
    }
    if let Some(token) = bearer {
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.trim()))
            .context("the bearer token is not a valid header value")?;
        value.set_sensitive(true);
        headers.push((AUTHORIZATION, value));
    }
    Ok(headers.into())
}

/// An initialized MCP session on its own connection.
pub(crate) struct HttpSession {
    sender: SendRequest<Full<Bytes>>,
    connection: JoinHandle<()>,
    authority: HeaderValue,
    path: String,
    session_id: Option<HeaderValue>,
    protocol: Option<HeaderValue>,
    extra: Headers,
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
    /// Opens an HTTP/1.1 connection on `stream` and performs the MCP handshake at `path`,
    /// sending `extra` on every request.
    pub(crate) async fn start(
        stream: TcpStream,
        path: &str,
        init_id: u64,
        extra: Headers,
    ) -> anyhow::Result<Self> {
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
            extra,
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
        for (name, value) in self.extra.iter() {
            req = req.header(name, value.clone());
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
        for (name, value) in self.extra.iter() {
            req = req.header(name, value.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_headers_parse_and_the_token_is_a_sensitive_bearer() -> anyhow::Result<()> {
        let lines = vec!["X-Trace:  on ".to_owned()];
        let headers = extra_headers(&lines, Some("abc.def\n"))?;
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].0.as_str(), "x-trace");
        assert_eq!(headers[0].1, "on");
        assert_eq!(headers[1].0, AUTHORIZATION);
        assert_eq!(headers[1].1, "Bearer abc.def");
        assert!(headers[1].1.is_sensitive());
        assert!(extra_headers(&["no colon".to_owned()], None).is_err());
        assert!(extra_headers(&["Bad Name: x".to_owned()], None).is_err());
        assert!(extra_headers(&[], None)?.is_empty());
        Ok(())
    }
}
