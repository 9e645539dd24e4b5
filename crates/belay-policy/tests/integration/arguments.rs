//! Every argument constraint kind, with the message a caller (often a model) reads to fix
//! its call.

use belay_policy::{ArgumentSpec, Effect, Policy, Principal, RuleSpec, Target};
use serde_json::{Value, json};

use crate::{args, policy};

/// A policy allowing every call whose arguments meet `constraints`.
fn constrained(constraints: &[(&str, ArgumentSpec)]) -> Policy {
    let mut rule = RuleSpec::new("checked", Effect::Allow);
    for (path, spec) in constraints {
        rule.arguments.insert((*path).to_owned(), spec.clone());
    }
    policy(Effect::Deny, vec![rule])
}

/// The reason a call with `arguments` is denied, or `None` if it is allowed.
fn problem(policy: &Policy, arguments: Value) -> Option<String> {
    let decision = policy.decide(
        &Principal::new("u"),
        &Target::tool("stock", "get_stock_price"),
        Some(&args(arguments)),
    );
    if decision.allowed {
        return None;
    }
    assert_eq!(decision.rule.as_deref(), Some("checked"), "{decision:?}");
    decision
        .reason
        .strip_prefix("denied by rule `checked`: ")
        .map(str::to_owned)
}

#[test]
fn enum_lists_the_allowed_values() {
    let policy = constrained(&[(
        "period",
        ArgumentSpec {
            one_of: Some(vec![json!("1d"), json!("5d"), json!("1mo")]),
            ..Default::default()
        },
    )]);
    assert_eq!(problem(&policy, json!({"period": "5d"})), None);
    assert_eq!(problem(&policy, json!({})), None, "absent and not required");
    let message = "argument `period` must be one of 1d, 5d, 1mo";
    assert_eq!(
        problem(&policy, json!({"period": "10y"})).as_deref(),
        Some(message)
    );
    assert_eq!(
        problem(&policy, json!({"period": 5})).as_deref(),
        Some(message)
    );
}

#[test]
fn enum_compares_numbers_by_value() {
    let policy = constrained(&[(
        "days",
        ArgumentSpec {
            one_of: Some(vec![json!(1), json!(7), json!(true)]),
            ..Default::default()
        },
    )]);
    assert_eq!(problem(&policy, json!({"days": 7.0})), None);
    assert_eq!(problem(&policy, json!({"days": true})), None);
    assert_eq!(
        problem(&policy, json!({"days": "7"})).as_deref(),
        Some("argument `days` must be one of 1, 7, true")
    );
}

#[test]
fn ranges_are_inclusive_and_need_numbers() {
    let range = |min, max| ArgumentSpec {
        min,
        max,
        ..Default::default()
    };
    let policy = constrained(&[
        ("days", range(Some(1.0), Some(14.0))),
        ("limit", range(Some(1.0), None)),
        ("offset", range(None, Some(100.5))),
    ]);
    assert_eq!(
        problem(&policy, json!({"days": 1, "limit": 1e9, "offset": -3})),
        None
    );
    assert_eq!(problem(&policy, json!({"days": 14, "offset": 100.5})), None);
    assert_eq!(
        problem(&policy, json!({"days": 15})).as_deref(),
        Some("argument `days` must be a number between 1 and 14")
    );
    assert_eq!(
        problem(&policy, json!({"days": "3"})).as_deref(),
        Some("argument `days` must be a number between 1 and 14")
    );
    assert_eq!(
        problem(&policy, json!({"limit": 0})).as_deref(),
        Some("argument `limit` must be a number at least 1")
    );
    assert_eq!(
        problem(&policy, json!({"offset": 101})).as_deref(),
        Some("argument `offset` must be a number at most 100.5")
    );
}

#[test]
fn patterns_must_match_the_whole_string() {
    let policy = constrained(&[(
        "ticker",
        ArgumentSpec {
            pattern: Some("[A-Z]{1,5}".into()),
            ..Default::default()
        },
    )]);
    assert_eq!(problem(&policy, json!({"ticker": "MSFT"})), None);
    let message = "argument `ticker` must match the pattern `[A-Z]{1,5}`";
    for bad in ["msft", "MSFT; rm -rf /", "TOOLONG", ""] {
        assert_eq!(
            problem(&policy, json!({"ticker": bad})).as_deref(),
            Some(message),
            "{bad:?}"
        );
    }
    assert_eq!(
        problem(&policy, json!({"ticker": 42})).as_deref(),
        Some("argument `ticker` must be a string")
    );
}

#[test]
fn max_length_counts_characters_or_items() {
    let policy = constrained(&[(
        "query",
        ArgumentSpec {
            max_length: Some(3),
            ..Default::default()
        },
    )]);
    assert_eq!(
        problem(&policy, json!({"query": "été"})),
        None,
        "3 chars, 5 bytes"
    );
    assert_eq!(problem(&policy, json!({"query": [1, 2, 3]})), None);
    assert_eq!(
        problem(&policy, json!({"query": "four"})).as_deref(),
        Some("argument `query` must be at most 3 characters long")
    );
    assert_eq!(
        problem(&policy, json!({"query": [1, 2, 3, 4]})).as_deref(),
        Some("argument `query` must have at most 3 items")
    );
    assert_eq!(
        problem(&policy, json!({"query": {"a": 1}})).as_deref(),
        Some("argument `query` must be a string or an array")
    );
}

#[test]
fn required_treats_null_as_absent() {
    let policy = constrained(&[(
        "city",
        ArgumentSpec {
            required: true,
            ..Default::default()
        },
    )]);
    assert_eq!(problem(&policy, json!({"city": "Paris"})), None);
    let message = Some("argument `city` is required");
    assert_eq!(problem(&policy, json!({})).as_deref(), message);
    assert_eq!(problem(&policy, json!({"city": null})).as_deref(), message);
    let none = policy.decide(
        &Principal::new("u"),
        &Target::tool("weather", "get_forecast"),
        None,
    );
    assert!(
        none.reason.ends_with("argument `city` is required"),
        "{none:?}"
    );
}

#[test]
fn forbidden_refuses_any_value() {
    let policy = constrained(&[(
        "path",
        ArgumentSpec {
            forbidden: true,
            ..Default::default()
        },
    )]);
    assert_eq!(problem(&policy, json!({"other": 1})), None);
    assert_eq!(problem(&policy, json!({"path": null})), None);
    assert_eq!(
        problem(&policy, json!({"path": "/etc"})).as_deref(),
        Some("argument `path` is not allowed")
    );
    assert_eq!(
        problem(&policy, json!({"path": false})).as_deref(),
        Some("argument `path` is not allowed")
    );
}

#[test]
fn paths_reach_nested_objects_and_array_items() {
    let policy = constrained(&[
        (
            "options.limit",
            ArgumentSpec {
                max: Some(50.0),
                ..Default::default()
            },
        ),
        (
            "tickers.0",
            ArgumentSpec {
                required: true,
                ..Default::default()
            },
        ),
    ]);
    assert_eq!(
        problem(&policy, json!({"options": {"limit": 10}, "tickers": ["A"]})),
        None
    );
    assert_eq!(
        problem(&policy, json!({"options": {"limit": 51}, "tickers": ["A"]})).as_deref(),
        Some("argument `options.limit` must be a number at most 50")
    );
    assert_eq!(
        problem(&policy, json!({"options": 3, "tickers": []})).as_deref(),
        Some("argument `tickers.0` is required")
    );
}

#[test]
fn every_broken_argument_is_reported_at_once_in_path_order() {
    let policy = constrained(&[
        (
            "b",
            ArgumentSpec {
                required: true,
                ..Default::default()
            },
        ),
        (
            "a",
            ArgumentSpec {
                max_length: Some(1),
                ..Default::default()
            },
        ),
    ]);
    assert_eq!(
        problem(&policy, json!({"a": "xy"})).as_deref(),
        Some("argument `a` must be at most 1 character long; argument `b` is required")
    );
}
