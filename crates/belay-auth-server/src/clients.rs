//! OAuth clients: lookup, authentication at the token endpoint and the redirect-URI
//! policy shared by registration and `/authorize`.
//!
//! Redirect policy (RFC 8252, OAuth 2.1): `https` URLs match exactly; loopback `http`
//! (`127.0.0.1`, `[::1]`, `localhost`) matches with any port, since native apps get a
//! fresh port each run; private-use schemes are allowed only in reverse-domain form
//! (containing a dot, e.g. `com.example.app:/cb`). Plain `http` elsewhere is refused.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use belay_store::rusqlite::{self, OptionalExtension, params};
use url::Url;

use crate::{
    AuthServer, Error, OAuthError, secret,
    spec::{ClientSpec, ExchangeSpec},
    token::TOKEN_EXCHANGE,
};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the secret.
    ClientSecretBasic,
    /// `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: no secret.
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its id.
    pub client_id: String,
    /// SHA-256 of its secret (confidential clients).
    pub(crate) secret_hash: Option<String>,
    /// Name for the consent page.
    pub name: Option<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grants it may use.
    pub grant_types: Vec<String>,
    /// Scopes it may request; empty means any known scope.
    pub scopes: Vec<String>,
    /// Token endpoint authentication.
    pub auth_method: AuthMethod,
    /// What it may trade by token exchange; `None` for every client an administrator did
    /// not set up for it.
    pub token_exchange: Option<ExchangeSpec>,
    /// Whether it registered itself (RFC 7591, or a metadata document) rather than being
    /// made by an administrator: such a client never uses a service grant, whatever its
    /// stored grant types say (clients registered before that rule kept theirs).
    pub self_registered: bool,
}

impl Client {
    /// Whether it holds a secret.
    pub fn is_confidential(&self) -> bool {
        self.auth_method != AuthMethod::None
    }

    /// Whether it may use `grant`.
    pub fn allows(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// The registered URI `requested` matches, loopback ports aside (RFC 8252 §7.3).
    pub fn redirect_matches(&self, requested: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_equal(registered, requested))
    }
}

fn is_loopback_http(url: &Url) -> bool {
    url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
}

fn redirect_equal(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut a), Ok(mut b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    if !is_loopback_http(&a) || !is_loopback_http(&b) {
        return false;
    }
    // Only the port may differ; `set_port` cannot fail on http URLs.
    let _ = a.set_port(None);
    let _ = b.set_port(None);
    a == b
}

/// The grants a client that registered itself (RFC 7591, or a metadata document) may
/// have: those where a person signs in. Service grants (client credentials, token
/// exchange) mint tokens without anyone's consent, so only an administrator creates
/// clients holding them (`belay auth client add`, or `[[auth_server.clients]]`).
pub(crate) const SELF_SERVICE_GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    crate::device::DEVICE_CODE,
];

/// Why a self-registered client may not have `grant`, if it may not.
pub(crate) fn self_service_refusal(grant: &str) -> Option<String> {
    if SELF_SERVICE_GRANTS.contains(&grant) {
        return None;
    }
    Some(if crate::token::GRANT_TYPES.contains(&grant) {
        format!(
            "grant type `{grant}` is for service clients, which an administrator creates \
             (`belay auth client add`, or [[auth_server.clients]] in belay.toml); a client \
             that registers itself may use {}",
            SELF_SERVICE_GRANTS.join(", ")
        )
    } else {
        format!(
            "grant type `{grant}` is not supported; use {}",
            SELF_SERVICE_GRANTS.join(", ")
        )
    })
}

/// The grant types a registration asks for: `authorization_code` when it names none.
pub(crate) fn grant_types_or_default(grant_types: Option<Vec<String>>) -> Vec<String> {
    grant_types.unwrap_or_else(|| vec!["authorization_code".into()])
}

/// Whether a registration's `response_types` (absent, or only `code`) are supported.
pub(crate) fn only_code_response(response_types: Option<&[String]>) -> bool {
    response_types.is_none_or(|types| types.iter().all(|t| t == "code"))
}

/// The scopes in a registration's space-separated `scope` member (none when absent).
pub(crate) fn scope_list(scope: Option<&str>) -> Vec<String> {
    scope
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Checks one redirect URI against the registration policy; `Err` says what is wrong.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("`{uri}` must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_http(&url) => Ok(()),
        "http" => Err(format!(
            "`{uri}` uses http on a non-loopback host; use https, or http://127.0.0.1, \
             http://[::1] or http://localhost"
        )),
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "`{uri}`: scheme `{scheme}` is not allowed; private-use schemes must be \
             reverse domain names such as com.example.app"
        )),
    }
}

pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Client> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    };
    let scopes: Option<String> = r.get(5)?;
    let method: String = r.get(6)?;
    let exchange: Option<String> = r.get(7)?;
    Ok(Client {
        client_id: r.get(0)?,
        secret_hash: r.get(1)?,
        name: r.get(2)?,
        redirect_uris: list(3)?,
        grant_types: list(4)?,
        scopes: scopes
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        auth_method: AuthMethod::parse(&method).unwrap_or(AuthMethod::ClientSecretBasic),
        // Unreadable rights grant nothing.
        token_exchange: exchange.and_then(|text| serde_json::from_str(&text).ok()),
        self_registered: r.get::<_, String>(8)? == "dcr",
    })
}

/// The columns [`from_row`] reads, in order.
pub(crate) const CLIENT_COLUMNS: &str = "client_id, secret_hash, name, redirect_uris, grant_types, \
                                         scopes, auth_method, token_exchange, source";

/// Stores `client` (insert or replace), with `secret` hashed.
pub(crate) fn store(
    conn: &rusqlite::Connection,
    client: &Client,
    source: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO as_clients (client_id, secret_hash, name, redirect_uris, grant_types,
                                 scopes, auth_method, source, created_at, token_exchange)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,
             name = excluded.name, redirect_uris = excluded.redirect_uris,
             grant_types = excluded.grant_types, scopes = excluded.scopes,
             auth_method = excluded.auth_method, source = excluded.source,
             token_exchange = excluded.token_exchange",
        params![
            client.client_id,
            client.secret_hash,
            client.name,
            serde_json::Value::from(client.redirect_uris.clone()).to_string(),
            serde_json::Value::from(client.grant_types.clone()).to_string(),
            (!client.scopes.is_empty()).then(|| client.scopes.join(" ")),
            client.auth_method.as_str(),
            source,
            now,
            client
                .token_exchange
                .as_ref()
                .and_then(|rights| serde_json::to_string(rights).ok()),
        ],
    )?;
    Ok(())
}

/// Turns a `[[auth_server.clients]]` entry into a client, checking it.
pub(crate) fn from_spec(spec: &ClientSpec) -> Result<Client, Error> {
    let bad = |m: String| Error::Config(format!("client `{}`: {m}", spec.client_id));
    if spec.client_id.is_empty() {
        return Err(Error::Config(
            "a pre-registered client has no client_id".into(),
        ));
    }
    for uri in &spec.redirect_uris {
        check_redirect_uri(uri).map_err(bad)?;
    }
    let secret = spec.secret()?;
    let mut grant_types = if spec.grant_types.is_empty() {
        vec!["authorization_code".into(), "refresh_token".into()]
    } else {
        spec.grant_types.clone()
    };
    if let Some(rights) = &spec.token_exchange {
        rights.check().map_err(bad)?;
        if !grant_types.iter().any(|g| g == TOKEN_EXCHANGE) {
            grant_types.push(TOKEN_EXCHANGE.into());
        }
    }
    let client = Client {
        client_id: spec.client_id.clone(),
        secret_hash: secret.as_deref().map(secret::hash),
        name: spec.name.clone(),
        redirect_uris: spec.redirect_uris.clone(),
        grant_types,
        scopes: spec.scopes.clone(),
        auth_method: if secret.is_some() {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        },
        token_exchange: spec.token_exchange.clone(),
        self_registered: false,
    };
    check_grants(&client).map_err(bad)?;
    Ok(client)
}

/// The rules every client an administrator sets up must follow: known grants, a secret
/// for service grants, audiences for token exchange.
pub(crate) fn check_grants(client: &Client) -> Result<(), String> {
    for grant in &client.grant_types {
        if !crate::token::GRANT_TYPES.contains(&grant.as_str()) {
            return Err(format!(
                "grant type `{grant}` is not supported; use one of {}",
                crate::token::GRANT_TYPES.join(", ")
            ));
        }
        let service = !SELF_SERVICE_GRANTS.contains(&grant.as_str());
        if service && !client.is_confidential() {
            return Err(format!(
                "grant type `{grant}` needs a confidential client: give it a secret"
            ));
        }
    }
    if client.allows(TOKEN_EXCHANGE) && client.token_exchange.is_none() {
        return Err(
            "the token-exchange grant needs the audiences it may trade: the tokens it may \
             exchange and those it may ask for (token_exchange = { from = [...], to = [...] } \
             in belay.toml, or --exchange-from and --exchange-to)"
                .into(),
        );
    }
    Ok(())
}

impl AuthServer {
    /// The client with `client_id`, if registered. This is the one lookup every endpoint
    /// uses, so URL-shaped ids (Client ID Metadata Documents) can be resolved here.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        let id = client_id.to_owned();
        let stored = self
            .db()
            .call(move |c| {
                c.query_row(
                    &format!("SELECT {CLIENT_COLUMNS} FROM as_clients WHERE client_id = ?1"),
                    [id],
                    from_row,
                )
                .optional()
            })
            .await?;
        if stored.is_some() || !crate::cimd::is_document_url(client_id) {
            return Ok(stored);
        }
        let settings = self.settings();
        Ok(Some(
            self.inner
                .cimd
                .resolve(client_id, &settings.scopes, self.now())
                .await?,
        ))
    }

    /// Authenticates the client of a token, revocation or introspection request:
    /// HTTP Basic or `client_id`/`client_secret` in the form; public clients send only
    /// `client_id`.
    pub(crate) async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let basic = basic_credentials(headers)?;
        if basic.is_some() && form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both HTTP Basic and client_secret",
            ));
        }
        let (id, secret) = match (&basic, form_id) {
            (Some((id, secret)), _) => (id.as_str(), Some(secret.as_str())),
            (None, Some(id)) => (id, form_secret),
            (None, None) => {
                return Err(OAuthError::invalid_client(
                    "client authentication required: send HTTP Basic credentials or client_id",
                ));
            }
        };
        if let (Some(form), Some((basic_id, _))) = (form_id, &basic)
            && form != basic_id
        {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the HTTP Basic user",
            ));
        }
        let Some(client) = self.client(id).await? else {
            return Err(OAuthError::invalid_client(format!("unknown client `{id}`")));
        };
        match (&client.secret_hash, secret) {
            (None, None) => Ok(client),
            (None, Some(_)) => Err(OAuthError::invalid_client(
                "this is a public client; do not send a client secret",
            )),
            (Some(_), None) => Err(OAuthError::invalid_client(
                "this client is confidential; authenticate with its client secret",
            )),
            (Some(hash), Some(given)) if secret::same(hash, &secret::hash(given)) => Ok(client),
            (Some(_), Some(_)) => Err(OAuthError::invalid_client("wrong client secret")),
        }
    }
}

/// `Authorization: Basic` credentials, form-urlencoded per RFC 6749 §2.3.1.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("malformed HTTP Basic credentials");
    let value = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Err(OAuthError::invalid_client(
            "the Authorization header must use the Basic scheme",
        ));
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ports_are_free_but_paths_are_not() {
        assert!(redirect_equal(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/cb"
        ));
        assert!(redirect_equal("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(!redirect_equal(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/other"
        ));
        assert!(!redirect_equal(
            "https://a.example/cb",
            "https://a.example:8443/cb"
        ));
        assert!(!redirect_equal(
            "http://localhost/cb",
            "http://127.0.0.1/cb"
        ));
    }

    #[test]
    fn registration_policy() {
        assert!(check_redirect_uri("https://app.example/cb").is_ok());
        assert!(check_redirect_uri("http://localhost:3000/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://app.example/cb").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("https://app.example/cb#x").is_err());
        assert!(check_redirect_uri("/relative").is_err());
    }
}
