//! Configuration as the gateway reads it (TOML through figment, like `BelayConfig`), and
//! every way a spec fails to load, each naming what to fix.

use belay_policy::{
    ConcurrencyLimits, Effect, Kind, ManualClock, Policy, PolicySpec, Principal, RateLimitSpec,
    Target, Throttle,
};
use figment::{
    Figment,
    providers::{Format, Toml},
};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use crate::args;

/// The shape the lead will give `[gateway]`: our two tables among others.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Gateway {
    policy: PolicySpec,
    rate_limits: RateLimitSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    gateway: Gateway,
}

fn load(toml: &str) -> Result<Config, Box<figment::Error>> {
    Ok(Figment::from(Toml::string(toml)).extract()?)
}

const EXAMPLE: &str = r#"
[gateway.policy]
default = "deny"

[[gateway.policy.rules]]
id = "admins"
groups = ["admins"]

[[gateway.policy.rules]]
id = "no-writes"
effect = "deny"
names = ["set_*", "delete_*"]
description = "read-only for now"

[[gateway.policy.rules]]
id = "stock-readers"
scopes = ["stock:read"]
upstreams = ["stock"]
kinds = ["tool", "prompt"]
names = ["get_*"]
arguments.period = { enum = ["1d", "5d", "1mo"] }
arguments.ticker = { required = true, pattern = "[A-Z]{1,5}", max_length = 5 }
arguments."options.limit" = { min = 1, max = 100 }

[gateway.rate_limits]
per_user = { per_minute = 120, burst = 20 }
per_client = { per_minute = 600 }
max_concurrent = 8
upstream_max_concurrent = { stock = 2 }
tools = [{ upstream = "stock", name = "get_history", per_minute = 10, per_user = true }]
"#;

#[test]
fn the_documented_example_loads_and_behaves() -> anyhow::Result<()> {
    let config = load(EXAMPLE)?.gateway;
    assert_eq!(config.policy.default, Effect::Deny);
    assert_eq!(config.policy.rules[2].kinds, [Kind::Tool, Kind::Prompt]);
    let policy = Policy::try_from(&config.policy)?;
    let reader = Principal::new("u").with_scopes(["stock:read"]);
    let target = Target::tool("stock", "get_stock_price");
    let call = args(json!({"ticker": "MSFT", "period": "5d", "options": {"limit": 5}}));
    assert!(policy.decide(&reader, &target, Some(&call)).allowed);
    let bad = args(json!({"ticker": "msft", "options": {"limit": 500}}));
    let decision = policy.decide(&reader, &target, Some(&bad));
    assert_eq!(
        decision.reason,
        "denied by rule `stock-readers`: argument `options.limit` must be a number between 1 \
         and 100; argument `ticker` must match the pattern `[A-Z]{1,5}`"
    );
    let throttle = Throttle::new(&config.rate_limits, Arc::new(ManualClock::new()))?;
    assert_eq!(throttle.concurrency().cap("stock"), Some(2));
    assert_eq!(throttle.concurrency().cap("news"), Some(8));
    Ok(())
}

#[test]
fn defaults_allow_everything_and_limit_nothing() -> anyhow::Result<()> {
    let config = load("")?.gateway;
    assert_eq!(config.policy, PolicySpec::default());
    let policy = Policy::new(&config.policy)?;
    assert!(
        policy
            .decide(&Principal::new("u"), &Target::tool("a", "b"), None)
            .allowed
    );
    let throttle = Throttle::new(&config.rate_limits, Arc::new(ManualClock::new()))?;
    assert_eq!(throttle.concurrency().cap("a"), None);
    let p = Principal::new("u").with_client("c");
    assert!(throttle.limits().charges(&p, "a", Some("b")).is_empty());
    Ok(())
}

#[test]
fn misspelt_keys_are_refused() {
    for (toml, key) in [
        ("[gateway.policy]\ndefualt = \"deny\"", "defualt"),
        (
            "[[gateway.policy.rules]]\nid = \"r\"\nuser = [\"a\"]",
            "user",
        ),
        (
            "[[gateway.policy.rules]]\nid = \"r\"\narguments.a = { maximum = 3 }",
            "maximum",
        ),
        (
            "[[gateway.policy.rules]]\nid = \"r\"\nkinds = [\"tools\"]",
            "tools",
        ),
        ("[gateway.rate_limits]\nper_user = { rate = 1 }", "rate"),
        ("[gateway.policy]\ndefault = \"block\"", "block"),
    ] {
        let err = load(toml).map(|_| ()).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains(key), "{toml:?}: {err:?}");
    }
}

/// The load error of the single rule written as TOML.
fn rule_error(rule: &str) -> String {
    let toml = format!("[[gateway.policy.rules]]\n{rule}");
    match load(&toml) {
        Ok(config) => Policy::new(&config.gateway.policy)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| format!("{rule:?} loaded")),
        Err(e) => format!("{rule:?} did not parse: {e}"),
    }
}

#[test]
fn invalid_rules_are_load_errors_naming_the_rule() {
    let cases = [
        ("id = \"\"", "invalid policy rule `rules[0]`: `id` is empty"),
        (
            "id = \"r\"\narguments.t = { pattern = \"[A-Z\" }",
            "invalid policy rule `r`: argument `t`: `pattern` is not a valid regular expression",
        ),
        (
            "id = \"big\"\narguments.t = { pattern = \"(\\\\w{100}){100}\" }",
            "invalid policy rule `big`: argument `t`: `pattern` is not a valid regular expression",
        ),
        (
            "id = \"d\"\neffect = \"deny\"\narguments.t = { required = true }",
            "invalid policy rule `d`: `arguments` only go on `allow` rules",
        ),
        (
            "id = \"r\"\narguments.n = { min = 5, max = 1 }",
            "argument `n`: `min` (5) is greater than `max` (1)",
        ),
        (
            "id = \"r\"\narguments.n = { max = nan }",
            "argument `n`: `max` must be a finite number",
        ),
        (
            "id = \"r\"\narguments.p = { enum = [] }",
            "argument `p`: `enum` is empty",
        ),
        (
            "id = \"r\"\narguments.p = { forbidden = true, required = true }",
            "argument `p`: `forbidden` cannot be combined",
        ),
        (
            "id = \"r\"\narguments.\"a..b\" = { required = true }",
            "argument `a..b`: the path has an empty segment",
        ),
        (
            "id = \"r\"\nnames = [\"get_*\", \"\"]",
            "invalid policy rule `r`: `names` pattern \"\": an empty pattern matches nothing",
        ),
        ("id = \"r\"\ngroups = [\"\"]", "`groups` has an empty entry"),
    ];
    for (rule, expected) in cases {
        let err = rule_error(rule);
        assert!(err.contains(expected), "{rule:?}: {err:?}");
    }
    let long = format!(
        "id = \"long\"\narguments.t = {{ pattern = \"{}\" }}",
        "a".repeat(1001)
    );
    assert!(rule_error(&long).contains("longer than 1000 bytes"));
}

#[test]
fn duplicate_ids_are_refused() -> anyhow::Result<()> {
    let config =
        load("[[gateway.policy.rules]]\nid = \"same\"\n[[gateway.policy.rules]]\nid = \"same\"\n")?;
    let err = Policy::new(&config.gateway.policy)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "invalid policy rule `same`: another rule has the same `id`; ids must be unique"
    );
    Ok(())
}

#[test]
fn invalid_limits_are_load_errors_naming_the_limit() -> anyhow::Result<()> {
    let cases = [
        (
            "per_user = { per_minute = 0 }",
            "invalid rate limit `per_user`: `per_minute` must be a positive number",
        ),
        (
            "per_client = { per_minute = 10, burst = 0 }",
            "invalid rate limit `per_client`: `burst` must be at least 1",
        ),
        (
            "per_tool = { per_minute = inf }",
            "invalid rate limit `per_tool`: `per_minute` must be a positive number",
        ),
        (
            "tools = [{ name = \"a\", per_minute = 1 }, { name = \"\", per_minute = 1 }]",
            "invalid rate limit `tools[1]`: \"\": an empty pattern",
        ),
        (
            "max_concurrent = 0",
            "invalid rate limit `max_concurrent`: 0 would refuse every call",
        ),
        (
            "upstream_max_concurrent = { stock = 0 }",
            "invalid rate limit `upstream_max_concurrent.stock`",
        ),
    ];
    for (limits, expected) in cases {
        let config = load(&format!("[gateway.rate_limits]\n{limits}"))?;
        let err = Throttle::new(&config.gateway.rate_limits, Arc::new(ManualClock::new()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{limits:?}: {err:?}");
    }
    assert!(ConcurrencyLimits::new(Some(0), Default::default()).is_err());
    Ok(())
}

#[test]
fn the_json_schema_documents_every_field() -> anyhow::Result<()> {
    let policy = serde_json::to_value(schemars::schema_for!(PolicySpec))?;
    let rule = &policy["$defs"]["RuleSpec"]["properties"];
    assert!(
        rule["arguments"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("allow"))
    );
    let argument = &policy["$defs"]["ArgumentSpec"]["properties"];
    assert!(argument["enum"]["description"].is_string(), "{argument}");
    let limits = serde_json::to_value(schemars::schema_for!(RateLimitSpec))?;
    assert!(limits["properties"]["max_buckets"]["description"].is_string());
    Ok(())
}
