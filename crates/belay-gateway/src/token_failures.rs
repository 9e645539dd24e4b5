//! Token failures at the gateway's front door, in the audit log (OWASP MCP08): a forged,
//! expired, revoked or misdirected token, a token in the URL, a missing scope. Before this,
//! such a request left only a log line, so an attacker trying stolen tokens was invisible
//! to anyone reading the audit log, its reports and alerts.
//!
//! Each refusal becomes one `unauthenticated` record (method [`METHOD`], rule
//! `authentication`) with the reason and the client address. The records a flood could
//! cause are bounded: at most [`PER_SECOND`] a second are written, and the next written one
//! says how many were left out, so the log shows the flood without growing with it.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use belay_auth::{Refusal, RefusalHook};

use crate::chain::{AUTHENTICATION_RULE, AuditRecord, AuditSink, CallContext, Decision, Outcome};

/// The method audit records of token failures carry (no MCP method was read: the body is
/// not parsed for a caller who is not let in).
pub const METHOD: &str = "auth/token";

/// Records written per second at most; the rest are counted.
pub const PER_SECOND: u32 = 20;

/// The current one-second window: when it began, how many records it wrote, and how many
/// refusals were left out since the last record written.
struct Window {
    began: Instant,
    written: u32,
    left_out: u64,
}

/// A hook for [`belay_auth::Protection::on_refusal`] writing to `audit`; `upstream` names
/// the endpoint's upstream (empty for the endpoint of every upstream).
pub(crate) fn hook(audit: Arc<dyn AuditSink>, upstream: &str) -> RefusalHook {
    let upstream = upstream.to_owned();
    let window = Arc::new(Mutex::new(Window {
        began: Instant::now(),
        written: 0,
        left_out: 0,
    }));
    Arc::new(move |refusal: &Refusal<'_>| {
        let Some(left_out) = admit(&window, Instant::now()) else {
            return;
        };
        let record = record(refusal, &upstream, left_out);
        let audit = audit.clone();
        // The refusal is answered now; the record follows (the audit queue has its own
        // back-pressure, and a refused request has nothing to withhold).
        tokio::spawn(async move {
            if let Err(why) = audit.record(record).await {
                tracing::error!(%why, "cannot write the audit record of a refused token");
            }
        });
    })
}

/// Whether a record may be written now: `Some(left out before it)`, or `None` (counted).
fn admit(window: &Mutex<Window>, now: Instant) -> Option<u64> {
    let mut window = window
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if now.duration_since(window.began) >= Duration::from_secs(1) {
        window.began = now;
        window.written = 0;
    }
    if window.written >= PER_SECOND {
        window.left_out += 1;
        return None;
    }
    window.written += 1;
    Some(std::mem::take(&mut window.left_out))
}

fn record(refusal: &Refusal<'_>, upstream: &str, left_out: u64) -> AuditRecord {
    let from = belay_mcp::http::client_ip(&refusal.request.extensions)
        .map(|ip| format!(" from {ip}"))
        .unwrap_or_default();
    let mut reason = format!(
        "HTTP {} {}{from} at {}: {}",
        refusal.status, refusal.error, refusal.resource, refusal.reason
    );
    if left_out > 0 {
        reason.push_str(&format!(
            " ({left_out} more token failures before this one were not recorded: over {PER_SECOND} a second)"
        ));
    }
    let session = refusal
        .request
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(128).collect());
    AuditRecord {
        context: CallContext {
            caller: None,
            session,
            upstream: upstream.to_owned(),
            method: METHOD,
            target: None,
            arguments: None,
        },
        decision: Decision::Deny {
            rule: Some(AUTHENTICATION_RULE.into()),
            reason,
        },
        outcome: Outcome::Denied,
        latency: Duration::ZERO,
        verdicts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_bounded_number_and_the_next_record_counts_the_rest() {
        let start = Instant::now();
        let window = Mutex::new(Window {
            began: start,
            written: 0,
            left_out: 0,
        });
        let admitted = (0..1000)
            .filter(|_| admit(&window, start).is_some())
            .count();
        assert_eq!(admitted, PER_SECOND as usize);
        // A second later the window opens again and the first record says what was left.
        assert_eq!(
            admit(&window, start + Duration::from_secs(1)),
            Some(1000 - u64::from(PER_SECOND))
        );
        assert_eq!(admit(&window, start + Duration::from_secs(1)), Some(0));
    }

    #[test]
    fn the_record_names_the_failure_and_never_a_token() {
        let (parts, ()) = http::Request::builder()
            .header("authorization", "Bearer secret-token-value")
            .header("mcp-session-id", "s1")
            .body(())
            .map(http::Request::into_parts)
            .unwrap_or_else(|_| unreachable!("a valid request"));
        let refusal = Refusal {
            status: 401,
            error: "invalid_token",
            reason: "the token expired",
            resource: "http://127.0.0.1:8000/mcp",
            request: &parts,
        };
        let record = record(&refusal, "", 3);
        let text = format!("{:?}", record.decision);
        assert!(
            text.contains("invalid_token") && text.contains("the token expired"),
            "{text}"
        );
        assert!(text.contains("3 more token failures"), "{text}");
        assert!(!format!("{record:?}").contains("secret-token-value"));
        assert_eq!(record.context.method, METHOD);
        assert_eq!(record.context.session.as_deref(), Some("s1"));
    }
}
