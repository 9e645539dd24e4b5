//! The console's errors.

/// What can go wrong building the console.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work.
    #[error("console: {0}")]
    Config(String),
    /// The token checks could not be set up.
    #[error(transparent)]
    Auth(#[from] belay_auth::Error),
}
