//! `/ui/audit`: the audit explorer. Filters (user, client, upstream, tool, decision, guard
//! verdict, time range, trace id), each record's redacted arguments and outcome, the hash
//! chain's verification state, and `/ui/audit/export` as JSON lines (the sealed records,
//! verifiable elsewhere) or CSV (cells that a spreadsheet would run as a formula are quoted
//! as text).

use std::{fmt::Write as _, sync::Arc};

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use belay_audit::{AuditKey, Outcome, Record, format_time};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::{
    Inner, access,
    html::{self, Section, escape, query_value, table},
    records::{self, Filter},
};

/// Rows one page shows.
const PAGE_ROWS: usize = 200;
/// Rows one page may read to find them (guard and trace filters skip rows).
const PAGE_SCAN: usize = 20_000;
/// Most records one export holds.
const EXPORT_ROWS: usize = 100_000;

fn input(name: &str, label: &str, value: &str, kind: &str) -> String {
    format!(
        "<label>{label} <input type=\"{kind}\" name=\"{name}\" value=\"{}\"></label>",
        escape(value)
    )
}

fn select(name: &str, label: &str, value: &str, options: &[(&str, &str)]) -> String {
    let mut out = format!("<label>{label} <select name=\"{name}\">");
    for (v, text) in options {
        let selected = if *v == value { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{v}\"{selected}>{text}</option>");
    }
    out.push_str("</select></label>");
    out
}

fn form(f: &Filter) -> String {
    let mut out = String::from(
        "<form method=\"get\" action=\"/ui/audit\" class=\"filters\" id=\"audit-filter\">",
    );
    out.push_str(&input("user", "User", &f.user, "text"));
    out.push_str(&input("client", "Client", &f.client, "text"));
    out.push_str(&input("upstream", "Upstream", &f.upstream, "text"));
    out.push_str(&input("tool", "Tool", &f.tool, "text"));
    out.push_str(&select(
        "decision",
        "Decision",
        &f.decision,
        &[
            ("", "any"),
            ("allow", "allow"),
            ("deny", "deny"),
            ("rate_limited", "rate limited"),
            ("unauthenticated", "unauthenticated"),
        ],
    ));
    out.push_str(&select(
        "guard",
        "Guard verdict",
        &f.guard,
        &[
            ("", "any or none"),
            ("any", "some verdict"),
            ("none", "no verdict"),
            ("blocked", "blocked"),
            ("redacted", "redacted"),
            ("hidden", "hidden"),
            ("annotated", "annotated"),
            ("flagged", "flagged"),
        ],
    ));
    out.push_str(&input("since", "From", &f.since, "text"));
    out.push_str(&input("until", "Until", &f.until, "text"));
    out.push_str(&input("trace", "Trace id", &f.trace, "text"));
    out.push_str("<button type=\"submit\">Filter</button></form>");
    out
}

/// The filter as a query string, for the export links.
fn query_string(f: &Filter) -> String {
    [
        ("user", &f.user),
        ("client", &f.client),
        ("upstream", &f.upstream),
        ("tool", &f.tool),
        ("decision", &f.decision),
        ("guard", &f.guard),
        ("since", &f.since),
        ("until", &f.until),
        ("trace", &f.trace),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}", query_value(v)))
    .collect::<Vec<_>>()
    .join("&")
}

fn outcome(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Error { code, message } => match code {
            Some(code) => format!("error {code}: {message}"),
            None => format!("error: {message}"),
        },
        _ => "other".into(),
    }
}

fn guard_text(record: &Record) -> String {
    record
        .event
        .guard
        .iter()
        .map(|v| format!("{} {} {} ({})", v.guard, v.kind, v.action, v.rule))
        .collect::<Vec<_>>()
        .join("; ")
}

fn row(record: &Record) -> Vec<String> {
    let e = &record.event;
    let opt = |v: &Option<String>| escape(v.as_deref().unwrap_or(""));
    let arguments = e
        .arguments
        .as_ref()
        .map(|a| serde_json::to_string_pretty(a).unwrap_or_default())
        .unwrap_or_default();
    let detail = format!(
        "<details><summary>{}</summary><pre>{}</pre><p>{}</p></details>",
        escape(&outcome(&e.outcome)),
        escape(&arguments),
        escape(&format!(
            "result {} bytes; latency {} µs; session {}",
            e.result_bytes.map_or("–".into(), |b| b.to_string()),
            e.latency_us.map_or("–".into(), |l| l.to_string()),
            e.session.as_deref().unwrap_or("–"),
        )),
    );
    vec![
        record.seq.to_string(),
        escape(&format_time(&e.time)),
        opt(&e.user),
        opt(&e.client),
        opt(&e.upstream),
        escape(&e.method),
        opt(&e.name),
        format!(
            "<span class=\"decision {d}\">{d}</span>",
            d = escape(e.decision.as_str())
        ),
        opt(&e.rule),
        escape(&guard_text(record)),
        opt(&e.trace_id),
        detail,
    ]
}

/// The chain's state, in words, and whether it is intact.
async fn chain_state(inner: &Inner) -> (bool, String) {
    let (Some(db), Some(key)) = (&inner.sources.audit_db, &inner.sources.audit_key) else {
        return (false, "not verified: no audit store or key".into());
    };
    let key = match AuditKey::load(key) {
        Ok(key) => key,
        Err(e) => return (false, format!("not verified: {e}")),
    };
    match belay_audit::verify_store(db, &key).await {
        Ok(report) => match &report.problem {
            None => (
                true,
                format!(
                    "chain intact: {} records verified up to record {}",
                    report.records, report.head.seq
                ),
            ),
            Some(p) => (
                false,
                format!("chain BROKEN at record {}: {}", p.seq, p.detail),
            ),
        },
        Err(e) => (false, format!("not verified: {e}")),
    }
}

/// `GET /ui/audit`.
pub(crate) async fn page(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Response {
    let admin = match access::admin(&inner, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let mut body = form(&filter);
    let (intact, state) = chain_state(&inner).await;
    let _ = write!(
        body,
        "<p id=\"chain\" class=\"{}\">{}</p>",
        if intact { "ok" } else { "problem" },
        escape(&state)
    );
    let qs = query_string(&filter);
    let _ = write!(
        body,
        "<p class=\"exports\">Export: <a href=\"/ui/audit/export?format=jsonl&amp;{q}\">JSON lines</a> · \
<a href=\"/ui/audit/export?format=csv&amp;{q}\">CSV</a></p>",
        q = escape(&qs)
    );
    match &inner.sources.audit_db {
        None => body.push_str("<p class=\"problem\">The explorer reads the audit store: add \"store\" to [audit] sinks.</p>"),
        Some(db) => match records::matching(db, &filter, PAGE_ROWS, PAGE_SCAN).await {
            Ok((found, more)) => {
                let rows: Vec<Vec<String>> = found.iter().map(row).collect();
                let _ = write!(
                    body,
                    "<p id=\"count\">{} record{}{}</p>",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" },
                    if more { " (newest shown; narrow the filter for more)" } else { "" }
                );
                body.push_str(&table(
                    "records",
                    "Audit records, newest first",
                    &[
                        "#", "Time", "User", "Client", "Upstream", "Method", "Name",
                        "Decision", "Rule", "Guard", "Trace", "Outcome",
                    ],
                    &rows,
                ));
            }
            Err(e) => {
                let _ = write!(body, "<p class=\"problem\">{}</p>", escape(&e));
            }
        },
    }
    html::page("Audit log", Section::Audit, &admin.viewer(), &body)
}

/// `?format=` of an export, besides the filter.
#[derive(Debug, Deserialize)]
pub(crate) struct Format {
    format: Option<String>,
}

/// A CSV cell: quoted, quotes doubled, and text a spreadsheet would evaluate (`=`, `+`,
/// `-`, `@`, tab, CR) prefixed with `'` so it stays text.
pub(crate) fn csv_cell(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn csv_line(record: &Record) -> String {
    let e = &record.event;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        record.seq.to_string(),
        format_time(&e.time),
        opt(&e.user),
        opt(&e.client),
        opt(&e.upstream),
        e.method.clone(),
        opt(&e.name),
        e.decision.as_str().to_owned(),
        opt(&e.rule),
        outcome(&e.outcome),
        e.latency_us.map(|l| l.to_string()).unwrap_or_default(),
        opt(&e.trace_id),
        guard_text(record),
        e.arguments
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    ]
    .iter()
    .map(|c| csv_cell(c))
    .collect::<Vec<_>>()
    .join(",")
}

/// `GET /ui/audit/export?format=jsonl|csv&…filter`.
pub(crate) async fn export(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(format): Query<Format>,
    Query(filter): Query<Filter>,
) -> Response {
    if let Err(response) = access::admin(&inner, &headers).await {
        return response;
    }
    let Some(db) = &inner.sources.audit_db else {
        return (StatusCode::NOT_FOUND, "no audit store").into_response();
    };
    let (found, _) = match records::matching(db, &filter, EXPORT_ROWS, EXPORT_ROWS * 4).await {
        Ok(found) => found,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let (body, kind, file) = match format.format.as_deref().unwrap_or("jsonl") {
        "csv" => {
            let mut out = String::from(
                "seq,time,user,client,upstream,method,name,decision,rule,outcome,latency_us,trace_id,guard,arguments\n",
            );
            for record in found.iter().rev() {
                out.push_str(&csv_line(record));
                out.push('\n');
            }
            (out, "text/csv; charset=utf-8", "audit.csv")
        }
        "jsonl" => {
            let mut out = String::new();
            for record in found.iter().rev() {
                out.push_str(&serde_json::to_string(record).unwrap_or_default());
                out.push('\n');
            }
            (out, "application/jsonl", "audit.jsonl")
        }
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown format `{other}`: use jsonl or csv"),
            )
                .into_response();
        }
    };
    let mut response = html::secured(body.into_response());
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_become_formulas() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("plain"), "\"plain\"");
        assert_eq!(csv_cell("-1"), "\"'-1\"");
    }
}
