//! The HTTP client under rmcp's Streamable HTTP transport, with sign-in built in.
//!
//! Requests go out with the current token (none before the first sign-in: the server's 401
//! challenge drives discovery, as the spec intends). A 401 on a token we sent is answered
//! with a refresh and one retry, then a full sign-in; a 403 `insufficient_scope` with a
//! step-up, up to the limit in [`SignInOptions`](crate::SignInOptions).

use std::{collections::HashMap, sync::Arc};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::{
        auth::AuthError,
        streamable_http_client::{
            SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
            StreamableHttpResponseLimits,
        },
    },
};
use sse_stream::Sse;

use crate::{error::Error, signin::SignIn};

type HttpError = StreamableHttpError<reqwest::Error>;

/// A reqwest client that signs in to the server when asked to and keeps the token fresh.
#[derive(Debug, Clone)]
pub struct SignedInClient {
    http: reqwest::Client,
    sign_in: Arc<SignIn>,
}

impl SignedInClient {
    /// Wraps `http` (any reqwest client; its redirect and timeout settings are kept).
    pub fn new(http: reqwest::Client, sign_in: Arc<SignIn>) -> Self {
        Self { http, sign_in }
    }

    /// The sign-in state this client uses.
    pub fn sign_in(&self) -> &Arc<SignIn> {
        &self.sign_in
    }

    async fn with_auth<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let mut token = self.sign_in.access_token().await.map_err(into_http)?;
        let mut refreshed = false;
        let mut signed_in = false;
        loop {
            let challenge = match call(token.clone()).await {
                Ok(value) => {
                    self.sign_in.request_succeeded();
                    return Ok(value);
                }
                Err(StreamableHttpError::AuthRequired(e)) => Some(e.www_authenticate_header),
                Err(StreamableHttpError::HttpStatus(e)) if e.status == 401 => None,
                Err(StreamableHttpError::InsufficientScope(e)) => {
                    let rejected = token.as_deref();
                    let fresh = self
                        .sign_in
                        .step_up(&e.www_authenticate_header, rejected)
                        .await
                        .map_err(into_http)?;
                    token = Some(fresh);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(rejected) = token.as_deref()
                && !refreshed
            {
                refreshed = true;
                if let Some(fresh) = self.sign_in.refresh(rejected).await.map_err(into_http)? {
                    token = Some(fresh);
                    continue;
                }
            }
            if signed_in {
                // A brand-new token refused again: signing in once more would loop.
                return Err(into_http(Error::AuthorizationDenied(
                    "the server refused the token it just had issued; check the server's \
                     authorization settings (audience, issuer)"
                        .into(),
                )));
            }
            signed_in = true;
            let fresh = self
                .sign_in
                .sign_in(challenge.as_deref(), token.as_deref())
                .await
                .map_err(into_http)?;
            token = Some(fresh);
        }
    }
}

fn into_http(error: Error) -> HttpError {
    match error {
        Error::OAuth(e) => StreamableHttpError::Auth(e),
        other => StreamableHttpError::Auth(AuthError::AuthorizationFailed(other.to_string())),
    }
}

impl StreamableHttpClient for SignedInClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.with_auth(|token| {
            self.http.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
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
        self.with_auth(|token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
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
        // Ending a session never starts a sign-in.
        let token = self.sign_in.access_token().await.ok().flatten();
        self.http
            .delete_session(uri, session_id, token, custom_headers)
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
        self.with_auth(|token| {
            self.http.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
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
        self.with_auth(|token| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}
