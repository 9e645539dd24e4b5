//! Every refusal of the Streamable HTTP endpoint is a JSON-RPC error body.
//!
//! rmcp answers what it cannot serve in plain text: a body it cannot deserialize gets
//! `415 Unsupported Media Type` (for JSON that is too deep, invalid UTF-8, or valid JSON
//! that is no message alike), an unknown session `404`, a missing session id `400`. A
//! client learns neither the JSON-RPC code nor, for the 415, that its media type was fine.
//! [`json_rpc_refusals`] keeps the status of such an answer (but makes the 415 of a JSON
//! body a 400 with -32700 or -32600, as JSON-RPC says) and puts the text in a JSON-RPC
//! error. The body is classified only on that failure path, so a request that rmcp serves
//! is parsed once, by rmcp.

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header::CONTENT_TYPE},
    middleware::Next,
    response::Response,
};
use rmcp::model::ErrorCode;

use super::{jsonrpc_error, sessions::session_not_found};
use crate::legacy_sse::parse_message;

/// The most of a refusal's text that is kept (rmcp's are one line).
const MAX_REFUSAL_TEXT: usize = 16 * 1024;

/// Middleware: reads a POST body within `max_body_bytes` (413 beyond), and turns a
/// plain-text refusal from the service into a JSON-RPC error.
pub(crate) async fn json_rpc_refusals(
    State(max_body_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        let response = next.run(request).await;
        return as_json_rpc(response, None).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max_body_bytes).await else {
        return jsonrpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::INVALID_REQUEST,
            &format!("request body is larger than {max_body_bytes} bytes"),
        );
    };
    // Kept (a reference count, not a copy) to say what is wrong with it if rmcp refuses it.
    let json_body = is_json(&parts.headers).then(|| bytes.clone());
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    as_json_rpc(response, json_body).await
}

/// Whether the request says its body is JSON, as rmcp checks it.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `response` as it is unless it is an error without a JSON body; then the same refusal
/// as a JSON-RPC error. `json_body` is the request's body when it was declared JSON.
async fn as_json_rpc(response: Response, json_body: Option<Bytes>) -> Response {
    let status = response.status();
    let declared_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || declared_json {
        return response;
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE
        && let Some(body) = json_body
    {
        // Declared JSON, so it is the body rmcp could not read: say what is wrong with it.
        if let Err((code, message)) = parse_message(&body) {
            return jsonrpc_error(StatusCode::BAD_REQUEST, code, &message);
        }
    }
    if status == StatusCode::NOT_FOUND {
        // rmcp's only plain 404 is an unknown session; ours must read the same.
        return session_not_found();
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let text = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("refused").to_owned(),
        false => text,
    };
    let code = match status.is_server_error() {
        true => ErrorCode::INTERNAL_ERROR,
        false => ErrorCode::INVALID_REQUEST,
    };
    let mut refusal = jsonrpc_error(status, code, &text);
    // Keep what the client needs to act on the refusal (`Allow` on a 405, say).
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != http::header::CONTENT_LENGTH {
            refusal.headers_mut().append(name, value.clone());
        }
    }
    refusal
}
