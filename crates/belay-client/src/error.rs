//! What can go wrong while connecting and signing in.

use std::path::PathBuf;

/// Errors from signing in to an MCP server or talking to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server URL is not an absolute http(s) URL.
    #[error("invalid MCP server URL `{url}`: {reason}; give an absolute http:// or https:// URL")]
    InvalidServerUrl {
        /// What was given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// Options contradict each other or miss a value.
    #[error("invalid sign-in options: {0}")]
    InvalidOptions(String),
    /// rmcp's OAuth client failed (discovery, registration, code exchange, refresh, issuer checks).
    #[error("OAuth sign-in failed: {0}")]
    OAuth(#[from] rmcp::transport::auth::AuthError),
    /// The authorization redirect came back with an error or without a code.
    #[error("the authorization server refused the sign-in: {0}")]
    AuthorizationDenied(String),
    /// The user agent (browser, headless follower) could not complete the authorization step.
    #[error("could not complete the authorization step: {0}")]
    UserAgent(String),
    /// The device authorization grant failed.
    #[error("device sign-in failed: {0}")]
    Device(String),
    /// The server still refuses the token after the allowed number of scope step-ups.
    #[error(
        "the server keeps asking for more scope ({required}) after {attempts} step-up attempt(s); \
         ask its operator to grant that scope to your account"
    )]
    StepUpLimit {
        /// The scope the last challenge asked for.
        required: String,
        /// How many step-ups were made.
        attempts: u32,
    },
    /// The token cache could not be read or written.
    #[error("token cache {path}: {source}")]
    Cache {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An HTTP request made by this crate (outside rmcp) failed.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The MCP session could not be established.
    #[error("MCP connection failed: {0}")]
    Connect(String),
    /// The server knows `server/discover` but offers none of the revisions asked for there
    /// (a server between eras: open the session with `initialize` instead).
    #[error("MCP connection failed: {0}")]
    NoCommonRevision(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
