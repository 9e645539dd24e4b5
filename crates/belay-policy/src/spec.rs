//! `[gateway.policy]` in belay.toml: who may reach which tools, resources and prompts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Kind;

/// Access rules of the gateway (`[gateway.policy]`). Rules are tried in file order and
/// the first whose caller and target match decides; if none matches, `default` does.
///
/// ```toml
/// [gateway.policy]
/// default = "deny"
///
/// [[gateway.policy.rules]]
/// id = "stock-readers"
/// scopes = ["stock:read"]
/// upstreams = ["stock"]
/// names = ["get_*"]
/// arguments.period = { enum = ["1d", "5d", "1mo"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySpec {
    /// What happens when no rule matches: `allow` (the default, so a gateway without rules
    /// works) or `deny` (only what a rule allows gets through).
    pub default: Effect,
    /// The rules, tried in order; the first that matches decides.
    pub rules: Vec<RuleSpec>,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Let the request through.
    #[default]
    Allow,
    /// Refuse it.
    Deny,
}

/// One rule (`[[gateway.policy.rules]]`). Every condition given must hold for the rule to
/// match; a list matches if any of its entries does, and an empty or absent list matches
/// everything. Patterns take `*` (any run of characters) and `?` (one character).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name of the rule, reported with every decision it makes (audit, errors).
    pub id: String,
    /// Why the rule exists; shown to a denied caller after the rule id, so say what to do
    /// (e.g. "deleting files is for admins: ask in #ops").
    #[serde(default)]
    pub description: Option<String>,
    /// `allow` (default) or `deny`.
    #[serde(default = "allow")]
    pub effect: Effect,
    /// Users, by the token's `sub` (patterns).
    #[serde(default)]
    pub users: Vec<String>,
    /// OAuth clients, by `client_id` (patterns). A caller without a client never matches
    /// a rule that lists clients.
    #[serde(default)]
    pub clients: Vec<String>,
    /// Groups or roles; the caller must be in at least one (exact names).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Scopes; the caller must hold at least one (exact names).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Upstreams, by their name in the gateway configuration (patterns).
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// `tool`, `resource`, `prompt`; absent: all three.
    #[serde(default)]
    pub kinds: Vec<Kind>,
    /// Tool and prompt names as the upstream knows them (without the gateway's prefix), or
    /// resource URIs (patterns).
    #[serde(default)]
    pub names: Vec<String>,
    /// Constraints on the call's arguments, by path (`period`, or `options.limit` for a
    /// nested value; a numeric segment indexes an array). Only on `allow` rules: a call
    /// this rule matches whose arguments break a constraint is denied by this rule, with a
    /// reason naming each argument to fix.
    #[serde(default)]
    pub arguments: BTreeMap<String, ArgumentSpec>,
}

fn allow() -> Effect {
    Effect::Allow
}

impl RuleSpec {
    /// A rule with no conditions (it matches every call) and the given effect.
    pub fn new(id: impl Into<String>, effect: Effect) -> Self {
        Self {
            id: id.into(),
            description: None,
            effect,
            users: Vec::new(),
            clients: Vec::new(),
            groups: Vec::new(),
            scopes: Vec::new(),
            upstreams: Vec::new(),
            kinds: Vec::new(),
            names: Vec::new(),
            arguments: BTreeMap::new(),
        }
    }
}

/// What one argument must be. Constraints other than `required` apply only when the
/// argument is present (JSON `null` counts as absent).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ArgumentSpec {
    /// The argument must be given.
    pub required: bool,
    /// The argument must not be given (e.g. a `path` override the tool should not take
    /// from this caller). Excludes every other constraint.
    pub forbidden: bool,
    /// Allowed values, compared as JSON (numbers by value: `1` equals `1.0`).
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<Value>>,
    /// Least allowed number (inclusive).
    pub min: Option<f64>,
    /// Greatest allowed number (inclusive).
    pub max: Option<f64>,
    /// Regular expression (Rust `regex` syntax) the whole string must match; no
    /// look-around or back-references, so matching time stays linear.
    pub pattern: Option<String>,
    /// Most characters of a string, or items of an array.
    pub max_length: Option<usize>,
}
