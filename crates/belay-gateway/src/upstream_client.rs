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
//! or notice goes). Progress carries its token, so it is always routed exactly; a log
//! message goes to that one session's call likewise, and one sent while no call is in
//! flight belongs to no call and goes to the upstream's [`Followers`], as does a
//! `resources/updated`. Where a notice goes is decided as it arrives, and a call is not
//! answered before its notices are passed on ([`crate::arrivals`]). A question asked as a
//! task, and the upstream's requests about its tasks, arrive as custom requests, answered by
//! [`crate::tasks`].
#![allow(deprecated)] // Sampling, roots and logging are deprecated by SEP-2577 but still served.

use std::sync::Arc;

use belay_mcp::era::log_wanted;
use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer, ServiceError, ServiceExt,
    model::{
        ClientCapabilities, ClientConfig, ClientRequest, ClientResult, CreateMessageRequestParams,
        CreateMessageResult, CustomRequest, CustomResult, ElicitRequestParams, ElicitResult,
        GetExtensions, Implementation, ListRootsResult, LoggingMessageNotificationParam,
        ProgressNotificationParam, ProgressToken, Request, RequestId,
        ResourceUpdatedNotificationParam, ServerRequest, UnsubscribeRequestParams,
    },
    service::{
        ClientInitializeError, InboundStreamOrigin, NotificationContext, OriginatingRequestId,
        Peer, PeerRequestOptions, RequestContext, RunningService,
    },
    transport::IntoTransport,
};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use crate::{
    arrivals::Arrivals,
    era::{self, FromUpstream, Logs, Question, Unanswered},
    followers::Followers,
    in_flight::{InFlight, Route},
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

/// The `ClientHandler` of one upstream connection.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    upstream: Arc<str>,
    in_flight: InFlight,
    followers: Followers,
    changes: mpsc::UnboundedSender<Change>,
    /// The tasks this connection's task-augmented questions made ([`crate::tasks`]).
    tasks: Tasks,
    /// The upstream's shared connection, whose notices outside calls go to its followers;
    /// false for a signed-in caller's own session (see [`Self::for_one_caller`]).
    shared: bool,
}

impl UpstreamClient {
    /// A handler for a new connection to `upstream`.
    pub(crate) fn new(
        upstream: &str,
        in_flight: InFlight,
        followers: Followers,
        changes: mpsc::UnboundedSender<Change>,
    ) -> Self {
        Self {
            upstream: upstream.into(),
            in_flight,
            followers,
            changes,
            tasks: Tasks::new(upstream),
            shared: true,
        }
    }

    /// The handler of one signed-in caller's own session: a log line it sends outside a
    /// call is about that caller's session, so it goes to nobody else's (the gateway's own
    /// log keeps it).
    pub(crate) fn for_one_caller(mut self) -> Self {
        self.shared = false;
        self
    }

    /// Where this connection reports the upstream's catalog changes (to the supervisor of
    /// the shared connection; nowhere for a caller's own session), and who follows its
    /// resources.
    pub(crate) fn outside_calls(&self) -> (mpsc::UnboundedSender<Change>, Followers) {
        (self.changes.clone(), self.followers.clone())
    }

    /// Starts the session on `transport`, watched as it is read and written (see
    /// [`crate::arrivals`]).
    pub(crate) async fn start<T, E, A>(
        self,
        transport: T,
    ) -> Result<RunningService<RoleClient, Self>, ClientInitializeError>
    where
        T: IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let in_flight = self.in_flight.clone();
        self.serve(Arrivals::new(transport.into_transport(), in_flight))
            .await
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
        context: NotificationContext<RoleClient>,
    ) {
        // Its call is not answered before this is passed on, in its turn.
        if let Some(Route::Call(target, turns)) = context.extensions.get::<Route>() {
            turns.come().await;
            let _ = era::to_caller(target, FromUpstream::Notice(Notice::Progress(params))).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        let unclear = match context.extensions.get::<Route>() {
            Some(Route::Call(target, turns)) => {
                turns.come().await;
                // A handshake session gets what it asked for with `logging/setLevel`; the
                // upstream's level is the last any session set.
                let asked = self.followers.log_level(target.session.as_deref());
                if target.round_trip.is_none()
                    && asked.is_some_and(|level| !log_wanted(Some(level), params.level))
                {
                    return;
                }
                let _ = era::to_caller(target, FromUpstream::Notice(Notice::Log(params))).await;
                return;
            }
            Some(Route::NoCall(turns)) if self.shared => {
                turns.come().await;
                return self.followers.log(&params).await;
            }
            Some(Route::NoCall(_)) => "outside a call, on a caller's own session",
            Some(Route::Unclear(why)) => why,
            None => "not routed as it arrived",
        };
        tracing::info!(upstream = %self.upstream, level = ?params.level, data = %params.data, why = unclear, "upstream log kept here");
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        let nobody_left = self.followers.updated(&params).await;
        if !nobody_left || !self.shared {
            return;
        }
        // Every follower went away without unsubscribing (its session closed): the
        // upstream is told, unless someone followed the resource meanwhile.
        let _turn = self.followers.turn().await;
        if self.followers.is_followed(&params.uri) {
            return;
        }
        let request = ClientRequest::UnsubscribeRequest(Request::new(
            UnsubscribeRequestParams::new(params.uri),
        ));
        let options = PeerRequestOptions::with_timeout(self.followers.answer_within());
        let unsubscribed = match context
            .peer
            .send_request_with_option(request, options)
            .await
        {
            Ok(handle) => handle.await_response().await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = unsubscribed {
            tracing::debug!(upstream = %self.upstream, error = %e, "cannot unsubscribe a resource nobody follows");
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
