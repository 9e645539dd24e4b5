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

use rmcp::{
    ErrorData, RoleClient,
    model::{
        ClientRequest, LoggingLevel, Prompt, Request, Resource, ResourceTemplate,
        SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
    },
    service::{Peer, PeerRequestOptions},
};
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

mod checked;
mod conduct;
mod connect;
mod round_trip;
mod send;
mod stdio;
mod supervise;

pub(crate) use conduct::{Conduct, ConductCounts};
pub(crate) use connect::Opened;
pub(crate) use round_trip::{Posts, RoundTripRoute};

use crate::{
    Error,
    breaker::{Breaker, BreakerState},
    caller_sessions::CallerSessions,
    credential::Credential,
    followers::{Channel, Follower, Followers},
    guardrails::UpstreamGuard,
    in_flight::InFlight,
    spec::{CredentialSpec, GatewaySpec, GuardSpec, TransportSpec, UpstreamSpec},
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
    /// How a 2026-07-28 caller's requests reach the upstream on this connection (see
    /// [`Upstream::round_trip_route`]).
    pub(crate) round_trip: RoundTripRoute,
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
}
