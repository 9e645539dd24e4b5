//! The one step of the HTTP front that reads requests, before rmcp answers: each POST's
//! body is parsed once here, and what the gateway must learn of it before rmcp does is
//! learnt from that one parse: an `initialize` keeps the caller's `tasks` capability
//! ([`tasks::noted`]), a `subscriptions/listen` has its resources followed
//! ([`listen::follow_first`]), and every request the chain decides about is made into its
//! one [`CallContext`] and admitted once ([`Chain::admit`]:
//! authenticate → policy → rate limit) before rmcp answers, so that a rate-limited request
//! can still be answered 429 with `Retry-After` (`[gateway.http] rate_limit_status =
//! "http"`; see [`crate::chain`] on why the chain alone cannot). What it found, the
//! [`Admitted`] request or the [`Refusal`], travels to the handler in the request's
//! extensions ([`admitted`]); the handler runs the rest of the chain with it.
//!
//! A request the front cannot read as one chain request (another method, a name no
//! upstream serves, which the handler answers; a 2026-07-28 retry carrying a
//! `requestState`, which only the handler can tell continues an admitted call) passes
//! unadmitted, and the handler admits it itself: each request is admitted exactly once.
//!
//! [`Chain::admit`]: crate::chain::Chain::admit

use std::{borrow::Cow, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use rmcp::{ErrorData, RoleServer, model::JsonObject, service::RequestContext};
use serde::Deserialize;
use serde_json::{Value, value::RawValue};

use crate::{
    chain::{Admitted, CallContext, Chain, Refusal},
    federation::{self, Scope},
    http_limits::{buffered, refusal},
    hub::Hub,
    listen,
    server::call_context,
    spec::{HttpLimitsSpec, RateLimitStatus},
    tasks,
};

/// What the front found about a request, in its extensions for the handler.
#[derive(Clone)]
struct AtFront(Result<Admitted, Refusal>);

/// The request behind `context`, admitted: as the front admitted it, or now by `chain`,
/// as `ctx` says (the handler's view of it); a refusal is the caller's error.
pub(crate) async fn admitted(
    chain: &Chain,
    ctx: CallContext,
    context: &RequestContext<RoleServer>,
) -> Result<Admitted, ErrorData> {
    let parts = context.extensions.get::<http::request::Parts>();
    match parts.and_then(|p| p.extensions.get::<AtFront>()) {
        Some(AtFront(Ok(admitted))) if same_request(&admitted.ctx, &ctx) => Ok(admitted.clone()),
        // The front routed it before a reload changed the upstreams.
        Some(AtFront(Ok(_))) => Err(ErrorData::internal_error(
            "the gateway's upstreams changed while this request was admitted; send it again",
            None,
        )),
        Some(AtFront(Err(refusal))) => Err(refusal.clone().into()),
        None => Ok(chain.admit(ctx).await?),
    }
}

/// Whether the front admitted the request the handler serves: the same upstream, method
/// and target.
fn same_request(admitted: &CallContext, handled: &CallContext) -> bool {
    admitted.upstream == handled.upstream
        && admitted.method == handled.method
        && admitted.target == handled.target
}

/// One endpoint's front (see the module): its upstreams (`scope`), how a rate-limited
/// request is answered (`status`), and the body limit its reads run under.
#[derive(Clone)]
pub(crate) struct Front {
    hub: Arc<Hub>,
    scope: Scope,
    status: RateLimitStatus,
    max_body_bytes: usize,
}

impl Front {
    pub(crate) fn new(hub: Arc<Hub>, scope: Scope, http: &HttpLimitsSpec) -> Self {
        Self {
            hub,
            scope,
            status: http.rate_limit_status,
            max_body_bytes: http.max_body_bytes,
        }
    }
}

/// A JSON-RPC request, its `params` left unparsed until its method says what they are.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Value,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// The methods the chain decides about here.
const ADMITTED: [&str; 4] = [
    "tools/call",
    "prompts/get",
    "resources/read",
    "completion/complete",
];

#[derive(Deserialize, Default)]
struct Params {
    name: Option<String>,
    uri: Option<String>,
    arguments: Option<JsonObject>,
    #[serde(rename = "ref")]
    reference: Option<Reference>,
    /// A 2026-07-28 retry's state: the handler alone can tell whether it continues a call
    /// already admitted (and not to be charged again), so such a retry is left to it.
    #[serde(rename = "requestState")]
    request_state: Option<Value>,
}

#[derive(Deserialize)]
struct Reference {
    name: Option<String>,
    uri: Option<String>,
}

/// Reads one request (see the module); a rate-limited one becomes a 429 when the endpoint
/// answers so, a listen stream whose resources cannot be followed gets its error.
pub(crate) async fn admit(State(endpoint): State<Front>, request: Request, next: Next) -> Response {
    if request.method() != http::Method::POST {
        return next.run(request).await;
    }
    let (mut parts, mut bytes) = match buffered(request, endpoint.max_body_bytes).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    // Not one JSON-RPC request (a batch, a response, malformed): rmcp answers that.
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) {
        let params = envelope.params.map_or("{}", RawValue::get);
        match envelope.method.as_ref() {
            "initialize" => {
                if let Some(noted) = tasks::noted(&bytes) {
                    bytes = Bytes::from(noted);
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                }
            }
            "subscriptions/listen" => {
                let (hub, scope) = (&endpoint.hub, endpoint.scope);
                if let Err(e) = listen::follow_first(hub, scope, &mut parts, params).await {
                    return belay_mcp::http::error_response(StatusCode::OK, &envelope.id, &e);
                }
            }
            method if ADMITTED.contains(&method) => {
                let params = serde_json::from_str::<Params>(params).unwrap_or_default();
                if let Some(ctx) = endpoint.chain_request(&parts, method, params) {
                    let found = endpoint.hub.chain.admit(ctx).await;
                    if let Err(refused) = &found
                        && let Some(secs) = refused.retry_after_secs
                        && endpoint.status == RateLimitStatus::Http
                    {
                        return too_many(&envelope.id, refused, secs);
                    }
                    parts.extensions.insert(AtFront(found));
                }
            }
            _ => {}
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A rate-limited request's 429, with `Retry-After` and the JSON-RPC error the chain made.
fn too_many(id: &Value, refused: &Refusal, secs: u64) -> Response {
    // The body was read, so the connection can be kept.
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, id, &refused.error, false);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

impl Front {
    /// The chain's view of a request for `method`; `None` for a method the chain does not
    /// admit here, a name no upstream serves (the handler answers that), or a retry with a
    /// `requestState`.
    fn chain_request(
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
        let mut ctx = call_context(&self.hub, Some(parts), upstream, method, Some(target));
        ctx.arguments = arguments;
        Some(ctx)
    }
}
