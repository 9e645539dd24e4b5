//! What can go wrong, split by who must act: the token's holder, or the operator.

/// Errors from belay-auth.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The presented token is not acceptable (401 `invalid_token`); the message says why.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The authorization server could not be asked (discovery, JWKS, introspection), so
    /// the token could not be checked (503: a retry may work).
    #[error("authorization server unavailable: {0}")]
    Unavailable(String),
    /// The authorization server answered, but not as the specs say it must.
    #[error("authorization server misbehaved: {0}")]
    BadServer(String),
    /// An OAuth endpoint refused a request (RFC 6749 §5.2 error response).
    #[error("{endpoint} refused the request ({status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// Which endpoint, e.g. `token endpoint`.
        endpoint: &'static str,
        /// HTTP status of the answer.
        status: u16,
        /// The `error` code, e.g. `invalid_grant`.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The configuration cannot work; the message names the key to fix.
    #[error("invalid [resource] configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn unavailable(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Unavailable(format!("{what}: {e}"))
    }
}
