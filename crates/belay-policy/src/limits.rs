//! Which token buckets a request draws on, and the [`RateLimiter`] trait that keeps them.
//!
//! The split: [`RateLimits`] turns a request into [`Charge`]s (bucket keys with their
//! rates) the same way everywhere, and a [`RateLimiter`] only stores buckets, so a shared
//! store (Redis, for several gateway replicas) replaces [`crate::LocalRateLimiter`]
//! without touching the rules.

use std::{fmt, future::Future, pin::Pin, time::Duration};

pub use belay_core::bucket::Rate;

use crate::{
    Error, Principal,
    glob::Glob,
    limit_spec::{BucketSpec, RateLimitSpec},
};

/// A boxed future, so [`RateLimiter`] stays usable as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Keeps token buckets. Implementations must take one token from every bucket of a call
/// or from none, so a refusal by one limit does not spend the others.
pub trait RateLimiter: Send + Sync {
    /// Takes one token from each charged bucket, or refuses with the longest wait.
    fn take<'a>(&'a self, charges: &'a [Charge]) -> BoxFuture<'a, Result<(), Refusal>>;
}

/// A bucket's rate from its spec, the burst defaulting to a minute's worth.
fn rate_from_spec(spec: &BucketSpec) -> Result<Rate, String> {
    // Rounded up, then clamped: `as` saturates, and a rate that large is unlimited anyway.
    let burst = spec
        .burst
        .unwrap_or_else(|| spec.per_minute.ceil().max(1.0) as u32);
    Rate::new(spec.per_minute, burst).map_err(|e| e.to_string())
}

/// Names one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BucketKey {
    /// Every request of a user.
    User(String),
    /// Every request through an OAuth client.
    Client(String),
    /// Every call of one tool.
    Tool {
        /// The upstream.
        upstream: String,
        /// The tool, as the upstream names it.
        name: String,
    },
    /// One user's calls of one tool.
    UserTool {
        /// The user.
        user: String,
        /// The upstream.
        upstream: String,
        /// The tool.
        name: String,
    },
}

impl BucketKey {
    /// Which kind of limit this bucket enforces.
    pub fn kind(&self) -> LimitKind {
        match self {
            Self::User(_) => LimitKind::User,
            Self::Client(_) => LimitKind::Client,
            Self::Tool { .. } | Self::UserTool { .. } => LimitKind::Tool,
        }
    }
}

impl fmt::Display for BucketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(user) => write!(f, "user `{user}`"),
            Self::Client(client) => write!(f, "client `{client}`"),
            Self::Tool { upstream, name } => write!(f, "tool `{name}` of upstream `{upstream}`"),
            Self::UserTool {
                user,
                upstream,
                name,
            } => write!(
                f,
                "tool `{name}` of upstream `{upstream}` for user `{user}`"
            ),
        }
    }
}

/// One token to take from one bucket (belay-core's [`belay_core::bucket::Charge`], keyed by
/// [`BucketKey`]).
pub type Charge = belay_core::bucket::Charge<BucketKey>;

/// Which limit refused a request, e.g. for a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// The per-user bucket.
    User,
    /// The per-client bucket.
    Client,
    /// A per-tool bucket.
    Tool,
    /// The upstream's concurrency cap.
    Concurrency,
}

/// A request refused by a limit: answer 429 with `Retry-After: retry_after_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which limit refused.
    pub kind: LimitKind,
    /// Whole seconds to wait before a retry can succeed (rounded up, at least 1).
    pub retry_after_secs: u64,
    /// What was exceeded, for the caller and the audit log.
    pub reason: String,
}

impl Refusal {
    /// A refusal by `key` at `rate`, which will have a token again after `wait`.
    pub fn exhausted(key: &BucketKey, rate: Rate, wait: Duration) -> Self {
        let retry_after_secs = belay_core::bucket::retry_after_secs(wait);
        Self {
            kind: key.kind(),
            retry_after_secs,
            reason: format!("rate limit of {key} exceeded ({rate}); retry in {retry_after_secs} s"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refusal {}

/// A compiled [`RateLimitSpec`] (token-bucket part): which buckets a request draws on.
#[derive(Debug, Clone)]
pub struct RateLimits {
    per_user: Option<Rate>,
    per_client: Option<Rate>,
    per_tool: Option<Rate>,
    tools: Vec<ToolLimit>,
}

#[derive(Debug, Clone)]
struct ToolLimit {
    upstream: Glob,
    name: Glob,
    rate: Rate,
    per_user: bool,
}

impl RateLimits {
    /// Compiles the bucket limits of `spec`; errors name the limit to fix.
    pub fn new(spec: &RateLimitSpec) -> Result<Self, Error> {
        let rate = |name: &str, bucket: &Option<BucketSpec>| {
            bucket
                .as_ref()
                .map(rate_from_spec)
                .transpose()
                .map_err(|message| Error::limit(name, message))
        };
        let tools = spec
            .tools
            .iter()
            .enumerate()
            .map(|(index, tool)| {
                let name = format!("tools[{index}]");
                let bucket = BucketSpec {
                    per_minute: tool.per_minute,
                    burst: tool.burst,
                };
                let glob = |pattern: &str| {
                    Glob::new(pattern).map_err(|e| Error::limit(&name, format!("{pattern:?}: {e}")))
                };
                Ok(ToolLimit {
                    upstream: glob(&tool.upstream)?,
                    name: glob(&tool.name)?,
                    rate: rate_from_spec(&bucket).map_err(|m| Error::limit(&name, m))?,
                    per_user: tool.per_user,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            per_user: rate("per_user", &spec.per_user)?,
            per_client: rate("per_client", &spec.per_client)?,
            per_tool: rate("per_tool", &spec.per_tool)?,
            tools,
        })
    }

    /// The buckets a request of `principal` to `upstream` draws on; `tool` is the tool
    /// called, if the request is a `tools/call`.
    pub fn charges(
        &self,
        principal: &Principal,
        upstream: &str,
        tool: Option<&str>,
    ) -> Vec<Charge> {
        let mut charges = Vec::with_capacity(3);
        if let Some(rate) = self.per_user {
            charges.push(Charge {
                key: BucketKey::User(principal.user.clone()),
                rate,
            });
        }
        if let (Some(rate), Some(client)) = (self.per_client, &principal.client_id) {
            charges.push(Charge {
                key: BucketKey::Client(client.clone()),
                rate,
            });
        }
        if let Some(name) = tool {
            let specific = self
                .tools
                .iter()
                .find(|t| t.upstream.matches(upstream) && t.name.matches(name));
            let (rate, per_user) = match specific {
                Some(limit) => (Some(limit.rate), limit.per_user),
                None => (self.per_tool, false),
            };
            if let Some(rate) = rate {
                let (upstream, name) = (upstream.to_owned(), name.to_owned());
                let key = if per_user {
                    BucketKey::UserTool {
                        user: principal.user.clone(),
                        upstream,
                        name,
                    }
                } else {
                    BucketKey::Tool { upstream, name }
                };
                charges.push(Charge { key, rate });
            }
        }
        charges
    }
}

impl TryFrom<&RateLimitSpec> for RateLimits {
    type Error = Error;

    fn try_from(spec: &RateLimitSpec) -> Result<Self, Error> {
        Self::new(spec)
    }
}
