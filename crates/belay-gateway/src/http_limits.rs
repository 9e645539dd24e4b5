//! `[gateway.http]` at the HTTP front: header and body size limits, and HTTP 429 for
//! rate-limited requests. Every refusal is a JSON-RPC error body that names the limit and
//! where to change it, with the status an HTTP client expects.
//!
//! The time to receive a body (`request_timeout_secs`) is the server loop's: its deadline
//! runs from the end of the request head, so it bounds every layer that reads the body,
//! authentication's scope check included (see [`HttpLimitsSpec::server_options`]).
//!
//! Where each limit sits among the gateway's layers, and why: [`crate::stack`]. A body
//! over the limit is refused by [`check_headers`] when its length is announced, and by
//! [`buffered`] (reading under tower-http's body limit) when it is streamed: tower-http
//! answers an announced one itself in plain text, which is why the header check comes first.
//!
//! Slow clients at the connection level (headers or bodies dribbled in, idle keep-alive
//! connections, too many connections from one address) are the server loop's:
//! [`HttpLimitsSpec::server_options`] for `belay_mcp::http::run_with`.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use belay_mcp::http::{HttpServerOptions, SettingNames};
use rmcp::{ErrorData, model::ErrorCode};
use serde_json::Value;

use crate::spec::HttpLimitsSpec;

/// Room for the request line and the `: ` and CRLF around each header, above
/// `max_header_bytes`, before the server loop refuses a head outright (431, bare).
const HEAD_FRAMING_BYTES: usize = 8 * 1024;

impl HttpLimitsSpec {
    /// The server loop's limits (`belay_mcp::http::run_with`): header read, body read
    /// (`request_timeout_secs`) and idle timeouts, connections per address, and a hard cap
    /// on buffered head bytes a little above `max_header_bytes` (below it, the router's 431
    /// says which limit to raise). No proxy is trusted: the caller adds `[http]`'s.
    pub fn server_options(&self) -> HttpServerOptions {
        HttpServerOptions {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_head_bytes: self.max_header_bytes.saturating_add(HEAD_FRAMING_BYTES),
            body_read_timeout: Duration::from_secs(self.request_timeout_secs),
            max_connections_per_address: Some(self.max_connections_per_address),
            setting_names: SettingNames {
                body_read_timeout: Some("[gateway.http] request_timeout_secs"),
                max_connections_per_address: Some("[gateway.http] max_connections_per_address"),
            },
            ..HttpServerOptions::default()
        }
    }
}

/// The limits [`check_headers`] applies.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    max_header_bytes: usize,
    max_body_bytes: usize,
}

impl Limits {
    pub(crate) fn of(spec: &HttpLimitsSpec) -> Self {
        Self {
            max_header_bytes: spec.max_header_bytes,
            max_body_bytes: spec.max_body_bytes,
        }
    }
}

/// A JSON-RPC error response to request `id`; `close` asks the client to open a new
/// connection, for a request whose body was left unread.
pub(crate) fn refusal(status: StatusCode, id: &Value, error: &ErrorData, close: bool) -> Response {
    let mut response = belay_mcp::http::error_response(status, id, error);
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn invalid(status: StatusCode, message: String) -> Response {
    let error = ErrorData::new(ErrorCode::INVALID_REQUEST, message, None);
    refusal(status, &Value::Null, &error, true)
}

/// 431 when the request's header names and values add up to more than the limit; 413 when
/// it announces a body over the limit.
pub(crate) async fn check_headers(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let (max, max_body) = (limits.max_header_bytes, limits.max_body_bytes);
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > max {
        tracing::info!(size, max, "request headers too large");
        return invalid(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "request headers are {size} bytes; the limit is {max} ([gateway.http] \
                 max_header_bytes)"
            ),
        );
    }
    // A body announced over the limit is refused here, before sign-in reads any of it.
    if let Some(size) = declared_length(&request).filter(|&size| size > max_body as u64) {
        tracing::info!(size, max = max_body, "request body too large");
        return too_large(format!(
            "request body is {size} bytes; the limit is {max_body}"
        ));
    }
    next.run(request).await
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

fn too_large(what: String) -> Response {
    invalid(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} ([gateway.http] max_body_bytes)"),
    )
}

/// The head and body of `request`, read whole. The body limit layer below which this runs
/// (`crate::stack`) ends the read at `max_body_bytes`, and the server loop bounds its time;
/// `Err` is the answer when it cannot be read: 413 over the limit, 400 otherwise.
pub(crate) async fn buffered(
    request: Request,
    max_body_bytes: usize,
) -> Result<(http::request::Parts, Bytes), Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(e) if over_limit(&e) => {
            tracing::info!(max = max_body_bytes, "request body too large");
            Err(too_large(format!(
                "request body is over {max_body_bytes} bytes, the limit"
            )))
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot read a request body");
            Err(invalid(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ))
        }
    }
}

/// Whether a body read failed because the body limit layer ended it.
fn over_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
