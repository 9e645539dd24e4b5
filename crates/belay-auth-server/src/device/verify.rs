//! `/device`: the person enters the user code shown on their device, then signs in and
//! consents on the same page as `/authorize`.
//!
//! The form carries the user code as its request id and a CSRF token stored with the
//! device code; the token is also set as a cookie and both must match on POST, as at
//! `/authorize`. Only codes still pending and unexpired are ever shown or approved.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::Response,
};
use belay_store::rusqlite::{OptionalExtension, params};

use super::{COLUMNS, DeviceCode, EXPIRES_IN, Status, display_user_code, from_row};
use crate::{
    AuthServer, OAuthError,
    page::{self, Consent, Showing},
    params::Params,
    signin,
};

fn cookie_name(user_code: &str) -> String {
    format!("belay_device_{user_code}")
}

/// The page asking for the user code, with `error` above the field when the last one
/// was not accepted.
fn entry(status: StatusCode, prefill: &str, error: Option<&str>) -> Response {
    let error = page::alert(error);
    page::secure(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Connect a device</title>\
<style>{style}</style></head><body><h1>Connect a device</h1>{error}\
<p>Enter the code shown on your device.</p>\
<form method=\"get\" action=\"device\">\
<label>Code <input type=\"text\" name=\"user_code\" value=\"{prefill}\" autocomplete=\"off\" \
autocapitalize=\"characters\" spellcheck=\"false\" autofocus></label>\
<button type=\"submit\">Continue</button></form></body></html>",
            style = page::STYLE,
            prefill = page::escape(prefill),
        ),
    )
}

/// The page shown once the person has approved or denied.
fn done(title: &str, message: &str) -> Response {
    page::secure(
        StatusCode::OK,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>{title}</title><style>{style}</style></head><body><h1>{title}</h1><p>{message}</p>\
</body></html>",
            title = page::escape(title),
            message = page::escape(message),
            style = page::STYLE,
        ),
    )
}

/// The pending, unexpired device code with user code `code`.
async fn pending(server: &AuthServer, code: &str) -> Result<Option<DeviceCode>, OAuthError> {
    let code = code.to_owned();
    let now = server.now();
    Ok(server
        .db()
        .call(move |c| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM as_device_codes
                     WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?2"
                ),
                params![code, now],
                from_row,
            )
            .optional()
        })
        .await?)
}

const UNKNOWN_CODE: &str = "That code is not valid or has expired. Check the code on your \
                            device, or start again there to get a new one.";

/// The consent page for `row`, as at `/authorize` but posting back to `/device`.
async fn consent(server: &AuthServer, row: &DeviceCode, showing: Showing<'_>) -> Response {
    let client = match server.client(&row.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "the application that asked for this code is no longer registered",
            );
        }
        Err(e) => {
            let e = OAuthError::from(e);
            return page::error(StatusCode::BAD_REQUEST, e.description());
        }
    };
    let shown = display_user_code(&row.user_code);
    let destination = format!("your device (code {shown})");
    page::consent(
        &Consent {
            action: "device",
            client: &client,
            redirect_host: &destination,
            scopes: &row.scope,
            resource: &row.resource,
            request_id: &row.user_code,
            csrf: &row.csrf,
        },
        showing,
    )
}

/// GET /device, optionally `?user_code=` (from `verification_uri_complete`).
pub(crate) async fn page(State(server): State<AuthServer>, request: Parts) -> Response {
    let params = match Params::parse(request.uri.query().unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return entry(StatusCode::BAD_REQUEST, "", Some(e.description())),
    };
    let Some(given) = params.get("user_code") else {
        return entry(StatusCode::OK, "", None);
    };
    // A user code is short enough to guess (about 34 bits): bound lookups per address so
    // guessing one within its ten minutes is hopeless. People need one or two tries.
    let ip = crate::client_ip::client_ip(&request.extensions);
    if let Err(wait) = server.inner.code_lookups.take(ip, server.monotonic_now()) {
        let mut response = entry(
            StatusCode::TOO_MANY_REQUESTS,
            given,
            Some(&format!(
                "Too many codes tried from here: wait {wait} s and try again."
            )),
        );
        if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let Some(code) = super::normalize_user_code(given) else {
        return entry(StatusCode::BAD_REQUEST, given, Some(UNKNOWN_CODE));
    };
    match pending(&server, &code).await {
        Ok(Some(row)) => {
            let cookie = signin::csrf_cookie(&cookie_name(&row.user_code), &row.csrf, EXPIRES_IN);
            consent(&server, &row, Showing::First { cookie }).await
        }
        Ok(None) => entry(StatusCode::BAD_REQUEST, given, Some(UNKNOWN_CODE)),
        Err(e) => page::error(StatusCode::INTERNAL_SERVER_ERROR, e.description()),
    }
}

/// POST /device: the consent form.
pub(crate) async fn submit(
    State(server): State<AuthServer>,
    request: Parts,
    body: axum::body::Bytes,
) -> Response {
    let ip = crate::client_ip::client_ip(&request.extensions);
    match submit_inner(&server, &request.headers, &body, ip).await {
        Ok(response) => response,
        Err((status, message)) => page::error(status, &message),
    }
}

async fn set_status(
    server: &AuthServer,
    code: &str,
    status: Status,
    user_id: Option<&str>,
) -> Result<bool, OAuthError> {
    let (code, user_id) = (code.to_owned(), user_id.map(str::to_owned));
    let now = server.now();
    // Only a pending, live code changes: a second tab cannot flip an answer already given.
    let changed = server
        .db()
        .call(move |c| {
            c.execute(
                "UPDATE as_device_codes SET status = ?1, user_id = ?2
                 WHERE user_code = ?3 AND status = 'pending' AND expires_at > ?4",
                params![status.as_str(), user_id, code, now],
            )
        })
        .await?;
    Ok(changed == 1)
}

async fn submit_inner(
    server: &AuthServer,
    headers: &HeaderMap,
    body: &[u8],
    ip: Option<std::net::IpAddr>,
) -> Result<Response, (StatusCode, String)> {
    let internal = |e: OAuthError| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            e.description().to_owned(),
        )
    };
    let gone = || (StatusCode::BAD_REQUEST, UNKNOWN_CODE.to_owned());
    // A post tells a live code from an unknown one as the page does: the same bound on
    // lookups per address applies.
    if let Err(wait) = server.inner.code_lookups.take(ip, server.monotonic_now()) {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many codes tried from here: wait {wait} s and try again."),
        ));
    }
    let form = Params::form(headers, body)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.description().to_owned()))?;
    let code = form
        .get("request_id")
        .and_then(super::normalize_user_code)
        .ok_or_else(gone)?;
    let row = pending(server, &code)
        .await
        .map_err(internal)?
        .ok_or_else(gone)?;
    if !signin::csrf_matches(&form, headers, &cookie_name(&row.user_code), &row.csrf) {
        return Err((
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or does not match its cookie; open the device \
             page again"
                .into(),
        ));
    }
    match form.get("consent") {
        Some("deny") => {
            if !set_status(server, &code, Status::Denied, None)
                .await
                .map_err(internal)?
            {
                return Err(gone());
            }
            Ok(done(
                "Access denied",
                "The device was not given access. You can close this window.",
            ))
        }
        Some("approve") => {
            let user = signin::verify_password(server, &form, ip)
                .await
                .map_err(internal)?;
            let user = match user {
                Ok(user) => user,
                Err(refused) => {
                    let username = form.get("username").unwrap_or_default();
                    return Ok(consent(server, &row, Showing::Refused { username, refused }).await);
                }
            };
            if !set_status(server, &code, Status::Approved, Some(&user.id))
                .await
                .map_err(internal)?
            {
                return Err(gone());
            }
            Ok(done(
                "Device connected",
                "You are signed in on your device. You can close this window and return to it.",
            ))
        }
        _ => Err((
            StatusCode::BAD_REQUEST,
            "consent must be `approve` or `deny`".into(),
        )),
    }
}
