//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, used by
//! MCP 2025-11-25): a client whose `client_id` is an https URL is described by the JSON
//! document at that URL, so it needs no registration.
//!
//! The URL is named by whoever starts a sign-in, so it is fetched through
//! [`belay_fetch::SafeFetcher`] (no private addresses, size and time caps). A document is
//! trusted only if its `client_id` is the URL itself; it becomes a public [`Client`] whose
//! redirect URIs follow the same policy as dynamic registration. Good documents are cached
//! for `cache_ttl` seconds, or less when the server's `Cache-Control` says so; failures
//! are not cached, so a fixed document works at the next try.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use belay_fetch::{FetchError, FetchPolicy, SafeFetcher};
use serde::Deserialize;
use url::Url;

use crate::{
    OAuthError,
    clients::{self, AuthMethod, Client, check_redirect_uri},
};

/// Documents kept at most; past this, expired entries go first, then the oldest.
const CACHE_ENTRIES: usize = 1024;

/// `[auth_server.cimd]`: how client metadata documents are fetched and kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CimdSpec {
    /// Fetch documents from loopback, private and link-local addresses (tests, labs only:
    /// otherwise anyone starting a sign-in could make the server probe the local network).
    pub allow_private: bool,
    /// Accept `http://` client IDs as well as `https://` (tests only).
    pub allow_http: bool,
    /// Largest document read, in bytes (the draft suggests 5 KB).
    pub max_bytes: usize,
    /// Time limit for one fetch, in seconds.
    pub timeout: u64,
    /// How long a fetched document is trusted before it is fetched again, in seconds.
    pub cache_ttl: u64,
}

impl Default for CimdSpec {
    fn default() -> Self {
        Self {
            allow_private: false,
            allow_http: false,
            max_bytes: 5 * 1024,
            timeout: 5,
            cache_ttl: 3600,
        }
    }
}

/// Why a URL-shaped client ID cannot be used. Messages name the URL and what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CimdError {
    /// The client ID is not a URL a metadata document may live at.
    #[error("client_id `{url}` is not a valid client metadata document URL: {reason}")]
    Url {
        /// The client ID.
        url: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The document could not be fetched.
    #[error("cannot fetch the client metadata document: {0}")]
    Fetch(#[from] FetchError),
    /// The document was fetched but is not acceptable.
    #[error("client metadata document {url} is invalid: {reason}")]
    Document {
        /// The client ID.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<CimdError> for OAuthError {
    fn from(e: CimdError) -> Self {
        OAuthError::invalid_client(e.to_string())
    }
}

/// Whether `client_id` is URL-shaped, i.e. names a metadata document rather than a
/// registration. Checked after the registered clients, so a configured client may still
/// have a URL as its id.
pub(crate) fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The members of a metadata document we read; others (logo_uri, client_uri…) are ignored.
#[derive(Debug, Deserialize)]
struct Document {
    client_id: Option<String>,
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
    client_secret: Option<serde_json::Value>,
    client_secret_expires_at: Option<serde_json::Value>,
}

struct Cached {
    client: Client,
    expires_at: i64,
}

/// Fetches, checks and caches metadata documents.
pub(crate) struct Resolver {
    fetcher: SafeFetcher,
    ttl: i64,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("policy", self.fetcher.policy())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver enforcing `spec`.
    pub(crate) fn new(spec: &CimdSpec) -> Result<Self, crate::Error> {
        let fetcher = SafeFetcher::new(FetchPolicy {
            allow_private: spec.allow_private,
            allow_http: spec.allow_http,
            max_bytes: spec.max_bytes,
            timeout: Duration::from_secs(spec.timeout.max(1)),
            // The draft forbids following redirects: the document must be at the URL.
            max_redirects: 0,
        })
        .map_err(|e| crate::Error::Config(format!("cimd: {e}")))?;
        Ok(Self {
            fetcher,
            ttl: i64::try_from(spec.cache_ttl).unwrap_or(i64::MAX),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The client that the document at `client_id` describes, from the cache when fresh.
    /// `scopes` are the scopes the server knows; `now` is the server's clock.
    pub(crate) async fn resolve(
        &self,
        client_id: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<Client, CimdError> {
        if let Some(client) = self.cached(client_id, now) {
            return Ok(client);
        }
        let url = check_url(client_id, self.fetcher.policy().allow_http)?;
        let fetched = self.fetcher.get(&url).await?;
        let document: Document =
            serde_json::from_slice(&fetched.body).map_err(|e| CimdError::Document {
                url: client_id.to_owned(),
                reason: format!("not a JSON object of client metadata: {e}"),
            })?;
        let client = to_client(client_id, document, scopes)?;
        // The server's Cache-Control may shorten the configured lifetime, never extend it:
        // a document's owner can ask for changes to show sooner, not to be trusted longer.
        let ttl = fetched.max_age.map_or(self.ttl, |age| {
            i64::try_from(age.as_secs())
                .unwrap_or(i64::MAX)
                .min(self.ttl)
        });
        self.store(client.clone(), now, ttl);
        Ok(client)
    }

    fn cached(&self, client_id: &str, now: i64) -> Option<Client> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(client_id)
            .filter(|c| c.expires_at > now)
            .map(|c| c.client.clone())
    }

    fn store(&self, client: Client, now: i64, ttl: i64) {
        if ttl <= 0 {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| c.expires_at > now);
        }
        if cache.len() >= CACHE_ENTRIES
            && let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, c)| c.expires_at)
                .map(|(k, _)| k.clone())
        {
            cache.remove(&oldest);
        }
        cache.insert(
            client.client_id.clone(),
            Cached {
                client,
                expires_at: now.saturating_add(ttl),
            },
        );
    }
}

/// The URL rules of the draft (section 3): https, a path, no dot segments, no fragment,
/// no credentials. A query is discouraged, not forbidden, so it is accepted.
fn check_url(client_id: &str, allow_http: bool) -> Result<Url, CimdError> {
    let bad = |reason: &str| CimdError::Url {
        url: client_id.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(client_id).map_err(|e| bad(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(bad("it must use https")),
    }
    if url.fragment().is_some() {
        return Err(bad("it must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain a user name or password"));
    }
    // `Url` normalises `.` and `..` away, so look at the text as given.
    let raw_path = client_id
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("")
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    if raw_path.split('/').any(|s| s == "." || s == "..") {
        return Err(bad("its path must not contain `.` or `..` segments"));
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err(bad(
            "it must have a path naming the document, e.g. https://app.example/client.json",
        ));
    }
    Ok(url)
}

fn to_client(client_id: &str, doc: Document, scopes: &[String]) -> Result<Client, CimdError> {
    let bad = |reason: String| CimdError::Document {
        url: client_id.to_owned(),
        reason,
    };
    match doc.client_id.as_deref() {
        Some(id) if id == client_id => {}
        Some(id) => {
            return Err(bad(format!(
                "its client_id is `{id}`; it must be exactly the document's URL"
            )));
        }
        None => {
            return Err(bad(
                "it has no client_id; it must be the document's URL".into()
            ));
        }
    }
    if doc.client_secret.is_some() || doc.client_secret_expires_at.is_some() {
        return Err(bad(
            "it contains client_secret; a public document cannot carry a shared secret".into(),
        ));
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some("private_key_jwt") => {
            return Err(bad(
                "token_endpoint_auth_method private_key_jwt is not supported by this server; \
                 use none"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(bad(format!(
                "token_endpoint_auth_method `{other}` is not allowed; documents cannot use \
                 shared secrets, use none"
            )));
        }
    }
    if doc.redirect_uris.is_empty() {
        return Err(bad(
            "redirect_uris is required and must list at least one URI".into(),
        ));
    }
    for uri in &doc.redirect_uris {
        check_redirect_uri(uri).map_err(|m| bad(format!("redirect_uris: {m}")))?;
    }
    let grant_types = clients::grant_types_or_default(doc.grant_types);
    if let Some(why) = grant_types
        .iter()
        .find_map(|g| clients::self_service_refusal(g))
    {
        return Err(bad(why));
    }
    if !clients::only_code_response(doc.response_types.as_deref()) {
        return Err(bad("only the `code` response type is supported".into()));
    }
    let client_scopes = clients::scope_list(doc.scope.as_deref());
    if let Some(s) = client_scopes.iter().find(|s| !scopes.contains(s)) {
        return Err(bad(format!(
            "scope `{s}` is not offered by this server; offered: {}",
            scopes.join(" ")
        )));
    }
    Ok(Client {
        client_id: client_id.to_owned(),
        secret_hash: None,
        name: doc.client_name.filter(|n| !n.trim().is_empty()),
        redirect_uris: doc.redirect_uris,
        grant_types,
        scopes: client_scopes,
        auth_method: AuthMethod::None,
        token_exchange: None,
        self_registered: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        let ok = |u: &str| check_url(u, false).is_ok();
        assert!(ok("https://app.example/client.json"));
        assert!(ok("https://app.example:8443/oauth/client?v=1"));
        assert!(!ok("http://app.example/client.json"));
        assert!(check_url("http://127.0.0.1:1/c.json", true).is_ok());
        assert!(!ok("https://app.example/"));
        assert!(!ok("https://app.example"));
        assert!(!ok("https://app.example/a/../client.json"));
        assert!(!ok("https://app.example/./client.json"));
        assert!(!ok("https://app.example/client.json#x"));
        assert!(!ok("https://user:pw@app.example/client.json"));
    }

    fn doc(json: serde_json::Value) -> Document {
        serde_json::from_value(json).expect("test document parses")
    }

    #[test]
    fn documents_are_checked() {
        let id = "https://app.example/client.json";
        let scopes = vec!["mcp:tools".to_owned()];
        let base = serde_json::json!({
            "client_id": id, "client_name": "App", "redirect_uris": ["http://127.0.0.1/cb"],
        });
        let client = to_client(id, doc(base.clone()), &scopes).expect("valid document");
        assert_eq!(client.name.as_deref(), Some("App"));
        assert_eq!(client.auth_method, AuthMethod::None);
        assert_eq!(client.grant_types, vec!["authorization_code".to_owned()]);
        let with = |k: &str, v: serde_json::Value| {
            let mut d = base.clone();
            d[k] = v;
            to_client(id, doc(d), &scopes).map(|_| ())
        };
        assert!(with("client_id", "https://other.example/c.json".into()).is_err());
        assert!(with("token_endpoint_auth_method", "client_secret_basic".into()).is_err());
        assert!(with("token_endpoint_auth_method", "private_key_jwt".into()).is_err());
        assert!(with("client_secret", "s".into()).is_err());
        assert!(
            with(
                "redirect_uris",
                serde_json::json!(["http://evil.example/cb"])
            )
            .is_err()
        );
        assert!(with("redirect_uris", serde_json::json!([])).is_err());
        assert!(with("grant_types", serde_json::json!(["client_credentials"])).is_err());
        assert!(with("scope", "mcp:unknown".into()).is_err());
        assert!(with("scope", "mcp:tools".into()).is_ok());
    }
}
