//! A client without an SDK: single HTTP requests to a Streamable HTTP endpoint, with or
//! without a bearer token, for tests of what a server answers whoever sends them (another
//! person's session id, a method an SDK would not send).

use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};

use crate::Error;

/// A server's answer: status, headers and body (empty for an event stream left open).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `Mcp-Session-Id` the answer gives, if any.
    pub fn session(&self) -> Option<String> {
        self.headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

fn failed(what: impl std::fmt::Display) -> Error {
    Error::Session(what.to_string())
}

/// Sends one request (`body` as JSON) to `url`, with `token` and in `session` if given.
pub async fn send(
    url: &str,
    method: Method,
    token: Option<&str>,
    session: Option<&str>,
    body: Option<&Value>,
) -> Result<Answer, Error> {
    let is_get = method == Method::GET;
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.map_err(failed)?;
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    // A GET's event stream stays open: its head says all. A POST's answer may come as an event
    // stream too (when it is not ready at once), which ends after the answer: read it whole.
    let open_stream = is_get && status == 200 && headers.get("content-length").is_none();
    let body = match open_stream {
        true => String::new(),
        false => response.text().await.map_err(failed)?,
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Opens a handshake-era session at `url` with `token`: `initialize`, then `initialized`.
pub async fn open_session(url: &str, token: Option<&str>) -> Result<String, Error> {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let answer = send(url, Method::POST, token, None, Some(&init)).await?;
    let session = answer
        .session()
        .ok_or_else(|| failed(format!("no session: {} {}", answer.status, answer.body)))?;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    send(url, Method::POST, token, Some(&session), Some(&initialized)).await?;
    Ok(session)
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

/// Checks that a session `owner` opens at `url` is the owner's alone: each of `intruders`
/// naming it gets, on POST, GET and DELETE, exactly what a session that never existed
/// gets (a 404); then the owner still lists `tool` in it and ends it with a 204.
pub async fn check_session_is_private(
    url: &str,
    owner: &str,
    intruders: &[&str],
    tool: &str,
) -> Result<(), Error> {
    let session = open_session(url, Some(owner)).await?;
    for (i, intruder) in intruders.iter().enumerate() {
        let list = tools_list();
        let unknown = send(
            url,
            Method::POST,
            Some(intruder),
            Some("no-such-session"),
            Some(&list),
        )
        .await?;
        for (method, body) in [
            (Method::POST, Some(&list)),
            (Method::GET, None),
            (Method::DELETE, None),
        ] {
            let answer = send(url, method.clone(), Some(intruder), Some(&session), body).await?;
            if answer.status != 404 || answer.body != unknown.body {
                return Err(failed(format!(
                    "{url}: intruder {i} {method}: {} {}, not what an unknown session gets: {}",
                    answer.status, answer.body, unknown.body
                )));
            }
        }
    }
    let listed = send(
        url,
        Method::POST,
        Some(owner),
        Some(&session),
        Some(&tools_list()),
    )
    .await?;
    if listed.status != 200 || !listed.body.contains(tool) {
        return Err(failed(format!(
            "{url}: the owner's session no longer lists {tool}: {} {}",
            listed.status, listed.body
        )));
    }
    let ended = send(url, Method::DELETE, Some(owner), Some(&session), None).await?;
    if ended.status != 204 {
        return Err(failed(format!(
            "{url}: the owner's DELETE answered {} {}",
            ended.status, ended.body
        )));
    }
    Ok(())
}

/// Reads `events` (an SSE body) into `seen` until `done` says it holds what is wanted.
async fn read_until(
    events: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    seen: &mut String,
    done: impl Fn(&str) -> bool,
) -> Result<(), Error> {
    use futures::StreamExt;
    while !done(seen) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .map_err(|_| failed(format!("nothing more on the stream: {seen}")))?
            .ok_or_else(|| failed(format!("the stream ended: {seen}")))?
            .map_err(failed)?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(())
}

/// Checks that a legacy SSE session `owner` opens at `sse_url` (`GET /sse`) is the owner's
/// alone: `intruder` POSTing to its messages URL gets exactly what an unknown session gets
/// (a 404), and the owner's `initialize` is then accepted and answered on the stream.
pub async fn check_sse_session_is_private(
    sse_url: &str,
    owner: &str,
    intruder: &str,
) -> Result<(), Error> {
    let opened = reqwest::Client::new()
        .get(sse_url)
        .bearer_auth(owner)
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(failed)?;
    if opened.status() != 200 {
        return Err(failed(format!(
            "{sse_url}: GET answered {}",
            opened.status()
        )));
    }
    let mut events = opened.bytes_stream();
    let mut seen = String::new();
    read_until(&mut events, &mut seen, |s| s.contains("sessionId=")).await?;
    let endpoint = seen
        .lines()
        .find_map(|l| l.strip_prefix("data:").map(str::trim))
        .unwrap_or_default()
        .to_owned();
    let base = reqwest::Url::parse(sse_url).map_err(failed)?;
    // The endpoint is a path on the same origin (`/messages?sessionId=…`).
    let messages = base.join(&endpoint).map_err(failed)?.to_string();
    let (path, _) = endpoint
        .split_once("sessionId=")
        .ok_or_else(|| failed(format!("no sessionId in the endpoint event: {endpoint}")))?;
    let unknown = base
        .join(&format!("{path}sessionId=no-such-session"))
        .map_err(failed)?
        .to_string();
    let post = |token: &str, url: String, body: Value| {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let unknown = post(intruder, unknown, tools_list())
        .await
        .map_err(failed)?;
    let unknown = unknown.text().await.map_err(failed)?;
    let refused = post(intruder, messages.clone(), tools_list())
        .await
        .map_err(failed)?;
    let status = refused.status();
    let refused = refused.text().await.map_err(failed)?;
    if status != 404 || refused != unknown {
        return Err(failed(format!(
            "{messages}: the intruder got {status} {refused}, not what an unknown session gets: {unknown}"
        )));
    }
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let accepted = post(owner, messages.clone(), init).await.map_err(failed)?;
    if accepted.status() != 202 {
        return Err(failed(format!(
            "{messages}: the owner's initialize answered {}",
            accepted.status()
        )));
    }
    read_until(&mut events, &mut seen, |s| s.contains("serverInfo")).await
}
