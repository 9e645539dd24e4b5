//! Admin actions beside approval, each the one the CLI has, each audited (who, what, when)
//! and guarded like approval (an admin's session and its CSRF token, or an admin's bearer
//! token): `POST /ui/security/block` and `/ui/security/unblock` (a tool of one upstream,
//! or a user; the same store and code as `belay gateway block`, in force for the next
//! request), and `POST /ui/reload` (the reload SIGHUP does), which shows what was applied
//! or why the configuration was refused.

use std::{fmt::Write as _, sync::Arc};

use axum::{
    Form,
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use belay_audit::{AuditEvent, Decision, Outcome, format_time};
use belay_gateway::blocks::{Block, Target};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::{
    Inner, access,
    html::{self, Section, csrf_field, escape, table},
    signin,
};

/// The block and unblock forms.
#[derive(Debug, Deserialize)]
pub(crate) struct BlockForm {
    csrf: Option<String>,
    /// `tool` or `user`.
    kind: String,
    #[serde(default)]
    upstream: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    reason: String,
}

impl BlockForm {
    fn target(&self) -> Option<Target> {
        match self.kind.as_str() {
            "tool" => Some(Target::Tool {
                upstream: self.upstream.trim().to_owned(),
                tool: self.tool.trim().to_owned(),
            }),
            "user" => Some(Target::User {
                user: self.user.trim().to_owned(),
            }),
            _ => None,
        }
    }
}

/// The audit record of an action by `admin` on `target`.
fn action_event(
    inner: &Inner,
    admin: &access::Admin,
    method: &str,
    target: Option<&Target>,
    failure: Option<&str>,
) -> AuditEvent {
    let (upstream, name) = match target {
        Some(Target::Tool { upstream, tool }) => (Some(upstream.clone()), Some(tool.clone())),
        Some(Target::User { user }) => (None, Some(format!("user:{user}"))),
        None => (None, None),
    };
    AuditEvent {
        user: Some(admin.subject.clone()),
        client: Some(inner.spec.client_id.clone()),
        upstream,
        name,
        decision: if failure.is_none() {
            Decision::Allow
        } else {
            Decision::Deny
        },
        outcome: match failure {
            None => Outcome::Ok,
            Some(why) => Outcome::Error {
                code: None,
                message: why.to_owned(),
            },
        },
        ..AuditEvent::new(method)
    }
}

async fn change_block(
    inner: Arc<Inner>,
    headers: HeaderMap,
    form: BlockForm,
    block: bool,
) -> Response {
    let admin = match access::admin_post(&inner, &headers, form.csrf.as_deref()).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let Some(blocks) = &inner.sources.blocks else {
        return access::forbidden("this gateway keeps no blocks");
    };
    let method = if block {
        "console/block"
    } else {
        "console/unblock"
    };
    let Some(target) = form.target() else {
        return html::message(
            StatusCode::BAD_REQUEST,
            "Nothing to block",
            "Name a tool (upstream and tool) or a user.",
        );
    };
    let done = if block {
        blocks
            .block(&target, &admin.name, form.reason.trim())
            .map(|()| true)
    } else {
        blocks.unblock(&target)
    };
    let failure = match &done {
        Ok(true) => None,
        Ok(false) => Some(format!("{target} is not blocked")),
        Err(e) => Some(e.to_string()),
    };
    signin::record(
        &inner,
        action_event(&inner, &admin, method, Some(&target), failure.as_deref()),
    )
    .await;
    match (done, failure) {
        (Ok(true), _) => html::secured(Redirect::to("/ui/security#blocks").into_response()),
        (Ok(false), Some(why)) => html::message(StatusCode::NOT_FOUND, "Not blocked", &why),
        (Err(e), _) => match e {
            belay_gateway::Error::BadBlock(why) => {
                html::message(StatusCode::BAD_REQUEST, "Not blocked", &why)
            }
            other => html::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not changed",
                &other.to_string(),
            ),
        },
        (Ok(false), None) => html::message(StatusCode::NOT_FOUND, "Not blocked", ""),
    }
}

/// `POST /ui/security/block`.
pub(crate) async fn block(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<BlockForm>,
) -> Response {
    change_block(inner, headers, form, true).await
}

/// `POST /ui/security/unblock`.
pub(crate) async fn unblock(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<BlockForm>,
) -> Response {
    change_block(inner, headers, form, false).await
}

/// The reload form.
#[derive(Debug, Deserialize)]
pub(crate) struct ReloadForm {
    csrf: Option<String>,
}

/// `POST /ui/reload`.
pub(crate) async fn reload(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<ReloadForm>,
) -> Response {
    let admin = match access::admin_post(&inner, &headers, form.csrf.as_deref()).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let Some(reload) = &inner.sources.reload else {
        return access::forbidden("this server cannot reload its configuration");
    };
    let outcome = reload().await;
    signin::record(
        &inner,
        action_event(
            &inner,
            &admin,
            "console/reload",
            None,
            outcome.as_ref().err().map(String::as_str),
        ),
    )
    .await;
    let (status, body) = match &outcome {
        Ok(report) => (
            StatusCode::OK,
            format!(
                "<p id=\"reload-result\" class=\"ok\" role=\"status\">Configuration reloaded: {}.</p>",
                escape(report)
            ),
        ),
        Err(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "<p id=\"reload-result\" class=\"problem\" role=\"alert\">Configuration NOT reloaded; \
the running one stays.</p><pre class=\"config-error\">{}</pre>",
                escape(why)
            ),
        ),
    };
    let mut response = html::page("Reload", Section::Security, &admin.viewer(), &body);
    *response.status_mut() = status;
    response
}

/// The administration section of the security page: reload, block forms, and the blocks
/// in force with their unblock buttons.
pub(crate) fn admin_html(inner: &Inner, csrf: &str) -> String {
    let mut out =
        String::from("<section id=\"admin\" aria-label=\"Administration\"><h2>Administration</h2>");
    if inner.sources.reload.is_some() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/ui/reload\" class=\"inline\">{}\
<button type=\"submit\" id=\"reload\">Reload configuration</button></form>",
            csrf_field(csrf)
        );
    }
    let Some(blocks) = &inner.sources.blocks else {
        out.push_str("</section>");
        return out;
    };
    let upstreams: String = inner
        .sources
        .gateway
        .upstreams()
        .iter()
        .map(|u| format!("<option>{}</option>", escape(u.name())))
        .collect();
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/ui/security/block\" id=\"block-tool\">{csrf}\
<input type=\"hidden\" name=\"kind\" value=\"tool\">\
<label>Upstream <select name=\"upstream\" required>{upstreams}</select></label> \
<label>Tool <input name=\"tool\" required maxlength=\"256\"></label> \
<label>Reason <input name=\"reason\" maxlength=\"1000\"></label> \
<button type=\"submit\">Block tool</button></form>\
<form method=\"post\" action=\"/ui/security/block\" id=\"block-user\">{csrf}\
<input type=\"hidden\" name=\"kind\" value=\"user\">\
<label>User <input name=\"user\" required maxlength=\"256\"></label> \
<label>Reason <input name=\"reason\" maxlength=\"1000\"></label> \
<button type=\"submit\">Block user</button></form>",
        csrf = csrf_field(csrf),
    );
    match blocks.list() {
        Ok(list) => out.push_str(&blocks_table(&list, csrf)),
        Err(e) => {
            let _ = write!(out, "<p class=\"problem\">{}</p>", escape(&e.to_string()));
        }
    }
    out.push_str("</section>");
    out
}

fn blocks_table(blocks: &[Block], csrf: &str) -> String {
    let rows: Vec<Vec<String>> = blocks
        .iter()
        .map(|b| {
            let fields = match &b.target {
                Target::Tool { upstream, tool } => format!(
                    "<input type=\"hidden\" name=\"kind\" value=\"tool\">\
<input type=\"hidden\" name=\"upstream\" value=\"{}\">\
<input type=\"hidden\" name=\"tool\" value=\"{}\">",
                    escape(upstream),
                    escape(tool)
                ),
                Target::User { user } => format!(
                    "<input type=\"hidden\" name=\"kind\" value=\"user\">\
<input type=\"hidden\" name=\"user\" value=\"{}\">",
                    escape(user)
                ),
            };
            let when = chrono::DateTime::from_timestamp(b.blocked_at, 0)
                .map(|t| format_time(&t))
                .unwrap_or_default();
            vec![
                escape(&b.target.to_string()),
                escape(&b.blocked_by),
                escape(&when),
                escape(&b.reason),
                format!(
                    "<form method=\"post\" action=\"/ui/security/unblock\">{}{fields}\
<button type=\"submit\" class=\"unblock\">Unblock</button></form>",
                    csrf_field(csrf)
                ),
            ]
        })
        .collect();
    table(
        "blocks",
        "Blocked tools and users",
        &["Blocked", "By", "Since", "Reason", ""],
        &rows,
    )
}
