//! Server-rendered HTML: every value that reaches a page goes through [`escape`] (audit
//! records are attacker-controlled: a tool name or an argument may hold markup), and every
//! page shares one [`page`] layout with the bundled stylesheet and script, no CDN.

use std::fmt::Write as _;

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

pub(crate) use belay_core::html::escape;

/// `value` for a URL query (percent-encoded), to put in an escaped `href`.
pub(crate) fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Which section a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Audit,
    Security,
}

/// The person the page is for, and the CSRF token its forms carry.
pub(crate) struct Viewer<'a> {
    pub(crate) name: &'a str,
    pub(crate) csrf: &'a str,
}

/// A whole page: `body` is already escaped HTML.
pub(crate) fn page(title: &str, section: Section, viewer: &Viewer<'_>, body: &str) -> Response {
    let mut nav = String::new();
    for (s, href, label) in [
        (Section::Overview, "/ui", "Overview"),
        (Section::Audit, "/ui/audit", "Audit log"),
        (Section::Security, "/ui/security", "Security"),
    ] {
        let current = if s == section {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{current}>{label}</a>");
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Belay console</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/ui/assets/console.css\">\
<script src=\"/ui/assets/console.js\" defer></script></head><body>\
<header><strong class=\"brand\">Belay</strong><nav>{nav}</nav>\
<form method=\"post\" action=\"/ui/logout\" class=\"who\"><span>{who}</span>\
{csrf}<button type=\"submit\">Sign out</button></form></header>\
<main id=\"main\"><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
        who = escape(viewer.name),
        csrf = csrf_field(viewer.csrf),
    );
    secured(Html(html).into_response())
}

/// The hidden field every console form carries.
pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// A bare page for sign-in problems (no session, so no navigation).
pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Belay console</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/ui/assets/console.css\">\
</head><body><main><h1>{title}</h1><p>{text}</p><p><a href=\"/ui/login\">Sign in</a></p></main></body></html>",
        title = escape(title),
        text = escape(text),
    );
    let mut response = secured(Html(html).into_response());
    *response.status_mut() = status;
    response
}

/// Headers every console answer carries: no script but our own, no framing, no caching of
/// pages that show audit data, no referrer leaking filters to other sites.
pub(crate) fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`, under which a browser sends `Origin: null` with the forms.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A table from a header row and rows of already-escaped cells.
pub(crate) fn table(id: &str, caption: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "<div class=\"scroll\"><table id=\"{}\"><caption>{}</caption><thead><tr>",
        escape(id),
        escape(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"empty\">nothing yet</td></tr>",
            head.len()
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("a b&c=<d>"), "a+b%26c%3D%3Cd%3E");
    }
}
