//! Sending notices: the body each webhook format expects, the POST (with a timeout, a
//! failure logged and not retried forever), and [`spawn`], which runs the rules on the
//! live audit log.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use belay_audit::AuditLog;
use belay_gateway::PinStore;
use belay_store::Db;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{AlertsSpec, Evaluator, Format, Notice, Signal, Status, WebhookSpec};

/// The body of `notice` for a webhook of `format`.
pub fn payload(notice: &Notice, format: Format) -> Value {
    let what = match notice.status {
        Status::Firing => "FIRING",
        Status::Resolved => "resolved",
    };
    let test = if notice.test { " (test)" } else { "" };
    let summary = format!(
        "[{what}] {rule}{test}: {signal:?} for {group} is {value} (threshold {threshold} over {window} s), since {since}",
        rule = notice.rule,
        signal = notice.signal,
        group = notice.group,
        value = notice.value,
        threshold = notice.threshold,
        window = notice.window_secs,
        since = notice.since,
    );
    match format {
        Format::Json => serde_json::to_value(notice).unwrap_or(Value::Null),
        Format::Slack => json!({ "text": format!("Belay alert {summary}") }),
        Format::Teams => json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": format!("Belay alert {}: {}", what, notice.rule),
            "themeColor": if notice.status == Status::Firing { "B91C1C" } else { "15803D" },
            "title": format!("Belay alert {what}: {}{test}", notice.rule),
            "text": summary,
        }),
    }
}

/// The HTTP client notices are sent with (10 s per webhook).
pub fn client() -> Result<reqwest::Client, crate::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| crate::Error::Config(format!("cannot build the HTTP client: {e}")))
}

/// POSTs `notice` to each of `hooks`; the error of each that failed.
pub async fn deliver(
    http: &reqwest::Client,
    hooks: &[&WebhookSpec],
    notice: &Notice,
) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    for hook in hooks {
        let body = payload(notice, hook.format);
        let sent = http.post(&hook.url).json(&body).send().await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => failed.push((hook.name.clone(), format!("answered {}", r.status()))),
            Err(e) => failed.push((hook.name.clone(), e.to_string())),
        }
    }
    failed
}

/// The open incidents, for the console to show.
pub type OpenIncidents = Arc<Mutex<Vec<(String, String, chrono::DateTime<chrono::Utc>)>>>;

/// What the runner checks, besides the audit records, for the state signals.
#[derive(Clone, Default)]
pub struct Watched {
    /// The tool pins, for `unapproved_tool`.
    pub pins: Option<PinStore>,
    /// The audit store and its key's file, for `audit_chain_broken`.
    pub audit_db: Option<Db>,
    /// The audit key's file.
    pub audit_key: Option<PathBuf>,
}

/// The shortest time between two verifications of the audit chain.
const MIN_VERIFY_EVERY: Duration = Duration::from_secs(10);

/// Runs `spec`'s rules on every record `audit` writes, every second, until `shutdown`;
/// notices go to the rules' webhooks. Returns the open incidents, kept current.
pub fn spawn(
    spec: AlertsSpec,
    audit: &AuditLog,
    shutdown: CancellationToken,
) -> Result<OpenIncidents, crate::Error> {
    spawn_watching(spec, audit, Watched::default(), shutdown)
}

/// Where the state signals hold now, fed to `evaluator`: tools waiting for approval every
/// tick, the audit chain when `verified` is older than the rules' window.
async fn observe_states(
    evaluator: &mut Evaluator,
    watched: &Watched,
    verified: &mut Option<tokio::time::Instant>,
) {
    if evaluator.watches(Signal::UnapprovedTool)
        && let Some(pins) = &watched.pins
    {
        match pins.list(true) {
            Ok(waiting) => evaluator.observe_state(
                Signal::UnapprovedTool,
                waiting.iter().map(|p| format!("{}/{}", p.upstream, p.tool)),
            ),
            Err(e) => tracing::warn!(error = %e, "alerts: cannot read the tool pins"),
        }
    }
    if let (Some(window), Some(pins)) = (evaluator.windows_of(Signal::NewTool), &watched.pins) {
        match pins.list(false) {
            Ok(all) => {
                let now = chrono::Utc::now().timestamp();
                evaluator.observe_state(Signal::NewTool, new_tools(&all, now, window));
            }
            Err(e) => tracing::warn!(error = %e, "alerts: cannot read the tool pins"),
        }
    }
    let Some(window) = evaluator.windows_of(Signal::AuditChainBroken) else {
        return;
    };
    let every = Duration::from_secs(window).max(MIN_VERIFY_EVERY);
    if verified.is_some_and(|at| at.elapsed() < every) {
        return;
    }
    *verified = Some(tokio::time::Instant::now());
    let (Some(db), Some(key)) = (&watched.audit_db, &watched.audit_key) else {
        tracing::warn!("alerts: audit_chain_broken needs the audit store and its key");
        return;
    };
    let key = match belay_audit::AuditKey::load(key) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(error = %e, "alerts: cannot load the audit key");
            return;
        }
    };
    match belay_audit::verify_store(db, &key).await {
        Ok(report) => {
            if let Some(problem) = &report.problem {
                tracing::error!(seq = problem.seq, detail = %problem.detail, "the audit chain fails verification");
            }
            evaluator.observe_state(
                Signal::AuditChainBroken,
                report.problem.map(|_| "*".to_owned()),
            );
        }
        Err(e) => tracing::warn!(error = %e, "alerts: cannot verify the audit chain"),
    }
}

/// How long after an upstream's first tool its other tools still count as its first list.
const FIRST_LIST_SECS: i64 = 10;

/// `upstream/tool` of each tool first seen within `window_secs` of `now` that its upstream
/// listed later than its first list (a tool added to a server already in use).
fn new_tools(pins: &[belay_gateway::pins::Pin], now: i64, window_secs: u64) -> Vec<String> {
    let mut first_list: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for pin in pins {
        if let Some(seen) = pin.first_seen {
            let earliest = first_list.entry(pin.upstream.as_str()).or_insert(seen);
            *earliest = (*earliest).min(seen);
        }
    }
    let since = now.saturating_sub(i64::try_from(window_secs).unwrap_or(i64::MAX));
    pins.iter()
        .filter_map(|pin| {
            let seen = pin.first_seen?;
            let earliest = *first_list.get(pin.upstream.as_str())?;
            (seen >= since && seen > earliest + FIRST_LIST_SECS)
                .then(|| format!("{}/{}", pin.upstream, pin.tool))
        })
        .collect()
}

/// [`spawn`], also checking the state signals against `watched`.
pub fn spawn_watching(
    spec: AlertsSpec,
    audit: &AuditLog,
    watched: Watched,
    shutdown: CancellationToken,
) -> Result<OpenIncidents, crate::Error> {
    spec.validate()?;
    let http = client()?;
    let mut records = audit.subscribe();
    let open: OpenIncidents = Arc::default();
    let shared = open.clone();
    tokio::spawn(async move {
        let mut evaluator = Evaluator::new(&spec);
        let mut verified = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = records.recv() => match received {
                    Ok(record) => evaluator.observe(&record.event),
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "alerts fell behind the audit log");
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    observe_states(&mut evaluator, &watched, &mut verified).await;
                    for notice in evaluator.tick(chrono::Utc::now()) {
                        tracing::warn!(rule = %notice.rule, group = %notice.group, status = ?notice.status, value = notice.value, "alert");
                        for (hook, why) in deliver(&http, &spec.webhooks_of(&notice.rule), &notice).await {
                            tracing::error!(webhook = %hook, error = %why, "cannot deliver an alert");
                        }
                    }
                    if let Ok(mut open) = shared.lock() {
                        *open = evaluator.open();
                    }
                }
            }
        }
    });
    Ok(open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{RuleSpec, Signal, sample};

    fn pin(upstream: &str, tool: &str, first_seen: Option<i64>) -> belay_gateway::pins::Pin {
        belay_gateway::pins::Pin {
            upstream: upstream.into(),
            tool: tool.into(),
            fingerprint: String::new(),
            definition: String::new(),
            pinned_at: first_seen.unwrap_or(0),
            first_seen,
            pending: None,
        }
    }

    #[test]
    fn a_tool_added_to_a_known_upstream_is_new_for_one_window() {
        let now = 1_000_000;
        let pins = [
            // The first list of `mail` hours ago, and of `fresh` just now (a new upstream).
            pin("mail", "send", Some(now - 10_000)),
            pin("mail", "read", Some(now - 9_995)),
            pin("fresh", "a", Some(now - 5)),
            pin("fresh", "b", Some(now - 2)),
            // Added to `mail` later: a minute ago, and an hour ago.
            pin("mail", "forward_all", Some(now - 60)),
            pin("mail", "old_addition", Some(now - 3_600)),
            // Pinned before first sightings were kept.
            pin("legacy", "x", None),
        ];
        assert_eq!(new_tools(&pins, now, 300), ["mail/forward_all"]);
        assert_eq!(
            new_tools(&pins, now, 7_200),
            ["mail/forward_all", "mail/old_addition"]
        );
        assert!(
            new_tools(&pins, now + 400, 300).is_empty(),
            "the window passed"
        );
    }

    #[tokio::test]
    async fn the_runner_opens_and_resolves_a_new_tool_incident_from_the_pins() -> anyhow::Result<()>
    {
        let db = belay_store::Db::in_memory()?;
        let pins = PinStore::open(db.clone())?;
        pins.check("mail", "send", "f1", "{}").await?;
        // The upstream's first list was a minute ago; `forward_all` appears now.
        db.call_blocking(|c| {
            c.execute("UPDATE gateway_pins SET first_seen = first_seen - 60", [])
        })?;
        pins.check("mail", "forward_all", "f2", "{}").await?;
        let rule = RuleSpec {
            name: "new-tools".into(),
            when: Signal::NewTool,
            threshold: 0.0,
            window_secs: 30,
            per: crate::alerts::Group::All,
            min_requests: 0,
            webhooks: Vec::new(),
        };
        let spec = AlertsSpec {
            rule: vec![rule],
            ..AlertsSpec::default()
        };
        let mut evaluator = Evaluator::new(&spec);
        let watched = Watched {
            pins: Some(pins.clone()),
            ..Watched::default()
        };
        let mut verified = None;
        observe_states(&mut evaluator, &watched, &mut verified).await;
        let fired = evaluator.tick(chrono::Utc::now());
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(
            (fired[0].group.as_str(), fired[0].status),
            ("mail/forward_all", Status::Firing)
        );
        observe_states(&mut evaluator, &watched, &mut verified).await;
        assert!(
            evaluator.tick(chrono::Utc::now()).is_empty(),
            "once per incident"
        );
        db.call_blocking(|c| {
            c.execute("UPDATE gateway_pins SET first_seen = first_seen - 60", [])
        })?;
        observe_states(&mut evaluator, &watched, &mut verified).await;
        let resolved = evaluator.tick(chrono::Utc::now());
        assert_eq!(resolved.len(), 1, "{resolved:?}");
        assert_eq!(resolved[0].status, Status::Resolved);
        Ok(())
    }

    #[test]
    fn each_format_carries_the_rule_and_the_status() {
        let rule = RuleSpec {
            name: "sign-in-failures".into(),
            when: Signal::Unauthenticated,
            threshold: 5.0,
            window_secs: 60,
            per: crate::alerts::Group::Client,
            min_requests: 10,
            webhooks: Vec::new(),
        };
        let notice = sample(&rule);
        let json = payload(&notice, Format::Json);
        assert_eq!(json["rule"], "sign-in-failures");
        assert_eq!(json["status"], "firing");
        assert_eq!(json["test"], true);
        let slack = payload(&notice, Format::Slack);
        assert!(
            slack["text"]
                .as_str()
                .is_some_and(|t| t.contains("FIRING") && t.contains("sign-in-failures"))
        );
        let teams = payload(&notice, Format::Teams);
        assert_eq!(teams["@type"], "MessageCard");
        assert!(
            teams["title"]
                .as_str()
                .is_some_and(|t| t.contains("sign-in-failures"))
        );
    }
}
