//! `[gateway]` in belay.toml: the upstreams, as values, and how the gateway treats them.
//!
//! Upstreams are plain data so that a registry entry or `belay up` can build one without a
//! file. [`GatewaySpec::validate`] checks what serde cannot (unique names and prefixes,
//! unambiguous routing); [`crate::check`] adds line and column to those errors.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde::Deserialize;

mod guard;
pub use guard::{
    CheckAction, GuardSpec, InjectionAction, MetadataAction, SECRET_KINDS, SecretAction,
};

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
    /// upstream's circuit breaker, so calls fail fast instead of piling up. As many health
    /// pings in a row left unanswered (no answer at all) end its session, which is opened
    /// again: a wedged stdio process is restarted under its restart policy. 0: neither.
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
    /// Limits on HTTP requests and connections, and how a rate-limited request is
    /// answered (`[gateway.http]`).
    pub http: HttpLimitsSpec,
    /// The Prometheus endpoint (`[gateway.metrics]`).
    pub metrics: MetricsSpec,
    /// Milliseconds between two checks of the configuration file for changes (its
    /// modification time and length), which `belay gateway serve` and `belay up` reload
    /// (SIGHUP reloads at once). At least 100.
    pub reload_poll_ms: u64,
    /// The guards of every upstream without a `guard` table of its own
    /// (`[gateway.guard]`). Unset: none (`belay up`: [`GuardSpec::recommended`]).
    pub guard: Option<GuardSpec>,
    /// A private MCP registry (`belay registry`) every upstream must be approved in: its
    /// URL (`http://127.0.0.1:8100`) or the folder (or database file) of its store. Set: an
    /// upstream is connected only when its server (`registry_name`, else its remote URL)
    /// has an approved version there, and an `http`/`sse` upstream's URL must be one of
    /// that version's remotes; any other is refused with the reason, and a server blocked
    /// later is cut off at the next reload. Applied by `belay gateway serve` and `belay up`.
    pub registry: Option<String>,
}

impl GatewaySpec {
    /// How often the configuration file is checked for changes (`reload_poll_ms`).
    pub fn reload_poll(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.reload_poll_ms)
    }

    /// The guards in effect for `upstream`: its own table, else `[gateway.guard]`, else
    /// none.
    pub fn guard_of(&self, upstream: &UpstreamSpec) -> GuardSpec {
        upstream
            .guard
            .clone()
            .or_else(|| self.guard.clone())
            .unwrap_or_default()
    }
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
            http: HttpLimitsSpec::default(),
            metrics: MetricsSpec::default(),
            reload_poll_ms: 2000,
            guard: None,
            registry: None,
        }
    }
}

/// `[gateway.metrics]`: Prometheus metrics (requests, latency, denials, rate limits,
/// upstream health) in the OpenMetrics text format, on the gateway's own port. The
/// endpoint needs no token even with `auth = true`, since Prometheus scrapes without one:
/// keep the port off the public network, or turn the endpoint off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSpec {
    /// Serve the metrics (default true). Off: nothing is recorded and nothing is routed.
    pub enabled: bool,
    /// Where (default `/metrics`): an absolute path, not `/mcp`, `/sse` or `/messages`,
    /// nor under `/servers/` or `/.well-known/`.
    #[serde(deserialize_with = "metrics_path")]
    pub path: String,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "/metrics".into(),
        }
    }
}

/// A path the router can serve without panicking or shadowing an MCP endpoint.
fn metrics_path<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let path = String::deserialize(deserializer)?;
    let plain = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    let taken = ["/mcp", "/sse", "/messages"].contains(&path.as_str())
        || path.starts_with("/servers/")
        || path.starts_with("/.well-known/");
    if !plain || taken {
        return Err(serde::de::Error::custom(format!(
            "metrics path `{path}`: give an absolute path of letters, digits, `-`, `_`, `.` \
             and `/` (e.g. \"/metrics\"), not `/mcp`, `/sse` or `/messages`, nor under \
             `/servers/` or `/.well-known/`"
        )));
    }
    Ok(path)
}

/// What one HTTP request and one connection may take (`[gateway.http]`). A request over
/// a limit is refused with a JSON-RPC error body naming the limit and this table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimitsSpec {
    /// Largest request body, in bytes (default 4 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest total size of the request's header names and values, in bytes (default
    /// 16 KiB); larger ones get 431.
    pub max_header_bytes: usize,
    /// Seconds a client has to send the whole request body, counted from the end of its
    /// headers and before sign-in reads anything (default 30); then 408 and the connection
    /// is closed.
    pub request_timeout_secs: u64,
    /// Seconds a kept-alive connection may sit with no request before it is closed
    /// (default 120; above the 90 s for which common clients keep idle connections).
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request's headers, from the connection's start or
    /// from the first byte of a later request (default 10); then the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Connections one client address may have open at once (default 128); more are
    /// answered 503 and closed, and logged once a minute per address. Counted per TCP
    /// peer; `[http] trusted_proxies` are exempt.
    pub max_connections_per_address: usize,
    /// How a rate-limited request is refused: `http` (default): HTTP 429 with `Retry-After`
    /// and a JSON-RPC error body; `jsonrpc`: a JSON-RPC error (-32029) in an HTTP 200
    /// answer, for clients that treat any non-2xx answer as a broken connection.
    pub rate_limit_status: RateLimitStatus,
}

impl Default for HttpLimitsSpec {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout_secs: 30,
            idle_timeout_secs: 120,
            header_read_timeout_secs: 10,
            max_connections_per_address: belay_mcp::http::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            rate_limit_status: RateLimitStatus::Http,
        }
    }
}

impl HttpLimitsSpec {
    /// The first limit that cannot work (zero), by its key.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let limits = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_header_bytes", self.max_header_bytes as u64),
            ("request_timeout_secs", self.request_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            (
                "max_connections_per_address",
                self.max_connections_per_address as u64,
            ),
        ];
        let (key, _) = limits.into_iter().find(|(_, limit)| *limit == 0)?;
        let message =
            format!("[gateway.http] {key} must be at least 1 (it is a limit, not a switch)");
        Some((key, message))
    }
}

/// How the gateway answers a rate-limited request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitStatus {
    /// HTTP 429 with `Retry-After`, and a JSON-RPC error body with the request's id.
    #[default]
    Http,
    /// A JSON-RPC error with `data.retryAfter`, in a normal (200) MCP answer.
    Jsonrpc,
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
    /// Scopes a token needs at this upstream's own endpoint (`/servers/NAME/mcp`), per
    /// capability (`tools`, `resources`, `prompts`), replacing `[resource] scopes` there:
    /// a caller without them gets 403 `insufficient_scope` and can step up. At the
    /// federated `/mcp`, require scopes per upstream with policy rules (`scopes = […]`).
    #[serde(default)]
    pub scopes: Option<belay_auth::CapabilityScopes>,
    /// This upstream's guards (`[gateway.upstream.guard]`), replacing `[gateway.guard]`.
    #[serde(default)]
    pub guard: Option<GuardSpec>,
    /// Its server's name in `[gateway] registry` (`io.example/weather`), where it must be
    /// approved. Unset: an `http`/`sse` upstream is looked up by its URL among the
    /// remotes there; a `stdio` one is refused.
    #[serde(default)]
    pub registry_name: Option<String>,
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
    /// A legacy HTTP+SSE server (revision 2024-11-05): `GET url` for the event stream,
    /// POSTs to the `endpoint` it names, which must be on the same origin. The upstream's
    /// credential goes on the GET and every POST.
    Sse {
        /// The SSE endpoint, e.g. `http://127.0.0.1:8000/sse`.
        url: String,
    },
    /// A REST API described by an OpenAPI 3.0 or 3.1 document: one tool per operation,
    /// served by an MCP server inside the gateway (`crate::openapi`), called over HTTP with
    /// the API's own credential (`credential` in this table; the upstream's `credentials`
    /// must stay unset). A relative `document` path is relative to the gateway's working
    /// directory.
    Openapi(Box<belay_openapi::OpenApiSpec>),
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
    /// OAuth 2.1 client credentials: the gateway's own token for this upstream's audience,
    /// cached and fetched again before it expires. Every caller shares it.
    ClientCredentials(OAuthClientSpec),
    /// RFC 8693 token exchange on behalf of the signed-in caller: each user's calls go over
    /// their own upstream session, with a token the authorization server minted from the
    /// caller's for this upstream's audience (with an `act` claim naming the gateway). Lists
    /// and health pings use a client-credentials token of the same client, so the client
    /// needs both grants. HTTP and SSE upstreams only, and `[gateway] auth = true`.
    TokenExchange(OAuthClientSpec),
}

impl CredentialSpec {
    /// The OAuth client behind a client-credentials or token-exchange credential.
    pub fn oauth(&self) -> Option<&OAuthClientSpec> {
        match self {
            Self::ClientCredentials(client) | Self::TokenExchange(client) => Some(client),
            Self::None | Self::Bearer { .. } => None,
        }
    }
}

/// The gateway as an OAuth client of the authorization server that protects an upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientSpec {
    /// Token endpoint. Unset: discovered from `issuer`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Issuer whose RFC 8414 metadata names the token endpoint.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The gateway's client id at that authorization server.
    pub client_id: String,
    /// Where the client secret is.
    pub client_secret: SecretSpec,
    /// Space-separated scopes to ask for.
    #[serde(default)]
    pub scope: Option<String>,
    /// RFC 8707 resource indicator (the upstream's canonical URI), so the token is minted
    /// for this upstream only. Unset for token exchange: the upstream's URL.
    #[serde(default)]
    pub resource: Option<String>,
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
    /// Checks `[gateway.http]` and compiles `[gateway.policy]` and `[gateway.rate_limits]`
    /// as the gateway will, so a bad rule or limit is reported by `check` rather than at start. With the file's
    /// `text`, the error points at the rule's `id` (or the limit's key) when it can.
    pub(crate) fn policy_problem(&self, text: Option<&str>) -> Option<crate::ConfigError> {
        use belay_policy::{ConcurrencyLimits, Error, Policy, RateLimits};
        if let Some((key, message)) = self.http.problem() {
            let problem = crate::ConfigError::new(message);
            return Some(match text.and_then(|t| t.find(key).map(|at| (t, at))) {
                Some((text, offset)) => problem.at(text, offset),
                None => problem,
            });
        }
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
