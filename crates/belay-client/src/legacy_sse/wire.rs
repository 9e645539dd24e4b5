//! The HTTP side of [`super::LegacySseTransport`]: requests carrying the `Authorization`
//! of the source (retried once after a 401), the event stream up to and after its
//! `endpoint` event, and the queue of POSTs.

use std::{io, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use http::{
    HeaderMap, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE},
};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use sse_stream::{Sse, SseStream};
use tokio::sync::{mpsc, oneshot};
use url::Url;

use super::{AuthorizationSource, InvalidMessageHandler, LegacySseError};

/// How much of an error response body goes into [`LegacySseError::Status`].
const BODY_EXCERPT: usize = 300;

pub(super) struct Outgoing {
    pub(super) message: ClientJsonRpcMessage,
    pub(super) done: oneshot::Sender<Result<(), LegacySseError>>,
}

pub(super) struct Shared {
    pub(super) http: reqwest::Client,
    pub(super) authorization: Option<Arc<dyn AuthorizationSource>>,
    pub(super) headers: HeaderMap,
    pub(super) post_timeout: Duration,
}

impl Shared {
    async fn authorization(
        &self,
        refused: Option<String>,
    ) -> Result<Option<String>, LegacySseError> {
        match &self.authorization {
            Some(source) => source
                .authorization(refused)
                .await
                .map_err(LegacySseError::Authorization),
            None => Ok(None),
        }
    }

    /// Sends the request `build` makes with our headers, asking the authorization source
    /// again after a 401 and retrying once if it gives a different value.
    async fn send(
        &self,
        method: &'static str,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, LegacySseError> {
        let attempt = |value: Option<String>| {
            let mut request = build().headers(self.headers.clone());
            if let Some(value) = value {
                request = request.header(AUTHORIZATION, value);
            }
            request.send()
        };
        let failed = |source| LegacySseError::Http {
            method,
            url: url.to_string(),
            source,
        };
        let value = self.authorization(None).await?;
        let response = attempt(value.clone()).await.map_err(failed)?;
        if response.status() == StatusCode::UNAUTHORIZED && self.authorization.is_some() {
            let renewed = self.authorization(value.clone()).await?;
            if renewed != value {
                tracing::debug!(%url, "{method} refused with 401; retrying with a renewed Authorization");
                return attempt(renewed).await.map_err(failed);
            }
        }
        Ok(response)
    }

    async fn post(
        &self,
        endpoint: &Url,
        message: &ClientJsonRpcMessage,
    ) -> Result<(), LegacySseError> {
        let body = Bytes::from(serde_json::to_vec(message)?);
        let response = self
            .send("POST", endpoint, || {
                self.http
                    .post(endpoint.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .timeout(self.post_timeout)
                    .body(body.clone())
            })
            .await?;
        expect_success("POST", endpoint, response).await.map(drop)
    }
}

/// `response` if it is a 2xx, else [`LegacySseError::Status`] with the start of its body.
async fn expect_success(
    method: &'static str,
    url: &Url,
    response: reqwest::Response,
) -> Result<reqwest::Response, LegacySseError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(LegacySseError::Status {
        method,
        url: url.to_string(),
        status,
        body: body.chars().take(BODY_EXCERPT).collect(),
    })
}

type Events = BoxStream<'static, Result<Sse, sse_stream::Error>>;

/// GETs the event stream and reads it up to the `endpoint` event.
pub(super) async fn open(
    shared: &Shared,
    url: &Url,
    max_event_bytes: usize,
) -> Result<(Events, Url), LegacySseError> {
    let response = shared
        .send("GET", url, || {
            shared
                .http
                .get(url.clone())
                .header(ACCEPT, "text/event-stream")
                .header(CACHE_CONTROL, "no-cache")
        })
        .await?;
    let response = expect_success("GET", url, response).await?;
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("text/event-stream") {
        return Err(LegacySseError::NotEventStream {
            url: url.to_string(),
            content_type: content_type.to_owned(),
        });
    }
    let mut events =
        SseStream::from_bytes_stream(bounded(response.bytes_stream(), max_event_bytes)).boxed();
    let no_endpoint = |reason: String| LegacySseError::NoEndpoint {
        url: url.to_string(),
        reason,
    };
    loop {
        match events.next().await {
            None => return Err(no_endpoint("the server closed it".into())),
            Some(Err(e)) => return Err(no_endpoint(e.to_string())),
            Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                let endpoint = resolve_endpoint(url, event.data.as_deref().unwrap_or_default())?;
                return Ok((events, endpoint));
            }
            // The protocol sends the endpoint first; anything before it has no session.
            Some(Ok(event)) => {
                tracing::debug!(event = ?event.event, "SSE event before `endpoint` ignored")
            }
        }
    }
}

/// Resolves the `endpoint` event's data against the SSE URL, on the same origin only:
/// every POST carries our `Authorization`, which must not go to another server.
pub(super) fn resolve_endpoint(sse_url: &Url, data: &str) -> Result<Url, LegacySseError> {
    let refuse = |reason: String| LegacySseError::BadEndpoint {
        url: sse_url.to_string(),
        endpoint: data.to_owned(),
        reason,
    };
    let data = data.trim();
    if data.is_empty() {
        return Err(refuse("the event has no data".into()));
    }
    let endpoint = sse_url
        .join(data)
        .map_err(|e| refuse(format!("not a URL: {e}")))?;
    if endpoint.origin() != sse_url.origin() {
        return Err(refuse(format!(
            "it is on another origin than the SSE URL ({}), which would send our credentials there",
            sse_url.origin().ascii_serialization()
        )));
    }
    Ok(endpoint)
}

/// Yields `message` events to the session until the stream ends or fails (or, with an
/// `on_invalid` handler, sends an event that is not a JSON-RPC message); dropping
/// `to_handler` then ends the transport.
pub(super) async fn read_messages(
    mut events: Events,
    to_handler: mpsc::Sender<ServerJsonRpcMessage>,
    url: String,
    on_invalid: Option<InvalidMessageHandler>,
) {
    loop {
        let event = match events.next().await {
            Some(Ok(event)) => event,
            Some(Err(e)) => {
                tracing::warn!(%url, error = %e, "legacy SSE stream failed");
                return;
            }
            None => {
                tracing::info!(%url, "legacy SSE stream closed by the server");
                return;
            }
        };
        // An event without a type is a `message` in SSE.
        match event.event.as_deref() {
            None | Some("message") => {}
            Some(other) => {
                tracing::debug!(%url, event = other, "SSE event ignored");
                continue;
            }
        }
        let Some(data) = event.data else { continue };
        match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
            Ok(message) => {
                if to_handler.send(message).await.is_err() {
                    return; // The transport is gone.
                }
            }
            Err(e) => {
                if let Some(handler) = &on_invalid {
                    handler(&data, &e);
                    return;
                }
                let excerpt: String = data.chars().take(BODY_EXCERPT).collect();
                tracing::warn!(%url, error = %e, data = %excerpt, "not a JSON-RPC message; skipped");
            }
        }
    }
}

/// POSTs queued messages in order, reporting each result to its sender. A 404 means the
/// server forgot the session, so the stream is ended too.
pub(super) async fn post_messages(
    shared: Arc<Shared>,
    endpoint: Url,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    reader: tokio::task::AbortHandle,
) {
    while let Some(Outgoing { message, done }) = queue.recv().await {
        let result = shared.post(&endpoint, &message).await;
        if let Err(LegacySseError::Status { status, .. }) = &result
            && *status == StatusCode::NOT_FOUND
        {
            tracing::warn!(%endpoint, "the server no longer knows this session; closing it");
            reader.abort();
        }
        let _ = done.send(result);
    }
}

/// Bytes of `stream`, failing once an event (bytes between blank lines) exceeds `max`:
/// a server that never ends an event must not make us buffer without bound.
pub(super) fn bounded<S, E>(
    stream: S,
    max: usize,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut pending = 0usize;
    let mut line_start = true;
    stream.map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        for &byte in chunk.iter() {
            match byte {
                b'\n' => {
                    if line_start {
                        pending = 0;
                    }
                    line_start = true;
                }
                b'\r' => {}
                _ => {
                    line_start = false;
                    pending += 1;
                    if pending > max {
                        return Err(io::Error::other(format!(
                            "an SSE event is larger than {max} bytes"
                        )));
                    }
                }
            }
        }
        Ok(chunk)
    })
}

pub(super) fn http_url(url: &str) -> Result<Url, LegacySseError> {
    let invalid = |reason: String| LegacySseError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(invalid(format!(
            "scheme `{other}`; give an http:// or https:// URL"
        ))),
    }
}
