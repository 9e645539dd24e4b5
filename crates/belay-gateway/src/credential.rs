//! What an upstream sees in `Authorization`: only its own configured credential.
//!
//! The gateway's HTTP client under rmcp's transport ([`UpstreamHttpClient`]) ignores the
//! header rmcp hands it and asks [`Credential`] instead, so no code path exists along which
//! a downstream client's token could reach an upstream. Client-credentials tokens are
//! cached until shortly before they expire, and fetched again once after a 401.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use belay_auth::{
    AccessToken,
    exchange::{ClientCredentials, TokenResponse},
};
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
use tokio::{sync::Mutex, time::Instant};

use crate::{
    Error,
    spec::{CredentialSpec, SecretSpec},
};

/// Tokens are renewed this long before they expire, so a request never carries a token
/// that expires in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// Reads a secret from its environment variable or file.
pub fn read_secret(upstream: &str, secret: &SecretSpec) -> Result<String, Error> {
    let fail = |source_name: String, reason: String| Error::Secret {
        upstream: upstream.to_owned(),
        source_name,
        reason,
    };
    let value = match (&secret.env, &secret.file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|e| fail(format!("env {var}"), format!("{e}; set the variable")))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| fail(format!("file {}", path.display()), e.to_string()))?,
        (None, None) => {
            return Err(fail("(none)".into(), "give `env` or `file`".into()));
        }
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(fail("(configured)".into(), "the secret is empty".into()));
    }
    Ok(value)
}

/// An upstream's credential, ready to produce `Authorization` values.
#[derive(Clone)]
pub struct Credential(Arc<Kind>);

enum Kind {
    None,
    Static(AccessToken),
    ClientCredentials(Box<ClientCredentialsFlow>),
}

struct ClientCredentialsFlow {
    upstream: String,
    http: reqwest::Client,
    token_url: Option<String>,
    issuer: Option<String>,
    client: ClientCredentials,
    scope: Option<String>,
    resource: Option<String>,
    cached: Mutex<Option<(AccessToken, Option<Instant>)>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &*self.0 {
            Kind::None => "Credential::None",
            Kind::Static(_) => "Credential::Bearer(***)",
            Kind::ClientCredentials(_) => "Credential::ClientCredentials(***)",
        })
    }
}

impl Credential {
    /// Builds the credential of `upstream`, reading its secrets now so a missing one is
    /// reported at start, not on the first call.
    pub fn from_spec(upstream: &str, spec: &CredentialSpec) -> Result<Self, Error> {
        let kind = match spec {
            CredentialSpec::None => Kind::None,
            CredentialSpec::Bearer { secret } => {
                Kind::Static(AccessToken::new(read_secret(upstream, secret)?))
            }
            CredentialSpec::ClientCredentials {
                token_url,
                issuer,
                client_id,
                client_secret,
                scope,
                resource,
            } => Kind::ClientCredentials(Box::new(ClientCredentialsFlow {
                upstream: upstream.to_owned(),
                http: reqwest::Client::new(),
                token_url: token_url.clone(),
                issuer: issuer.clone(),
                client: ClientCredentials::new(
                    client_id.clone(),
                    read_secret(upstream, client_secret)?,
                ),
                scope: scope.clone(),
                resource: resource.clone(),
                cached: Mutex::new(None),
            })),
        };
        Ok(Self(Arc::new(kind)))
    }

    /// No credential.
    pub fn none() -> Self {
        Self(Arc::new(Kind::None))
    }

    /// The bearer token to send now, if any (fetching or renewing it if needed).
    pub async fn token(&self) -> Result<Option<String>, Error> {
        match &*self.0 {
            Kind::None => Ok(None),
            Kind::Static(token) => Ok(Some(token.secret().to_owned())),
            Kind::ClientCredentials(flow) => flow.token().await.map(Some),
        }
    }

    /// Forgets a cached token the upstream refused, so the next [`Self::token`] fetches
    /// a new one. Returns whether there was anything to renew.
    pub async fn refused(&self) -> bool {
        match &*self.0 {
            Kind::ClientCredentials(flow) => {
                *flow.cached.lock().await = None;
                true
            }
            _ => false,
        }
    }
}

impl ClientCredentialsFlow {
    async fn token(&self) -> Result<String, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expiry)) = cached.as_ref()
            && expiry.is_none_or(|at| Instant::now() + RENEW_BEFORE < at)
        {
            return Ok(token.secret().to_owned());
        }
        let response = self.fetch().await?;
        let expiry = response
            .expires_in
            .map(|secs| Instant::now() + Duration::from_secs(secs));
        let secret = response.access_token.secret().to_owned();
        *cached = Some((response.access_token, expiry));
        Ok(secret)
    }

    async fn fetch(&self) -> Result<TokenResponse, Error> {
        let fail = |reason: String| Error::Token {
            upstream: self.upstream.clone(),
            reason,
        };
        let endpoint = match (&self.token_url, &self.issuer) {
            (Some(url), _) => url.clone(),
            (None, Some(issuer)) => belay_auth::discovery::discover(&self.http, issuer)
                .await
                .map_err(|e| fail(e.to_string()))?
                .token_endpoint
                .ok_or_else(|| fail(format!("issuer {issuer} publishes no token_endpoint")))?,
            (None, None) => return Err(fail("no token_url or issuer configured".into())),
        };
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(self.scope.as_deref().map(|s| ("scope", s)));
        form.extend(self.resource.as_deref().map(|r| ("resource", r)));
        let response = self
            .client
            .authenticate(self.http.post(&endpoint))
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| fail(format!("POST {endpoint}: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| fail(format!("reading the answer of {endpoint}: {e}")))?;
        if !status.is_success() {
            let excerpt: String = body.chars().take(300).collect();
            return Err(fail(format!("{endpoint} answered {status}: {excerpt}")));
        }
        serde_json::from_str(&body)
            .map_err(|e| fail(format!("{endpoint} answered with no usable token: {e}")))
    }
}

type HttpError = StreamableHttpError<reqwest::Error>;

/// rmcp's default SSE event limit (16 MiB), which it does not export.
const MAX_SSE_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// reqwest under rmcp's Streamable HTTP transport, sending the upstream's own credential
/// and its configured headers, whatever rmcp passes as `auth_header`.
#[derive(Debug, Clone)]
pub struct UpstreamHttpClient {
    http: reqwest::Client,
    credential: Credential,
    headers: Arc<HashMap<HeaderName, HeaderValue>>,
}

impl UpstreamHttpClient {
    /// A client sending `credential` and `headers` on every request.
    pub fn new(credential: Credential, headers: HashMap<HeaderName, HeaderValue>) -> Self {
        Self {
            http: reqwest::Client::new(),
            credential,
            headers: Arc::new(headers),
        }
    }

    fn headers(
        &self,
        mut extra: HashMap<HeaderName, HeaderValue>,
    ) -> HashMap<HeaderName, HeaderValue> {
        for (name, value) in self.headers.iter() {
            extra.insert(name.clone(), value.clone());
        }
        // Belt and braces: whatever rmcp was handed, only our credential goes out.
        extra.remove(&http::header::AUTHORIZATION);
        extra
    }

    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let token = self.credential.token().await.map_err(auth_error)?;
        let result = call(token).await;
        let unauthorized = match &result {
            Err(StreamableHttpError::AuthRequired(_)) => true,
            Err(StreamableHttpError::HttpStatus(e)) => e.status == 401,
            _ => false,
        };
        // A cached token the upstream no longer accepts (rotated keys, revoked): fetch
        // a fresh one and retry once. Static bearers have nothing to renew.
        if unauthorized && self.credential.refused().await {
            let token = self.credential.token().await.map_err(auth_error)?;
            return call(token).await;
        }
        result
    }
}

fn auth_error(e: Error) -> HttpError {
    StreamableHttpError::UnexpectedServerResponse(e.to_string().into())
}

impl StreamableHttpClient for UpstreamHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        // What reqwest's own post_message does, so the credential logic is written once.
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
        let headers = self.headers(custom_headers);
        self.with_token(|token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                headers.clone(),
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
        let token = self.credential.token().await.ok().flatten();
        self.http
            .delete_session(uri, session_id, token, self.headers(custom_headers))
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
        let headers = self.headers(custom_headers);
        self.with_token(|token| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}
