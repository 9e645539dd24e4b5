//! The credential the API sees: none, an API key (header or query), a static bearer token,
//! or an OAuth client-credentials token cached until shortly before it expires. Secrets are
//! read once at start, and never printed: `Debug` shows only the kind.

use std::{fmt, sync::Arc, time::Duration};

use belay_auth::exchange::{ClientCredentials, client_credentials};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::{sync::Mutex, time::Instant};
use url::Url;

use crate::{ApiCredentialSpec, Error, KeyLocation, OpenApiSpec};

/// Tokens are renewed this long before they expire, so none expires in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

pub(crate) struct Credential(Kind);

enum Kind {
    None,
    HeaderKey(HeaderName, HeaderValue),
    QueryKey(String, String),
    Bearer(HeaderValue),
    OAuth(Arc<OAuth>),
}

struct OAuth {
    http: reqwest::Client,
    token_url: String,
    client: ClientCredentials,
    scope: Option<String>,
    resource: Option<String>,
    cached: Mutex<Option<(HeaderValue, Option<Instant>)>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &self.0 {
            Kind::None => "Credential::None",
            Kind::HeaderKey(..) => "Credential::ApiKeyHeader(***)",
            Kind::QueryKey(..) => "Credential::ApiKeyQuery(***)",
            Kind::Bearer(_) => "Credential::Bearer(***)",
            Kind::OAuth(_) => "Credential::ClientCredentials(***)",
        })
    }
}

/// `Bearer <token>` as a sensitive header value (hidden from HTTP debug output).
fn bearer(token: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::Credential("the token has characters a header cannot carry".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Credential {
    pub(crate) fn from_spec(spec: &ApiCredentialSpec, api: &OpenApiSpec) -> Result<Self, Error> {
        let kind = match spec {
            ApiCredentialSpec::None => Kind::None,
            ApiCredentialSpec::ApiKey {
                location,
                name,
                secret,
            } => {
                let key = secret.read()?;
                match location {
                    KeyLocation::Header => {
                        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            Error::Credential(format!("`{name}` is not a header name"))
                        })?;
                        let mut value = HeaderValue::from_str(&key).map_err(|_| {
                            Error::Credential(
                                "the API key has characters a header cannot carry".into(),
                            )
                        })?;
                        value.set_sensitive(true);
                        Kind::HeaderKey(name, value)
                    }
                    KeyLocation::Query => Kind::QueryKey(name.clone(), key),
                }
            }
            ApiCredentialSpec::Bearer { secret } => Kind::Bearer(bearer(&secret.read()?)?),
            ApiCredentialSpec::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
                resource,
            } => {
                let url = Url::parse(token_url)
                    .map_err(|e| Error::Credential(format!("token_url `{token_url}`: {e}")))?;
                let allowed = url.host_str().is_some_and(|h| api.host_allowed(h));
                belay_fetch::check_url(&url, allowed, allowed)
                    .map_err(|e| Error::Credential(format!("token_url: {e}")))?;
                let http = reqwest::Client::builder()
                    .dns_resolver(belay_fetch::guarded_resolver(allowed))
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(15))
                    .no_proxy()
                    .build()
                    .map_err(|e| Error::Client(e.to_string()))?;
                Kind::OAuth(Arc::new(OAuth {
                    http,
                    token_url: token_url.clone(),
                    client: ClientCredentials::new(client_id.clone(), client_secret.read()?),
                    scope: scope.clone(),
                    resource: resource.clone(),
                    cached: Mutex::new(None),
                }))
            }
        };
        Ok(Self(kind))
    }

    /// Puts the credential on a request.
    pub(crate) async fn apply(&self, url: &mut Url, headers: &mut HeaderMap) -> Result<(), String> {
        match &self.0 {
            Kind::None => {}
            Kind::HeaderKey(name, value) => {
                headers.insert(name.clone(), value.clone());
            }
            Kind::QueryKey(name, key) => {
                // The caller's arguments cannot set this parameter: it was dropped from the
                // tools' inputs, and any same-named pair is removed first.
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != name)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.set_query(None);
                url.query_pairs_mut()
                    .extend_pairs(kept)
                    .append_pair(name, key);
            }
            Kind::Bearer(value) => {
                headers.insert(http::header::AUTHORIZATION, value.clone());
            }
            Kind::OAuth(oauth) => {
                let value = oauth.token().await.map_err(|e| e.to_string())?;
                headers.insert(http::header::AUTHORIZATION, value);
            }
        }
        Ok(())
    }

    /// Forgets a cached token the API refused; whether a retry can send another.
    pub(crate) async fn refused(&self) -> bool {
        match &self.0 {
            Kind::OAuth(oauth) => {
                *oauth.cached.lock().await = None;
                true
            }
            _ => false,
        }
    }
}

impl OAuth {
    async fn token(&self) -> Result<HeaderValue, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((value, expiry)) = cached.as_ref()
            && expiry.is_none_or(|at| Instant::now() + RENEW_BEFORE < at)
        {
            return Ok(value.clone());
        }
        let response = client_credentials(
            &self.http,
            &self.token_url,
            &self.client,
            self.scope.as_deref(),
            self.resource.as_deref(),
        )
        .await
        .map_err(|e| Error::Credential(format!("token from {}: {e}", self.token_url)))?;
        let value = bearer(response.access_token.secret())?;
        let expiry = response
            .expires_in
            .map(|secs| Instant::now() + Duration::from_secs(secs));
        *cached = Some((value.clone(), expiry));
        Ok(value)
    }
}
