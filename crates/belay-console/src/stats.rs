//! The overview's numbers, computed from the audit records of a time window: requests per
//! minute, error rate, latency percentiles per upstream and per tool, denials by rule,
//! rate-limit hits and guard detections by kind. Pure, so the numbers are tested on
//! records made up in the test.

use std::collections::BTreeMap;

use belay_audit::{Decision, Outcome, Record};
use serde::Serialize;

/// Latency and errors of one upstream or tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Latency {
    /// The upstream, or `upstream/tool`.
    pub(crate) name: String,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Milliseconds, of the requests that report a latency.
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
}

/// A label and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Count {
    pub(crate) label: String,
    pub(crate) count: u64,
}

/// Everything the overview shows about one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Stats {
    pub(crate) window_minutes: u64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) per_minute: f64,
    /// Percent of requests that ended in an error or were refused.
    pub(crate) error_rate: f64,
    pub(crate) denied: u64,
    pub(crate) rate_limited: u64,
    pub(crate) unauthenticated: u64,
    pub(crate) detections: u64,
    pub(crate) upstreams: Vec<Latency>,
    pub(crate) tools: Vec<Latency>,
    pub(crate) denials_by_rule: Vec<Count>,
    pub(crate) detections_by_kind: Vec<Count>,
    /// Records the window held beyond what was read (the numbers cover the newest).
    pub(crate) truncated: bool,
}

/// The `q`-quantile (0..=1) of sorted `values`, nearest rank.
fn quantile(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank: the smallest value with at least q of the values at or below it.
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    let value = sorted[rank.min(sorted.len()) - 1];
    Some((value as f64 / 1000.0 * 100.0).round() / 100.0)
}

#[derive(Default)]
struct Tally {
    requests: u64,
    errors: u64,
    latencies: Vec<u64>,
}

impl Tally {
    fn add(&mut self, record: &Record) {
        self.requests += 1;
        if failed(record) {
            self.errors += 1;
        }
        if let Some(us) = record.event.latency_us {
            self.latencies.push(us);
        }
    }

    fn finish(mut self, name: String) -> Latency {
        self.latencies.sort_unstable();
        Latency {
            name,
            requests: self.requests,
            errors: self.errors,
            p50_ms: quantile(&self.latencies, 0.5),
            p99_ms: quantile(&self.latencies, 0.99),
        }
    }
}

/// An error result, or a request the gateway refused.
fn failed(record: &Record) -> bool {
    matches!(record.event.outcome, Outcome::Error { .. })
        || record.event.decision != Decision::Allow
}

fn counts(map: BTreeMap<String, u64>) -> Vec<Count> {
    let mut out: Vec<Count> = map
        .into_iter()
        .map(|(label, count)| Count { label, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    out
}

/// The numbers of `records`, a window of `window_minutes`. Console actions (`console/…`)
/// are not gateway traffic and are left out.
pub(crate) fn compute(records: &[Record], window_minutes: u64, truncated: bool) -> Stats {
    let mut upstreams: BTreeMap<String, Tally> = BTreeMap::new();
    let mut tools: BTreeMap<String, Tally> = BTreeMap::new();
    let mut denials = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    let (mut requests, mut errors, mut denied, mut limited, mut unauth, mut detections) =
        (0, 0, 0, 0, 0, 0);
    for record in records {
        let e = &record.event;
        if e.method.starts_with("console/") {
            continue;
        }
        requests += 1;
        if failed(record) {
            errors += 1;
        }
        match e.decision {
            Decision::Deny => {
                denied += 1;
                let rule = e.rule.clone().unwrap_or_else(|| "(no rule)".into());
                *denials.entry(rule).or_insert(0) += 1;
            }
            Decision::RateLimited => limited += 1,
            Decision::Unauthenticated => unauth += 1,
            _ => {}
        }
        for verdict in &e.guard {
            detections += 1;
            *kinds
                .entry(format!("{} ({})", verdict.kind, verdict.action))
                .or_insert(0) += 1;
        }
        let upstream = e.upstream.clone().unwrap_or_else(|| "(none)".into());
        upstreams.entry(upstream.clone()).or_default().add(record);
        if e.method == "tools/call" {
            let tool = format!("{upstream}/{}", e.name.as_deref().unwrap_or("?"));
            tools.entry(tool).or_default().add(record);
        }
    }
    let minutes = window_minutes.max(1);
    Stats {
        window_minutes: minutes,
        requests,
        errors,
        per_minute: (requests as f64 / minutes as f64 * 100.0).round() / 100.0,
        error_rate: if requests == 0 {
            0.0
        } else {
            (errors as f64 / requests as f64 * 1000.0).round() / 10.0
        },
        denied,
        rate_limited: limited,
        unauthenticated: unauth,
        detections,
        upstreams: upstreams.into_iter().map(|(k, t)| t.finish(k)).collect(),
        tools: tools.into_iter().map(|(k, t)| t.finish(k)).collect(),
        denials_by_rule: counts(denials),
        detections_by_kind: counts(kinds),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use belay_audit::{AuditEvent, GuardVerdict};

    use super::*;
    use crate::testkit::record;

    fn call(upstream: &str, tool: &str, latency_ms: u64) -> AuditEvent {
        AuditEvent {
            upstream: Some(upstream.into()),
            name: Some(tool.into()),
            latency_us: Some(latency_ms * 1000),
            ..AuditEvent::new("tools/call")
        }
    }

    #[test]
    fn percentiles_rates_denials_and_detections() {
        let mut records: Vec<Record> = (1..=100)
            .map(|ms| record(ms, call("stock", "quote", ms)))
            .collect();
        records.push(record(
            101,
            AuditEvent {
                decision: Decision::Deny,
                rule: Some("policy.rules[0]".into()),
                ..call("news", "search", 1)
            },
        ));
        records.push(record(
            102,
            AuditEvent {
                decision: Decision::RateLimited,
                ..call("news", "search", 1)
            },
        ));
        records.push(record(
            103,
            AuditEvent {
                outcome: Outcome::Error {
                    code: Some(-32603),
                    message: "boom".into(),
                },
                guard: vec![GuardVerdict {
                    guard: "injection".into(),
                    rule: "inj.ignore".into(),
                    kind: "injection".into(),
                    severity: "high".into(),
                    action: "blocked".into(),
                    field: None,
                }],
                ..call("news", "search", 3)
            },
        ));
        records.push(record(104, AuditEvent::new("console/approve")));
        let stats = compute(&records, 10, false);
        assert_eq!(stats.requests, 103, "console actions are not traffic");
        assert_eq!(stats.errors, 3);
        assert!((stats.per_minute - 10.3).abs() < 1e-9);
        assert!((stats.error_rate - 2.9).abs() < 1e-9);
        let stock = &stats.upstreams[1];
        assert_eq!(
            (stock.name.as_str(), stock.p50_ms, stock.p99_ms),
            ("stock", Some(50.0), Some(99.0))
        );
        assert_eq!(stats.tools[0].name, "news/search");
        assert_eq!(stats.tools[0].errors, 3);
        assert_eq!(
            stats.denials_by_rule,
            vec![Count {
                label: "policy.rules[0]".into(),
                count: 1
            }]
        );
        assert_eq!(stats.rate_limited, 1);
        assert_eq!(stats.detections_by_kind[0].label, "injection (blocked)");
    }

    #[test]
    fn an_empty_window_has_no_rates() {
        let stats = compute(&[], 0, false);
        assert_eq!(
            (stats.requests, stats.error_rate, stats.window_minutes),
            (0, 0.0, 1)
        );
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7000], 0.99), Some(7.0));
    }
}
