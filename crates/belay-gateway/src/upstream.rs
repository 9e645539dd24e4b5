//! One upstream at run time: its supervised connection, catalog, health and breaker.
//!
//! A supervisor task owns the rmcp client session: it connects, waits for the session to
//! end, and reconnects with exponential backoff as the restart policy says. Everything
//! else only borrows the current peer, so a dead upstream is a clear error for calls to
//! it and nothing more: the gateway and the other upstreams carry on.
#![allow(deprecated)] // Logging and resources/subscribe are deprecated by SEP-2577 but still served.

use std::{
    sync::{Arc, RwLock, atomic::Ordering},
    time::Duration,
};

use belay_auth::Caller;
use rmcp::{
    ErrorData, RoleClient, ServiceError,
    model::{
        CancelledNotificationParam, ClientRequest, LoggingLevel, Prompt, Request, RequestId,
        Resource, ResourceTemplate, ServerResult, SetLevelRequestParams, SubscribeRequestParams,
        Tool, UnsubscribeRequestParams,
    },
    service::{Peer, PeerRequestOptions},
};
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

mod checked;
mod conduct;
mod connect;
mod stdio;
mod supervise;

pub(crate) use conduct::{Conduct, ConductCounts};

use crate::{
    Error,
    breaker::{Breaker, BreakerState},
    caller_sessions::CallerSessions,
    credential::Credential,
    era::{self, Era, Logs},
    followers::{Channel, Follower, Followers},
    guardrails::UpstreamGuard,
    in_flight::InFlight,
    spec::{CredentialSpec, GatewaySpec, GuardSpec, RestartPolicy, TransportSpec, UpstreamSpec},
    upstream_client::Downstream,
};

/// Whether an upstream can take calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamState {
    /// Starting or reconnecting.
    Connecting,
    /// Connected; calls go through (unless the breaker is open).
    Up,
    /// Not connected; the reason, and whether a reconnect is scheduled.
    Down {
        /// Why (spawn error, session ended, handshake timeout, …).
        reason: String,
        /// A reconnect will be attempted.
        retrying: bool,
    },
}

/// A snapshot of an upstream's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// Connection state.
    pub state: UpstreamState,
    /// How many sessions have been established so far (1 after the first connect).
    pub generation: u64,
    /// Process id of a stdio upstream while it runs.
    pub pid: Option<u32>,
}

/// What an upstream offers, as last listed.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Its tools, names unprefixed.
    pub tools: Vec<Tool>,
    /// Its prompts, names unprefixed.
    pub prompts: Vec<Prompt>,
    /// Its resources.
    pub resources: Vec<Resource>,
    /// Its resource templates.
    pub templates: Vec<ResourceTemplate>,
}

/// An open session to an upstream, the calls in flight on it, and how it behaves.
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) in_flight: InFlight,
    pub(crate) conduct: Arc<Conduct>,
    /// Whether the upstream also serves 2026-07-28 requests on this handshake connection
    /// (see [`Upstream::serves_round_trip`]).
    pub(crate) round_trip: bool,
}

/// One upstream MCP server and the gateway's connection to it.
pub struct Upstream {
    spec: UpstreamSpec,
    prefix: String,
    credential: Credential,
    conn: RwLock<Option<Conn>>,
    catalog: RwLock<Arc<Catalog>>,
    status: watch::Sender<UpstreamStatus>,
    breaker: Breaker,
    health_interval: Duration,
    /// Health pings in a row left unanswered (no answer, not an error answer) after which
    /// the session is ended and opened again; 0: never (`breaker_failures`).
    silent_pings: u32,
    /// What it sent beyond its budgets, over every session.
    conduct_counts: Arc<ConductCounts>,
    /// Who follows it outside calls: resource subscribers and log listeners.
    followers: Followers,
    /// The last `logging/setLevel` a client sent, renewed after a reconnect.
    log_level: std::sync::Mutex<Option<LoggingLevel>>,
    /// One session per signed-in caller (token exchange); `None`: calls share the
    /// upstream's session.
    callers: Option<CallerSessions>,
    /// Cancelled when the gateway stops or a reload removes this upstream.
    stop: CancellationToken,
    /// Removed or replaced by a reload: out of every list and route, calls refused.
    retired: std::sync::atomic::AtomicBool,
    /// Its guards, if any check is on: they screen what it lists and check its calls.
    guard: Option<Arc<UpstreamGuard>>,
    /// The guard settings in effect (its own table or `[gateway.guard]`).
    guard_spec: GuardSpec,
    /// The tools it last listed, before screening (screened again after an approval).
    listed_tools: RwLock<Arc<Vec<Tool>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.spec.name)
            .field("status", &*self.status.borrow())
            .finish()
    }
}

impl Upstream {
    /// Builds an upstream from its spec (reading its secrets); not yet connected.
    /// It stops (its connection, caller sessions) when `stop` is cancelled; the tasks that
    /// hold its callers' sessions run on `tasks`.
    pub fn new(
        spec: UpstreamSpec,
        gateway: &GatewaySpec,
        stop: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<Self, Error> {
        let url = match &spec.transport {
            TransportSpec::Http { url, .. } | TransportSpec::Sse { url } => Some(url.as_str()),
            TransportSpec::Stdio { .. } | TransportSpec::Openapi(_) => None,
        };
        let credential = Credential::from_spec(&spec.name, &spec.credentials, url)?;
        let followers = Followers::new(spec.timeouts.call());
        let callers = matches!(spec.credentials, CredentialSpec::TokenExchange(_)).then(|| {
            CallerSessions::new(
                &spec.name,
                credential.clone(),
                followers.clone(),
                stop.clone(),
                tasks,
            )
        });
        let (status, _) = watch::channel(UpstreamStatus {
            state: UpstreamState::Connecting,
            generation: 0,
            pid: None,
        });
        Ok(Self {
            prefix: spec.effective_prefix(),
            spec,
            credential,
            conn: RwLock::new(None),
            catalog: RwLock::default(),
            status,
            breaker: Breaker::new(
                gateway.breaker_failures,
                Duration::from_secs(gateway.breaker_open_secs),
            ),
            health_interval: Duration::from_secs(gateway.health_interval_secs),
            silent_pings: gateway.breaker_failures,
            conduct_counts: Arc::default(),
            followers,
            log_level: std::sync::Mutex::new(None),
            callers,
            stop,
            retired: std::sync::atomic::AtomicBool::new(false),
            guard: None,
            guard_spec: GuardSpec::default(),
            listed_tools: RwLock::default(),
        })
    }

    /// The same upstream behind `guard`, built from `spec`.
    pub(crate) fn with_guard(mut self, spec: GuardSpec, guard: Option<Arc<UpstreamGuard>>) -> Self {
        self.guard_spec = spec;
        self.guard = guard;
        self
    }

    /// The guard settings in effect for it.
    pub fn guard_spec(&self) -> &GuardSpec {
        &self.guard_spec
    }

    /// Its guards, if any check is on.
    pub(crate) fn guard(&self) -> Option<&Arc<UpstreamGuard>> {
        self.guard.as_ref()
    }

    /// Publishes what it offers: the tools its guards let through, the rest as listed.
    pub(crate) async fn publish(&self, mut catalog: Catalog) {
        let listed = Arc::new(std::mem::take(&mut catalog.tools));
        catalog.tools = match &self.guard {
            Some(guard) => {
                guard.screen_others(&mut catalog).await;
                guard.screen(&listed).await
            }
            None => listed.to_vec(),
        };
        match self.listed_tools.write() {
            Ok(mut slot) => *slot = listed,
            Err(e) => *e.into_inner() = listed,
        }
        match self.catalog.write() {
            Ok(mut slot) => *slot = Arc::new(catalog),
            Err(e) => *e.into_inner() = Arc::new(catalog),
        }
    }

    /// Screens the tools it last listed again (after an approval); whether what clients
    /// see changed.
    pub(crate) async fn rescreen(&self) -> bool {
        let Some(guard) = &self.guard else {
            return false;
        };
        let listed = self
            .listed_tools
            .read()
            .map_or_else(|e| e.into_inner().clone(), |t| t.clone());
        let tools = guard.screen(&listed).await;
        let mut catalog = (*self.catalog()).clone();
        let names = |tools: &[Tool]| tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        let changed = names(&catalog.tools) != names(&tools);
        catalog.tools = tools;
        match self.catalog.write() {
            Ok(mut slot) => *slot = Arc::new(catalog),
            Err(e) => *e.into_inner() = Arc::new(catalog),
        }
        changed
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its tool and prompt prefix in the federated endpoint.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Current health.
    pub fn status(&self) -> UpstreamStatus {
        self.status.borrow().clone()
    }

    /// Health updates, for waiting on a (re)connect.
    pub fn watch(&self) -> watch::Receiver<UpstreamStatus> {
        self.status.subscribe()
    }

    /// The breaker's state.
    pub fn breaker(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Its configuration.
    pub fn spec(&self) -> &UpstreamSpec {
        &self.spec
    }

    /// What it offered when last listed (empty while it has never been up).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn current(&self) -> Option<Conn> {
        self.conn
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set_conn(&self, conn: Option<Conn>) {
        match self.conn.write() {
            Ok(mut slot) => *slot = conn,
            Err(e) => *e.into_inner() = conn,
        }
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> ErrorData {
        ErrorData::internal_error(
            format!("upstream `{}` is unavailable: {why}", self.spec.name),
            Some(serde_json::json!({ "upstream": self.spec.name })),
        )
    }

    /// Takes it out of service for good: its connections close, calls are refused.
    pub fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop.cancel();
    }

    /// Whether a reload removed or replaced it.
    pub fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Cancelled when it must stop (gateway shutdown or retirement).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Notifications from it dropped so far because too many were still being delivered
    /// (a flood, or clients reading slowly).
    pub fn notifications_dropped(&self) -> u64 {
        self.conduct_counts
            .notifications_dropped
            .load(Ordering::Relaxed)
    }

    /// Its questions for callers refused so far because too many were still waiting.
    pub fn questions_refused(&self) -> u64 {
        self.conduct_counts
            .questions_refused
            .load(Ordering::Relaxed)
    }

    /// A record of the conduct of a new session.
    fn new_conduct(&self) -> Arc<Conduct> {
        Conduct::new(&self.spec.name, self.conduct_counts.clone())
    }

    /// How many signed-in callers have their own session open (token exchange only).
    pub fn caller_sessions(&self) -> usize {
        self.callers.as_ref().map_or(0, CallerSessions::len)
    }

    /// The session a request of `caller` goes over: the caller's own (token exchange),
    /// else the shared one.
    async fn conn_for(&self, caller: Option<&Caller>) -> Result<Conn, ErrorData> {
        if self.is_retired() {
            return Err(self.unavailable(
                "it was removed from the configuration (reconnect to see the current upstreams)",
            ));
        }
        if let Some(callers) = &self.callers {
            let caller = caller.ok_or_else(|| {
                self.unavailable(
                    "it acts on behalf of the signed-in caller, and this request has none",
                )
            })?;
            return callers.conn(caller, self).await;
        }
        match self.current() {
            Some(conn) => Ok(conn),
            None => {
                let why = match self.status().state {
                    UpstreamState::Down { reason, .. } => reason,
                    _ => "it is still connecting".into(),
                };
                Err(self.unavailable(why))
            }
        }
    }

    /// Sends `request` upstream on behalf of `downstream` (signed in as `caller`), within
    /// the call timeout and the breaker; cancelling `ct` cancels it upstream too. Its
    /// `_meta` is said in the era of the upstream's session (`era::to_upstream`), never
    /// the caller's.
    pub async fn request(
        &self,
        mut request: ClientRequest,
        downstream: Option<Downstream>,
        caller: Option<&Caller>,
        ct: &CancellationToken,
    ) -> Result<ServerResult, ErrorData> {
        let conn = self.conn_for(caller).await?;
        let wanted = match downstream.as_ref().map(|d| d.logs) {
            Some(Logs::PerRequest(level)) => level,
            Some(Logs::Session) | None => self.log_level(),
        };
        // A 2026-07-28 caller's call goes in that era to an upstream that serves it on this
        // connection: the upstream then asks its questions as `input_required` itself, tied
        // to the call, and checks the caller's capabilities per request. Any other upstream
        // is spoken to in the era of its session.
        let caller_round_trip = downstream.as_ref().and_then(|d| d.round_trip.as_ref());
        let (upstream_era, capabilities) = match (Era::of_upstream(&conn.peer), caller_round_trip) {
            (Era::Handshake, Some(round_trip)) if conn.round_trip => {
                (Era::RoundTrip, Some(round_trip.capabilities().clone()))
            }
            (era, round_trip) => (era, round_trip.map(|r| r.capabilities().clone())),
        };
        if let Some(level) = era::to_upstream(&mut request, wanted, upstream_era, capabilities) {
            self.log_at(&conn, level, ct).await;
        }
        self.send(&conn, request, downstream, ct).await
    }

    /// Sends `request` on `conn`, as [`Self::request`] says.
    async fn send(
        &self,
        conn: &Conn,
        mut request: ClientRequest,
        downstream: Option<Downstream>,
        ct: &CancellationToken,
    ) -> Result<ServerResult, ErrorData> {
        self.breaker.admit().map_err(|wait| {
            self.unavailable(format!(
                "its circuit breaker is open after repeated failures; next try in {} s",
                wait.as_secs().max(1)
            ))
        })?;
        let options = PeerRequestOptions::with_timeout(self.spec.timeouts.call());
        // Filed before sending: the upstream may log or ask before the send returns.
        let in_flight = downstream.map(|d| conn.in_flight.reserve(d));
        if let Some(in_flight) = &in_flight {
            in_flight.label(&mut request);
        }
        let handle = conn
            .peer
            .send_request_with_option(request, options)
            .await
            .map_err(|e| self.failed(conn, None, e))?;
        let id = handle.id.clone();
        tokio::select! {
            result = handle.await_response() => {
                // What the upstream sent about the call before answering goes first.
                if let Some(in_flight) = &in_flight {
                    in_flight.passed_on(self.spec.timeouts.call()).await;
                }
                result.map_err(|e| self.failed(conn, Some(&id), e))
            }
            () = ct.cancelled() => {
                let _ = conn.peer.notify_cancelled(CancelledNotificationParam::new(
                    Some(id),
                    Some("cancelled by the client".into()),
                )).await;
                Err(ErrorData::internal_error("request cancelled", None))
            }
        }
        .inspect(|_| self.breaker.success())
    }

    /// The level the last `logging/setLevel` asked for.
    fn log_level(&self) -> Option<LoggingLevel> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a handshake-era session's log level to `level` for a caller that asked for it
    /// per request (a 2026-07-28 caller's `logLevel`), unless it is set so already. The
    /// session is shared, so, as with `logging/setLevel`, the last level asked wins; each
    /// caller still gets only what it asked for (see [`crate::era::to_caller`]). A call
    /// does not fail for want of log messages: a refusal is only logged.
    async fn log_at(&self, conn: &Conn, level: LoggingLevel, ct: &CancellationToken) {
        let logs = conn
            .peer
            .peer_info()
            .is_some_and(|i| i.capabilities.logging.is_some());
        {
            let mut current = self.log_level.lock().unwrap_or_else(|e| e.into_inner());
            if !logs || *current == Some(level) {
                return;
            }
            *current = Some(level);
        }
        let params = SetLevelRequestParams::new(level);
        let request = ClientRequest::SetLevelRequest(Request::new(params));
        if let Err(e) = self.send(conn, request, None, ct).await {
            tracing::warn!(upstream = %self.spec.name, error = %e.message, "cannot set the log level a caller asked for");
        }
    }

    /// `who` follows resource `uri`, its updates told on `channel`: the upstream is
    /// subscribed for the first follower only (and renewed after a reconnect).
    pub(crate) async fn subscribe(
        &self,
        uri: String,
        who: Follower,
        channel: Channel,
        ct: &CancellationToken,
    ) -> Result<(), ErrorData> {
        let _turn = self.followers.turn().await;
        let first = !self.followers.is_followed(&uri);
        // Added first: the upstream may send an update before its answer arrives.
        self.followers.add(&uri, who.clone(), channel);
        if first {
            let params = SubscribeRequestParams::new(uri.clone());
            let subscribed = self
                .request(
                    ClientRequest::SubscribeRequest(Request::new(params)),
                    None,
                    None,
                    ct,
                )
                .await;
            if let Err(e) = subscribed {
                self.followers.remove(&uri, &who);
                return Err(e);
            }
        }
        Ok(())
    }

    /// `who` no longer follows `uri`; the upstream is told once nobody does.
    pub(crate) async fn unsubscribe(
        &self,
        uri: String,
        who: &Follower,
        ct: &CancellationToken,
    ) -> Result<(), ErrorData> {
        let _turn = self.followers.turn().await;
        if !self.followers.remove(&uri, who) {
            return Ok(());
        }
        let params = UnsubscribeRequestParams::new(uri);
        self.request(
            ClientRequest::UnsubscribeRequest(Request::new(params)),
            None,
            None,
            ct,
        )
        .await
        .map(drop)
    }

    /// Handshake-era session `session` (on `peer`) wants the upstream's log messages
    /// that belong to no call at `level` and above ([`crate::followers`]).
    pub(crate) fn listen_to_logs(
        &self,
        session: Option<String>,
        peer: rmcp::service::Peer<rmcp::RoleServer>,
        level: LoggingLevel,
    ) {
        self.followers.listen_to_logs(session, peer, level);
    }

    /// Sets the level its next session is asked to log at, without asking it now.
    pub(crate) fn remember_level(&self, level: LoggingLevel) {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = Some(level);
    }

    /// Sets the upstream's log level. The connection is shared, so the level is too: the
    /// last client to set it wins. An upstream that does not log is left alone.
    pub async fn set_level(
        &self,
        level: LoggingLevel,
        ct: &CancellationToken,
    ) -> Result<(), ErrorData> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = Some(level);
        let logs = self.current().is_some_and(|c| {
            c.peer
                .peer_info()
                .is_some_and(|i| i.capabilities.logging.is_some())
        });
        if !logs {
            return Ok(());
        }
        let params = SetLevelRequestParams::new(level);
        self.request(
            ClientRequest::SetLevelRequest(Request::new(params)),
            None,
            None,
            ct,
        )
        .await
        .map(drop)
    }

    /// Whether the upstream, on its handshake connection `peer`, also serves 2026-07-28
    /// requests, as rmcp-based servers such as Belay's do: asked once per connection with
    /// `server/discover` in that era. Only over stdio: rmcp's Streamable HTTP client keeps one
    /// protocol version per session (a request naming another switches the header of every
    /// later request), so HTTP upstreams are always spoken to in their session's era. One
    /// that refuses (the Python SDK answers -32600: `initialize` chose the handshake era for
    /// the whole connection) is spoken to in the handshake era.
    pub(crate) async fn serves_round_trip(&self, peer: &Peer<RoleClient>) -> bool {
        if !matches!(self.spec.transport, TransportSpec::Stdio { .. }) {
            return false;
        }
        let identity = crate::upstream_client::identity();
        let mut meta = rmcp::model::RequestMetaObject::new();
        meta.set_protocol_version(rmcp::model::ProtocolVersion::V_2026_07_28);
        meta.set_client_info(identity.client_info);
        meta.set_client_capabilities(identity.capabilities);
        let asked = tokio::time::timeout(self.spec.timeouts.connect(), peer.discover(meta)).await;
        let serves = matches!(
            &asked,
            Ok(Ok(found)) if found.supported_versions.contains(&rmcp::model::ProtocolVersion::V_2026_07_28)
        );
        tracing::debug!(upstream = %self.spec.name, serves, "2026-07-28 requests on the handshake connection");
        serves
    }

    /// Renews what clients asked of the previous session: subscriptions and log level.
    async fn renew(&self, peer: &Peer<RoleClient>) {
        let level = *self.log_level.lock().unwrap_or_else(|e| e.into_inner());
        let logs = peer
            .peer_info()
            .is_some_and(|i| i.capabilities.logging.is_some());
        let mut requests: Vec<ClientRequest> = self
            .followers
            .uris()
            .into_iter()
            .map(|uri| {
                ClientRequest::SubscribeRequest(Request::new(SubscribeRequestParams::new(uri)))
            })
            .collect();
        if let Some(level) = level.filter(|_| logs) {
            requests.push(ClientRequest::SetLevelRequest(Request::new(
                SetLevelRequestParams::new(level),
            )));
        }
        for request in requests {
            let options = PeerRequestOptions::with_timeout(self.spec.timeouts.call());
            let renewed = match peer.send_request_with_option(request, options).await {
                Ok(handle) => handle.await_response().await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = renewed {
                tracing::warn!(upstream = %self.spec.name, error = %e, "cannot renew a subscription or log level");
            }
        }
    }

    /// Maps a failed request (`id`, once sent) on `conn` to a JSON-RPC error naming this
    /// upstream and what it did, counting upstream failures (not its own error answers)
    /// against the breaker.
    fn failed(&self, conn: &Conn, id: Option<&RequestId>, error: ServiceError) -> ErrorData {
        let note = || id.and_then(|id| conn.conduct.take_note(id));
        match error {
            ServiceError::McpError(e) => {
                self.breaker.success(); // It answered: it is alive.
                e
            }
            ServiceError::Timeout { timeout } => {
                self.breaker.failure();
                let waited = format!("no answer within {} ms", timeout.as_millis());
                self.unavailable(match note() {
                    Some(note) => format!("{waited} ({note})"),
                    None => waited,
                })
            }
            other => {
                self.breaker.failure();
                let why = match (conn.conduct.ended(), note()) {
                    (Some(ended), _) => format!("{ended}; {}", self.afterwards()),
                    (None, Some(note)) => note,
                    // The transport's own words, not rmcp's wrapping with its type name.
                    (None, None) => match other {
                        ServiceError::TransportSend(e) => {
                            format!("the request could not be sent ({})", e.error)
                        }
                        other => format!("the connection failed ({other})"),
                    },
                };
                self.unavailable(why)
            }
        }
    }

    /// What becomes of it once its session has ended.
    fn afterwards(&self) -> &'static str {
        match &self.spec.transport {
            _ if self.callers.is_some() => "the caller's next call opens a new session",
            TransportSpec::Stdio { restart, .. } if restart.policy == RestartPolicy::Never => {
                "it is not started again (restart policy `never`)"
            }
            TransportSpec::Stdio { .. } => "it is being started again",
            TransportSpec::Http { .. } | TransportSpec::Sse { .. } | TransportSpec::Openapi(_) => {
                "the gateway opens a new session"
            }
        }
    }
}
