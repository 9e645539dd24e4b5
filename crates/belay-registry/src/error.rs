//! What can go wrong in the registry.

use crate::Problem;

/// Registry errors; each maps to one HTTP status in [`crate::api`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The submitted document breaks the schema or the registry's rules.
    #[error("{}", describe(.0))]
    Invalid(Vec<Problem>),
    /// This version of the server is already published; versions are immutable.
    #[error("invalid version: cannot publish duplicate version {version} of {name}")]
    Duplicate {
        /// The server.
        name: String,
        /// The version.
        version: String,
    },
    /// No such server or version.
    #[error("{0}")]
    NotFound(String),
    /// A request parameter is malformed (cursor, limit, timestamp, `NAME@VERSION`).
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this (publish a version of a server someone else owns).
    #[error("{0}")]
    Forbidden(String),
    /// A governance change that is not allowed (e.g. approving a blocked version).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("registry store: {0}")]
    Store(String),
    /// The registry is misconfigured (schema, `[registry]`).
    #[error("registry configuration: {0}")]
    Config(String),
}

impl From<belay_store::Error> for Error {
    fn from(e: belay_store::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<belay_store::rusqlite::Error> for Error {
    fn from(e: belay_store::rusqlite::Error) -> Self {
        Self::Store(e.to_string())
    }
}

fn describe(problems: &[Problem]) -> String {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("server.json is invalid: {}", list.join("; "))
}
