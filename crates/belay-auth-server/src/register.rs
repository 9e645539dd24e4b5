//! RFC 7591 dynamic client registration, rate limited per client IP. Anyone may register,
//! so a registered client gets only grants where a person signs in and consents
//! ([`clients::SELF_SERVICE_GRANTS`]).

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
    response::IntoResponse,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    AuthServer, OAuthError,
    clients::{self, AuthMethod, Client, check_redirect_uri},
    secret,
};

/// The metadata we read; other members (logo_uri, contacts…) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
}

const MAX_BODY: usize = 64 * 1024;

fn metadata_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", d)
}

pub(crate) async fn register(
    State(server): State<AuthServer>,
    request: Request,
) -> Result<impl IntoResponse, OAuthError> {
    let ip = crate::client_ip::client_ip(request.extensions());
    server
        .inner
        .limiter
        .take(ip, server.monotonic_now())
        .map_err(OAuthError::rate_limited)?;
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| metadata_error("the registration request is too large (64 KiB at most)"))?;
    let request: Metadata = serde_json::from_slice(&body).map_err(|e| {
        metadata_error(format!(
            "the body must be a JSON client metadata object: {e}"
        ))
    })?;
    for uri in &request.redirect_uris {
        check_redirect_uri(uri)
            .map_err(|m| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", m))?;
    }
    let method = match request.token_endpoint_auth_method.as_deref() {
        None => AuthMethod::ClientSecretBasic,
        Some(m) => AuthMethod::parse(m).ok_or_else(|| {
            metadata_error(format!(
                "token_endpoint_auth_method `{m}` is not supported; use client_secret_basic, \
                 client_secret_post or none"
            ))
        })?,
    };
    let grant_types = clients::grant_types_or_default(request.grant_types);
    if let Some(why) = grant_types
        .iter()
        .find_map(|g| clients::self_service_refusal(g))
    {
        return Err(metadata_error(why));
    }
    // Only redirect-based grants need redirect URIs (RFC 7591 §2): a device-flow client
    // has nowhere to be redirected to.
    if grant_types.iter().any(|g| g == "authorization_code") && request.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uris is required for the authorization_code grant and must list at least \
             one URI",
        ));
    }
    if !clients::only_code_response(request.response_types.as_deref()) {
        return Err(metadata_error("only the `code` response type is supported"));
    }
    let scopes = clients::scope_list(request.scope.as_deref());
    if let Some(s) = scopes
        .iter()
        .find(|s| !server.settings().scopes.contains(s))
    {
        return Err(metadata_error(format!(
            "scope `{s}` is not offered by this server"
        )));
    }
    let secret = (method != AuthMethod::None).then(secret::random_token);
    let client = Client {
        client_id: uuid::Uuid::new_v4().to_string(),
        secret_hash: secret.as_deref().map(secret::hash),
        name: request.client_name.clone(),
        redirect_uris: request.redirect_uris.clone(),
        grant_types: grant_types.clone(),
        scopes: scopes.clone(),
        auth_method: method,
        token_exchange: None,
        self_registered: true,
    };
    let now = server.now();
    let stored = client.clone();
    server
        .db()
        .call(move |c| clients::store(c, &stored, "dcr", now))
        .await?;
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": now,
        "redirect_uris": client.redirect_uris,
        "grant_types": grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": method.as_str(),
    });
    if let Some(secret) = secret {
        body["client_secret"] = secret.into();
        body["client_secret_expires_at"] = 0.into();
    }
    if let Some(name) = request.client_name {
        body["client_name"] = name.into();
    }
    if !scopes.is_empty() {
        body["scope"] = scopes.join(" ").into();
    }
    Ok((StatusCode::CREATED, Json(body)))
}
