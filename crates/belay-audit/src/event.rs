//! [`AuditEvent`]: one request and the decision about it, as the gateway saw it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the policy decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Let through.
    Allow,
    /// Refused by a policy rule.
    Deny,
    /// Refused by a rate limit or concurrency cap.
    RateLimited,
    /// Refused because the caller did not authenticate.
    Unauthenticated,
}

impl Decision {
    /// The name used in JSON, SQLite and query filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::RateLimited => "rate_limited",
            Self::Unauthenticated => "unauthenticated",
        }
    }
}

impl std::str::FromStr for Decision {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            "rate_limited" => Ok(Self::RateLimited),
            "unauthenticated" => Ok(Self::Unauthenticated),
            other => Err(crate::Error::Config(format!(
                "unknown decision {other:?}: use allow, deny, rate_limited or unauthenticated"
            ))),
        }
    }
}

/// How the request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// A result was returned (a tool result with `isError: true` is still `ok`).
    Ok,
    /// A JSON-RPC or transport error was returned.
    Error {
        /// JSON-RPC error code, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i64>,
        /// The message (redacted like arguments before it is written).
        message: String,
    },
}

/// One audited request. Build it with [`AuditEvent::new`] and struct update syntax; the log
/// redacts `arguments` and the error message before anything is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When the request arrived; written as RFC 3339 UTC with microseconds.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// Authenticated user (token subject), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// OAuth client id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// MCP session id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Upstream server name the request was (or would have been) routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// JSON-RPC method, e.g. `tools/call`.
    pub method: String,
    /// Tool or prompt name, or resource URI, the method acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Request arguments; redacted before writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// What the policy decided.
    pub decision: Decision,
    /// The rule that decided, e.g. `policy.rules[3]` or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Time from arrival to response, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// Size of the result sent back, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_bytes: Option<u64>,
    /// How the request ended.
    pub outcome: Outcome,
    /// W3C trace id, to join the record with traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// What the gateway's guards found and did, in the order they ran (never the matched
    /// text, which may be the secret a guard redacted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guard: Vec<GuardVerdict>,
}

/// One guard verdict in an [`AuditEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardVerdict {
    /// The guard: `metadata`, `pinning`, `arguments`, `injection`, `secrets` or `links`.
    pub guard: String,
    /// The rule that matched, e.g. `pii.card`.
    pub rule: String,
    /// The kind of finding, e.g. `secret`.
    pub kind: String,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// `flagged`, `annotated`, `redacted`, `blocked` or `hidden`.
    pub action: String,
    /// Where it was found (an argument's JSON pointer, a content index, a tool field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AuditEvent {
    /// An allowed, successful `method` call happening now, every other field empty.
    pub fn new(method: impl Into<String>) -> Self {
        Self {
            time: Utc::now(),
            user: None,
            client: None,
            session: None,
            upstream: None,
            method: method.into(),
            name: None,
            arguments: None,
            decision: Decision::Allow,
            rule: None,
            latency_us: None,
            result_bytes: None,
            outcome: Outcome::Ok,
            trace_id: None,
            guard: Vec::new(),
        }
    }
}

/// Formats a time the way records carry it: fixed microsecond precision and `Z`, so text
/// order is time order.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
