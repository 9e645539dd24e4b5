//! HTTP routers for MCP servers, and a listener tuned for them.
//!
//! [`streamable_router`] mounts rmcp's Streamable HTTP service, with its sessions bound to
//! the principal that opened them (`sessions`: another caller gets 404, a DELETE ends a
//! session with 204) and every refusal a JSON-RPC error body (`refusals`: malformed JSON
//! -32700, JSON that is no message -32600, both 400); [`legacy_sse::router`]
//! (re-exported through [`sse_router`]) mounts the 2024-11-05 transport. Both come back as
//! plain axum routers, so callers (the gateway, tests) can nest them, add layers or call
//! them in process with `tower::ServiceExt::oneshot`. [`run`] serves a router, closing
//! connections whose client is slow to send a request head or body, or idle too long, and
//! capping connections per client address; [`run_with`] takes those limits and the trusted
//! proxies ([`HttpServerOptions`]); [`run_sharded`] serves on several single-threaded
//! runtimes, a connection staying on one thread. Every request carries its client's address
//! ([`client_ip`]).

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
};
use rmcp::{
    ErrorData, ServerHandler,
    model::ErrorCode,
    transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Error, guard::AllowList, legacy_sse};

mod body_deadline;
mod client_addr;
mod conn;
mod per_address;
mod refusals;
mod sessions;
mod shards;
pub use client_addr::{ClientAddr, ForwardedHeader, HttpSpec, TrustedProxies, client_ip};
pub use conn::{DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, HttpServerOptions, SettingNames, run_with};
pub use shards::run_sharded;

/// Largest request body accepted, so one client cannot exhaust memory.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Streamable HTTP at `path`, serving clones of `server`.
///
/// `stateless` drops handshake-era sessions (each POST stands alone); 2026-07-28 requests
/// are stateless whatever it says, as that revision has no sessions.
pub fn streamable_router<S>(
    server: S,
    path: &str,
    stateless: bool,
    shutdown: CancellationToken,
) -> Router
where
    S: ServerHandler + Clone,
{
    streamable_router_with_limit(server, path, stateless, shutdown, MAX_BODY_BYTES)
}

/// [`streamable_router`] accepting request bodies of up to `max_body_bytes` instead of
/// [`MAX_BODY_BYTES`] (for a front that enforces its own, configured, limit first).
pub fn streamable_router_with_limit<S>(
    server: S,
    path: &str,
    stateless: bool,
    shutdown: CancellationToken,
    max_body_bytes: usize,
) -> Router
where
    S: ServerHandler + Clone,
{
    // Host and Origin are checked once, by our guard, for every transport alike.
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(!stateless)
        .with_max_request_body_bytes(max_body_bytes)
        .with_cancellation_token(shutdown);
    let sessions = Arc::new(sessions::BoundSessions::default());
    // Not boxed as `serve_stdio` does: rmcp's HTTP service needs the `ServerHandler`.
    let service = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    let mut router = Router::new().route_service(path, service);
    if !stateless {
        router = router.layer(middleware::from_fn_with_state(
            sessions,
            sessions::session_gate,
        ));
    }
    // rmcp answers a POST in a session with an event stream whose priming event is ready
    // before the answer, so a quick answer leaves in two writes (head + priming event, then
    // the answer). Holding the head back for a few scheduler turns saved one (-19 to -40% at
    // p50, one session) but was tuned to rmcp's task hops; the fix belongs in rmcp
    // (docs/upstream/rmcp-session-json-response.md).
    router.layer(middleware::from_fn_with_state(
        max_body_bytes,
        refusals::json_rpc_refusals,
    ))
}

/// A JSON-RPC error response with no id (the request could not be read far enough to have one).
pub fn jsonrpc_error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    error_response(
        status,
        &serde_json::Value::Null,
        &ErrorData::new(code, message.to_owned(), None),
    )
}

/// The JSON-RPC error response to request `id` (null when it could not be read): every
/// refusal an HTTP front makes, with the status an HTTP client expects.
pub fn error_response(status: StatusCode, id: &serde_json::Value, error: &ErrorData) -> Response {
    (status, axum::Json(error_body(id, error))).into_response()
}

/// The JSON-RPC error message answering request `id` with `error`.
pub fn error_body(id: &serde_json::Value, error: &ErrorData) -> serde_json::Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// The legacy HTTP+SSE transport at `/sse` and `/messages`.
pub fn sse_router<S>(server: S, shutdown: CancellationToken) -> Router
where
    S: ServerHandler + Clone,
{
    legacy_sse::router(server, "/sse", "/messages", shutdown)
}

/// Puts the DNS rebinding guard in front of every route of `router`.
pub fn guarded(router: Router, allow: AllowList) -> Router {
    router.layer(middleware::from_fn_with_state(
        Arc::new(allow),
        crate::guard::dns_rebinding_guard,
    ))
}

/// Binds `addr` and returns the listener with its real address (port 0 picks a free one).
pub async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `router` until `shutdown` is cancelled, then lets open requests finish, with
/// the default [`HttpServerOptions`] (slow request heads and bodies and idle connections
/// are cut off, connections per address capped, no proxy trusted).
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    run_with(listener, router, shutdown, HttpServerOptions::default()).await
}
