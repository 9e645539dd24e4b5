//! The client side of the HTTP+SSE transport of protocol revision 2024-11-05, which rmcp
//! no longer ships.
//!
//! The client opens `GET <sse url>` (`Accept: text/event-stream`). The server's first
//! event, `endpoint`, names the URL to POST messages to (usually `/messages?sessionId=…`,
//! resolved against the SSE URL); each POST carries one JSON-RPC message and is answered
//! `202 Accepted`. Every server message arrives as a `message` event on the stream. The
//! session lives as long as that stream: when it ends or fails, [`LegacySseTransport`]
//! stops yielding messages, so an rmcp session on top of it ends and its owner can
//! reconnect.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use belay_client::legacy_sse::LegacySseTransport;
//! use rmcp::ServiceExt;
//!
//! let transport = LegacySseTransport::builder("http://127.0.0.1:8000/sse")
//!     .bearer("token")
//!     .connect()
//!     .await?;
//! let client = ().serve(transport).await?;
//! let tools = client.list_all_tools().await?;
//! # Ok(()) }
//! ```

use std::{fmt, future::Future, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header::AUTHORIZATION};
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use url::Url;

use wire::{Outgoing, Shared, http_url, open, post_messages, read_messages};

/// How long [`LegacySseBuilder::connect`] waits, by default, for the `endpoint` event.
pub const DEFAULT_ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one POST may take, by default, before it fails.
pub const DEFAULT_POST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest SSE event accepted by default (16 MiB, as rmcp's Streamable HTTP client).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Server messages buffered before reading the stream waits for the session to catch up.
const INCOMING_DEPTH: usize = 64;

/// An error from an [`AuthorizationSource`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the `Authorization` header comes from, asked before every request.
///
/// `refused` is `None` for a first attempt. After a 401 it holds the value the server
/// refused: return a renewed one (a fresh token) and the request is retried once with
/// it; return the same value (nothing to renew) and the 401 stands.
///
/// Closures `Fn(Option<String>) -> impl Future<Output = Result<Option<String>, BoxError>>`
/// implement it.
pub trait AuthorizationSource: Send + Sync + 'static {
    /// The full header value to send (`Bearer …`), or `None` to send none.
    fn authorization(
        &self,
        refused: Option<String>,
    ) -> BoxFuture<'_, Result<Option<String>, BoxError>>;
}

impl<F, Fut> AuthorizationSource for F
where
    F: Fn(Option<String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<String>, BoxError>> + Send + 'static,
{
    fn authorization(
        &self,
        refused: Option<String>,
    ) -> BoxFuture<'_, Result<Option<String>, BoxError>> {
        Box::pin(self(refused))
    }
}

/// What can go wrong with a legacy SSE connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LegacySseError {
    /// The SSE URL is not an absolute http(s) URL.
    #[error("invalid SSE URL `{url}`: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The [`AuthorizationSource`] failed.
    #[error("no Authorization value: {0}")]
    Authorization(#[source] BoxError),
    /// The request could not be sent or its answer not read.
    #[error("{method} {url}: {source}")]
    Http {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL requested.
        url: String,
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// The server answered with an unexpected status.
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the response body.
        body: String,
    },
    /// `GET` answered with something other than an event stream.
    #[error("GET {url} answered `{content_type}`, not text/event-stream: is it an SSE endpoint?")]
    NotEventStream {
        /// The SSE URL.
        url: String,
        /// The content type it answered with.
        content_type: String,
    },
    /// No `endpoint` event arrived in time.
    #[error("no `endpoint` event from {url} within {} ms", .after.as_millis())]
    EndpointTimeout {
        /// The SSE URL.
        url: String,
        /// How long we waited.
        after: Duration,
    },
    /// The stream ended or broke before the `endpoint` event.
    #[error("the event stream of {url} ended before its `endpoint` event: {reason}")]
    NoEndpoint {
        /// The SSE URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The `endpoint` event is not a URL, or points to another origin (where our
    /// credential would go).
    #[error("refusing the message endpoint `{endpoint}` of {url}: {reason}")]
    BadEndpoint {
        /// The SSE URL.
        url: String,
        /// The `endpoint` event's data.
        endpoint: String,
        /// Why it was refused.
        reason: String,
    },
    /// A message could not be serialised.
    #[error("cannot serialise a message: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The transport is closed.
    #[error("the legacy SSE transport is closed")]
    Closed,
}

/// Settings for a [`LegacySseTransport`]; [`Self::connect`] opens it.
pub struct LegacySseBuilder {
    url: String,
    http: Option<reqwest::Client>,
    authorization: Option<Arc<dyn AuthorizationSource>>,
    headers: HeaderMap,
    endpoint_timeout: Duration,
    post_timeout: Duration,
    max_event_bytes: usize,
    on_invalid: Option<InvalidMessageHandler>,
}

/// Told the data of a `message` event that is not a JSON-RPC message, and why.
pub type InvalidMessageHandler = Arc<dyn Fn(&str, &serde_json::Error) + Send + Sync>;

impl fmt::Debug for LegacySseBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySseBuilder")
            .field("url", &self.url)
            .field("authorization", &self.authorization.is_some())
            .field("endpoint_timeout", &self.endpoint_timeout)
            .field("post_timeout", &self.post_timeout)
            .field("on_invalid", &self.on_invalid.is_some())
            .finish_non_exhaustive()
    }
}

impl LegacySseBuilder {
    /// The reqwest client to use (default: a new one). It must have no overall request
    /// timeout, which would cut the event stream; POSTs get [`Self::post_timeout`].
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Asks `source` for the `Authorization` header of every request (the GET and each
    /// POST); it replaces any `Authorization` given with [`Self::header`].
    pub fn authorization(mut self, source: impl AuthorizationSource) -> Self {
        self.authorization = Some(Arc::new(source));
        self
    }

    /// Sends `Authorization: Bearer <token>` on every request.
    pub fn bearer(self, token: impl Into<String>) -> Self {
        let value = format!("Bearer {}", token.into());
        self.authorization(move |_: Option<String>| {
            let value = value.clone();
            async move { Ok(Some(value)) }
        })
    }

    /// Sends this header on every request.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// How long to wait for the response to the GET and its `endpoint` event.
    pub fn endpoint_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint_timeout = timeout;
        self
    }

    /// How long one POST may take.
    pub fn post_timeout(mut self, timeout: Duration) -> Self {
        self.post_timeout = timeout;
        self
    }

    /// The largest SSE event accepted; a larger one ends the stream.
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = max;
        self
    }

    /// Calls `handler` with a `message` event that is not a JSON-RPC message and ends the
    /// stream (which closes the transport), for a caller that does not trust the server:
    /// the request the event may have been meant to answer then fails at once instead of
    /// waiting for its timeout. Without a handler such an event is skipped with a warning.
    pub fn on_invalid_message(
        mut self,
        handler: impl Fn(&str, &serde_json::Error) + Send + Sync + 'static,
    ) -> Self {
        self.on_invalid = Some(Arc::new(handler));
        self
    }

    /// Opens the event stream and waits for the `endpoint` event, which must be on the
    /// SSE URL's origin. The transport is then ready for `client.serve(transport)`.
    pub async fn connect(self) -> Result<LegacySseTransport, LegacySseError> {
        let url = http_url(&self.url)?;
        let mut headers = self.headers;
        if self.authorization.is_some() {
            headers.remove(AUTHORIZATION);
        }
        let shared = Arc::new(Shared {
            http: self.http.unwrap_or_default(),
            authorization: self.authorization,
            headers,
            post_timeout: self.post_timeout,
        });
        let (events, endpoint) = tokio::time::timeout(
            self.endpoint_timeout,
            open(&shared, &url, self.max_event_bytes),
        )
        .await
        .map_err(|_| LegacySseError::EndpointTimeout {
            url: url.to_string(),
            after: self.endpoint_timeout,
        })??;
        tracing::debug!(%url, %endpoint, "legacy SSE session open");

        let (to_handler, incoming) = mpsc::channel(INCOMING_DEPTH);
        let reader = tokio::spawn(read_messages(
            events,
            to_handler,
            url.to_string(),
            self.on_invalid,
        ));
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(post_messages(
            shared,
            endpoint.clone(),
            queue,
            reader.abort_handle(),
        ));
        Ok(LegacySseTransport {
            endpoint,
            outgoing,
            incoming,
            reader,
            writer,
        })
    }
}

/// An rmcp client transport over a legacy HTTP+SSE connection (see the module docs).
///
/// Messages are POSTed one at a time, in the order they are sent, as the legacy protocol
/// has no other way to keep them ordered. Dropping the transport closes the stream.
pub struct LegacySseTransport {
    endpoint: Url,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl fmt::Debug for LegacySseTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySseTransport")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl LegacySseTransport {
    /// Settings for a connection to the SSE endpoint `url` (e.g. `http://host/sse`).
    pub fn builder(url: impl Into<String>) -> LegacySseBuilder {
        LegacySseBuilder {
            url: url.into(),
            http: None,
            authorization: None,
            headers: HeaderMap::new(),
            endpoint_timeout: DEFAULT_ENDPOINT_TIMEOUT,
            post_timeout: DEFAULT_POST_TIMEOUT,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            on_invalid: None,
        }
    }

    /// The URL messages are POSTed to, from the server's `endpoint` event.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }
}

impl Drop for LegacySseTransport {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = LegacySseError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        // Queued now, not when the future is first polled: rmcp polls sends from separate
        // tasks, and only the call order is the order the caller meant.
        let (done, result) = oneshot::channel();
        let queued = self.outgoing.send(Outgoing {
            message: item,
            done,
        });
        async move {
            queued.map_err(|_| LegacySseError::Closed)?;
            result.await.map_err(|_| LegacySseError::Closed)?
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        self.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        self.writer.abort();
        self.incoming.close();
        Ok(())
    }
}

mod wire;

#[cfg(test)]
mod tests;
