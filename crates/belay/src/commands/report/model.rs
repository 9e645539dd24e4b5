//! What a report says, computed from the audit records of its period: totals, top users
//! and tools, denials, detections, changes and approvals, the incidents the alert rules
//! opened, requests per day, and for each OWASP MCP risk what Belay saw and which control
//! covers it. Pure, so a scripted week of records is checked against expected counts.

use std::collections::BTreeMap;

use belay_audit::{Decision, Outcome, Record};
use belay_console::alerts::{AlertsSpec, Evaluator, Status};
use belay_labs::owasp::Risk;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A label and a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Count {
    pub(crate) label: String,
    pub(crate) count: u64,
}

/// One OWASP MCP risk's section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RiskSection {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    /// Events of the period that bear on it.
    pub(crate) seen: u64,
    /// What those were, in words.
    pub(crate) saw: String,
    /// The Belay control that covers it.
    pub(crate) control: &'static str,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) requests: u64,
    pub(crate) users: u64,
    pub(crate) allowed: u64,
    pub(crate) denied: u64,
    pub(crate) rate_limited: u64,
    pub(crate) unauthenticated: u64,
    pub(crate) errors: u64,
    pub(crate) detections: u64,
    pub(crate) top_users: Vec<Count>,
    pub(crate) top_tools: Vec<Count>,
    pub(crate) denials_by_rule: Vec<Count>,
    pub(crate) detections_by_kind: Vec<Count>,
    /// Tools approved in the console (`console/approve`), `upstream/tool`.
    pub(crate) approvals: Vec<Count>,
    /// Tool changes still waiting for approval, `upstream/tool`.
    pub(crate) pending_changes: Vec<String>,
    /// Incidents the alert rules opened over the period, per rule.
    pub(crate) alerts: Vec<Count>,
    /// Requests per day (`YYYY-MM-DD`).
    pub(crate) per_day: Vec<Count>,
    /// The audit chain's state, in words.
    pub(crate) chain: String,
    pub(crate) owasp: Vec<RiskSection>,
}

fn sorted(map: BTreeMap<String, u64>, most: usize) -> Vec<Count> {
    let mut out: Vec<Count> = map
        .into_iter()
        .map(|(label, count)| Count { label, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    out.truncate(most);
    out
}

fn bump(map: &mut BTreeMap<String, u64>, key: impl Into<String>) {
    *map.entry(key.into()).or_insert(0) += 1;
}

/// Guard verdicts of the period by guard name.
fn by_guard(records: &[Record]) -> BTreeMap<&str, u64> {
    let mut out = BTreeMap::new();
    for v in records.iter().flat_map(|r| &r.event.guard) {
        *out.entry(v.guard.as_str()).or_insert(0) += 1;
    }
    out
}

/// What the period holds for `risk`, and the control that covers it.
fn risk_section(risk: Risk, r: &Report, guards: &BTreeMap<&str, u64>) -> RiskSection {
    let guard = |name: &str| guards.get(name).copied().unwrap_or(0);
    let (seen, saw, control) = match risk {
        Risk::TokenMismanagement => (
            guard("secrets"),
            format!("{} secrets redacted from results", guard("secrets")),
            "tokens checked at the edge and never forwarded (upstreams get exchanged tokens); the secrets guard redacts keys and tokens in results",
        ),
        Risk::PrivilegeEscalation => (
            r.denied,
            format!("{} requests denied by policy", r.denied),
            "policy rules per user, client, upstream and tool; per-tool scopes",
        ),
        Risk::ToolPoisoning => (
            guard("metadata"),
            format!("{} tool definitions flagged or hidden", guard("metadata")),
            "the metadata guard screens every listed tool and hides poisoned ones",
        ),
        Risk::SupplyChain => (
            guard("pinning") + r.approvals.iter().map(|a| a.count).sum::<u64>(),
            format!(
                "{} changed definitions held back, {} approved, {} still waiting",
                guard("pinning"),
                r.approvals.iter().map(|a| a.count).sum::<u64>(),
                r.pending_changes.len()
            ),
            "tool pinning (rug-pull detection) with approval in the console or `belay gateway approve`; the private registry",
        ),
        Risk::CommandInjection => (
            guard("arguments"),
            format!(
                "{} arguments refused by their schema or for shell/path tricks",
                guard("arguments")
            ),
            "the arguments guard checks every call against the tool's input schema",
        ),
        Risk::PromptInjection => (
            guard("injection") + guard("links"),
            format!(
                "{} injected results, {} suspicious links",
                guard("injection"),
                guard("links")
            ),
            "the injection and links guards annotate, redact or block results",
        ),
        Risk::WeakAuth => (
            r.unauthenticated,
            format!(
                "{} requests or sign-ins refused without a valid token",
                r.unauthenticated
            ),
            "OAuth 2.1 at the gateway's edge, each endpoint its own resource; an admin scope for the console",
        ),
        Risk::MissingAudit => (
            r.requests,
            format!("{} requests recorded; {}", r.requests, r.chain),
            "the HMAC-chained audit log (`belay audit verify`), this report, the console and alerts",
        ),
        Risk::ShadowServers => (
            0,
            "only configured upstreams are reachable through the gateway".into(),
            "the gateway routes only to configured upstreams; the private registry governs which servers exist",
        ),
        Risk::OverSharing => (
            guard("secrets"),
            format!("{} personal or secret values redacted", guard("secrets")),
            "the secrets guard (cards, IBANs, keys) and the audit log's own redaction",
        ),
    };
    RiskSection {
        id: risk.id(),
        title: risk.title(),
        seen,
        saw,
        control,
    }
}

/// Rows of each top list.
const TOP: usize = 10;

/// The report of `records` (oldest first) over `since..until`.
pub(crate) fn compute(
    records: &[Record],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    alerts: &AlertsSpec,
    pending_changes: Vec<String>,
    chain: String,
) -> Report {
    let (mut users, mut tools, mut denials, mut kinds, mut approvals, mut days) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let mut r = Report {
        since: belay_audit::format_time(&since),
        until: belay_audit::format_time(&until),
        requests: 0,
        users: 0,
        allowed: 0,
        denied: 0,
        rate_limited: 0,
        unauthenticated: 0,
        errors: 0,
        detections: 0,
        top_users: Vec::new(),
        top_tools: Vec::new(),
        denials_by_rule: Vec::new(),
        detections_by_kind: Vec::new(),
        approvals: Vec::new(),
        pending_changes,
        alerts: Vec::new(),
        per_day: Vec::new(),
        chain,
        owasp: Vec::new(),
    };
    let mut evaluator = Evaluator::new(alerts);
    let mut incidents = BTreeMap::new();
    let mut count_incidents = |evaluator: &mut Evaluator, now| {
        for notice in evaluator.tick(now) {
            if notice.status == Status::Firing {
                bump(&mut incidents, notice.rule);
            }
        }
    };
    for record in records {
        let e = &record.event;
        evaluator.observe(e);
        count_incidents(&mut evaluator, e.time);
        if e.method == "console/approve" && e.decision == Decision::Allow {
            let what = format!(
                "{}/{}",
                e.upstream.as_deref().unwrap_or("?"),
                e.name.as_deref().unwrap_or("?")
            );
            bump(&mut approvals, what);
        }
        if e.method.starts_with("console/") && e.decision != Decision::Unauthenticated {
            continue;
        }
        r.requests += 1;
        bump(&mut days, e.time.format("%Y-%m-%d").to_string());
        if let Some(user) = &e.user {
            bump(&mut users, user.clone());
        }
        match e.decision {
            Decision::Allow => r.allowed += 1,
            Decision::Deny => {
                r.denied += 1;
                bump(
                    &mut denials,
                    e.rule.clone().unwrap_or_else(|| "(no rule)".into()),
                );
            }
            Decision::RateLimited => r.rate_limited += 1,
            Decision::Unauthenticated => r.unauthenticated += 1,
            _ => {}
        }
        if matches!(e.outcome, Outcome::Error { .. }) {
            r.errors += 1;
        }
        for v in &e.guard {
            r.detections += 1;
            bump(&mut kinds, format!("{} ({})", v.kind, v.action));
        }
        if e.method == "tools/call" {
            bump(
                &mut tools,
                format!(
                    "{}/{}",
                    e.upstream.as_deref().unwrap_or("?"),
                    e.name.as_deref().unwrap_or("?")
                ),
            );
        }
    }
    count_incidents(&mut evaluator, until);
    r.users = users.len() as u64;
    r.top_users = sorted(users, TOP);
    r.top_tools = sorted(tools, TOP);
    r.denials_by_rule = sorted(denials, TOP);
    r.detections_by_kind = sorted(kinds, TOP);
    r.approvals = sorted(approvals, usize::MAX);
    r.alerts = sorted(incidents, usize::MAX);
    r.per_day = days
        .into_iter()
        .map(|(label, count)| Count { label, count })
        .collect();
    let guards = by_guard(records);
    r.owasp = Risk::ALL
        .iter()
        .map(|risk| risk_section(*risk, &r, &guards))
        .collect();
    r
}
