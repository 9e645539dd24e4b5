//! Reading the audit store: the records of a window (for the overview) and the records a
//! filter matches (for the explorer and its export), each read with a bound so a huge log
//! cannot make one page read it all. Filters the store has no column for (guard verdict,
//! trace id) are applied to the records read.

use belay_audit::{MAX_PAGE, Query, Record};
use belay_store::Db;
use chrono::{DateTime, Utc};

/// What the explorer filters on; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub(crate) struct Filter {
    pub(crate) user: String,
    pub(crate) client: String,
    pub(crate) upstream: String,
    pub(crate) tool: String,
    /// `allow`, `deny`, `rate_limited` or `unauthenticated`.
    pub(crate) decision: String,
    /// `any` (some verdict), `none`, or an action (`blocked`, `redacted`, …) or kind.
    pub(crate) guard: String,
    /// RFC 3339, or a date (`2026-12-07`).
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) trace: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// `text` as a time: RFC 3339, `YYYY-MM-DDTHH:MM` (a browser's datetime-local) or a date.
pub(crate) fn parse_time(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
        return Ok(Some(t.and_utc()));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    Err(format!(
        "`{text}` is not a time (use 2026-12-07 or 2026-12-07T10:00)"
    ))
}

impl Filter {
    /// The store query for the columns it has.
    pub(crate) fn query(&self) -> Result<Query, String> {
        let decision = match some(&self.decision) {
            Some(d) => Some(d.parse().map_err(|e: belay_audit::Error| e.to_string())?),
            None => None,
        };
        Ok(Query {
            since: parse_time(&self.since)?,
            until: parse_time(&self.until)?,
            user: some(&self.user),
            client: some(&self.client),
            upstream: some(&self.upstream),
            name: some(&self.tool),
            decision,
            limit: MAX_PAGE,
            ..Query::default()
        })
    }

    /// Whether `record` passes the filters the store cannot apply.
    pub(crate) fn keeps(&self, record: &Record) -> bool {
        let e = &record.event;
        let guard = self.guard.trim();
        let guard_ok = match guard {
            "" => true,
            "any" => !e.guard.is_empty(),
            "none" => e.guard.is_empty(),
            wanted => e
                .guard
                .iter()
                .any(|v| v.action == wanted || v.kind == wanted || v.guard == wanted),
        };
        let trace = self.trace.trim();
        guard_ok && (trace.is_empty() || e.trace_id.as_deref() == Some(trace))
    }
}

/// Up to `want` records `filter` matches, newest first, reading at most `scan` rows.
/// Returns them and whether the read stopped at a bound (more may match).
pub(crate) async fn matching(
    db: &Db,
    filter: &Filter,
    want: usize,
    scan: usize,
) -> Result<(Vec<Record>, bool), String> {
    let mut query = filter.query()?;
    let mut found = Vec::new();
    let mut read = 0;
    loop {
        let page = belay_audit::query(db, &query)
            .await
            .map_err(|e| e.to_string())?;
        read += page.records.len();
        for record in page.records {
            if filter.keeps(&record) {
                if found.len() == want {
                    return Ok((found, true));
                }
                found.push(record);
            }
        }
        match page.next {
            Some(next) if read < scan => query.cursor = Some(next),
            Some(_) => return Ok((found, true)),
            None => return Ok((found, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use belay_audit::{AuditEvent, GuardVerdict};

    use super::*;
    use crate::testkit::record;

    #[test]
    fn times_parse_in_the_forms_a_browser_sends() -> Result<(), String> {
        assert!(parse_time("")?.is_none());
        assert!(parse_time("2026-12-07")?.is_some());
        assert!(parse_time("2026-12-07T10:30")?.is_some());
        assert!(parse_time("2026-12-07T10:30:00Z")?.is_some());
        assert!(parse_time("yesterday").is_err());
        Ok(())
    }

    #[test]
    fn guard_and_trace_filters_apply_to_the_records_read() {
        let flagged = record(
            1,
            AuditEvent {
                trace_id: Some("abc".into()),
                guard: vec![GuardVerdict {
                    guard: "secrets".into(),
                    rule: "pii.card".into(),
                    kind: "secret".into(),
                    severity: "high".into(),
                    action: "redacted".into(),
                    field: None,
                }],
                ..AuditEvent::new("tools/call")
            },
        );
        let clean = record(2, AuditEvent::new("tools/call"));
        let by = |guard: &str, trace: &str| Filter {
            guard: guard.into(),
            trace: trace.into(),
            ..Filter::default()
        };
        assert!(by("any", "").keeps(&flagged) && !by("any", "").keeps(&clean));
        assert!(by("none", "").keeps(&clean) && !by("none", "").keeps(&flagged));
        assert!(by("redacted", "abc").keeps(&flagged));
        assert!(!by("blocked", "").keeps(&flagged));
        assert!(!by("", "abd").keeps(&flagged));
        assert!(by("", "").query().is_ok());
        let bad = Filter {
            decision: "maybe".into(),
            ..Filter::default()
        };
        assert!(bad.query().is_err());
    }
}
