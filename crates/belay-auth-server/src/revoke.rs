//! RFC 7009 revocation: a refresh token revokes its whole family; an access token goes on
//! the `jti` revocation list until it expires. Unknown tokens still get 200.

use axum::{extract::State, http::HeaderMap, http::StatusCode};

use crate::{AuthServer, OAuthError, params::Params};

/// POST /revoke.
pub(crate) async fn revoke(
    State(server): State<AuthServer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, OAuthError> {
    let p = Params::form(&headers, &body)?;
    let client = server
        .authenticate_client(&headers, p.get("client_id"), p.get("client_secret"))
        .await?;
    let token = p.required("token")?;
    // The hint only orders the lookups (RFC 7009 §2.1); both kinds are always tried.
    let access_first = p.get("token_type_hint") == Some("access_token");
    if !access_first && server.revoke_refresh(token, &client.client_id).await? {
        return Ok(StatusCode::OK);
    }
    if let Ok(claims) = server.verify_access_token(token).await
        && claims.client_id == client.client_id
    {
        server.revoke_jti(&claims.jti, claims.exp).await?;
        return Ok(StatusCode::OK);
    }
    if access_first {
        server.revoke_refresh(token, &client.client_id).await?;
    }
    Ok(StatusCode::OK)
}
