//! Discovery: RFC 8414 metadata, OIDC discovery (the same document) and the JWKS.

use axum::{Json, extract::State, response::IntoResponse};
use serde_json::{Value, json};

use crate::{AuthServer, OAuthError, token::GRANT_TYPES};

fn document(server: &AuthServer) -> Value {
    let iss = server.issuer();
    let alg = json!(["ES256", "RS256"]);
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks.json"),
        "registration_endpoint": format!("{iss}/register"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "device_authorization_endpoint": format!("{iss}/device_authorization"),
        "scopes_supported": server.settings().scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": alg,
        "token_endpoint_auth_signing_alg_values_supported": alg,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "preferred_username", "name", "email"],
    })
}

pub(crate) async fn oauth(State(server): State<AuthServer>) -> Json<Value> {
    Json(document(&server))
}

pub(crate) async fn openid(State(server): State<AuthServer>) -> Json<Value> {
    Json(document(&server))
}

pub(crate) async fn jwks(
    State(server): State<AuthServer>,
) -> Result<impl IntoResponse, OAuthError> {
    let keep = server.settings().access_token_ttl + server.settings().skew;
    let keys = server
        .inner
        .keys
        .published(server.db(), server.now(), keep)
        .await?;
    let keys: Vec<&Value> = keys.iter().map(|k| &k.jwk).collect();
    Ok(Json(json!({ "keys": keys })))
}
