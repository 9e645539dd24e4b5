//! What an upstream sees in `Authorization`: only its own configured credential.
//!
//! The gateway's HTTP client under rmcp's transport ([`UpstreamHttpClient`]) ignores the
//! header rmcp hands it and asks [`Credential`] instead, so no code path exists along which
//! a downstream client's token could reach an upstream: even a token exchanged on behalf of
//! a caller is a new token, minted for the upstream's audience. Grant tokens are cached until
//! shortly before they expire, and fetched again once after a 401.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use belay_auth::{
    AccessToken,
    exchange::{
        ClientCredentials, ExchangeRequest, TokenResponse, client_credentials, exchange_token,
    },
};
use belay_client::{Authorize, Authorized, authorized::HttpError};
use http::{HeaderName, HeaderValue};
use rmcp::{model::ClientJsonRpcMessage, transport::streamable_http_client::StreamableHttpError};
use tokio::{sync::Mutex, time::Instant};

use crate::{
    Error,
    spec::{CredentialSpec, OAuthClientSpec, SecretSpec},
};

/// Tokens are renewed this long before they expire, so a request never carries a token
/// that expires in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// Reads a secret from its environment variable or file.
pub(crate) fn read_secret(upstream: &str, secret: &SecretSpec) -> Result<String, Error> {
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
pub(crate) struct Credential(Arc<Kind>);

enum Kind {
    None,
    Static(AccessToken),
    /// The gateway's own token (client credentials).
    Service(Grant),
    /// A token exchanged for one signed-in caller (RFC 8693).
    OnBehalfOf {
        grant: Grant,
        /// The caller's latest token, the subject of the next exchange.
        subject: std::sync::Mutex<AccessToken>,
    },
}

/// Tokens from one authorization server for one upstream, cached until shortly before
/// they expire.
struct Grant {
    client: Arc<OAuthClient>,
    cached: Mutex<Option<(AccessToken, Option<Instant>)>>,
}

/// The gateway as an OAuth client, shared by the service credential of an upstream and
/// every per-caller credential derived from it.
struct OAuthClient {
    upstream: String,
    http: reqwest::Client,
    token_url: Option<String>,
    issuer: Option<String>,
    /// The token endpoint once known (configured or discovered), so discovery runs once.
    endpoint: tokio::sync::OnceCell<String>,
    client: ClientCredentials,
    scope: Option<String>,
    resource: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &*self.0 {
            Kind::None => "Credential::None",
            Kind::Static(_) => "Credential::Bearer(***)",
            Kind::Service(_) => "Credential::ClientCredentials(***)",
            Kind::OnBehalfOf { .. } => "Credential::OnBehalfOf(***)",
        })
    }
}

impl Credential {
    /// Builds the credential of `upstream`, reading its secrets now so a missing one is
    /// reported at start, not on the first call. `default_resource` is the upstream's URL,
    /// the audience a token exchange asks for unless `resource` is configured.
    pub(crate) fn from_spec(
        upstream: &str,
        spec: &CredentialSpec,
        default_resource: Option<&str>,
    ) -> Result<Self, Error> {
        let kind =
            match spec {
                CredentialSpec::None => Kind::None,
                CredentialSpec::Bearer { secret } => {
                    Kind::Static(AccessToken::new(read_secret(upstream, secret)?))
                }
                CredentialSpec::ClientCredentials(client) => {
                    Kind::Service(Grant::new(OAuthClient::new(upstream, client, None)?))
                }
                CredentialSpec::TokenExchange(client) => Kind::Service(Grant::new(
                    OAuthClient::new(upstream, client, default_resource)?,
                )),
            };
        Ok(Self(Arc::new(kind)))
    }

    /// A credential acting for the caller whose token is `subject`: tokens exchanged at
    /// the same authorization server, with the same client, for the same resource.
    /// `None` for credentials that are not OAuth grants.
    pub(crate) fn on_behalf_of(&self, subject: AccessToken) -> Option<Self> {
        let client = match &*self.0 {
            Kind::Service(grant) | Kind::OnBehalfOf { grant, .. } => grant.client.clone(),
            Kind::None | Kind::Static(_) => return None,
        };
        Some(Self(Arc::new(Kind::OnBehalfOf {
            grant: Grant {
                client,
                cached: Mutex::new(None),
            },
            subject: std::sync::Mutex::new(subject),
        })))
    }

    /// Keeps the caller's newest token as the subject of the next exchange (a client
    /// refreshes its token; the exchanged one must not outlive the caller's sign-in).
    pub(crate) fn update_subject(&self, token: &AccessToken) {
        if let Kind::OnBehalfOf { subject, .. } = &*self.0 {
            let mut slot = subject.lock().unwrap_or_else(|e| e.into_inner());
            if slot.secret() != token.secret() {
                *slot = token.clone();
            }
        }
    }

    /// The bearer token to send now, if any (fetching or renewing it if needed).
    pub(crate) async fn token(&self) -> Result<Option<String>, Error> {
        match &*self.0 {
            Kind::None => Ok(None),
            Kind::Static(token) => Ok(Some(token.secret().to_owned())),
            Kind::Service(grant) => grant.token(None).await.map(Some),
            Kind::OnBehalfOf { grant, subject } => {
                let subject = subject.lock().unwrap_or_else(|e| e.into_inner()).clone();
                grant.token(Some(&subject)).await.map(Some)
            }
        }
    }

    /// Forgets a cached token the upstream refused, so the next [`Self::token`] fetches
    /// a new one. Returns whether there was anything to renew.
    pub(crate) async fn refused(&self) -> bool {
        match &*self.0 {
            Kind::Service(grant) | Kind::OnBehalfOf { grant, .. } => {
                *grant.cached.lock().await = None;
                true
            }
            Kind::None | Kind::Static(_) => false,
        }
    }
}

impl Grant {
    fn new(client: OAuthClient) -> Self {
        Self {
            client: Arc::new(client),
            cached: Mutex::new(None),
        }
    }

    /// The cached token, or a new one: client credentials, or an exchange of `subject`.
    async fn token(&self, subject: Option<&AccessToken>) -> Result<String, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expiry)) = cached.as_ref()
            && expiry.is_none_or(|at| Instant::now() + RENEW_BEFORE < at)
        {
            return Ok(token.secret().to_owned());
        }
        let response = self.client.fetch(subject).await?;
        let expiry = response
            .expires_in
            .map(|secs| Instant::now() + Duration::from_secs(secs));
        let secret = response.access_token.secret().to_owned();
        *cached = Some((response.access_token, expiry));
        Ok(secret)
    }
}

impl OAuthClient {
    fn new(
        upstream: &str,
        spec: &OAuthClientSpec,
        default_resource: Option<&str>,
    ) -> Result<Self, Error> {
        Ok(Self {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            token_url: spec.token_url.clone(),
            issuer: spec.issuer.clone(),
            endpoint: tokio::sync::OnceCell::new(),
            client: ClientCredentials::new(
                spec.client_id.clone(),
                read_secret(upstream, &spec.client_secret)?,
            ),
            scope: spec.scope.clone(),
            resource: spec
                .resource
                .clone()
                .or(default_resource.map(str::to_owned)),
        })
    }

    fn fail(&self, reason: String) -> Error {
        Error::Token {
            upstream: self.upstream.clone(),
            reason,
        }
    }

    async fn endpoint(&self) -> Result<&str, Error> {
        self.endpoint
            .get_or_try_init(|| async {
                match (&self.token_url, &self.issuer) {
                    (Some(url), _) => Ok(url.clone()),
                    (None, Some(issuer)) => belay_auth::discovery::discover(&self.http, issuer)
                        .await
                        .map_err(|e| self.fail(e.to_string()))?
                        .token_endpoint
                        .ok_or_else(|| {
                            self.fail(format!("issuer {issuer} publishes no token_endpoint"))
                        }),
                    (None, None) => Err(self.fail("no token_url or issuer configured".into())),
                }
            })
            .await
            .map(String::as_str)
    }

    /// Client credentials without `subject`; an RFC 8693 exchange of it with one.
    async fn fetch(&self, subject: Option<&AccessToken>) -> Result<TokenResponse, Error> {
        let endpoint = self.endpoint().await?;
        let scope = self.scope.as_deref();
        let resource = self.resource.as_deref();
        let response = match subject {
            None => client_credentials(&self.http, endpoint, &self.client, scope, resource).await,
            Some(subject) => {
                let request = ExchangeRequest {
                    subject_token: Some(subject),
                    resource,
                    audience: None,
                    scope,
                };
                exchange_token(&self.http, endpoint, &self.client, &request).await
            }
        };
        response.map_err(|e| self.fail(format!("{endpoint}: {e}")))
    }
}

/// The gateway's HTTP client for one upstream: rmcp's Streamable HTTP requests sent with the
/// upstream's own credential and configured headers, whatever rmcp passes as `auth_header`.
pub(crate) type UpstreamHttpClient = Authorized<UpstreamAuth>;

/// Builds the HTTP client of an upstream that sends `credential` and `headers`.
pub(crate) fn upstream_http_client(
    credential: Credential,
    headers: HashMap<HeaderName, HeaderValue>,
) -> UpstreamHttpClient {
    Authorized::new(
        reqwest::Client::new(),
        UpstreamAuth {
            credential,
            headers: Arc::new(headers),
        },
    )
}

/// How the gateway authorizes requests to an upstream: its credential, renewed once after
/// a 401, plus its configured headers and the request's trace context.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamAuth {
    credential: Credential,
    headers: Arc<HashMap<HeaderName, HeaderValue>>,
}

fn auth_error(e: Error) -> HttpError {
    StreamableHttpError::UnexpectedServerResponse(e.to_string().into())
}

impl Authorize for UpstreamAuth {
    async fn with_auth<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        T: Send,
        F: Fn(Option<String>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, HttpError>> + Send,
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

    async fn current_token(&self) -> Option<String> {
        self.credential.token().await.ok().flatten()
    }

    fn headers(
        &self,
        mut custom: HashMap<HeaderName, HeaderValue>,
        message: Option<&ClientJsonRpcMessage>,
    ) -> HashMap<HeaderName, HeaderValue> {
        for (name, value) in self.headers.iter() {
            custom.insert(name.clone(), value.clone());
        }
        if let Some(message) = message {
            crate::trace_context::copy_to_headers(message, &mut custom);
        }
        custom
    }
}
