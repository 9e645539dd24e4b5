use thiserror::Error;

/// Errors from building a guard (never from scanning: scanning cannot fail).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A tool's input schema is not a valid JSON Schema.
    #[error("invalid input schema: {0}")]
    Schema(String),
    /// A configured pattern does not compile.
    #[error("{0}")]
    Pattern(#[from] regex::Error),
    /// A severity name that is not info, low, medium, high or critical.
    #[error("unknown severity {0:?}: use info, low, medium, high or critical")]
    Severity(String),
    /// An allow-list entry that is not a host name or `*.domain`.
    #[error("allow-list entry {0:?}: use a host name such as docs.example.com or *.example.com")]
    AllowList(String),
}
