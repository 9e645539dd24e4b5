//! Client side of the token endpoint for servers that call other APIs on a caller's
//! behalf: RFC 8693 token exchange, Entra ID's on-behalf-of, and registering the server
//! itself as a client (RFC 7591).

use std::fmt;

use serde::{Deserialize, Serialize};
use url::form_urlencoded::byte_serialize;

use crate::{AccessToken, Error};

/// RFC 8693 grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 7523 grant type, which Entra ID's on-behalf-of flow uses.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A confidential client's id and secret; the secret never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// `client_id`.
    pub client_id: String,
    client_secret: String,
}

impl ClientCredentials {
    /// Credentials for `client_id`.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// The secret, for the Authorization header only.
    pub fn secret(&self) -> &str {
        &self.client_secret
    }

    /// Adds `client_secret_basic` authentication. RFC 6749 §2.3.1 form-encodes both
    /// parts before Base64, which plain HTTP Basic does not.
    pub fn authenticate(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let id: String = byte_serialize(self.client_id.as_bytes()).collect();
        let secret: String = byte_serialize(self.client_secret.as_bytes()).collect();
        request.basic_auth(id, Some(secret))
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// A successful token endpoint answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The new token.
    #[serde(deserialize_with = "token")]
    pub access_token: AccessToken,
    /// Usually `Bearer` (RFC 8693 allows `N_A` for non-access tokens).
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: Option<u64>,
    /// Granted scopes, if they differ from those asked for.
    pub scope: Option<String>,
    /// RFC 8693: the type of token issued.
    pub issued_token_type: Option<String>,
}

fn token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AccessToken, D::Error> {
    String::deserialize(d).map(AccessToken::new)
}

/// An RFC 8693 exchange of a caller's access token for one meant for another resource.
#[derive(Debug, Clone, Default)]
pub struct ExchangeRequest<'a> {
    /// The token to exchange (the caller's).
    pub subject_token: Option<&'a AccessToken>,
    /// RFC 8707 resource the new token is for, e.g. `https://as.example.com/userinfo`.
    pub resource: Option<&'a str>,
    /// Logical audience, for servers that use it instead of `resource`.
    pub audience: Option<&'a str>,
    /// Space-separated scopes wanted.
    pub scope: Option<&'a str>,
}

/// Exchanges a token at `token_endpoint` (RFC 8693), authenticating as `client`.
pub async fn exchange_token(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    request: &ExchangeRequest<'_>,
) -> Result<TokenResponse, Error> {
    let subject = request
        .subject_token
        .ok_or_else(|| Error::Config("token exchange needs a subject_token".into()))?;
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("subject_token", subject.secret()),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
    ];
    form.extend(request.resource.map(|r| ("resource", r)));
    form.extend(request.audience.map(|a| ("audience", a)));
    form.extend(request.scope.map(|s| ("scope", s)));
    post_token(http, token_endpoint, client, &form).await
}

/// Entra ID's on-behalf-of flow: `assertion` is the caller's token, `scope` names the
/// downstream API's scopes (e.g. `https://graph.microsoft.com/User.Read`).
pub async fn on_behalf_of(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    assertion: &AccessToken,
    scope: &str,
) -> Result<TokenResponse, Error> {
    let form = [
        ("grant_type", JWT_BEARER_GRANT),
        ("requested_token_use", "on_behalf_of"),
        ("assertion", assertion.secret()),
        ("scope", scope),
    ];
    post_token(http, token_endpoint, client, &form).await
}

/// The client credentials grant: a token for `client` itself, optionally for one RFC 8707
/// `resource` and with `scope`.
pub async fn client_credentials(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenResponse, Error> {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(scope.map(|s| ("scope", s)));
    form.extend(resource.map(|r| ("resource", r)));
    post_token(http, token_endpoint, client, &form).await
}

async fn post_token(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &ClientCredentials,
    form: &[(&str, &str)],
) -> Result<TokenResponse, Error> {
    let response = client
        .authenticate(http.post(token_endpoint))
        .header(http::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(|e| Error::unavailable(&format!("POST {token_endpoint}"), e))?;
    parse("token endpoint", response).await
}

/// What a server registers itself as (RFC 7591 client metadata).
#[derive(Debug, Clone, Serialize)]
pub struct ClientRegistration {
    /// Shown to users and admins.
    pub client_name: String,
    /// e.g. `[TOKEN_EXCHANGE_GRANT]`.
    pub grant_types: Vec<String>,
    /// `client_secret_basic` for a server.
    pub token_endpoint_auth_method: String,
    /// Scopes it may ask for, space separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    client_secret: Option<String>,
}

/// Registers a client at `registration_endpoint` and returns its credentials.
pub async fn register_client(
    http: &reqwest::Client,
    registration_endpoint: &str,
    registration: &ClientRegistration,
) -> Result<ClientCredentials, Error> {
    let response = http
        .post(registration_endpoint)
        .json(registration)
        .send()
        .await
        .map_err(|e| Error::unavailable(&format!("POST {registration_endpoint}"), e))?;
    let registered: Registered = parse("registration endpoint", response).await?;
    let secret = registered.client_secret.ok_or_else(|| {
        Error::BadServer(
            "the registration answer has no client_secret for a confidential client".into(),
        )
    })?;
    Ok(ClientCredentials::new(registered.client_id, secret))
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// A success body as `T`, or the endpoint's OAuth error.
async fn parse<T: serde::de::DeserializeOwned>(
    endpoint: &'static str,
    response: reqwest::Response,
) -> Result<T, Error> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| Error::unavailable(endpoint, e))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| Error::BadServer(format!("{endpoint} answer: {e}")));
    }
    let (error, description) = match serde_json::from_slice::<OAuthError>(&body) {
        Ok(e) => (e.error, e.error_description),
        Err(_) => (
            "unexpected_response".into(),
            Some(String::from_utf8_lossy(&body).chars().take(200).collect()),
        ),
    };
    Err(Error::OAuth {
        endpoint,
        status: status.as_u16(),
        error,
        description,
    })
}
