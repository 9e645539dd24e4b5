//! OIDC userinfo, for tokens whose audience is `{issuer}/userinfo` (obtained directly or
//! by token exchange), per the shared contract: one token, one resource.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, header},
};
use serde_json::{Value, json};

use crate::{AuthServer, OAuthError};

/// GET or POST /userinfo.
pub(crate) async fn userinfo(
    State(server): State<AuthServer>,
    headers: HeaderMap,
) -> Result<Json<Value>, OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            OAuthError::invalid_token("send the access token as Authorization: Bearer")
        })?;
    let claims = server
        .verify_access_token(token.trim())
        .await
        .map_err(OAuthError::invalid_token)?;
    let audience = format!("{}/userinfo", server.issuer());
    if claims.aud != audience {
        return Err(OAuthError::invalid_token(format!(
            "the token is for {}; userinfo needs a token whose audience is {audience}",
            claims.aud
        )));
    }
    let users = server.users();
    let sub = claims.sub.clone();
    let user = tokio::task::spawn_blocking(move || users.get(&sub))
        .await
        .map_err(OAuthError::server)??
        .ok_or_else(|| OAuthError::invalid_token("the token's subject is not a user"))?;
    Ok(Json(json!({
        "sub": user.id,
        "preferred_username": user.username,
        "name": user.name,
        "email": user.email,
    })))
}
