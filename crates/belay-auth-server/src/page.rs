//! The one HTML page of the authorization endpoint: sign-in and consent together, and
//! the plain error page shown when there is no trustworthy redirect URI.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use crate::clients::Client;

/// What the consent page shows and carries.
pub(crate) struct Consent<'a> {
    /// Where the form posts: `authorize` or `device`.
    pub(crate) action: &'a str,
    /// The application asking.
    pub(crate) client: &'a Client,
    pub(crate) redirect_host: &'a str,
    pub(crate) scopes: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) csrf: &'a str,
}

/// Which time the consent page is shown.
pub(crate) enum Showing<'a> {
    /// The first time, setting the CSRF cookie (`cookie` is the `Set-Cookie` value).
    First { cookie: String },
    /// Again after a refused sign-in (401, or 429 while it must wait), keeping the user
    /// name that was typed.
    Refused {
        /// What was typed.
        username: &'a str,
        /// Why it was refused.
        refused: crate::signin::Refused,
    },
}

pub(crate) use belay_core::html::escape;

/// `error` as an alert paragraph above a form; nothing when there is none.
pub(crate) fn alert(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.3rem}dl{background:#f5f5f5;padding:.8rem;\
border-radius:6px}dt{font-weight:600}dd{margin:0 0 .5rem 0;word-break:break-all}\
label{display:block;margin:.6rem 0}input[type=text],input[type=password]{width:100%;\
padding:.4rem;box-sizing:border-box}.error{color:#b00020}button{padding:.5rem 1rem;\
margin-right:.5rem}";

pub(crate) fn secure(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let h = response.headers_mut();
    // No framing (clickjacking on the consent button), no caching of the page.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `same-origin`, not `no-referrer`: the code's redirect still carries no referrer to
    // the client, but the form's POST keeps its Origin (under `no-referrer` browsers send
    // `Origin: null`, which the DNS rebinding guard rightly refuses).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

pub(crate) fn consent(c: &Consent<'_>, showing: Showing<'_>) -> Response {
    let (status, error, username, cookie, retry_after) = match showing {
        Showing::First { cookie } => (StatusCode::OK, None, "", Some(cookie), None),
        Showing::Refused { username, refused } => (
            refused.status(),
            Some(refused.message()),
            username,
            None,
            refused.retry_after(),
        ),
    };
    let scopes: String = c
        .scopes
        .split_whitespace()
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    let error = alert(error.as_deref());
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Sign in to Belay</title>\
<style>{STYLE}</style></head><body><h1>Sign in to allow {name}</h1>{error}\
<dl><dt>Application</dt><dd>{name} (<code>{client_id}</code>)</dd>\
<dt>Will return you to</dt><dd>{host}</dd><dt>Access requested</dt><dd><ul>{scopes}</ul></dd>\
<dt>For the server</dt><dd><code>{resource}</code></dd></dl>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label>User name <input type=\"text\" name=\"username\" value=\"{username}\" autocomplete=\"username\" autofocus></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\
<button type=\"submit\" name=\"consent\" value=\"approve\">Allow</button>\
<button type=\"submit\" name=\"consent\" value=\"deny\">Deny</button></form></body></html>",
        action = escape(c.action),
        name = escape(c.client.name.as_deref().unwrap_or(&c.client.client_id)),
        client_id = escape(&c.client.client_id),
        host = escape(c.redirect_host),
        resource = escape(c.resource),
        request_id = escape(c.request_id),
        csrf = escape(c.csrf),
        username = escape(username),
    );
    let mut response = secure(status, body);
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    secure(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Authorization error</title><style>{STYLE}</style></head><body>\
<h1>This sign-in request cannot continue</h1><p class=\"error\">{}</p>\
<p>Return to the application and start again.</p></body></html>",
            escape(message)
        ),
    )
}
