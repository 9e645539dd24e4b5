//! `/ui`: the overview of a time window (requests per minute, error rate, latency per
//! upstream and tool, denials, rate-limit hits, guard detections, upstream health), and
//! `/ui/events`, the server-sent events that keep it live: the same numbers as JSON every
//! two seconds, which the bundled script writes into the page (as text, never as markup).

use std::{convert::Infallible, fmt::Write as _, sync::Arc, time::Duration};

use axum::{
    extract::{Query, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use belay_gateway::{breaker::BreakerState, upstream::UpstreamState};
use futures::stream::{self, Stream};
use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::{
    Inner, access,
    html::{self, Section, escape, table},
    records::{self, Filter},
    stats::{self, Stats},
};

/// The window pickers offer, in minutes.
const WINDOWS: &[(u64, &str)] = &[
    (15, "15 min"),
    (60, "1 hour"),
    (360, "6 hours"),
    (1440, "24 hours"),
    (10080, "7 days"),
];
/// Most records one computation reads (the newest of the window).
const MAX_READ: usize = 20_000;
/// How often the live view is refreshed.
const TICK: Duration = Duration::from_secs(2);

/// `?minutes=` of the overview and its events.
#[derive(Debug, Deserialize)]
pub(crate) struct Window {
    minutes: Option<u64>,
}

impl Window {
    fn minutes(&self) -> u64 {
        let asked = self.minutes.unwrap_or(60);
        WINDOWS
            .iter()
            .map(|(m, _)| *m)
            .find(|m| *m == asked)
            .unwrap_or(60)
    }
}

/// One upstream's health.
#[derive(Debug, Clone, Serialize)]
struct Health {
    name: String,
    state: String,
    breaker: String,
}

/// What one live update carries.
#[derive(Debug, Serialize)]
struct Snapshot {
    stats: Option<Stats>,
    health: Vec<Health>,
    /// Open alert incidents: rule, group, since.
    alerts: Vec<[String; 3]>,
    /// Why there are no stats, when there are none.
    problem: Option<String>,
}

fn health(inner: &Inner) -> Vec<Health> {
    inner
        .sources
        .gateway
        .upstreams()
        .iter()
        .map(|u| Health {
            name: u.name().to_owned(),
            state: match u.status().state {
                UpstreamState::Up => "up".into(),
                UpstreamState::Connecting => "connecting".into(),
                UpstreamState::Down { reason, .. } => format!("down: {reason}"),
            },
            breaker: match u.breaker() {
                BreakerState::Closed(0) => "closed".into(),
                BreakerState::Closed(n) => format!("closed ({n} failures)"),
                BreakerState::Open(_) => "open".into(),
                BreakerState::HalfOpen => "half-open".into(),
            },
        })
        .collect()
}

fn open_alerts(inner: &Inner) -> Vec<[String; 3]> {
    let Some(open) = &inner.sources.alerts else {
        return Vec::new();
    };
    open.lock()
        .map(|open| {
            open.iter()
                .map(|(rule, group, since)| {
                    [rule.clone(), group.clone(), belay_audit::format_time(since)]
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn snapshot(inner: &Inner, minutes: u64) -> Snapshot {
    let Some(db) = &inner.sources.audit_db else {
        return Snapshot {
            stats: None,
            health: health(inner),
            alerts: open_alerts(inner),
            problem: Some(
                "the overview reads the audit store: add \"store\" to [audit] sinks".into(),
            ),
        };
    };
    let since = chrono::Utc::now() - chrono::Duration::minutes(minutes as i64);
    let filter = Filter {
        since: since.to_rfc3339(),
        ..Filter::default()
    };
    match records::matching(db, &filter, MAX_READ, MAX_READ).await {
        Ok((records, truncated)) => Snapshot {
            stats: Some(stats::compute(&records, minutes, truncated)),
            health: health(inner),
            alerts: open_alerts(inner),
            problem: None,
        },
        Err(e) => Snapshot {
            stats: None,
            health: health(inner),
            alerts: open_alerts(inner),
            problem: Some(format!("cannot read the audit store: {e}")),
        },
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v}"))
}

fn latency_rows(rows: &[stats::Latency]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|l| {
            vec![
                escape(&l.name),
                l.requests.to_string(),
                l.errors.to_string(),
                ms(l.p50_ms),
                ms(l.p99_ms),
            ]
        })
        .collect()
}

fn count_rows(rows: &[stats::Count]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|c| vec![escape(&c.label), c.count.to_string()])
        .collect()
}

fn render(snapshot: &Snapshot, minutes: u64) -> String {
    let mut out = String::from(
        "<form method=\"get\" action=\"/ui\" class=\"filters\"><label>Window <select name=\"minutes\">",
    );
    for (m, label) in WINDOWS {
        let selected = if *m == minutes { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{m}\"{selected}>{label}</option>");
    }
    out.push_str("</select></label><button type=\"submit\">Show</button></form>");
    let _ = write!(
        out,
        "<p id=\"live\" class=\"live\" data-events=\"/ui/events?minutes={minutes}\" role=\"status\">live updates: connecting…</p>"
    );
    if let Some(problem) = &snapshot.problem {
        let _ = write!(out, "<p class=\"problem\">{}</p>", escape(problem));
    }
    let alerts: Vec<Vec<String>> = snapshot
        .alerts
        .iter()
        .map(|a| a.iter().map(|v| escape(v)).collect())
        .collect();
    out.push_str(&table(
        "alerts",
        "Open alerts",
        &["Rule", "For", "Since"],
        &alerts,
    ));
    let empty = stats::compute(&[], minutes, false);
    let s = snapshot.stats.as_ref().unwrap_or(&empty);
    out.push_str("<section class=\"cards\" aria-label=\"Totals\">");
    for (key, label, value) in [
        ("requests", "Requests", s.requests.to_string()),
        ("per_minute", "Per minute", s.per_minute.to_string()),
        ("error_rate", "Error rate %", s.error_rate.to_string()),
        ("denied", "Denied", s.denied.to_string()),
        ("rate_limited", "Rate-limited", s.rate_limited.to_string()),
        ("detections", "Guard detections", s.detections.to_string()),
        (
            "unauthenticated",
            "Unauthenticated",
            s.unauthenticated.to_string(),
        ),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><span class=\"label\">{label}</span><span class=\"value\" data-stat=\"{key}\">{value}</span></div>"
        );
    }
    out.push_str("</section>");
    let latency_head = ["Name", "Requests", "Errors", "p50 ms", "p99 ms"];
    out.push_str(&table(
        "upstreams",
        "Per upstream",
        &latency_head,
        &latency_rows(&s.upstreams),
    ));
    out.push_str(&table(
        "tools",
        "Per tool",
        &latency_head,
        &latency_rows(&s.tools),
    ));
    out.push_str(&table(
        "denials",
        "Denials by rule",
        &["Rule", "Count"],
        &count_rows(&s.denials_by_rule),
    ));
    out.push_str(&table(
        "detections",
        "Guard detections by kind (action)",
        &["Kind", "Count"],
        &count_rows(&s.detections_by_kind),
    ));
    let health: Vec<Vec<String>> = snapshot
        .health
        .iter()
        .map(|h| vec![escape(&h.name), escape(&h.state), escape(&h.breaker)])
        .collect();
    out.push_str(&table(
        "health",
        "Upstream health",
        &["Upstream", "State", "Breaker"],
        &health,
    ));
    out
}

/// `GET /ui`.
pub(crate) async fn page(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(window): Query<Window>,
) -> Response {
    let admin = match access::admin(&inner, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let minutes = window.minutes();
    let snapshot = snapshot(&inner, minutes).await;
    html::page(
        "Overview",
        Section::Overview,
        &admin.viewer(),
        &render(&snapshot, minutes),
    )
}

/// `GET /ui/events`: a `stats` event now and every [`TICK`], until the console stops.
pub(crate) async fn events(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(window): Query<Window>,
) -> Response {
    if let Err(response) = access::admin(&inner, &headers).await {
        return response;
    }
    let minutes = window.minutes();
    let stop = inner.sources.shutdown.clone();
    let updates = stream::unfold((inner, true), move |(inner, first)| {
        let stop = stop.clone();
        async move {
            if !first {
                tokio::select! {
                    () = tokio::time::sleep(TICK) => {}
                    () = stop.cancelled() => return None,
                }
            }
            let snapshot = snapshot(&inner, minutes).await;
            let event = Event::default().event("stats").json_data(&snapshot);
            Some((event.map_err(|e| e.to_string()), (inner, false)))
        }
    });
    let updates = stream_ok(updates);
    html::secured(
        Sse::new(updates)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

/// Drops events that could not be encoded (a snapshot always encodes; this keeps the
/// stream's error type the one `Sse` wants).
fn stream_ok(
    events: impl Stream<Item = Result<Event, String>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    use futures::StreamExt;
    events.filter_map(|e| async move { e.ok().map(Ok) })
}
