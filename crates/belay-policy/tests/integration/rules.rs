//! Which rule matches whom and what, in which order, and what is hidden from lists.

use belay_policy::{Effect, Kind, Principal, RuleSpec, Target};
use serde_json::json;

use crate::{args, assert_denied, policy};

fn allow(id: &str) -> RuleSpec {
    RuleSpec::new(id, Effect::Allow)
}

fn deny(id: &str) -> RuleSpec {
    RuleSpec::new(id, Effect::Deny)
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const PRICE: Target<'static> = Target {
    upstream: "stock",
    kind: Kind::Tool,
    name: "get_stock_price",
};

#[test]
fn users_match_by_sub_with_patterns() {
    let policy = policy(
        Effect::Deny,
        vec![RuleSpec {
            users: v(&["alice", "svc-*"]),
            ..allow("people")
        }],
    );
    for user in ["alice", "svc-reporting"] {
        let decision = policy.decide(&Principal::new(user), &PRICE, None);
        assert!(decision.allowed, "{user}: {decision:?}");
        assert_eq!(decision.rule.as_deref(), Some("people"));
        assert_eq!(decision.reason, "allowed by rule `people`");
    }
    for user in ["bob", "alice2", "svc"] {
        assert_denied(
            &policy.decide(&Principal::new(user), &PRICE, None),
            None,
            "default is deny",
        );
    }
}

#[test]
fn clients_match_and_a_caller_without_client_never_does() {
    let policy = policy(
        Effect::Deny,
        vec![RuleSpec {
            clients: v(&["vscode-*"]),
            ..allow("editors")
        }],
    );
    let with = |client: &str| Principal::new("u").with_client(client);
    assert!(
        policy
            .decide(&with("vscode-insiders"), &PRICE, None)
            .allowed
    );
    assert!(!policy.decide(&with("cursor"), &PRICE, None).allowed);
    assert!(!policy.decide(&Principal::new("u"), &PRICE, None).allowed);
}

#[test]
fn groups_and_scopes_need_any_one_of_the_list() {
    let policy = policy(
        Effect::Deny,
        vec![
            RuleSpec {
                groups: v(&["admins", "ops"]),
                ..allow("staff")
            },
            RuleSpec {
                scopes: v(&["stock:read", "stock:write"]),
                ..allow("stock-scope")
            },
        ],
    );
    let ops = Principal::new("u").with_groups(["ops", "dev"]);
    assert_eq!(
        policy.decide(&ops, &PRICE, None).rule.as_deref(),
        Some("staff")
    );
    let reader = Principal::new("u").with_scopes(["openid", "stock:read"]);
    assert_eq!(
        policy.decide(&reader, &PRICE, None).rule.as_deref(),
        Some("stock-scope")
    );
    // A group named like a scope is not a scope, and the other way round.
    let confused = Principal::new("u")
        .with_groups(["stock:read"])
        .with_scopes(["admins"]);
    assert!(!policy.decide(&confused, &PRICE, None).allowed);
}

#[test]
fn all_conditions_of_a_rule_must_hold() {
    let policy = policy(
        Effect::Deny,
        vec![RuleSpec {
            users: v(&["alice"]),
            groups: v(&["traders"]),
            ..allow("both")
        }],
    );
    let alice = Principal::new("alice");
    assert!(!policy.decide(&alice, &PRICE, None).allowed);
    let trader = alice.with_groups(["traders"]);
    assert!(policy.decide(&trader, &PRICE, None).allowed);
    assert!(
        !policy
            .decide(
                &Principal::new("bob").with_groups(["traders"]),
                &PRICE,
                None
            )
            .allowed
    );
}

#[test]
fn upstreams_kinds_and_names_select_the_target() {
    let policy = policy(
        Effect::Deny,
        vec![
            RuleSpec {
                upstreams: v(&["stock"]),
                kinds: vec![Kind::Tool],
                names: v(&["get_*"]),
                ..allow("stock-reads")
            },
            RuleSpec {
                kinds: vec![Kind::Resource],
                names: v(&["file:///docs/*"]),
                ..allow("docs")
            },
            RuleSpec {
                upstreams: v(&["news-?"]),
                ..allow("news-anything")
            },
        ],
    );
    let p = Principal::new("u");
    let allowed = |target: Target<'_>| policy.decide(&p, &target, None).rule;
    assert_eq!(allowed(PRICE).as_deref(), Some("stock-reads"));
    assert_eq!(allowed(Target::tool("stock", "set_price")), None);
    assert_eq!(allowed(Target::tool("weather", "get_forecast")), None);
    assert_eq!(allowed(Target::prompt("stock", "get_summary")), None);
    assert_eq!(
        allowed(Target::resource("fs", "file:///docs/a/b.md")).as_deref(),
        Some("docs")
    );
    assert_eq!(allowed(Target::resource("fs", "file:///etc/passwd")), None);
    assert_eq!(allowed(Target::tool("fs", "file:///docs/x")), None);
    assert_eq!(
        allowed(Target::prompt("news-1", "brief")).as_deref(),
        Some("news-anything")
    );
    assert_eq!(allowed(Target::prompt("news-10", "brief")), None);
}

#[test]
fn first_match_wins_so_an_allow_can_carve_an_exception() {
    let policy = policy(
        Effect::Allow,
        vec![
            RuleSpec {
                groups: v(&["admins"]),
                names: v(&["delete_*"]),
                ..allow("admins-delete")
            },
            RuleSpec {
                names: v(&["delete_*"]),
                description: Some("deleting is for admins: ask in #ops".into()),
                ..deny("nobody-else-deletes")
            },
        ],
    );
    let target = Target::tool("fs", "delete_file");
    let admin = Principal::new("a").with_groups(["admins"]);
    let decision = policy.decide(&admin, &target, None);
    assert!(decision.allowed);
    assert_eq!(decision.rule.as_deref(), Some("admins-delete"));
    assert_denied(
        &policy.decide(&Principal::new("b"), &target, None),
        Some("nobody-else-deletes"),
        "denied by rule `nobody-else-deletes`: deleting is for admins: ask in #ops",
    );
    let other = policy.decide(&Principal::new("b"), &Target::tool("fs", "read_file"), None);
    assert!(other.allowed);
    assert_eq!(other.rule, None);
    assert_eq!(
        other.reason,
        "allowed: no rule matched and the default is allow"
    );
}

#[test]
fn the_same_rules_in_the_other_order_deny_everyone() {
    let policy = policy(
        Effect::Allow,
        vec![
            RuleSpec {
                names: v(&["delete_*"]),
                ..deny("nobody-deletes")
            },
            RuleSpec {
                groups: v(&["admins"]),
                ..allow("admins")
            },
        ],
    );
    let admin = Principal::new("a").with_groups(["admins"]);
    assert_denied(
        &policy.decide(&admin, &Target::tool("fs", "delete_file"), None),
        Some("nobody-deletes"),
        "denied by rule `nobody-deletes`",
    );
}

#[test]
fn default_deny_says_what_is_missing() {
    let policy = policy(Effect::Deny, Vec::new());
    assert_denied(
        &policy.decide(&Principal::new("carol"), &PRICE, None),
        None,
        "no rule allows tool `get_stock_price` of upstream `stock` to user `carol`",
    );
}

#[test]
fn broken_arguments_deny_by_the_matching_rule_without_falling_through() {
    let mut rule = RuleSpec {
        names: v(&["get_stock_price"]),
        ..allow("bounded-period")
    };
    rule.arguments.insert(
        "period".into(),
        belay_policy::ArgumentSpec {
            one_of: Some(vec![json!("1d"), json!("5d")]),
            ..Default::default()
        },
    );
    // A later, broader allow must not rescue a call the first rule refused.
    let policy = policy(Effect::Deny, vec![rule, allow("everything")]);
    let p = Principal::new("u");
    assert_denied(
        &policy.decide(&p, &PRICE, Some(&args(json!({"period": "10y"})))),
        Some("bounded-period"),
        "denied by rule `bounded-period`: argument `period` must be one of 1d, 5d",
    );
    let ok = policy.decide(&p, &PRICE, Some(&args(json!({"period": "5d"}))));
    assert!(ok.allowed, "{ok:?}");
    assert_eq!(ok.rule.as_deref(), Some("bounded-period"));
}

#[test]
fn denied_targets_are_hidden_from_lists() {
    let mut constrained = RuleSpec {
        names: v(&["get_*"]),
        ..allow("constrained")
    };
    constrained.arguments.insert(
        "period".into(),
        belay_policy::ArgumentSpec {
            required: true,
            ..Default::default()
        },
    );
    let policy = policy(
        Effect::Deny,
        vec![
            RuleSpec {
                names: v(&["get_secret"]),
                ..deny("secret")
            },
            constrained,
            RuleSpec {
                kinds: vec![Kind::Prompt],
                ..allow("prompts")
            },
        ],
    );
    let p = Principal::new("u");
    assert!(!policy.visible(&p, &Target::tool("stock", "get_secret")));
    // Visible although a call without `period` would be denied: some calls pass.
    assert!(policy.visible(&p, &PRICE));
    assert!(!policy.decide(&p, &PRICE, None).allowed);
    assert!(policy.visible(&p, &Target::prompt("stock", "summary")));
    // No rule: the default (deny) hides it.
    assert!(!policy.visible(&p, &Target::tool("stock", "set_price")));
    let open = crate::policy(Effect::Allow, Vec::new());
    assert!(open.visible(&p, &Target::tool("stock", "set_price")));
}

#[test]
fn allow_all_allows_and_rule_ids_keep_their_order() {
    let decision = belay_policy::Policy::allow_all().decide(&Principal::new("u"), &PRICE, None);
    assert!(decision.allowed);
    let policy = policy(Effect::Deny, vec![deny("b"), allow("a"), allow("c")]);
    assert_eq!(policy.rule_ids().collect::<Vec<_>>(), ["b", "a", "c"]);
}
