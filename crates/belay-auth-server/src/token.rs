//! The token endpoint: client authentication, then one arm per grant type. A new grant
//! (the device code) joins by adding an arm to [`dispatch`] and its name to
//! [`GRANT_TYPES`].

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{AuthServer, OAuthError, clients::Client, params::Params};

/// RFC 8693 token exchange.
pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of our access tokens.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Grant types this server implements.
pub(crate) const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    TOKEN_EXCHANGE,
    crate::device::DEVICE_CODE,
];

/// A successful token response.
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) expires_in: i64,
    pub(crate) scope: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
    pub(crate) issued_token_type: Option<&'static str>,
}

impl IntoResponse for Issued {
    fn into_response(self) -> Response {
        let mut body = json!({
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        });
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body[k] = v;
            }
        };
        put("refresh_token", self.refresh_token.map(Value::from));
        put("id_token", self.id_token.map(Value::from));
        put("issued_token_type", self.issued_token_type.map(Value::from));
        let mut response = (StatusCode::OK, Json(body)).into_response();
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

/// POST /token.
pub(crate) async fn token(
    State(server): State<AuthServer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Issued, OAuthError> {
    let params = Params::form(&headers, &body)?;
    let grant = params.required("grant_type")?;
    if !GRANT_TYPES.contains(&grant) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type `{grant}` is not supported; use one of {}",
                GRANT_TYPES.join(", ")
            ),
        ));
    }
    let client = server
        .authenticate_client(
            &headers,
            params.get("client_id"),
            params.get("client_secret"),
        )
        .await?;
    if !client.allows(grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "client `{}` is not registered for the {grant} grant",
            client.client_id
        )));
    }
    if client.self_registered && !crate::clients::SELF_SERVICE_GRANTS.contains(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "client `{}` registered itself, and the {grant} grant is for clients an \
             administrator creates (`belay auth client add`)",
            client.client_id
        )));
    }
    dispatch(&server, &client, grant, &params).await
}

async fn dispatch(
    server: &AuthServer,
    client: &Client,
    grant: &str,
    params: &Params,
) -> Result<Issued, OAuthError> {
    match grant {
        "authorization_code" => crate::grants::authorization_code(server, client, params).await,
        "refresh_token" => crate::grants::refresh(server, client, params).await,
        "client_credentials" => crate::exchange::client_credentials(server, client, params).await,
        TOKEN_EXCHANGE => crate::exchange::token_exchange(server, client, params).await,
        crate::device::DEVICE_CODE => crate::device::grant(server, client, params).await,
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported"),
        )),
    }
}
