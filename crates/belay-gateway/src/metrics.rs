//! Prometheus metrics of the gateway, served on `GET /metrics` (`[gateway.metrics]`).
//!
//! [`Chain::apply`](crate::chain::Chain::apply) records every request once, when its
//! outcome is known ([`Metrics::record`]); upstream health is read from the upstreams at
//! scrape time, so it is never stale. Labels only ever hold values from the configuration
//! or the code (upstream names, MCP methods, policy rule ids, outcomes), never a user, a
//! tool argument or a URI, so the number of series stays bounded.
//!
//! Series (OpenMetrics text):
//! - `belay_gateway_requests_total{upstream,method,outcome}`, outcome one of `answered`,
//!   `denied`, `limited`, `blocked`, `failed`;
//! - `belay_gateway_request_duration_seconds{upstream,method}`, a histogram of every
//!   request's time in the gateway and upstream, refusals included;
//! - `belay_gateway_denials_total{upstream,rule}`: refusals by policy (`rule` is the rule's
//!   id, `default` for the default effect, `authentication` for a missing sign-in);
//! - `belay_gateway_rate_limited_total{upstream}`;
//! - `belay_gateway_upstream_up{upstream}`: 1 while connected, else 0;
//! - `belay_gateway_upstream_breaker_open{upstream}`: 1 while the circuit breaker fails
//!   calls fast (open, or half-open with its trial call out), else 0;
//! - `belay_gateway_upstream_notifications_dropped_total{upstream}`: notifications from the
//!   upstream dropped because too many were still being delivered (a flood, or a client
//!   reading slowly);
//! - `belay_gateway_upstream_questions_refused_total{upstream}`: the upstream's requests for
//!   callers (elicitation, sampling, roots) refused because too many were still waiting;
//! - `belay_gateway_guard_detections_total{upstream,guard,kind,action}`: what the guards found
//!   (`guard` one of `metadata`, `pinning`, `arguments`, `injection`, `secrets`, `links`;
//!   `kind` a finding kind; `action` one of `flagged`, `annotated`, `redacted`, `blocked`,
//!   `hidden`): all three from the code, never from the traffic.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    breaker::BreakerState,
    chain::{CallContext, Outcome, Verdict},
    upstream::{Upstream, UpstreamState},
};

/// The content type of the exposition: OpenMetrics text, which Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Histogram buckets in seconds: 0.1 ms (a refusal) to 30 s (a slow tool), about 2.5x apart.
const DURATION_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    upstream: String,
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    upstream: String,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    upstream: String,
    rule: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DetectionLabels {
    upstream: String,
    guard: &'static str,
    kind: &'static str,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The gateway's metrics registry. Cheap to share (`Arc`); recording takes no lock the
/// request path waits on for long (one read lock per series once it exists).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    denials: Family<RuleLabels, Counter>,
    rate_limited: Family<UpstreamLabels, Counter>,
    upstream_up: Family<UpstreamLabels, Gauge>,
    breaker_open: Family<UpstreamLabels, Gauge>,
    notifications_dropped: Family<UpstreamLabels, Counter>,
    questions_refused: Family<UpstreamLabels, Counter>,
    detections: Family<DetectionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every series described.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("belay_gateway");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests through the gateway's chain, by upstream, MCP method and outcome",
            requests.clone(),
        );
        let duration = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "request_duration_seconds",
            "Time from the request entering the chain to its outcome, refusals included",
            duration.clone(),
        );
        let denials = Family::default();
        registry.register(
            "denials",
            "Requests refused by policy or for want of a signed-in caller, by rule",
            denials.clone(),
        );
        let rate_limited = Family::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit or concurrency cap",
            rate_limited.clone(),
        );
        let upstream_up = Family::default();
        registry.register(
            "upstream_up",
            "Whether the upstream is connected (1) or not (0), as of the scrape",
            upstream_up.clone(),
        );
        let breaker_open = Family::default();
        registry.register(
            "upstream_breaker_open",
            "Whether the upstream's circuit breaker fails calls fast (1) or not (0)",
            breaker_open.clone(),
        );
        let notifications_dropped = Family::default();
        registry.register(
            "upstream_notifications_dropped",
            "Notifications from the upstream dropped because too many were still being delivered",
            notifications_dropped.clone(),
        );
        let questions_refused = Family::default();
        registry.register(
            "upstream_questions_refused",
            "Requests of the upstream for callers refused because too many were still waiting",
            questions_refused.clone(),
        );
        let detections = Family::default();
        registry.register(
            "guard_detections",
            "What the guards found, by guard, kind of finding and what they did about it",
            detections.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            denials,
            rate_limited,
            upstream_up,
            breaker_open,
            notifications_dropped,
            questions_refused,
            detections,
        }
    }

    /// Counts what `upstream`'s guards found.
    pub fn record_verdicts(&self, upstream: &str, verdicts: &[Verdict]) {
        for v in verdicts {
            self.detections
                .get_or_create(&DetectionLabels {
                    upstream: upstream.to_owned(),
                    guard: v.guard,
                    kind: v.kind,
                    action: v.action.as_str(),
                })
                .inc();
        }
    }

    /// Records one request that ended with `outcome` after `latency`. `rule` is the rule
    /// that denied it (used only for [`Outcome::Denied`]; `None`: the default effect).
    pub fn record(
        &self,
        ctx: &CallContext,
        outcome: &Outcome,
        rule: Option<&str>,
        latency: Duration,
    ) {
        let upstream = ctx.upstream.clone();
        let name = match outcome {
            Outcome::Answered => "answered",
            Outcome::Denied => "denied",
            Outcome::Limited(_) => "limited",
            Outcome::Blocked(_) => "blocked",
            Outcome::Failed(_) => "failed",
        };
        self.requests
            .get_or_create(&RequestLabels {
                upstream: upstream.clone(),
                method: ctx.method,
                outcome: name,
            })
            .inc();
        self.duration
            .get_or_create(&MethodLabels {
                upstream: upstream.clone(),
                method: ctx.method,
            })
            .observe(latency.as_secs_f64());
        match outcome {
            Outcome::Denied => {
                let rule = rule.unwrap_or("default").to_owned();
                self.denials
                    .get_or_create(&RuleLabels { upstream, rule })
                    .inc();
            }
            Outcome::Limited(_) => {
                self.rate_limited
                    .get_or_create(&UpstreamLabels { upstream })
                    .inc();
            }
            _ => {}
        }
    }

    /// The exposition, with upstream health read from `upstreams` now.
    pub fn render(&self, upstreams: &[Arc<Upstream>]) -> Result<String, std::fmt::Error> {
        for upstream in upstreams {
            let labels = UpstreamLabels {
                upstream: upstream.name().to_owned(),
            };
            let up = upstream.status().state == UpstreamState::Up;
            let open = matches!(
                upstream.breaker(),
                BreakerState::Open(_) | BreakerState::HalfOpen
            );
            self.upstream_up.get_or_create(&labels).set(i64::from(up));
            self.breaker_open
                .get_or_create(&labels)
                .set(i64::from(open));
            // The upstream counts; the counters catch up.
            catch_up(
                &self.notifications_dropped.get_or_create(&labels),
                upstream.notifications_dropped(),
            );
            catch_up(
                &self.questions_refused.get_or_create(&labels),
                upstream.questions_refused(),
            );
        }
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// `GET path`: the exposition of these metrics, with the health of the upstreams
    /// `upstreams` returns at scrape time. Put it outside any OAuth layer: Prometheus
    /// scrapes without a token.
    pub fn router(
        self: &Arc<Self>,
        path: &str,
        upstreams: impl Fn() -> Vec<Arc<Upstream>> + Clone + Send + Sync + 'static,
    ) -> Router {
        let metrics = self.clone();
        Router::new().route(
            path,
            get(move || {
                let metrics = metrics.clone();
                let upstreams = upstreams.clone();
                async move { metrics.respond(&upstreams()) }
            }),
        )
    }

    fn respond(&self, upstreams: &[Arc<Upstream>]) -> Response {
        match self.render(upstreams) {
            Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
            Err(_) => {
                tracing::error!("cannot encode the gateway's metrics");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Raises `counter` to the upstream's `total` (an upstream a reload replaced starts again
/// from 0, which a counter cannot follow down).
fn catch_up(counter: &Counter, total: u64) {
    let shown = counter.get();
    if total > shown {
        counter.inc_by(total - shown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(upstream: &str, method: &'static str) -> CallContext {
        CallContext {
            caller: None,
            session: None,
            upstream: upstream.into(),
            method,
            target: Some("secret-looking-target".into()),
            arguments: None,
        }
    }

    #[test]
    fn outcomes_land_in_their_series_with_bounded_labels() -> Result<(), std::fmt::Error> {
        let metrics = Metrics::new();
        let call = ctx("weather", "tools/call");
        metrics.record(&call, &Outcome::Answered, None, Duration::from_millis(3));
        metrics.record(&call, &Outcome::Answered, None, Duration::from_millis(40));
        metrics.record(&call, &Outcome::Denied, Some("no-admin"), Duration::ZERO);
        metrics.record(&call, &Outcome::Denied, None, Duration::ZERO);
        let limited = Outcome::Limited("user alice over 10/min".into());
        metrics.record(&call, &limited, None, Duration::ZERO);
        metrics.record(
            &ctx("notes", "resources/read"),
            &Outcome::Failed("boom".into()),
            None,
            Duration::from_secs(60),
        );
        let text = metrics.render(&[])?;
        for line in [
            r#"belay_gateway_requests_total{upstream="weather",method="tools/call",outcome="answered"} 2"#,
            r#"belay_gateway_requests_total{upstream="weather",method="tools/call",outcome="denied"} 2"#,
            r#"belay_gateway_requests_total{upstream="weather",method="tools/call",outcome="limited"} 1"#,
            r#"belay_gateway_requests_total{upstream="notes",method="resources/read",outcome="failed"} 1"#,
            r#"belay_gateway_denials_total{upstream="weather",rule="no-admin"} 1"#,
            r#"belay_gateway_denials_total{upstream="weather",rule="default"} 1"#,
            r#"belay_gateway_rate_limited_total{upstream="weather"} 1"#,
            r#"belay_gateway_request_duration_seconds_count{upstream="weather",method="tools/call"} 5"#,
            r#"belay_gateway_request_duration_seconds_bucket{le="0.005",upstream="weather",method="tools/call"} 4"#,
            r#"belay_gateway_request_duration_seconds_bucket{le="+Inf",upstream="notes",method="resources/read"} 1"#,
            r#"belay_gateway_request_duration_seconds_bucket{le="30.0",upstream="notes",method="resources/read"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        // Neither the target, nor the limiter's reason (which names a user), nor the
        // failure's message becomes a label.
        for leak in ["secret-looking-target", "alice", "boom"] {
            assert!(!text.contains(leak), "`{leak}` leaked into\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        Ok(())
    }
}
