//! One integration-test binary for belay-policy: rules and argument constraints against
//! real compiled policies, configuration as the gateway will read it (TOML through figment),
//! and rate limits on a manual or paused clock, never sleeping.

#![allow(unreachable_pub, missing_docs)]

mod arguments;
mod buckets;
mod concurrency;
mod config;
mod rules;

use belay_policy::{Decision, Effect, Policy, PolicySpec, RuleSpec};
use serde_json::{Map, Value};

/// A policy from rules, failing the test with the load error if it does not compile.
pub fn policy(default: Effect, rules: Vec<RuleSpec>) -> Policy {
    match Policy::new(&PolicySpec { default, rules }) {
        Ok(policy) => policy,
        Err(e) => panic!("policy should load: {e}"),
    }
}

/// A JSON object literal as tool arguments.
pub fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, not {other}"),
    }
}

/// Asserts a denial by `rule` whose reason contains `reason`.
#[track_caller]
pub fn assert_denied(decision: &Decision, rule: Option<&str>, reason: &str) {
    assert!(!decision.allowed, "{decision:?}");
    assert_eq!(decision.rule.as_deref(), rule, "{decision:?}");
    assert!(
        decision.reason.contains(reason),
        "{:?} lacks {reason:?}",
        decision.reason
    );
}
