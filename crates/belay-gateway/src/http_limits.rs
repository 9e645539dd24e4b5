//! `[gateway.http]` at the HTTP front: header and body size limits, and HTTP 429 for
//! rate-limited requests. Every refusal is a JSON-RPC error body that names the limit and
//! where to change it, with the status an HTTP client expects.
//!
//! The time to receive a body (`request_timeout_secs`) is the server loop's: its deadline
//! runs from the end of the request head, so it bounds every layer that reads the body,
//! authentication's scope check included (see [`HttpLimitsSpec::server_options`]).
//!
//! The layers, outermost first (see [`crate::Gateway::router`]):
//!
//! 1. [`check_headers`]: 431 when the header names and values add up to too much. Before
//!    authentication, as it costs nothing and a token is itself a header.
//! 2. authentication (`belay_auth::Protection`), when the gateway requires it;
//! 3. [`buffer_body`]: 413 when the body is too large. After authentication, so an
//!    anonymous client cannot make the gateway hold megabytes. tower-http's body limit
//!    answers 413 in plain text, so it does not fit; and the rate limiter below needs the
//!    body buffered anyway.
//! 4. admission ([`crate::admission`]): the chain's authentication, policy and rate limit,
//!    once, before rmcp answers 200, so that a rate-limited request can still be a 429 with
//!    `Retry-After` (see [`crate::chain`] on why the chain itself cannot).
//!
//! Slow clients at the connection level (headers or bodies dribbled in, idle keep-alive
//! connections, too many connections from one address) are the server loop's:
//! [`HttpLimitsSpec::server_options`] for `belay_mcp::http::run_with`.

use std::time::Duration;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::Response,
};
use belay_mcp::http::{HttpServerOptions, SettingNames};
use futures::StreamExt;
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

/// Wraps `router` with the header size check (the outermost layer).
pub(crate) fn outer(router: Router, spec: &HttpLimitsSpec) -> Router {
    router.layer(middleware::from_fn_with_state(
        (spec.max_header_bytes, spec.max_body_bytes),
        check_headers,
    ))
}

/// Wraps `router` with the body size limit.
pub(crate) fn body_limits(router: Router, spec: &HttpLimitsSpec) -> Router {
    router.layer(middleware::from_fn_with_state(
        spec.max_body_bytes,
        buffer_body,
    ))
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

/// 431 when the request's header names and values add up to more than the limit.
async fn check_headers(
    State((max, max_body)): State<(usize, usize)>,
    request: Request,
    next: Next,
) -> Response {
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

/// Reads the whole body within the size limit (the server loop bounds the time), and
/// passes it on buffered.
async fn buffer_body(State(max): State<usize>, request: Request, next: Next) -> Response {
    if let Some(size) = declared_length(&request).filter(|&size| size > max as u64) {
        tracing::info!(size, max, "request body too large");
        return too_large(format!("request body is {size} bytes; the limit is {max}"));
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut buffered = Vec::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if buffered.len() + chunk.len() > max {
                return Ok(false);
            }
            buffered.extend_from_slice(&chunk);
        }
        Ok::<_, axum::Error>(true)
    };
    match read.await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(max, "request body too large");
            return too_large(format!("request body is over {max} bytes, the limit"));
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot read a request body");
            return invalid(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            );
        }
    }
    next.run(Request::from_parts(
        parts,
        Body::from(Bytes::from(buffered)),
    ))
    .await
}

fn too_large(what: String) -> Response {
    invalid(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} ([gateway.http] max_body_bytes)"),
    )
}

/// The head and body of `request`, whose body [`buffer_body`] holds already (so reading it
/// takes no time and cannot pass the limit), for a layer that reads the JSON-RPC message
/// before rmcp; `Err` is the answer when it cannot be read.
pub(crate) async fn buffered(request: Request) -> Result<(http::request::Parts, Bytes), Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(e) => Err(invalid(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        )),
    }
}
