//! The gateway as an MCP client of one upstream: what the upstream sends back.
//!
//! One upstream connection is shared by every downstream session (one process per stdio
//! upstream, so restarts, health and the breaker are per upstream). A server-to-client
//! request (elicitation, sampling, roots) that a Streamable HTTP upstream sends on the
//! response stream of one of our requests goes to the session that made that request.
//! Anything else carries no link to the call that caused it (a stdio or legacy SSE
//! upstream, the standalone stream, a log message), so it goes to the downstream session
//! with calls in flight on this upstream. If several sessions have calls in flight, it is
//! refused rather than risk showing one user's question to another (the upstream then falls
//! back as for a client that cannot elicit). For a 2026-07-28 client's call, which cannot
//! carry server-to-client requests, the question becomes an input request of the call (the
//! gateway's `input_required` module; [`crate::era::to_caller`] decides which way a question
//! or notice goes). Progress carries its token, so it is always routed
//! exactly, and a `resources/updated` goes to exactly the sessions that subscribed to it.
//! A question asked as a task, and the upstream's requests about its tasks, arrive as custom
//! requests, answered by [`crate::tasks`].
#![allow(deprecated)] // Sampling, roots and logging are deprecated by SEP-2577 but still served.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer, ServiceError,
    model::{
        ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequestParams,
        CreateMessageResult, CustomRequest, CustomResult, ElicitRequestParams, ElicitResult,
        GetExtensions, Implementation, ListRootsResult, LoggingMessageNotificationParam,
        NumberOrString, ProgressNotificationParam, ProgressToken, RequestId,
        ResourceUpdatedNotificationParam, ServerRequest,
    },
    service::{
        InboundStreamOrigin, NotificationContext, OriginatingRequestId, Peer, RequestContext,
    },
};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use crate::{
    era::{self, FromUpstream, Logs, Question, Unanswered},
    input_required::{Notice, RoundTrip},
    tasks::Tasks,
};

/// Who is waiting on a request sent upstream.
#[derive(Clone)]
pub struct Downstream {
    /// The downstream session's peer, to send requests and notifications to.
    pub peer: Peer<RoleServer>,
    /// Identifies the downstream session (its `Mcp-Session-Id`), if it has one.
    pub session: Option<String>,
    /// The id of the downstream request being served, whose response stream carries the
    /// questions it causes.
    pub request: Option<RequestId>,
    /// The progress token the downstream client gave, if any.
    pub progress: Option<ProgressToken>,
    /// The log level it wants for this request, as its era says it.
    pub logs: Logs,
    /// Set for a 2026-07-28 client's call: its questions become input requests of the
    /// call (see [`crate::input_required`]) instead of server-to-client requests.
    pub(crate) round_trip: Option<RoundTrip>,
}

impl Downstream {
    /// Sends `request` to the client, on the response stream of the call that caused it,
    /// and waits for the answer.
    ///
    /// rmcp routes a server-to-client request by the `OriginatingRequestId` in its
    /// extensions (SEP-2260), which it fills from a task-local while a handler runs. Here the
    /// handler running is the one for the *upstream's* request, so the id rmcp would take is
    /// the upstream's, which names nothing downstream: the question went to the standalone
    /// stream (which a client need not have open) with a warning on every elicitation. So
    /// the request leaves from a task of its own, where no task-local is set, marked with
    /// the downstream call's id. The task is aborted if the upstream gives up waiting.
    pub(crate) async fn ask(
        &self,
        mut request: ServerRequest,
    ) -> Result<ClientResult, ServiceError> {
        if let Some(id) = &self.request {
            request
                .extensions_mut()
                .insert(OriginatingRequestId(id.clone()));
        }
        let peer = self.peer.clone();
        AbortOnDropHandle::new(tokio::spawn(
            async move { peer.send_request(request).await },
        ))
        .await
        .unwrap_or_else(|e| {
            Err(ServiceError::Cancelled {
                reason: Some(e.to_string()),
            })
        })
    }
}

/// A catalog change an upstream announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `notifications/tools/list_changed`.
    Tools,
    /// `notifications/prompts/list_changed`.
    Prompts,
    /// `notifications/resources/list_changed`.
    Resources,
}

/// A request in flight upstream: who waits for it, and its JSON-RPC id once sent.
#[derive(Clone)]
struct Waiting {
    request: Option<RequestId>,
    downstream: Downstream,
}

/// Requests in flight on one upstream connection, keyed by the progress token rmcp put
/// on each (unique per connection).
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashMap<ProgressToken, Waiting>>>);

impl InFlight {
    /// Records a request; it is forgotten when the guard drops.
    pub fn register(&self, token: ProgressToken, downstream: Downstream) -> InFlightGuard {
        let waiting = Waiting {
            request: None,
            downstream,
        };
        self.lock().insert(token.clone(), waiting);
        InFlightGuard {
            map: self.clone(),
            token,
        }
    }

    /// Records a request about to be sent, before rmcp gives it its progress token, so
    /// that what the upstream sends at once (a log line, a question) finds the call; give
    /// the guard the token and id with [`InFlightGuard::sent`] once they are known.
    pub fn reserve(&self, downstream: Downstream) -> InFlightGuard {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // rmcp's tokens are numbers, so a string never collides with one.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let token = ProgressToken(NumberOrString::String(format!("belay-reserved-{n}").into()));
        self.register(token, downstream)
    }

    fn by_token(&self, token: &ProgressToken) -> Option<Downstream> {
        self.lock().get(token).map(|w| w.downstream.clone())
    }

    /// Who a server-to-client request is for: the caller of the request whose response
    /// stream it came on, when the transport says (Streamable HTTP does), or else
    /// [`Self::sole`].
    fn for_request(
        &self,
        origin: Option<&InboundStreamOrigin>,
    ) -> Result<Downstream, &'static str> {
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin {
            let map = self.lock();
            if let Some(waiting) = map.values().find(|w| w.request.as_ref() == Some(id)) {
                return Ok(waiting.downstream.clone());
            }
        }
        self.sole()
    }

    /// The one downstream session with calls in flight, or why there is none.
    fn sole(&self) -> Result<Downstream, &'static str> {
        let map = self.lock();
        let mut found: Option<&Downstream> = None;
        for candidate in map.values().map(|w| &w.downstream) {
            match (found, &candidate.session) {
                (None, _) => found = Some(candidate),
                (Some(first), Some(session)) if first.session.as_ref() == Some(session) => {}
                _ => return Err("several client sessions have calls in flight on this upstream"),
            }
        }
        found
            .cloned()
            .ok_or("no client call is in flight on this upstream")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProgressToken, Waiting>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes its request from [`InFlight`] when the call ends, however it ends.
pub struct InFlightGuard {
    map: InFlight,
    token: ProgressToken,
}

impl InFlightGuard {
    /// Files the request, now sent as `request` with `token`, under that token, in one
    /// step (it is never missing).
    pub fn sent(&mut self, token: ProgressToken, request: RequestId) {
        let mut map = self.map.lock();
        if let Some(mut waiting) = map.remove(&self.token) {
            waiting.request = Some(request);
            map.insert(token.clone(), waiting);
        }
        self.token = token;
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.map.lock().remove(&self.token);
    }
}

/// Which downstream sessions subscribed to which resource URIs of one upstream. It
/// outlives connections, so subscriptions are renewed after a reconnect.
#[derive(Clone, Default)]
pub struct Subscriptions(Arc<Mutex<HashMap<String, Vec<Downstream>>>>);

impl Subscriptions {
    /// Adds `downstream` as a subscriber of `uri` (once per session).
    pub fn add(&self, uri: &str, downstream: Downstream) {
        let mut map = self.lock();
        let subscribers = map.entry(uri.to_owned()).or_default();
        subscribers.retain(|d| d.session != downstream.session && !d.peer.is_transport_closed());
        subscribers.push(downstream);
    }

    /// Removes `session`'s subscription to `uri`; true when nobody is left subscribed,
    /// so the upstream subscription can go too.
    pub fn remove(&self, uri: &str, session: Option<&str>) -> bool {
        let mut map = self.lock();
        let Some(subscribers) = map.get_mut(uri) else {
            return true;
        };
        subscribers.retain(|d| d.session.as_deref() != session && !d.peer.is_transport_closed());
        let last = subscribers.is_empty();
        if last {
            map.remove(uri);
        }
        last
    }

    /// Every subscribed URI, to renew after a reconnect.
    pub fn uris(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The live subscribers of `uri`, forgetting closed sessions.
    fn subscribers(&self, uri: &str) -> Vec<Downstream> {
        let mut map = self.lock();
        let Some(subscribers) = map.get_mut(uri) else {
            return Vec::new();
        };
        subscribers.retain(|d| !d.peer.is_transport_closed());
        subscribers.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Downstream>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `ClientHandler` of one upstream connection.
#[derive(Clone)]
pub struct UpstreamClient {
    upstream: Arc<str>,
    in_flight: InFlight,
    subscriptions: Subscriptions,
    changes: mpsc::UnboundedSender<Change>,
    /// The tasks this connection's task-augmented questions made ([`crate::tasks`]).
    tasks: Tasks,
}

impl UpstreamClient {
    /// A handler for a new connection to `upstream`.
    pub fn new(
        upstream: &str,
        in_flight: InFlight,
        subscriptions: Subscriptions,
        changes: mpsc::UnboundedSender<Change>,
    ) -> Self {
        Self {
            upstream: upstream.into(),
            in_flight,
            subscriptions,
            changes,
            tasks: Tasks::new(upstream),
        }
    }

    fn target(
        &self,
        what: &str,
        context: &RequestContext<RoleClient>,
    ) -> Result<Downstream, ErrorData> {
        let origin = context.extensions.get::<InboundStreamOrigin>();
        self.in_flight.for_request(origin).map_err(|why| {
            tracing::warn!(upstream = %self.upstream, "{what} refused: {why}");
            ErrorData::internal_error(
                format!(
                    "the gateway cannot pass this {what} from upstream `{}` to a client: {why}",
                    self.upstream
                ),
                None,
            )
        })
    }

    fn downstream_failed(&self, what: &str, e: impl std::fmt::Display) -> ErrorData {
        ErrorData::internal_error(
            format!(
                "the client did not answer the {what} of upstream `{}`: {e}",
                self.upstream
            ),
            None,
        )
    }
}

/// How the gateway introduces itself to upstreams: its name, and the capabilities it
/// declares so upstreams elicit and sample (whether the real caller can is only known per
/// call, and a refusal reaches the upstream as an error it handles). Where the transport
/// allows, `initialize` also declares that it runs both as tasks
/// ([`crate::tasks::wire::declare`]; rmcp's type has no room for it).
pub(crate) fn identity() -> ClientConfig {
    let capabilities = ClientCapabilities::builder()
        .enable_elicitation()
        .enable_sampling()
        .build();
    ClientConfig::new(
        capabilities,
        Implementation::new("belay-gateway", env!("CARGO_PKG_VERSION")),
    )
}

impl UpstreamClient {
    /// Asks the caller `target` the upstream's `question`, in the caller's era.
    async fn ask(
        &self,
        what: &str,
        target: &Downstream,
        question: Question,
    ) -> Result<ClientResult, ErrorData> {
        match era::to_caller(target, FromUpstream::Question(question)).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(self.downstream_failed(what, ServiceError::UnexpectedResponse)),
            Err(Unanswered::Refused(e)) => Err(e),
            Err(Unanswered::Caller(e)) => Err(self.downstream_failed(what, e)),
        }
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        identity()
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let what = "elicitation";
        let target = self.target(what, &context)?;
        match self.ask(what, &target, Question::Elicit(request)).await? {
            ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(self.downstream_failed(what, ServiceError::UnexpectedResponse)),
        }
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let what = "sampling request";
        let target = self.target(what, &context)?;
        match self.ask(what, &target, Question::Sample(params)).await? {
            ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(self.downstream_failed(what, ServiceError::UnexpectedResponse)),
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        // Roots are the client's business; with no single client to ask, there are none.
        let origin = context.extensions.get::<InboundStreamOrigin>();
        let Ok(target) = self.in_flight.for_request(origin) else {
            return Ok(ListRootsResult::default());
        };
        let what = "roots request";
        match self.ask(what, &target, Question::Roots).await? {
            ClientResult::ListRootsResult(result) => Ok(result),
            _ => Err(self.downstream_failed(what, ServiceError::UnexpectedResponse)),
        }
    }

    /// A task-augmented question (which [`crate::tasks::wire`] diverts here) and the
    /// upstream's requests about its tasks.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<CustomResult, ErrorData> {
        let target = |what: &str| self.target(what, &context);
        self.tasks.serve(request, target).await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(target) = self.in_flight.by_token(&params.progress_token) {
            let _ = era::to_caller(&target, FromUpstream::Notice(Notice::Progress(params))).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        match self.in_flight.sole() {
            Ok(target) => {
                let _ = era::to_caller(&target, FromUpstream::Notice(Notice::Log(params))).await;
            }
            Err(_) => {
                tracing::info!(upstream = %self.upstream, level = ?params.level, data = %params.data, "upstream log");
            }
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        for target in self.subscriptions.subscribers(&params.uri) {
            if let Err(e) = target.peer.notify_resource_updated(params.clone()).await {
                tracing::debug!(upstream = %self.upstream, error = %e, "update not delivered");
            }
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changes.send(Change::Tools);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changes.send(Change::Prompts);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changes.send(Change::Resources);
    }
}
