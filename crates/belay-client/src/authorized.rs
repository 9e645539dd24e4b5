//! reqwest under rmcp's Streamable HTTP transport, with the `Authorization` header decided
//! by an [`Authorize`] policy rather than by rmcp.
//!
//! rmcp passes one fixed `auth_header` to its HTTP client; Belay's clients need more: a
//! person's token refreshed or signed in again on a 401 ([`crate::SignIn`]), or a gateway's
//! own credential for an upstream, never the token rmcp was handed. The five request kinds
//! of [`StreamableHttpClient`] are routed through the policy here, once, for all of them.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;
use tokio::sync::watch;

/// What an [`Authorized`] client's requests fail with.
pub type HttpError = StreamableHttpError<reqwest::Error>;

/// rmcp's default SSE event limit (16 MiB), which it does not export.
const MAX_SSE_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// How an [`Authorized`] client authorizes its requests.
pub trait Authorize: Clone + Send + Sync + 'static {
    /// Runs `call` with the token to send (`None`: no `Authorization` header) and deals
    /// with a refusal: renew the token and call again, sign in, or give up.
    fn with_auth<T, F, Fut>(&self, call: F) -> impl Future<Output = Result<T, HttpError>> + Send
    where
        T: Send,
        F: Fn(Option<String>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, HttpError>> + Send;

    /// The token to end a session with, if one is at hand: ending a session never
    /// starts a sign-in or a token request.
    fn current_token(&self) -> impl Future<Output = Option<String>> + Send;

    /// The headers to send besides `Authorization`, from those rmcp passes (`custom`)
    /// and, for a POST, the message. By default, rmcp's.
    fn headers(
        &self,
        custom: HashMap<HeaderName, HeaderValue>,
        _message: Option<&ClientJsonRpcMessage>,
    ) -> HashMap<HeaderName, HeaderValue> {
        custom
    }
}

/// A reqwest client whose requests are authorized by `A`, whatever rmcp passes as its
/// `auth_header`.
#[derive(Debug, Clone)]
pub struct Authorized<A> {
    http: reqwest::Client,
    auth: A,
    standalone: StandaloneStream,
}

impl<A: Authorize> Authorized<A> {
    /// Wraps `http` (any reqwest client; its redirect and timeout settings are kept).
    pub fn new(http: reqwest::Client, auth: A) -> Self {
        Self {
            http,
            auth,
            standalone: StandaloneStream::default(),
        }
    }

    /// The authorization policy.
    pub fn auth(&self) -> &A {
        &self.auth
    }

    /// Whether the session's standalone `GET` stream is open yet (shared by clones).
    pub fn standalone_stream(&self) -> StandaloneStream {
        self.standalone.clone()
    }
}

/// Where the first standalone `GET` stream of a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    /// No session yet, or one without a session id (stateless, 2026-07-28): no stream.
    NotAsked,
    /// The server gave the session an id: rmcp is about to open the stream.
    Expected,
    /// The stream's `GET` is on its way.
    Opening,
    /// The server answered it (stream open, or refused).
    Settled,
}

/// The first standalone `GET` stream of a session: opening, or answered (open or refused).
///
/// rmcp opens this stream in the background once the handshake is done and lets requests
/// go out at once. A server can send a message unrelated to any request (an elicitation
/// made outside a request's context, a `list_changed`) only on this stream, and some
/// servers (the TypeScript SDK's) drop such a message while no stream is open. Waiting
/// for [`StandaloneStream::settled`] after connecting closes that race.
#[derive(Debug, Clone)]
pub struct StandaloneStream(Arc<watch::Sender<StreamState>>);

impl Default for StandaloneStream {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(StreamState::NotAsked)))
    }
}

impl StandaloneStream {
    /// The handshake gave the session an id, so rmcp will open the stream.
    fn expected(&self) {
        self.advance(StreamState::NotAsked, StreamState::Expected);
    }

    fn opening(&self) {
        self.advance(StreamState::NotAsked, StreamState::Opening);
        self.advance(StreamState::Expected, StreamState::Opening);
    }

    fn advance(&self, from: StreamState, to: StreamState) {
        self.0.send_if_modified(|state| {
            let moved = *state == from;
            if moved {
                *state = to;
            }
            moved
        });
    }

    fn settle(&self) {
        self.0.send_replace(StreamState::Settled);
    }

    /// Waits, at most `limit`, until the stream the session will open is answered.
    /// Returns at once when there is none (a stateless server, a 2026-07-28 session).
    pub async fn settled(&self, limit: Duration) {
        let mut state = self.0.subscribe();
        let answered =
            state.wait_for(|s| matches!(s, StreamState::NotAsked | StreamState::Settled));
        let _ = tokio::time::timeout(limit, answered).await;
    }
}

/// `headers` without any `Authorization` rmcp or a caller put there: only the policy's
/// token goes out.
fn without_authorization(
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> Arc<HashMap<HeaderName, HeaderValue>> {
    headers.remove(&http::header::AUTHORIZATION);
    Arc::new(headers)
}

impl<A: Authorize> StreamableHttpClient for Authorized<A> {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        // What reqwest's own post_message does, so the authorization is written once.
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            None,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let headers = without_authorization(self.auth.headers(custom_headers, Some(&message)));
        let response = self
            .auth
            .with_auth(|token| {
                self.http.post_message_with_response_limits(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    token,
                    (*headers).clone(),
                    limits,
                )
            })
            .await?;
        // By method: a wrapper may send it as a custom request (the gateway adds what
        // rmcp's type cannot carry).
        let initialize = matches!(
            &message,
            ClientJsonRpcMessage::Request(r) if r.request.method() == "initialize"
        );
        let with_session = matches!(
            &response,
            StreamableHttpPostResponse::Json(_, Some(_))
                | StreamableHttpPostResponse::Sse(_, Some(_))
        );
        if initialize && with_session {
            self.standalone.expected();
        }
        Ok(response)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let token = self.auth.current_token().await;
        let headers = without_authorization(self.auth.headers(custom_headers, None));
        match self
            .http
            .delete_session(uri, session_id, token, (*headers).clone())
            .await
        {
            // A session whose credential no longer opens it (revoked, or the person removed)
            // or that the server already forgot is ended as far as this client can end it:
            // the server lets it expire. Nothing failed that anyone could act on.
            Err(StreamableHttpError::Client(e))
                if e.status()
                    .is_some_and(|s| matches!(s.as_u16(), 401 | 403 | 404)) =>
            {
                tracing::debug!(status = ?e.status(), "the session cannot be ended with this credential; left to expire");
                Ok(())
            }
            other => other,
        }
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            None,
            custom_headers,
            MAX_SSE_EVENT_SIZE,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let headers = without_authorization(self.auth.headers(custom_headers, None));
        if last_event_id.is_none() {
            self.standalone.opening();
        }
        let stream = self
            .auth
            .with_auth(|token| {
                self.http.get_stream_with_max_sse_event_size(
                    uri.clone(),
                    session_id.clone(),
                    last_event_id.clone(),
                    token,
                    (*headers).clone(),
                    max_sse_event_size,
                )
            })
            .await;
        self.standalone.settle();
        stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_to_wait_for_when_no_stream_is_opened() {
        let stream = StandaloneStream::default();
        tokio::time::timeout(
            Duration::from_millis(500),
            stream.settled(Duration::from_secs(60)),
        )
        .await
        .expect("returns at once");
    }

    /// Someone waiting on `stream`, checked a second later to be still waiting.
    async fn still_waiting(stream: &StandaloneStream) -> tokio::task::JoinHandle<()> {
        let waiter = tokio::spawn({
            let stream = stream.clone();
            async move { stream.settled(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !waiter.is_finished(),
            "returned before the stream was answered"
        );
        waiter
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_opening_stream_to_be_answered() {
        let stream = StandaloneStream::default();
        stream.opening();
        let waiter = still_waiting(&stream).await;
        stream.settle();
        waiter.await.expect("waiter");
        // A reconnect later does not make anyone wait again.
        stream.opening();
        stream.settled(Duration::from_secs(60)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn waits_from_the_handshake_until_the_stream_is_asked_for_and_answered() {
        let stream = StandaloneStream::default();
        stream.expected();
        let waiter = still_waiting(&stream).await;
        stream.opening();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !waiter.is_finished(),
            "returned while the stream was opening"
        );
        stream.settle();
        waiter.await.expect("waiter");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_limit() {
        let stream = StandaloneStream::default();
        stream.opening();
        let started = tokio::time::Instant::now();
        stream.settled(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed().as_secs(), 5);
    }
}
