//! How a 2026-07-28 caller's request reaches an upstream that serves that era, so that the
//! upstream sees the caller's own capabilities.
//!
//! In that era there is no session: every request carries its envelope (protocol version,
//! client, capabilities) in `_meta`, and the server checks the capabilities per request,
//! refusing with `MissingRequiredClientCapability` (-32021) what needs one the client did
//! not declare and asking only what it can answer, as `input_required`. The gateway's own
//! session with the upstream is handshake-era, opened with `initialize` declaring the
//! gateway's capabilities (it needs that session's pings, subscriptions and list changes).
//!
//! * A stdio upstream that serves both eras (rmcp-based servers do) takes a 2026-07-28
//!   request on that same connection, envelope and all: [`RoundTripRoute::Session`].
//! * rmcp's Streamable HTTP client keeps one protocol version per session (a request naming
//!   another switches the header of every later request), so over HTTP the session cannot
//!   carry such a request. It goes as a POST of its own, as a 2026-07-28 client sends it
//!   ([`Posts`], [`RoundTripRoute::Posts`]): rmcp's model types, sent with the HTTP client of
//!   the upstream's session (its credential, configured headers, the request's trace
//!   context, its connection pool and rmcp's limits on the size of an answer), read in the
//!   call's own future, with no task of its own. Progress and log messages on its response
//!   stream are the call's, passed on as they come, before its answer; dropping the POST
//!   closes its stream, which in that era is the cancellation.
//!
//! The alternatives fall short. A session per set of capabilities would multiply sessions
//! (each with its handshake, streams and health pings) and still speak the handshake era,
//! where the upstream asks live and never answers -32021 itself. Refusing, in the gateway,
//! a question the caller cannot answer comes too late: the upstream has already chosen to
//! ask it (or run a tool that needs it) believing the caller could answer, and an upstream
//! that adapts what it asks to the caller's capabilities never gets to.
//!
//! What such a call changes (a tool list, a resource), an upstream announces on the call's
//! stream, where the gateway takes it as it takes its session's (list again, tell the
//! resource's followers), or only to its 2026-07-28 `subscriptions/listen` streams (the
//! Python SDK), which the gateway does not hold with its upstreams yet: its handshake
//! session does not hear those (tests/matrix/known-failures.txt).
#![allow(deprecated)] // Logging is deprecated by SEP-2577 but still relayed.

mod headers;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use futures::StreamExt;
use http::{HeaderName, HeaderValue};
use rmcp::{
    ErrorData, RoleClient,
    model::{
        ClientJsonRpcMessage, ClientRequest, DiscoverRequestParams, DiscoverResult, GetMeta,
        JsonObject, JsonRpcMessage, ProtocolVersion, Request, RequestId, RequestMetaObject,
        ServerJsonRpcMessage, ServerNotification, ServerResult,
    },
    service::Peer,
    transport::streamable_http_client::{
        StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Upstream,
    checked::{excerpt, unfit_message},
};
use crate::{
    credential::UpstreamHttpClient,
    era::{self, FromUpstream},
    followers::Followers,
    input_required::Notice,
    spec::TransportSpec,
    upstream_client::{self, Change, Downstream},
};

/// How a 2026-07-28 caller's requests reach the upstream on one connection.
#[derive(Clone)]
pub(crate) enum RoundTripRoute {
    /// They do not: the upstream serves the handshake era only and is spoken to in it.
    Handshake,
    /// On its handshake connection, which serves both eras request by request (stdio).
    Session,
    /// As POSTs of their own (Streamable HTTP).
    Posts(Posts),
}

impl RoundTripRoute {
    /// Whether the upstream takes 2026-07-28 requests at all.
    pub(crate) fn serves(&self) -> bool {
        !matches!(self, Self::Handshake)
    }
}

/// Where a Streamable HTTP upstream's 2026-07-28 requests go: its URL, through the HTTP
/// client of its session.
#[derive(Clone)]
pub(crate) struct Posts {
    http: UpstreamHttpClient,
    uri: Arc<str>,
    /// Where a list change or resource update the upstream announces on a response stream
    /// goes: where one it announces on its session goes.
    changes: mpsc::UnboundedSender<Change>,
    followers: Followers,
    /// Ids of the requests sent (each POST is its own exchange; distinct ids keep logs
    /// readable).
    next_id: Arc<AtomicI64>,
}

/// Why a POST brought no result.
enum Failed {
    /// The upstream answered with a JSON-RPC error: it is alive, and the caller gets it.
    Answered(ErrorData),
    /// The upstream, or the way to it, failed; why, in words for the caller.
    Broke(String),
}

impl Posts {
    /// The POSTs to `uri` through `http`; list changes are reported on `changes`, resource
    /// updates told to `followers`.
    pub(crate) fn new(
        http: UpstreamHttpClient,
        uri: &str,
        (changes, followers): (mpsc::UnboundedSender<Change>, Followers),
    ) -> Self {
        Self {
            http,
            uri: uri.into(),
            changes,
            followers,
            next_id: Arc::new(AtomicI64::new(1)),
        }
    }

    /// Sends `request` (its `_meta` the 2026-07-28 envelope) and reads the answer, passing
    /// the upstream's progress and log messages about it on to `downstream` as they come.
    /// `tool_schema` is the input schema of the tool a `tools/call` calls.
    async fn exchange(
        &self,
        request: ClientRequest,
        tool_schema: Option<&JsonObject>,
        downstream: Option<&Downstream>,
    ) -> Result<ServerResult, Failed> {
        let version = request
            .get_meta()
            .protocol_version()
            .unwrap_or(ProtocolVersion::V_2026_07_28);
        let headers = headers::standard(&request, &version, tool_schema);
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
        let message = ClientJsonRpcMessage::request(request, id.clone());
        let response = post(&self.http, self.uri.clone(), message, headers)
            .await
            .map_err(|e| Failed::Broke(format!("the request could not be sent ({e})")))?;
        let mut stream = match response {
            StreamableHttpPostResponse::Json(message, _) => return answer(message, &id),
            StreamableHttpPostResponse::Sse(stream, _) => stream,
            _ => {
                return Err(Failed::Broke(
                    "it accepted the request without answering it".into(),
                ));
            }
        };
        while let Some(event) = stream.next().await {
            let event =
                event.map_err(|e| Failed::Broke(format!("its response stream failed ({e})")))?;
            // Other events are the transport's business; one without data primes the
            // stream for resumption.
            if !matches!(event.event.as_deref(), None | Some("" | "message")) {
                continue;
            }
            let Some(data) = event.data.as_deref().filter(|d| !d.trim().is_empty()) else {
                continue;
            };
            let message = serde_json::from_str::<ServerJsonRpcMessage>(data).map_err(|e| {
                Failed::Broke(unfit_message(data).unwrap_or_else(|| {
                    format!(
                        "it sent a message the gateway cannot read (`{}`): {e}",
                        excerpt(data)
                    )
                }))
            })?;
            match message {
                JsonRpcMessage::Notification(notification) => {
                    self.notify(downstream, notification.notification).await;
                }
                JsonRpcMessage::Request(_) => {
                    let method = serde_json::from_str::<serde_json::Value>(data)
                        .ok()
                        .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    return Err(Failed::Broke(format!(
                        "it sent a `{method}` request on a 2026-07-28 response stream, where a \
                         server asks in an `input_required` result instead"
                    )));
                }
                answered => return answer(answered, &id),
            }
        }
        Err(Failed::Broke(
            "its response stream ended before it answered".into(),
        ))
    }
}

impl Posts {
    /// Passes the upstream's progress or log message about a call on to its caller. A list
    /// change or resource update (what a call changed, announced on its stream) goes where
    /// the session's go: the gateway lists the upstream again and tells its listeners, or
    /// tells the resource's followers. Nothing else on a response stream concerns anyone.
    async fn notify(&self, downstream: Option<&Downstream>, notification: ServerNotification) {
        let notice = match notification {
            ServerNotification::ProgressNotification(n) => Notice::Progress(n.params),
            ServerNotification::LoggingMessageNotification(n) => Notice::Log(n.params),
            other => {
                let change = match other {
                    ServerNotification::ResourceUpdatedNotification(n) => {
                        self.followers.updated(&n.params).await;
                        return;
                    }
                    ServerNotification::ToolListChangedNotification(_) => Change::Tools,
                    ServerNotification::PromptListChangedNotification(_) => Change::Prompts,
                    ServerNotification::ResourceListChangedNotification(_) => Change::Resources,
                    _ => return,
                };
                let _ = self.changes.send(change);
                return;
            }
        };
        if let Some(downstream) = downstream {
            let _ = era::to_caller(downstream, FromUpstream::Notice(notice)).await;
        }
    }
}

/// POSTs `message` to `uri` with `headers` and rmcp's limits on the answer, through the
/// trait: its future is declared `Send`, which the compiler cannot prove of the concrete
/// client's for every lifetime (and a call's future must be `Send`).
fn post<C: StreamableHttpClient + Sync>(
    http: &C,
    uri: Arc<str>,
    message: ClientJsonRpcMessage,
    headers: HashMap<HeaderName, HeaderValue>,
) -> impl Future<Output = Result<StreamableHttpPostResponse, StreamableHttpError<C::Error>>> + Send + '_
{
    let limits = StreamableHttpResponseLimits::default();
    http.post_message_with_response_limits(uri, message, None, None, headers, limits)
}

/// The result or error `message` carries for request `id`.
fn answer(message: ServerJsonRpcMessage, id: &RequestId) -> Result<ServerResult, Failed> {
    let other = |other: &RequestId| {
        Failed::Broke(format!(
            "it answered request id {other} on the stream of request {id}"
        ))
    };
    match message {
        JsonRpcMessage::Response(response) if response.id == *id => Ok(response.result),
        JsonRpcMessage::Response(response) => Err(other(&response.id)),
        // An error names no id when the server could not read the request's.
        JsonRpcMessage::Error(error) => match &error.id {
            Some(answered) if answered != id => Err(other(answered)),
            _ => Err(Failed::Answered(error.error)),
        },
        JsonRpcMessage::Notification(_) | JsonRpcMessage::Request(_) => Err(Failed::Broke(
            "it answered with a message that is not a response".into(),
        )),
    }
}

impl Upstream {
    /// How 2026-07-28 requests reach the upstream on its new connection `peer`; `posts`
    /// where they would go over Streamable HTTP. Asked once per connection with
    /// `server/discover` in that era, over stdio on the connection itself. An upstream
    /// that refuses (the Python SDK on stdio answers -32600: for it `initialize` chose the
    /// handshake era for the whole connection) is spoken to in the handshake era.
    pub(crate) async fn round_trip_route(
        &self,
        peer: &Peer<RoleClient>,
        posts: Option<Posts>,
    ) -> RoundTripRoute {
        let identity = upstream_client::identity();
        let mut meta = RequestMetaObject::new();
        meta.set_protocol_version(ProtocolVersion::V_2026_07_28);
        meta.set_client_info(identity.client_info);
        meta.set_client_capabilities(identity.capabilities);
        let serves = |found: &DiscoverResult| {
            found
                .supported_versions
                .contains(&ProtocolVersion::V_2026_07_28)
        };
        let limit = self.spec.timeouts.connect();
        let route = match (&self.spec.transport, posts) {
            (TransportSpec::Stdio { .. }, _) => {
                let asked = tokio::time::timeout(limit, peer.discover(meta)).await;
                match asked {
                    Ok(Ok(found)) if serves(&found) => RoundTripRoute::Session,
                    _ => RoundTripRoute::Handshake,
                }
            }
            (TransportSpec::Http { .. }, Some(posts)) => {
                let mut discover =
                    ClientRequest::DiscoverRequest(Request::new(DiscoverRequestParams::default()));
                *discover.get_meta_mut() = meta;
                let asked = tokio::time::timeout(limit, posts.exchange(discover, None, None)).await;
                match asked {
                    Ok(Ok(ServerResult::DiscoverResult(found))) if serves(&found) => {
                        RoundTripRoute::Posts(posts)
                    }
                    _ => RoundTripRoute::Handshake,
                }
            }
            _ => RoundTripRoute::Handshake,
        };
        tracing::debug!(upstream = %self.spec.name, serves = route.serves(), "2026-07-28 requests");
        route
    }

    /// Sends `request` (already in the 2026-07-28 era, see [`Self::request`]) as a POST
    /// of its own, within the call timeout and the breaker; cancelling `ct` cancels it.
    pub(super) async fn post(
        &self,
        posts: &Posts,
        mut request: ClientRequest,
        downstream: Option<Downstream>,
        ct: &CancellationToken,
    ) -> Result<ServerResult, ErrorData> {
        self.admit()?;
        // Progress only when the caller asked for it (its token is the caller's business:
        // the round that is open when progress comes says its own).
        if let Some(token) = downstream.as_ref().and_then(|d| d.progress.clone()) {
            request.get_meta_mut().set_progress_token(token);
        }
        let schema = match &request {
            ClientRequest::CallToolRequest(call) => self.input_schema(&call.params.name),
            _ => None,
        };
        let limit = self.spec.timeouts.call();
        let exchange = posts.exchange(request, schema.as_deref(), downstream.as_ref());
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limit, exchange) => outcome,
            // The POST is dropped with its stream: the upstream sees the cancellation.
            () = ct.cancelled() => return Err(ErrorData::internal_error("request cancelled", None)),
        };
        match outcome {
            Ok(Ok(result)) => {
                self.breaker.success();
                Ok(result)
            }
            Ok(Err(Failed::Answered(error))) => {
                self.breaker.success();
                Err(error)
            }
            Ok(Err(Failed::Broke(why))) => {
                self.breaker.failure();
                Err(self.unavailable(why))
            }
            Err(_) => {
                self.breaker.failure();
                Err(self.unavailable(format!("no answer within {} ms", limit.as_millis())))
            }
        }
    }

    /// The input schema of its tool `name`, as it last listed it.
    fn input_schema(&self, name: &str) -> Option<Arc<JsonObject>> {
        let listed = self
            .listed_tools
            .read()
            .map_or_else(|e| e.into_inner().clone(), |t| t.clone());
        listed
            .iter()
            .find(|tool| tool.name == name)
            .map(|tool| tool.input_schema.clone())
    }
}
