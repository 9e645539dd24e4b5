//! What can go wrong, split by who must act: the operator (config) or the moment (runtime).

use std::fmt;

/// Errors from building or running the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message says where and what to change.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A secret named in the configuration could not be read.
    #[error("upstream `{upstream}`: cannot read secret {source_name}: {reason}")]
    Secret {
        /// The upstream whose credential needs it.
        upstream: String,
        /// `env FOO` or `file /path`, never the value.
        source_name: String,
        /// Why it failed.
        reason: String,
    },
    /// An upstream could not be reached or its session could not start.
    #[error("upstream `{upstream}`: {reason}")]
    Upstream {
        /// The upstream's name.
        upstream: String,
        /// What failed and, where possible, what to check.
        reason: String,
    },
    /// `[gateway.policy]` or `[gateway.rate_limits]` cannot work; the message names the
    /// rule or limit to fix.
    #[error(transparent)]
    Policy(#[from] belay_policy::Error),
    /// Edge authentication (`auth = true`) cannot be set up from `[resource]`.
    #[error("gateway auth: {0}")]
    Auth(#[from] belay_auth::Error),
    /// Obtaining a token for an upstream failed.
    #[error("upstream `{upstream}`: cannot obtain its access token: {reason}")]
    Token {
        /// The upstream's name.
        upstream: String,
        /// What the token endpoint or discovery said.
        reason: String,
    },
    /// The state store (pins) failed.
    #[error("the gateway's store: {0}")]
    Store(String),
    /// A block (`belay gateway block`) names no usable tool or user.
    #[error("{0}")]
    BadBlock(String),
    /// A guard could not be built (a bug in its built-in tables, or a bad pattern).
    #[error("guard: {0}")]
    Guard(#[from] belay_guard::Error),
}

/// An invalid gateway configuration, with the position in the TOML text when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// What is wrong and how to fix it.
    pub message: String,
    /// 1-based line of the offending value, when the text is known.
    pub line: Option<usize>,
    /// 1-based column of the offending value, when the text is known.
    pub column: Option<usize>,
}

impl ConfigError {
    /// An error without a position (the spec did not come from text).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// Adds the line and column of byte `offset` in `text`.
    pub fn at(mut self, text: &str, offset: usize) -> Self {
        let (line, column) = line_column(text, offset);
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
