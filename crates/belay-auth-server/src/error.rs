//! Errors: [`Error`] for library callers, [`OAuthError`] for what HTTP clients see
//! (RFC 6749 §5.2 JSON bodies).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// What can go wrong outside a request (start-up, CLI commands).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] belay_store::Error),
    /// The configuration is invalid.
    #[error("invalid auth_server configuration: {0}")]
    Config(String),
    /// A key could not be generated, encoded or loaded.
    #[error("signing key error: {0}")]
    Key(String),
    /// A user operation was refused (duplicate name, weak password...).
    #[error("{0}")]
    User(String),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A URL client ID's metadata document is unusable (the client's fault, not ours).
    #[error(transparent)]
    Cimd(#[from] crate::cimd::CimdError),
    /// The server could not listen.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

/// An OAuth error response: status, `error` code and a description saying what to fix.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    /// Any error code with its status.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    /// 401 `invalid_client` (sent with `WWW-Authenticate: Basic`).
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }

    /// 400 `invalid_grant`.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }

    /// 400 `invalid_target` (RFC 8707).
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", d)
    }

    /// 400 `unauthorized_client`.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }

    /// 401 `invalid_token` (RFC 6750, sent with `WWW-Authenticate: Bearer`).
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                format!("too many requests from this address; retry in {retry_after} s"),
            )
        }
    }

    /// 500 `server_error`; the cause is logged, not sent.
    pub fn server(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "authorization server failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error; see the server log",
        )
    }

    /// The `error` code, for redirects.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The description, for redirects and pages.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl From<belay_store::Error> for OAuthError {
    fn from(e: belay_store::Error) -> Self {
        Self::server(e)
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Cimd(e) => e.into(),
            e => Self::server(e),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self.code {
            "invalid_client" => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"belay\""),
                );
            }
            "invalid_token" => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
