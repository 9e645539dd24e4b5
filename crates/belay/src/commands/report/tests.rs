//! A scripted week of traffic and the counts its report must hold.

use belay_audit::{AuditEvent, Decision, GuardVerdict, Outcome, Record};
use belay_console::alerts::{AlertsSpec, Group, RuleSpec, Signal};
use belay_console::testkit::record;
use chrono::{DateTime, Duration, Utc};

use super::{html, model, parse_period};

fn verdict(guard: &str, kind: &str, action: &str) -> GuardVerdict {
    GuardVerdict {
        guard: guard.into(),
        rule: format!("{guard}.rule"),
        kind: kind.into(),
        severity: "high".into(),
        action: action.into(),
        field: None,
    }
}

/// Seven days: each day alice calls stock/quote 10 times and bob calls news/search 5 times;
/// on day 3 mallory fails to sign in 6 times in a minute; on day 5 a poisoned tool is hidden
/// and a policy rule denies bob twice; on day 6 a result's card number is redacted and a
/// changed tool is approved in the console.
fn week(start: DateTime<Utc>) -> Vec<Record> {
    let mut events = Vec::new();
    let call = |user: &str, upstream: &str, tool: &str, time| AuditEvent {
        time,
        user: Some(user.into()),
        upstream: Some(upstream.into()),
        name: Some(tool.into()),
        ..AuditEvent::new("tools/call")
    };
    for day in 0..7 {
        let t = start + Duration::days(day) + Duration::hours(9);
        for i in 0..10 {
            events.push(call("alice", "stock", "quote", t + Duration::minutes(i)));
        }
        for i in 0..5 {
            events.push(call("bob", "news", "search", t + Duration::minutes(20 + i)));
        }
    }
    let day3 = start + Duration::days(3) + Duration::hours(12);
    for i in 0..6 {
        events.push(AuditEvent {
            time: day3 + Duration::seconds(i),
            client: Some("mallory-app".into()),
            decision: Decision::Unauthenticated,
            outcome: Outcome::Error {
                code: None,
                message: "invalid token".into(),
            },
            ..AuditEvent::new("tools/call")
        });
    }
    let day5 = start + Duration::days(5) + Duration::hours(12);
    events.push(AuditEvent {
        time: day5,
        upstream: Some("evil".into()),
        guard: vec![verdict("metadata", "hidden_instruction", "hidden")],
        ..AuditEvent::new("tools/list")
    });
    for i in 0..2 {
        events.push(AuditEvent {
            decision: Decision::Deny,
            rule: Some("policy.rules[1]".into()),
            ..call("bob", "stock", "trade", day5 + Duration::minutes(i))
        });
    }
    let day6 = start + Duration::days(6) + Duration::hours(12);
    events.push(AuditEvent {
        guard: vec![verdict("secrets", "card", "redacted")],
        ..call("alice", "stock", "quote", day6)
    });
    events.push(AuditEvent {
        time: day6 + Duration::minutes(1),
        user: Some("admin-sub".into()),
        client: Some("belay-console".into()),
        upstream: Some("calc".into()),
        name: Some("add".into()),
        ..AuditEvent::new("console/approve")
    });
    events.sort_by_key(|e| e.time);
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| record(i as u64 + 1, e))
        .collect()
}

fn alerts() -> AlertsSpec {
    AlertsSpec {
        rule: vec![RuleSpec {
            name: "sign-in-failures".into(),
            when: Signal::Unauthenticated,
            threshold: 5.0,
            window_secs: 60,
            per: Group::Client,
            min_requests: 1,
            webhooks: Vec::new(),
        }],
        webhook: Vec::new(),
    }
}

#[test]
fn a_scripted_week_holds_the_expected_counts() {
    let start = DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default();
    let records = week(start);
    let until = start + Duration::days(7);
    let r = model::compute(
        &records,
        start,
        until,
        &alerts(),
        vec!["calc/sub".into()],
        "The audit chain verifies (118 records).".into(),
    );
    // 105 calls, 6 refused sign-ins, 1 list, 2 denials, 1 redacted call; the approval is
    // the console's, not traffic.
    assert_eq!(r.requests, 115);
    assert_eq!(
        (r.users, r.denied, r.unauthenticated, r.detections),
        (2, 2, 6, 2)
    );
    assert_eq!(r.top_users[0].label, "alice");
    assert_eq!(r.top_users[0].count, 71);
    assert_eq!(r.top_tools[0].label, "stock/quote");
    assert_eq!(r.top_tools[0].count, 71);
    assert_eq!(r.denials_by_rule[0].count, 2);
    assert_eq!(r.approvals[0].label, "calc/add");
    assert_eq!(r.alerts.len(), 1, "one incident for the failed sign-ins");
    assert_eq!(r.alerts[0].count, 1);
    assert_eq!(r.per_day.len(), 7);
    assert_eq!(r.per_day[3].count, 21);
    assert_eq!(r.owasp.len(), 10);
    let risk = |id: &str| r.owasp.iter().find(|s| s.id == id).map(|s| s.seen);
    assert_eq!(risk("MCP02"), Some(2), "denials");
    assert_eq!(risk("MCP03"), Some(1), "the hidden poisoned tool");
    assert_eq!(risk("MCP04"), Some(1), "the approval");
    assert_eq!(risk("MCP07"), Some(6), "refused sign-ins");
    assert_eq!(risk("MCP10"), Some(1), "the redacted card");
    let page = html::render(&r);
    assert!(page.contains("<svg") && !page.contains("<script"));
    assert!(page.contains("MCP01") && page.contains("MCP10"));
}

#[test]
fn hostile_labels_are_escaped_and_periods_parse() {
    let start = DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default();
    let records = vec![record(
        1,
        AuditEvent {
            time: start,
            user: Some("<script>alert(1)</script>".into()),
            ..AuditEvent::new("tools/call")
        },
    )];
    let r = model::compute(
        &records,
        start,
        start,
        &AlertsSpec::default(),
        Vec::new(),
        String::new(),
    );
    let page = html::render(&r);
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("&lt;script&gt;"));
    assert_eq!(parse_period("7d"), Ok(Duration::days(7)));
    assert_eq!(parse_period("30m"), Ok(Duration::minutes(30)));
    assert!(
        parse_period("7w").is_err() && parse_period("-1d").is_err() && parse_period("").is_err()
    );
}
