//! Load errors: a policy or limit that cannot work, named so the operator can fix it.

/// Errors from belay-policy. Evaluation never fails: only loading a spec does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy rule cannot be compiled; `rule` is its `id` (or its position if it has none).
    #[error("invalid policy rule `{rule}`: {message}")]
    Rule {
        /// The rule's `id`, or `rules[N]` when the id itself is the problem.
        rule: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A rate limit or concurrency cap cannot work; `limit` names its key.
    #[error("invalid rate limit `{limit}`: {message}")]
    Limit {
        /// The key in `[gateway.rate_limits]`, e.g. `per_user` or `tools[2]`.
        limit: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Error {
    pub(crate) fn rule(rule: &str, message: impl Into<String>) -> Self {
        Self::Rule {
            rule: rule.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn limit(limit: &str, message: impl Into<String>) -> Self {
        Self::Limit {
            limit: limit.to_owned(),
            message: message.into(),
        }
    }
}
