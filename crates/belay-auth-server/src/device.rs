//! RFC 8628 device authorization: routes reserved here; the flow is not built yet.

use axum::http::StatusCode;

use crate::OAuthError;

pub(crate) async fn authorization() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        "the device authorization grant is not available on this server yet",
    )
}

pub(crate) async fn page() -> OAuthError {
    OAuthError::new(
        StatusCode::NOT_FOUND,
        "invalid_request",
        "the device verification page is not available on this server yet",
    )
}
