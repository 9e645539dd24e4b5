//! `[gateway.rate_limits]` in belay.toml: token buckets and concurrency caps.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Rate limits and concurrency caps of the gateway (`[gateway.rate_limits]`). Every limit
/// is off unless set. A request must find a token in every bucket that applies to it
/// (user, client, tool); it takes one from each, or from none when one is empty.
///
/// ```toml
/// [gateway.rate_limits]
/// per_user = { per_minute = 120, burst = 20 }
/// per_tool = { per_minute = 600 }
/// max_concurrent = 16
/// tools = [{ upstream = "stock", name = "get_history", per_minute = 10, per_user = true }]
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSpec {
    /// One bucket per user (the token's `sub`), across clients and upstreams.
    pub per_user: Option<BucketSpec>,
    /// One bucket per OAuth client, shared by all its users.
    pub per_client: Option<BucketSpec>,
    /// One bucket per tool (upstream and name), shared by all callers; protects tools
    /// that are expensive to run. `tools` entries replace it for the tools they match.
    pub per_tool: Option<BucketSpec>,
    /// Limits for particular tools; the first entry that matches a tool applies.
    pub tools: Vec<ToolLimitSpec>,
    /// Most calls in flight to one upstream at once; unset: no cap.
    pub max_concurrent: Option<u32>,
    /// Caps for particular upstreams (by name), replacing `max_concurrent` for them.
    pub upstream_max_concurrent: BTreeMap<String, u32>,
    /// Most buckets kept in memory. Past it, the buckets idle longest are dropped first,
    /// which can only make a limit more lenient, never stricter.
    pub max_buckets: usize,
    /// Seconds between sweeps that drop buckets which have refilled completely (an idle
    /// bucket is the same as no bucket, so dropping it changes nothing).
    pub sweep_interval_secs: u64,
}

impl Default for RateLimitSpec {
    fn default() -> Self {
        Self {
            per_user: None,
            per_client: None,
            per_tool: None,
            tools: Vec::new(),
            max_concurrent: None,
            upstream_max_concurrent: BTreeMap::new(),
            max_buckets: 100_000,
            sweep_interval_secs: 60,
        }
    }
}

/// A token bucket: refills at `per_minute` tokens a minute, holds at most `burst`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Sustained rate, in requests per minute (fractions allowed: `0.5` is one every two
    /// minutes).
    pub per_minute: f64,
    /// Requests allowed at once after a quiet period. Unset: `per_minute` rounded up, so
    /// "60 a minute" can be spent in one go.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A limit for the tools that `upstream` and `name` match (`[[gateway.rate_limits.tools]]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolLimitSpec {
    /// Upstream name pattern (`*`, `?`). Unset: every upstream.
    #[serde(default = "any")]
    pub upstream: String,
    /// Tool name pattern, as the upstream names the tool.
    pub name: String,
    /// Sustained rate, in calls per minute.
    pub per_minute: f64,
    /// Calls allowed at once. Unset: `per_minute` rounded up.
    #[serde(default)]
    pub burst: Option<u32>,
    /// One bucket per user and tool instead of one per tool shared by everyone.
    #[serde(default)]
    pub per_user: bool,
}

fn any() -> String {
    "*".into()
}
