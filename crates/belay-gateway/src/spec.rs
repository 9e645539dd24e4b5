//! `[gateway]` in belay.toml: the upstreams, as values, and how the gateway treats them.
//!
//! Upstreams are plain data so that a registry entry or `belay up` can build one without a
//! file. [`GatewaySpec::validate`] checks what serde cannot (unique names and prefixes,
//! unambiguous routing); [`crate::check`] adds line and column to those errors.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde::Deserialize;

/// The gateway's configuration (`[gateway]` in belay.toml).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySpec {
    /// The MCP servers behind the gateway, each with a unique name and tool prefix.
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamSpec>,
    /// Items per page of the federated `tools/list`, `prompts/list`, `resources/list` and
    /// `resources/templates/list`.
    pub page_size: usize,
    /// Seconds between two health pings of a connected upstream; 0 turns pings off.
    pub health_interval_secs: u64,
    /// Consecutive failures (transport errors, timeouts, failed pings) that open an
    /// upstream's circuit breaker, so calls fail fast instead of piling up.
    pub breaker_failures: u32,
    /// Seconds an open breaker stays open before one trial call is let through.
    pub breaker_open_secs: u64,
    /// Require a signed-in caller (an OAuth access token) on every endpoint. The token
    /// checks (issuer, audience, scopes) are `[resource]`'s; the resource URI defaults to
    /// the gateway's `/mcp` URL. Off: callers are anonymous to policy and limits.
    pub auth: bool,
    /// Who may reach which tools, resources and prompts (`[gateway.policy]`).
    pub policy: belay_policy::PolicySpec,
    /// Token buckets and concurrency caps (`[gateway.rate_limits]`).
    pub rate_limits: belay_policy::RateLimitSpec,
}

impl Default for GatewaySpec {
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            page_size: 100,
            health_interval_secs: 30,
            breaker_failures: 5,
            breaker_open_secs: 30,
            auth: false,
            policy: belay_policy::PolicySpec::default(),
            rate_limits: belay_policy::RateLimitSpec::default(),
        }
    }
}

/// One upstream MCP server (`[[gateway.upstream]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Unique name: used in `/servers/NAME/mcp`, logs, errors and audit records.
    pub name: String,
    /// Prepended to this upstream's tool and prompt names in the federated endpoint.
    /// Unset: `<name>__`. Letters, digits, `_`, `.` and `-` only.
    #[serde(default)]
    pub prefix: Option<String>,
    /// How to reach the server.
    pub transport: TransportSpec,
    /// What the gateway presents to the server. The client's own token is never passed.
    #[serde(default)]
    pub credentials: CredentialSpec,
    /// Time limits for this upstream.
    #[serde(default)]
    pub timeouts: TimeoutSpec,
}

impl UpstreamSpec {
    /// The prefix in effect: the configured one, else `<name>__`.
    pub fn effective_prefix(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| format!("{}__", self.name))
    }
}

/// How the gateway reaches an upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransportSpec {
    /// A local process speaking MCP on its stdin and stdout; the gateway starts it.
    Stdio {
        /// Program to run (looked up in `PATH` if not a path).
        command: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Extra environment variables (the gateway's own environment is inherited).
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Working directory. Unset: the gateway's.
        #[serde(default)]
        cwd: Option<PathBuf>,
        /// What to do when the process exits.
        #[serde(default)]
        restart: RestartSpec,
    },
    /// A Streamable HTTP server (revision 2025-03-26 or later).
    Http {
        /// The MCP endpoint, e.g. `https://mcp.example.com/mcp`.
        url: String,
        /// Extra request headers (not `Authorization`: use `credentials`).
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// A legacy HTTP+SSE server (revision 2024-11-05). Accepted in config; connecting
    /// fails with a clear error until Belay has a client for that transport.
    Sse {
        /// The SSE endpoint, e.g. `http://127.0.0.1:8000/sse`.
        url: String,
    },
}

/// When a stdio upstream is started again, and how quickly.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartSpec {
    /// `never`, `on-failure` (the process died or the session broke) or `always`.
    pub policy: RestartPolicy,
    /// First wait before a restart, in milliseconds; doubled after each failed start.
    pub initial_backoff_ms: u64,
    /// Longest wait between restarts, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RestartSpec {
    fn default() -> Self {
        Self {
            policy: RestartPolicy::OnFailure,
            initial_backoff_ms: 250,
            max_backoff_ms: 30_000,
        }
    }
}

impl RestartSpec {
    /// The wait before restart number `attempt` (0-based): exponential, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(20)).unwrap_or(u64::MAX);
        Duration::from_millis(
            self.initial_backoff_ms
                .saturating_mul(factor)
                .min(self.max_backoff_ms),
        )
    }
}

/// Restart policy of a stdio upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Leave it down.
    Never,
    /// Restart when it ends without the gateway asking.
    #[default]
    OnFailure,
    /// Restart whenever it ends, even cleanly.
    Always,
}

/// The credential an upstream sees.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialSpec {
    /// No `Authorization` header.
    #[default]
    None,
    /// A static bearer token, read from a secret.
    Bearer {
        /// Where the token is.
        secret: SecretSpec,
    },
    /// OAuth 2.1 client credentials: a token for this upstream's audience, cached and
    /// fetched again before it expires.
    ClientCredentials {
        /// Token endpoint. Unset: discovered from `issuer`.
        #[serde(default)]
        token_url: Option<String>,
        /// Issuer whose RFC 8414 metadata names the token endpoint.
        #[serde(default)]
        issuer: Option<String>,
        /// The gateway's client id at that authorization server.
        client_id: String,
        /// Where the client secret is.
        client_secret: SecretSpec,
        /// Space-separated scopes to ask for.
        #[serde(default)]
        scope: Option<String>,
        /// RFC 8707 resource indicator (the upstream's canonical URI), so the token is
        /// minted for this upstream only.
        #[serde(default)]
        resource: Option<String>,
    },
}

/// Where a secret lives. Never inline: config files end up in repositories and logs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file holding the secret (surrounding whitespace is trimmed).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Time limits of one upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSpec {
    /// Milliseconds to start the process or open the session, handshake included.
    pub connect_ms: u64,
    /// Milliseconds one request may take (a tool call waiting on the user's elicitation
    /// answer counts too).
    pub call_ms: u64,
}

impl Default for TimeoutSpec {
    fn default() -> Self {
        Self {
            connect_ms: 10_000,
            call_ms: 120_000,
        }
    }
}

impl TimeoutSpec {
    /// The connect timeout.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }

    /// The per-request timeout.
    pub fn call(&self) -> Duration {
        Duration::from_millis(self.call_ms)
    }
}

impl GatewaySpec {
    /// Compiles `[gateway.policy]` and `[gateway.rate_limits]` as the gateway will, so a
    /// bad rule or limit is reported by `check` rather than at start. With the file's
    /// `text`, the error points at the rule's `id` (or the limit's key) when it can.
    pub(crate) fn policy_problem(&self, text: Option<&str>) -> Option<crate::ConfigError> {
        use belay_policy::{ConcurrencyLimits, Error, Policy, RateLimits};
        let limits = &self.rate_limits;
        let error = Policy::new(&self.policy)
            .err()
            .or_else(|| RateLimits::new(limits).err())
            .or_else(|| {
                let caps = limits.upstream_max_concurrent.clone();
                ConcurrencyLimits::new(limits.max_concurrent, caps).err()
            })?;
        // Where to point: the rule's quoted id, or the limit's key (`tools[2]` → `tools`).
        let needle = match &error {
            Error::Rule { rule, .. } => format!("\"{rule}\""),
            Error::Limit { limit, .. } => limit.split(['[', '.']).next().unwrap_or("").to_owned(),
            _ => String::new(),
        };
        let problem = crate::ConfigError::new(error.to_string());
        match text.zip((!needle.is_empty()).then_some(needle)) {
            Some((text, needle)) => match text.find(&needle) {
                Some(offset) => Some(problem.at(text, offset)),
                None => Some(problem),
            },
            None => Some(problem),
        }
    }
}
