//! Sending notices: the body each webhook format expects, the POST (with a timeout, a
//! failure logged and not retried forever), and [`spawn`], which runs the rules on the
//! live audit log.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use belay_audit::AuditLog;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{AlertsSpec, Evaluator, Format, Notice, Status, WebhookSpec};

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

/// Runs `spec`'s rules on every record `audit` writes, every second, until `shutdown`;
/// notices go to the rules' webhooks. Returns the open incidents, kept current.
pub fn spawn(
    spec: AlertsSpec,
    audit: &AuditLog,
    shutdown: CancellationToken,
) -> Result<OpenIncidents, crate::Error> {
    spec.validate()?;
    let http = client()?;
    let mut records = audit.subscribe();
    let open: OpenIncidents = Arc::default();
    let shared = open.clone();
    tokio::spawn(async move {
        let mut evaluator = Evaluator::new(&spec);
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
