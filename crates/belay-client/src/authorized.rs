//! reqwest under rmcp's Streamable HTTP transport, with the `Authorization` header decided
//! by an [`Authorize`] policy rather than by rmcp.
//!
//! rmcp passes one fixed `auth_header` to its HTTP client; Belay's clients need more: a
//! person's token refreshed or signed in again on a 401 ([`crate::SignIn`]), or a gateway's
//! own credential for an upstream, never the token rmcp was handed. The five request kinds
//! of [`StreamableHttpClient`] are routed through the policy here, once, for all of them.

use std::{collections::HashMap, sync::Arc};

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
}

impl<A: Authorize> Authorized<A> {
    /// Wraps `http` (any reqwest client; its redirect and timeout settings are kept).
    pub fn new(http: reqwest::Client, auth: A) -> Self {
        Self { http, auth }
    }

    /// The authorization policy.
    pub fn auth(&self) -> &A {
        &self.auth
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
        self.auth
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
            .await
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
        self.http
            .delete_session(uri, session_id, token, (*headers).clone())
            .await
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
        self.auth
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
            .await
    }
}
