//! The gateway's HTTP stack: every MCP endpoint it serves (`/mcp`, `/sse` + `/messages`,
//! and each `/servers/NAME/…`) is wrapped by [`endpoint`], one function, so the order of
//! the layers is written down once.
//!
//! What stays outside: the protected resource metadata routes (public by RFC 9728),
//! `/metrics` (Prometheus brings no token) and the server loop's connection limits
//! ([`crate::spec::HttpLimitsSpec::server_options`]): slow heads and bodies, idle
//! connections, connections per address. The body's time limit is the server loop's, not a
//! tower-http `RequestBodyTimeout`: its deadline runs from the end of the head over the
//! whole body, where tower-http's bounds each frame and so lets a client dribble a byte
//! per interval for ever.

use std::sync::Arc;

use axum::{Router, body::Body, http::Request, middleware};
use tower::ServiceBuilder;
use tower_http::body::Limited;
use tower_http::limit::RequestBodyLimitLayer;

use crate::{admission, federation::Scope, http_limits, hub::Hub, spec::HttpLimitsSpec};

/// `inner` (an rmcp transport's router) behind the gateway's layers, outermost first:
///
/// 1. **Header check** (431, and 413 for a body *announced* over the limit): it costs
///    nothing and reads no body, and a token is itself a header, so it comes before
///    sign-in.
/// 2. **Body limit** (tower-http): every layer below that reads the body (sign-in's scope
///    check, admission) reads at most `max_body_bytes`, however the body is framed.
/// 3. **Sign-in** (`belay_auth::Protection`, when the endpoint requires it): an anonymous
///    or misdirected caller is answered 401/403 before the gateway holds its body or spends
///    a policy decision on it.
/// 4. **Admission** ([`admission`]): the body read and parsed once, and the request admitted
///    once (authenticate → policy → rate limit) before rmcp answers 200, so a rate-limited
///    request can still be a 429 with `Retry-After`. The caller is known by then.
pub(crate) fn endpoint(
    inner: Router,
    hub: Arc<Hub>,
    scope: Scope,
    http: &HttpLimitsSpec,
    protection: Option<belay_auth::Protection>,
) -> Router {
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            http_limits::Limits::of(http),
            http_limits::check_headers,
        ))
        .layer(RequestBodyLimitLayer::new(http.max_body_bytes))
        // axum's middleware takes its own body type; the limit goes along inside it.
        .map_request(|request: Request<Limited<Body>>| request.map(Body::new))
        .option_layer(protection)
        .layer(middleware::from_fn_with_state(
            admission::Front::new(hub, scope, http),
            admission::admit,
        ));
    inner.layer(layers)
}
