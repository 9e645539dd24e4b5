//! RFC 7662 introspection for confidential clients (resource servers). Anything not
//! currently valid (unknown, expired, revoked) is just `{"active": false}`.

use axum::{Json, extract::State, http::HeaderMap};
use belay_store::rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use crate::{AuthServer, OAuthError, params::Params, secret};

/// POST /introspect.
pub(crate) async fn introspect(
    State(server): State<AuthServer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, OAuthError> {
    let p = Params::form(&headers, &body)?;
    let client = server
        .authenticate_client(&headers, p.get("client_id"), p.get("client_secret"))
        .await?;
    if !client.is_confidential() {
        return Err(OAuthError::unauthorized_client(
            "introspection is for confidential clients (resource servers)",
        ));
    }
    let token = p.required("token")?;
    if let Ok(c) = server.verify_access_token(token).await {
        let mut body = json!({
            "active": true, "scope": c.scope, "client_id": c.client_id, "sub": c.sub,
            "aud": c.aud, "exp": c.exp, "iat": c.iat, "nbf": c.nbf, "iss": c.iss,
            "jti": c.jti, "token_type": "Bearer",
        });
        if let Some(u) = c.preferred_username {
            body["username"] = u.into();
        }
        if let Some(act) = c.act {
            body["act"] = serde_json::to_value(act).unwrap_or_default();
        }
        return Ok(Json(body));
    }
    Ok(Json(
        refresh(&server, token)
            .await?
            .unwrap_or_else(|| json!({ "active": false })),
    ))
}

async fn refresh(server: &AuthServer, token: &str) -> Result<Option<Value>, OAuthError> {
    let hash = secret::hash(token);
    let now = server.now();
    let iss = server.issuer().to_owned();
    Ok(server
        .db()
        .call(move |c| {
            c.query_row(
                "SELECT f.scope, f.client_id, f.sub, f.resource, r.expires_at
                 FROM as_refresh_tokens r JOIN as_families f ON f.id = r.family_id
                 WHERE r.hash = ?1 AND r.used_at IS NULL AND f.revoked_at IS NULL
                   AND r.expires_at > ?2",
                params![hash, now],
                |r| {
                    Ok(json!({
                        "active": true, "scope": r.get::<_, String>(0)?,
                        "client_id": r.get::<_, String>(1)?, "sub": r.get::<_, String>(2)?,
                        "aud": r.get::<_, String>(3)?, "exp": r.get::<_, i64>(4)?,
                        "iss": iss, "token_type": "refresh_token",
                    }))
                },
            )
            .optional()
        })
        .await?)
}
