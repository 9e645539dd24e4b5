//! `/ui/security`: pinned tools and the changes waiting for approval (each as a diff of the
//! definitions), the scan findings per upstream (what the gateway's screening held back or
//! flagged), recent console sign-ins and refused tokens; and `POST
//! /ui/security/approve`, which approves a changed tool as `belay gateway approve` does
//! (the running gateway shows it again within a second) and audits who did it.

use std::{fmt::Write as _, sync::Arc};

use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use belay_audit::{AuditEvent, Decision, format_time};
use belay_gateway::pins::Pin;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::{
    Inner, access,
    html::{self, Section, csrf_field, escape, table},
    records::{self, Filter},
    signin,
};

/// Sign-ins and refusals shown.
const RECENT: usize = 20;

/// The pending change of `pin` as a unified diff, if it has one.
fn diff(pin: &Pin) -> Option<String> {
    let pending = pin.pending.as_ref()?;
    let old: belay_guard::Tool = serde_json::from_str(&pin.definition).ok()?;
    let new: belay_guard::Tool = serde_json::from_str(&pending.definition).ok()?;
    Some(belay_guard::describe_change(&old, &new))
}

fn diff_html(diff: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in diff.lines() {
        let class = match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => "add",
            Some(b'-') if !line.starts_with("---") => "del",
            _ => "ctx",
        };
        let _ = writeln!(out, "<span class=\"{class}\">{}</span>", escape(line));
    }
    out.push_str("</pre>");
    out
}

fn pins_html(pins: &[Pin], csrf: &str) -> String {
    let mut out = String::new();
    let pending: Vec<&Pin> = pins.iter().filter(|p| p.pending.is_some()).collect();
    let _ = write!(
        out,
        "<section id=\"pending\" aria-label=\"Changes waiting for approval\"><h2>Waiting for approval ({})</h2>",
        pending.len()
    );
    if pending.is_empty() {
        out.push_str("<p class=\"empty\">No changed tool is waiting.</p>");
    }
    for pin in pending {
        let _ = write!(
            out,
            "<article class=\"change\"><h3>{upstream} · {tool}</h3>{diff}\
<form method=\"post\" action=\"/ui/security/approve\">{csrf}\
<input type=\"hidden\" name=\"upstream\" value=\"{upstream}\">\
<input type=\"hidden\" name=\"tool\" value=\"{tool}\">\
<button type=\"submit\" class=\"approve\">Approve {tool}</button></form></article>",
            upstream = escape(&pin.upstream),
            tool = escape(&pin.tool),
            diff = diff_html(
                &diff(pin).unwrap_or_else(|| "(the definitions cannot be compared)".into())
            ),
            csrf = csrf_field(csrf),
        );
    }
    out.push_str("</section>");
    let rows: Vec<Vec<String>> = pins
        .iter()
        .map(|p| {
            vec![
                escape(&p.upstream),
                escape(&p.tool),
                escape(&p.fingerprint[..p.fingerprint.len().min(12)]),
                if p.pending.is_some() {
                    "<span class=\"decision deny\">changed</span>".into()
                } else {
                    "approved".into()
                },
            ]
        })
        .collect();
    out.push_str(&table(
        "pins",
        "Pinned tools",
        &["Upstream", "Tool", "Pin", "State"],
        &rows,
    ));
    out
}

async fn recent(inner: &Inner, filter: Filter, id: &str, caption: &str) -> String {
    let Some(db) = &inner.sources.audit_db else {
        return String::new();
    };
    match records::matching(db, &filter, RECENT, 5000).await {
        Ok((found, _)) => {
            let rows: Vec<Vec<String>> = found
                .iter()
                .map(|r| {
                    let e = &r.event;
                    let why = match &e.outcome {
                        belay_audit::Outcome::Error { message, .. } => message.clone(),
                        _ => String::new(),
                    };
                    vec![
                        escape(&format_time(&e.time)),
                        escape(e.user.as_deref().unwrap_or("")),
                        escape(e.client.as_deref().unwrap_or("")),
                        escape(&e.method),
                        escape(e.decision.as_str()),
                        escape(&why),
                    ]
                })
                .collect();
            table(
                id,
                caption,
                &["Time", "User", "Client", "Method", "Decision", "Why"],
                &rows,
            )
        }
        Err(e) => format!("<p class=\"problem\">{}</p>", escape(&e)),
    }
}

/// Screening records read for the findings table, at most.
const FINDINGS_SCAN: usize = 20_000;

/// What the gateway's screening of each upstream's lists found (metadata guard, pinning),
/// from the audit store: the latest verdicts per upstream and tool, held back or flagged.
async fn findings(inner: &Inner) -> String {
    let Some(db) = &inner.sources.audit_db else {
        return String::new();
    };
    let filter = Filter {
        guard: "any".into(),
        ..Filter::default()
    };
    let found = match records::matching(db, &filter, 2_000, FINDINGS_SCAN).await {
        Ok((found, _)) => found,
        Err(e) => return format!("<p class=\"problem\">{}</p>", escape(&e)),
    };
    // Newest first: the first record of each upstream and tool is its current finding.
    let mut latest: std::collections::BTreeMap<(String, String), &belay_audit::AuditEvent> =
        std::collections::BTreeMap::new();
    for record in &found {
        let e = &record.event;
        if !matches!(e.method.as_str(), "tools/list" | "list") {
            continue;
        }
        let key = (
            e.upstream.clone().unwrap_or_default(),
            e.name.clone().unwrap_or_default(),
        );
        latest.entry(key).or_insert(e);
    }
    let rows: Vec<Vec<String>> = latest
        .iter()
        .map(|((upstream, name), e)| {
            let verdicts: Vec<String> = e
                .guard
                .iter()
                .map(|v| format!("{}: {} ({}, {})", v.guard, v.kind, v.severity, v.action))
                .collect();
            let state = match &e.outcome {
                belay_audit::Outcome::Error { message, .. } => {
                    format!("<span class=\"decision deny\">{}</span>", escape(message))
                }
                _ => "flagged, shown".into(),
            };
            vec![
                escape(upstream),
                escape(name),
                escape(&verdicts.join("; ")),
                state,
                escape(&format_time(&e.time)),
            ]
        })
        .collect();
    table(
        "findings",
        "Scan findings per upstream (the gateway's screening of each upstream's tools)",
        &["Upstream", "Tool", "Findings", "State", "Seen"],
        &rows,
    )
}

/// The registry's verdict on each upstream, when `[gateway] registry` is set.
fn registry_html(inner: &Inner) -> String {
    let Some(status) = &inner.sources.registry else {
        return String::new();
    };
    let view = status
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let rows: Vec<Vec<String>> = view
        .upstreams
        .iter()
        .map(|line| {
            let state = if line.admitted {
                "<span class=\"decision allow\">connected</span>"
            } else {
                "<span class=\"decision deny\">refused</span>"
            };
            vec![escape(&line.upstream), state.into(), escape(&line.reason)]
        })
        .collect();
    table(
        "registry",
        &format!("Registry status of each upstream ({})", view.location),
        &["Upstream", "State", "Registry says"],
        &rows,
    )
}

/// `GET /ui/security`.
pub(crate) async fn page(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let admin = match access::admin(&inner, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let mut body = crate::actions::admin_html(&inner, admin.csrf.as_deref().unwrap_or(""));
    match &inner.sources.pins {
        None => body.push_str(
            "<p class=\"empty\">No upstream pins its tools (`pin = true` in [gateway.guard]).</p>",
        ),
        Some(pins) => match pins.list(false) {
            Ok(list) => body.push_str(&pins_html(&list, admin.csrf.as_deref().unwrap_or(""))),
            Err(e) => {
                let _ = write!(body, "<p class=\"problem\">{}</p>", escape(&e.to_string()));
            }
        },
    }
    body.push_str(&registry_html(&inner));
    body.push_str(&findings(&inner).await);
    body.push_str(
        &recent(
            &inner,
            Filter {
                client: inner.spec.client_id.clone(),
                ..Filter::default()
            },
            "sign-ins",
            "Recent console sign-ins and actions",
        )
        .await,
    );
    body.push_str(
        &recent(
            &inner,
            Filter {
                decision: "unauthenticated".into(),
                ..Filter::default()
            },
            "token-failures",
            "Recent refused tokens",
        )
        .await,
    );
    html::page("Security", Section::Security, &admin.viewer(), &body)
}

/// The approval form.
#[derive(Debug, Deserialize)]
pub(crate) struct Approval {
    csrf: Option<String>,
    upstream: String,
    tool: String,
}

/// `POST /ui/security/approve`.
pub(crate) async fn approve(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<Approval>,
) -> Response {
    let admin = match access::admin_post(&inner, &headers, form.csrf.as_deref()).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let Some(pins) = &inner.sources.pins else {
        return access::forbidden("no upstream pins its tools");
    };
    let approved = match pins.approve(&form.upstream, Some(&form.tool)) {
        Ok(approved) => approved,
        Err(e) => {
            return html::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not approved",
                &e.to_string(),
            );
        }
    };
    let decision = if approved.is_empty() {
        Decision::Deny
    } else {
        Decision::Allow
    };
    signin::record(
        &inner,
        AuditEvent {
            user: Some(admin.subject.clone()),
            client: Some(inner.spec.client_id.clone()),
            upstream: Some(form.upstream.clone()),
            name: Some(form.tool.clone()),
            decision,
            ..AuditEvent::new("console/approve")
        },
    )
    .await;
    if approved.is_empty() {
        return html::message(
            StatusCode::NOT_FOUND,
            "Nothing to approve",
            &format!(
                "tool `{}` of upstream `{}` has no change waiting",
                form.tool, form.upstream
            ),
        );
    }
    html::secured(Redirect::to("/ui/security").into_response())
}
