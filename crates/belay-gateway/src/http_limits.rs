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
//! 4. [`admit`] (with `rate_limit_status = "http"`): asks the chain's policy and limiter
//!    before rmcp answers 200, so that a refusal can still be a 429 with `Retry-After`
//!    (see [`crate::chain`] on why the chain itself cannot). The request carries the
//!    decision and the admission (the concurrency slot) to the chain in its extensions
//!    ([`take_precheck`]): the chain holds that slot instead of charging the buckets
//!    again, and does not ask policy twice.
//!
//! Slow clients at the connection level (headers or bodies dribbled in, idle keep-alive
//! connections, too many connections from one address) are the server loop's:
//! [`HttpLimitsSpec::server_options`] for `belay_mcp::http::run_with`.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use belay_auth::Caller;
use belay_mcp::http::{HttpServerOptions, SettingNames};
use futures::StreamExt;
use rmcp::{RoleServer, model::JsonObject, service::RequestContext};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::{
    chain::{CallContext, Decision, Precheck, retry_after_secs},
    federation::{self, Scope},
    server::Hub,
    spec::HttpLimitsSpec,
};

/// JSON-RPC's "invalid request": the code of every refusal for size or time.
const INVALID_REQUEST: i32 = -32600;

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

/// Wraps one endpoint (`scope`) with the HTTP 429 answer to rate-limited requests.
pub(crate) fn rate_limited(router: Router, hub: Arc<Hub>, scope: Scope) -> Router {
    router.layer(middleware::from_fn_with_state(
        Endpoint { hub, scope },
        admit,
    ))
}

/// A JSON-RPC error response; `close` asks the client to open a new connection, for a
/// request whose body was left unread.
fn refusal(status: StatusCode, id: Value, error: Value, close: bool) -> Response {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error });
    let mut response = (status, axum::Json(body)).into_response();
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn invalid(status: StatusCode, message: String) -> Response {
    let error = serde_json::json!({ "code": INVALID_REQUEST, "message": message });
    refusal(status, Value::Null, error, true)
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

/// The [`Precheck`] of a request, in its extensions for the chain (taken once).
#[derive(Clone)]
struct Prechecked(Arc<Mutex<Option<Precheck>>>);

/// What [`admit`] found out about the request behind `context`, if it ran.
pub(crate) fn take_precheck(context: &RequestContext<RoleServer>) -> Option<Precheck> {
    let parts = context.extensions.get::<http::request::Parts>()?;
    let prechecked = parts.extensions.get::<Prechecked>()?;
    let mut slot = prechecked.0.lock().unwrap_or_else(PoisonError::into_inner);
    slot.take()
}

#[derive(Clone)]
struct Endpoint {
    hub: Arc<Hub>,
    scope: Scope,
}

/// The parts of a JSON-RPC request the limiter needs; anything else is left to rmcp.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Value,
    method: String,
    #[serde(default)]
    params: Params,
}

#[derive(Deserialize, Default)]
struct Params {
    name: Option<String>,
    uri: Option<String>,
    arguments: Option<JsonObject>,
    #[serde(rename = "ref")]
    reference: Option<Reference>,
    /// A 2026-07-28 retry's state: the chain alone can tell whether it continues a call
    /// already admitted (and not to be charged again), so such a retry is left to it.
    #[serde(rename = "requestState")]
    request_state: Option<Value>,
}

#[derive(Deserialize)]
struct Reference {
    name: Option<String>,
    uri: Option<String>,
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

/// Runs policy and the limiter for a rate-limited method; a refusal becomes a 429.
async fn admit(State(endpoint): State<Endpoint>, request: Request, next: Next) -> Response {
    if request.method() != http::Method::POST {
        return next.run(request).await;
    }
    let (mut parts, bytes) = match buffered(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    // Not one JSON-RPC request (a batch, a response, malformed): rmcp answers that.
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes)
        && let Some(ctx) = endpoint.context(&parts, envelope.method.as_str(), envelope.params)
    {
        let chain = &endpoint.hub.chain;
        let started = Instant::now();
        // Without a caller, the chain refuses it before asking policy.
        if !(chain.require_caller && ctx.caller.is_none()) {
            let decision = chain.decide.decide(&ctx);
            // A denied request costs no tokens: the chain refuses it with this decision.
            let admission = match decision {
                Decision::Deny { .. } => None,
                Decision::Allow { .. } => match chain.limit.admit(&ctx).await {
                    Ok(admission) => Some(admission),
                    Err(refused) => {
                        let secs = retry_after_secs(&refused);
                        let error = chain
                            .refuse_limited(&ctx, &decision, &refused, started)
                            .await;
                        let error = serde_json::to_value(&error).unwrap_or_else(|_| {
                            serde_json::json!({ "code": error.code.0, "message": error.message })
                        });
                        // The body was read, so the connection can be kept.
                        let mut response =
                            refusal(StatusCode::TOO_MANY_REQUESTS, envelope.id, error, false);
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                        return response;
                    }
                },
            };
            let precheck = Precheck {
                decision,
                admission,
            };
            parts
                .extensions
                .insert(Prechecked(Arc::new(Mutex::new(Some(precheck)))));
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

impl Endpoint {
    /// The chain's view of a request for `method`, as the handler will build it; `None`
    /// for a method the chain does not limit here, a name no upstream serves (the handler
    /// answers that), or a retry with a `requestState`.
    fn context(
        &self,
        parts: &http::request::Parts,
        method: &str,
        params: Params,
    ) -> Option<CallContext> {
        if params.request_state.is_some() {
            return None;
        }
        let upstreams = self.hub.upstreams.snapshot();
        let by_name = |kind, name: Option<String>| {
            federation::route_name(self.scope, &upstreams, kind, name.as_deref()?).ok()
        };
        let (method, upstream, target, arguments) = match method {
            "tools/call" => {
                let (i, name) = by_name("tool", params.name)?;
                ("tools/call", i, name, params.arguments)
            }
            "prompts/get" => {
                let (i, name) = by_name("prompt", params.name)?;
                ("prompts/get", i, name, params.arguments)
            }
            "resources/read" => {
                let uri = params.uri?;
                let i = federation::route_uri(self.scope, &upstreams, &uri).ok()?;
                ("resources/read", i, uri, None)
            }
            "completion/complete" => match params.reference? {
                Reference {
                    name: Some(name), ..
                } => {
                    let (i, name) = by_name("prompt", Some(name))?;
                    ("completion/complete", i, name, None)
                }
                Reference { uri: Some(uri), .. } => {
                    let i = federation::route_uri(self.scope, &upstreams, &uri).ok()?;
                    ("completion/complete", i, uri, None)
                }
                Reference { .. } => return None,
            },
            _ => return None,
        };
        let session = parts
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Some(CallContext {
            caller: parts.extensions.get::<Arc<Caller>>().cloned(),
            session,
            upstream: upstreams.get(upstream)?.name().to_owned(),
            method,
            target: Some(target),
            arguments,
        })
    }
}
