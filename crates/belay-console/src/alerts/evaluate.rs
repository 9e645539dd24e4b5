//! Incidents from the rules: [`Evaluator`] takes audit records, state observations and
//! times, and gives the notices that begin or end an incident. Pure, so incidents are tested
//! with made-up times.

use std::collections::{HashMap, VecDeque};

use belay_audit::{AuditEvent, Decision, Outcome};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{AlertsSpec, Group, RuleSpec, Signal};

/// Whether an incident began or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Over the threshold: an incident began.
    Firing,
    /// Back at or under it: the incident ended.
    Resolved,
}

/// One notice, as the generic JSON webhook receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// The rule.
    pub rule: String,
    /// Firing or resolved.
    pub status: Status,
    /// What it counts.
    pub signal: Signal,
    /// The group (client, user or upstream), `*` for all.
    pub group: String,
    /// The count or percent when the notice was made.
    pub value: f64,
    /// The rule's threshold.
    pub threshold: f64,
    /// The rule's window.
    pub window_secs: u64,
    /// When the incident began (RFC 3339).
    pub since: String,
    /// A sample sent by `belay alerts test`, not a real incident.
    pub test: bool,
}

/// An event in a window: when, and whether it matched the rule's signal.
#[derive(Debug, Clone, Copy)]
struct Seen {
    time: DateTime<Utc>,
    matched: bool,
}

/// The rules, their windows and their open incidents.
#[derive(Debug)]
pub struct Evaluator {
    rules: Vec<RuleSpec>,
    windows: HashMap<(usize, String), VecDeque<Seen>>,
    open: HashMap<(usize, String), DateTime<Utc>>,
    /// Per state rule, the groups in which its state holds now.
    states: HashMap<usize, std::collections::BTreeSet<String>>,
}

/// Most events one window keeps (a flood cannot grow memory without bound; the count then
/// saturates, which still fires).
const MAX_WINDOW: usize = 100_000;

fn matches(signal: Signal, e: &AuditEvent) -> bool {
    let error = matches!(e.outcome, Outcome::Error { .. });
    match signal {
        Signal::Unauthenticated => e.decision == Decision::Unauthenticated,
        Signal::Denied => e.decision == Decision::Deny,
        Signal::RateLimited => e.decision == Decision::RateLimited,
        Signal::Errors => error,
        Signal::ErrorRate => error || e.decision != Decision::Allow,
        Signal::GuardBlocked => e
            .guard
            .iter()
            .any(|v| v.action == "blocked" || v.action == "hidden"),
        Signal::GuardDetection => !e.guard.is_empty(),
        Signal::UnapprovedTool | Signal::NewTool | Signal::AuditChainBroken => false,
    }
}

fn group_of(per: Group, e: &AuditEvent) -> String {
    let pick = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    match per {
        Group::All => "*".into(),
        Group::Client => pick(&e.client),
        Group::User => pick(&e.user),
        Group::Upstream => pick(&e.upstream),
    }
}

impl Evaluator {
    /// An evaluator of `spec`'s rules (validate it first).
    pub fn new(spec: &AlertsSpec) -> Self {
        Self {
            rules: spec.rule.clone(),
            windows: HashMap::new(),
            open: HashMap::new(),
            states: HashMap::new(),
        }
    }

    /// Counts `event` in every rule's window. Console actions are not traffic, except its
    /// refused sign-ins, which are sign-in failures.
    pub fn observe(&mut self, event: &AuditEvent) {
        if event.method.starts_with("console/") && event.decision != Decision::Unauthenticated {
            return;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let matched = matches(rule.when, event);
            // Only the error rate needs the events that did not match.
            if !matched && rule.when != Signal::ErrorRate {
                continue;
            }
            let window = self
                .windows
                .entry((i, group_of(rule.per, event)))
                .or_default();
            if window.len() < MAX_WINDOW {
                window.push_back(Seen {
                    time: event.time,
                    matched,
                });
            }
        }
    }

    /// Whether any rule watches `signal`.
    pub fn watches(&self, signal: Signal) -> bool {
        self.rules.iter().any(|r| r.when == signal)
    }

    /// The rules' windows of `signal`, the shortest first.
    pub fn windows_of(&self, signal: Signal) -> Option<u64> {
        self.rules
            .iter()
            .filter(|r| r.when == signal)
            .map(|r| r.window_secs)
            .min()
    }

    /// Where state `signal` holds now (e.g. `upstream/tool` of every tool waiting for
    /// approval): the next [`Self::tick`] opens an incident for each new group and resolves
    /// those that no longer hold.
    pub fn observe_state(&mut self, signal: Signal, groups: impl IntoIterator<Item = String>) {
        let groups: std::collections::BTreeSet<String> = groups.into_iter().collect();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.when == signal {
                self.states.insert(i, groups.clone());
            }
        }
    }

    /// The value of rule `i` over `window`, if it is over the threshold.
    fn over(rule: &RuleSpec, window: &VecDeque<Seen>) -> (f64, bool) {
        let matched = window.iter().filter(|s| s.matched).count() as f64;
        match rule.when {
            Signal::ErrorRate => {
                let total = window.len() as u64;
                let rate = if total == 0 {
                    0.0
                } else {
                    matched / total as f64 * 100.0
                };
                (rate, total >= rule.min_requests && rate > rule.threshold)
            }
            _ => (matched, matched > rule.threshold),
        }
    }

    /// Slides every window to `now` and returns the incidents that began or ended.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Notice> {
        let mut notices = Vec::new();
        for ((i, group), window) in &mut self.windows {
            let rule = &self.rules[*i];
            let start = now - Duration::seconds(rule.window_secs as i64);
            while window.front().is_some_and(|s| s.time < start) {
                window.pop_front();
            }
            let (value, over) = Self::over(rule, window);
            let key = (*i, group.clone());
            let notice = |status, since: DateTime<Utc>| Notice {
                rule: rule.name.clone(),
                status,
                signal: rule.when,
                group: group.clone(),
                value: (value * 10.0).round() / 10.0,
                threshold: rule.threshold,
                window_secs: rule.window_secs,
                since: belay_audit::format_time(&since),
                test: false,
            };
            match (over, self.open.get(&key).copied()) {
                (true, None) => {
                    self.open.insert(key, now);
                    notices.push(notice(Status::Firing, now));
                }
                (false, Some(since)) => {
                    self.open.remove(&key);
                    notices.push(notice(Status::Resolved, since));
                }
                _ => {}
            }
        }
        for (i, holding) in &self.states {
            let rule = &self.rules[*i];
            let notice = |status, group: &str, since: DateTime<Utc>| Notice {
                rule: rule.name.clone(),
                status,
                signal: rule.when,
                group: group.to_owned(),
                value: if status == Status::Firing { 1.0 } else { 0.0 },
                threshold: rule.threshold,
                window_secs: rule.window_secs,
                since: belay_audit::format_time(&since),
                test: false,
            };
            for group in holding {
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    self.open.entry((*i, group.clone()))
                {
                    slot.insert(now);
                    notices.push(notice(Status::Firing, group, now));
                }
            }
            let ended: Vec<(usize, String)> = self
                .open
                .keys()
                .filter(|(r, g)| r == i && !holding.contains(g))
                .cloned()
                .collect();
            for key in ended {
                if let Some(since) = self.open.remove(&key) {
                    notices.push(notice(Status::Resolved, &key.1, since));
                }
            }
        }
        self.windows
            .retain(|k, w| !w.is_empty() || self.open.contains_key(k));
        notices.sort_by(|a, b| (&a.rule, &a.group).cmp(&(&b.rule, &b.group)));
        notices
    }

    /// The incidents open now: rule, group and since when.
    pub fn open(&self) -> Vec<(String, String, DateTime<Utc>)> {
        let mut open: Vec<_> = self
            .open
            .iter()
            .map(|((i, group), since)| (self.rules[*i].name.clone(), group.clone(), *since))
            .collect();
        open.sort();
        open
    }
}

/// A sample firing notice of `rule`, for `belay alerts test`.
pub fn sample(rule: &RuleSpec) -> Notice {
    Notice {
        rule: rule.name.clone(),
        status: Status::Firing,
        signal: rule.when,
        group: "sample".into(),
        value: rule.threshold + 1.0,
        threshold: rule.threshold,
        window_secs: rule.window_secs,
        since: belay_audit::format_time(&Utc::now()),
        test: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(when: Signal, threshold: f64, per: Group) -> RuleSpec {
        RuleSpec {
            name: format!("{when:?}"),
            when,
            threshold,
            window_secs: 60,
            per,
            min_requests: 4,
            webhooks: Vec::new(),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn refused(client: &str, secs: i64) -> AuditEvent {
        AuditEvent {
            time: at(secs),
            client: Some(client.into()),
            decision: Decision::Unauthenticated,
            ..AuditEvent::new("tools/call")
        }
    }

    #[test]
    fn one_incident_per_group_fires_once_and_resolves_once() {
        let spec = AlertsSpec {
            rule: vec![rule(Signal::Unauthenticated, 3.0, Group::Client)],
            webhook: Vec::new(),
        };
        let mut alerts = Evaluator::new(&spec);
        for s in 0..4 {
            alerts.observe(&refused("mallory", s));
        }
        alerts.observe(&refused("alice", 1));
        let fired = alerts.tick(at(5));
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(
            (fired[0].status, fired[0].group.as_str(), fired[0].value),
            (Status::Firing, "mallory", 4.0)
        );
        // Still over: nothing new, however many ticks and failures.
        for s in 6..10 {
            alerts.observe(&refused("mallory", s));
            assert!(alerts.tick(at(s)).is_empty());
        }
        assert_eq!(alerts.open().len(), 1);
        // The window slides past them: resolved, once.
        let resolved = alerts.tick(at(75));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert_eq!(resolved[0].since, belay_audit::format_time(&at(5)));
        assert!(alerts.tick(at(80)).is_empty());
        // A new burst is a new incident.
        for s in 100..104 {
            alerts.observe(&refused("mallory", s));
        }
        assert_eq!(alerts.tick(at(104)).len(), 1);
    }

    #[test]
    fn the_error_rate_needs_enough_requests() {
        let spec = AlertsSpec {
            rule: vec![rule(Signal::ErrorRate, 50.0, Group::Upstream)],
            webhook: Vec::new(),
        };
        let mut alerts = Evaluator::new(&spec);
        let call = |ok: bool, s| AuditEvent {
            time: at(s),
            upstream: Some("news".into()),
            outcome: if ok {
                Outcome::Ok
            } else {
                Outcome::Error {
                    code: None,
                    message: "down".into(),
                }
            },
            ..AuditEvent::new("tools/call")
        };
        alerts.observe(&call(false, 1));
        alerts.observe(&call(false, 2));
        assert!(alerts.tick(at(3)).is_empty(), "2 requests < min_requests");
        alerts.observe(&call(false, 3));
        alerts.observe(&call(true, 4));
        let fired = alerts.tick(at(5));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].value, 75.0);
    }

    #[test]
    fn a_state_fires_once_per_group_while_it_holds_and_resolves_once() {
        let spec = AlertsSpec {
            rule: vec![
                rule(Signal::UnapprovedTool, 0.0, Group::All),
                rule(Signal::AuditChainBroken, 0.0, Group::All),
            ],
            webhook: Vec::new(),
        };
        let mut alerts = Evaluator::new(&spec);
        assert!(alerts.watches(Signal::UnapprovedTool));
        // Records never count towards a state.
        alerts.observe(&refused("mallory", 1));
        assert!(alerts.tick(at(2)).is_empty());
        alerts.observe_state(Signal::UnapprovedTool, ["calc/add".to_owned()]);
        let fired = alerts.tick(at(3));
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(
            (fired[0].status, fired[0].group.as_str()),
            (Status::Firing, "calc/add")
        );
        // Still waiting, a second tool joins: only the new one fires.
        alerts.observe_state(
            Signal::UnapprovedTool,
            ["calc/add".to_owned(), "calc/sub".to_owned()],
        );
        let fired = alerts.tick(at(4));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].group, "calc/sub");
        assert!(alerts.tick(at(5)).is_empty(), "nothing new");
        // Add approved: it resolves, once; sub stays open.
        alerts.observe_state(Signal::UnapprovedTool, ["calc/sub".to_owned()]);
        let resolved = alerts.tick(at(6));
        assert_eq!(resolved.len(), 1);
        assert_eq!(
            (resolved[0].status, resolved[0].group.as_str()),
            (Status::Resolved, "calc/add")
        );
        assert_eq!(resolved[0].since, belay_audit::format_time(&at(3)));
        assert!(alerts.tick(at(7)).is_empty());
        // The chain breaks, then verifies again.
        alerts.observe_state(Signal::AuditChainBroken, ["*".to_owned()]);
        let fired = alerts.tick(at(8));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].signal, Signal::AuditChainBroken);
        alerts.observe_state(Signal::AuditChainBroken, Vec::new());
        let resolved = alerts.tick(at(9));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert_eq!(alerts.open().len(), 1, "calc/sub still waits");
    }

    #[test]
    fn guard_blocks_and_bad_specs() {
        let mut spec = AlertsSpec {
            rule: vec![rule(Signal::GuardBlocked, 0.0, Group::All)],
            webhook: Vec::new(),
        };
        assert!(spec.validate().is_ok());
        let mut alerts = Evaluator::new(&spec);
        alerts.observe(&AuditEvent {
            guard: vec![belay_audit::GuardVerdict {
                guard: "metadata".into(),
                rule: "poisoning.combined".into(),
                kind: "hidden_instruction".into(),
                severity: "critical".into(),
                action: "hidden".into(),
                field: None,
            }],
            ..AuditEvent::new("tools/list")
        });
        assert_eq!(
            alerts.tick(Utc::now()).len(),
            1,
            "any blocked poisoning fires"
        );
        spec.rule[0].webhooks = vec!["nowhere".into()];
        assert!(spec.validate().is_err());
        spec.rule[0].webhooks.clear();
        spec.rule.push(spec.rule[0].clone());
        assert!(spec.validate().is_err(), "duplicate names");
    }
}
