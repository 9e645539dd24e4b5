//! [`Gateway`]: the runtime built from a [`GatewaySpec`], and its HTTP router.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::Router;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    Error,
    blocks::{self, BlockStore},
    chain::Chain,
    guardrails::{Reporting, UpstreamGuard},
    hub::Hub,
    pins::PinStore,
    reload::{Reloaded, Reloader},
    roster::Roster,
    routes::{SignIn, Table},
    spec::{GatewaySpec, HttpLimitsSpec},
    token_failures,
    upstream::{Upstream, UpstreamState, UpstreamStatus},
    upstream_client::Change,
};

/// A running gateway: upstreams supervised in the background, endpoints from [`Self::router`].
#[derive(Clone)]
pub struct Gateway {
    pub(crate) hub: Arc<Hub>,
    pub(crate) shutdown: CancellationToken,
    /// The tasks that hold upstream sessions (supervisors, callers' sessions), which close
    /// them when `shutdown` fires: [`Self::stopped`] waits for them.
    tasks: TaskTracker,
    /// `GET [gateway.metrics] path`, unless metrics are off.
    metrics: Option<Router>,
    /// `[gateway.http]`.
    pub(crate) http: HttpLimitsSpec,
    /// What a configuration reload can replace.
    reloader: Arc<Reloader>,
    /// Where upstreams report catalog changes (those a reload adds, too).
    changes: mpsc::UnboundedSender<(String, Change)>,
    /// The per-upstream routes of every router built, which reloads keep current.
    pub(crate) tables: Arc<Mutex<Vec<Table>>>,
    /// Tool pins (rug-pull pinning), when an upstream pins.
    pins: Option<PinStore>,
    /// Operator blocks (tools, users), when kept.
    blocks: Option<BlockStore>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstreams", &self.hub.upstreams)
            .finish()
    }
}

/// `upstream` behind the guards `spec` gives it, reporting to `chain`'s audit and metrics.
fn guarded(
    upstream: Upstream,
    spec: &GatewaySpec,
    chain: &Chain,
    pins: Option<&PinStore>,
) -> Result<Arc<Upstream>, Error> {
    let guard_spec = spec.guard_of(upstream.spec());
    let reporting = Reporting {
        audit: chain.audit.clone(),
        metrics: chain.metrics.clone(),
    };
    let guard = UpstreamGuard::new(
        upstream.name(),
        guard_spec.clone(),
        pins.cloned(),
        reporting,
    )?;
    Ok(Arc::new(
        upstream.with_guard(guard_spec, guard.map(Arc::new)),
    ))
}

/// How often a running gateway looks for approvals made by `belay gateway approve`.
const APPROVALS_POLL: Duration = Duration::from_secs(1);

/// Screens every upstream's tools again when an approval changed the pins, and tells
/// clients when what they can see changed.
async fn follow_approvals(
    hub: Arc<Hub>,
    pins: PinStore,
    changes: mpsc::UnboundedSender<(String, Change)>,
    shutdown: CancellationToken,
) {
    let mut seen = pins.generation().await.unwrap_or(0);
    loop {
        tokio::select! {
            () = tokio::time::sleep(APPROVALS_POLL) => {}
            () = shutdown.cancelled() => return,
        }
        let now = match pins.generation().await {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the tool pins");
                continue;
            }
        };
        if now == seen {
            continue;
        }
        seen = now;
        for (_, upstream) in hub.upstreams.active() {
            if upstream.rescreen().await {
                tracing::info!(upstream = %upstream.name(), "approved tools are shown again");
                let _ = changes.send((upstream.name().to_owned(), Change::Tools));
            }
        }
    }
}

/// What a reload does to the upstreams.
struct Plan {
    /// New or changed upstreams, ready to start.
    started: Vec<Arc<Upstream>>,
    /// Names no longer configured.
    removed: Vec<String>,
}

impl Gateway {
    /// Validates `spec`, reads secrets and starts connecting to every upstream. Returns
    /// at once: an upstream that is down does not stop the others, nor the gateway.
    /// Everything stops when `shutdown` is cancelled. Needs a tokio runtime. With
    /// `[gateway.metrics]` on, the chain records into its [`Chain::metrics`] (a new
    /// registry unless the caller gave one), which [`Self::router`] serves.
    pub fn start(
        spec: GatewaySpec,
        chain: Chain,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        Self::start_with_pins(spec, chain, None, shutdown)
    }

    /// [`Self::start`], keeping tool pins in `pins` (the shared store, so they survive a
    /// restart and `belay gateway approve` reaches a running gateway). Without it, an
    /// upstream that pins keeps its pins in memory, for this run only.
    pub fn start_with_pins(
        spec: GatewaySpec,
        chain: Chain,
        pins: Option<PinStore>,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        Self::start_with_stores(spec, chain, pins, None, shutdown)
    }

    /// [`Self::start_with_pins`], also enforcing the operator blocks in `blocks` (see
    /// [`crate::blocks`]): they stand in front of the policy, reloads included, and blocks
    /// made by another process apply within [`blocks::BLOCKS_POLL`].
    pub fn start_with_stores(
        spec: GatewaySpec,
        mut chain: Chain,
        pins: Option<PinStore>,
        blocks: Option<BlockStore>,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        spec.validate()?;
        let metrics = spec
            .metrics
            .enabled
            .then(|| chain.metrics.get_or_insert_with(Default::default).clone());
        // The chain's clock, so that limits a reload brings are timed as the first ones were.
        let clock = chain.clock.clone();
        let reloader = Arc::new(Reloader::install(&mut chain, spec.clone(), clock));
        if let Some(blocks) = &blocks {
            blocks::install(&mut chain, blocks.clone());
        }
        let pins = match pins {
            Some(pins) => Some(pins),
            None if spec.upstreams.iter().any(|u| spec.guard_of(u).pin) => {
                tracing::warn!(
                    "tool pins are kept in memory: they are lost when the gateway stops"
                );
                let db = belay_store::Db::in_memory().map_err(|e| Error::Store(e.to_string()))?;
                Some(PinStore::open(db)?)
            }
            None => None,
        };
        let tasks = TaskTracker::new();
        let upstreams = spec
            .upstreams
            .iter()
            .map(|u| {
                let upstream =
                    Upstream::new(u.clone(), &spec, shutdown.child_token(), tasks.clone())?;
                guarded(upstream, &spec, &chain, pins.as_ref())
            })
            .collect::<Result<Vec<_>, _>>()?;
        for upstream in &upstreams {
            if let Some(guard) = upstream.guard() {
                chain.upstream_guards.set(upstream.name(), guard.clone());
            }
        }
        let hub = Arc::new(Hub {
            upstreams: Roster::new(upstreams),
            chain,
            page_size: spec.page_size,
            clients: Mutex::new(Vec::new()),
            listeners: Default::default(),
            federated_logs: Mutex::default(),
        });
        let (changes, mut rx) = mpsc::unbounded_channel();
        for (_, upstream) in hub.upstreams.active() {
            let stop = upstream.stop_token();
            tasks.spawn(upstream.supervise(changes.clone(), stop));
        }
        let notifier = hub.clone();
        tokio::spawn(async move {
            while let Some((upstream, change)) = rx.recv().await {
                tracing::debug!(%upstream, ?change, "upstream catalog changed");
                notifier.listeners.announce(&upstream, change);
                notifier.notify_list_changed().await;
            }
        });
        if let Some(blocks) = &blocks {
            tokio::spawn(blocks::follow(
                hub.clone(),
                blocks.clone(),
                changes.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(pins) = &pins {
            tokio::spawn(follow_approvals(
                hub.clone(),
                pins.clone(),
                changes.clone(),
                shutdown.clone(),
            ));
        }
        let roster = hub.upstreams.clone();
        let metrics = metrics.map(|m| {
            m.router(&spec.metrics.path, move || {
                roster.active().into_iter().map(|(_, u)| u).collect()
            })
        });
        Ok(Self {
            hub,
            shutdown,
            tasks,
            metrics,
            http: spec.http,
            reloader,
            changes,
            tables: Arc::default(),
            pins,
            blocks,
        })
    }

    /// The operator blocks this gateway enforces, if any.
    pub fn blocks(&self) -> Option<&BlockStore> {
        self.blocks.as_ref()
    }

    /// Applies a new configuration without dropping sessions: policy and rate limits
    /// take effect for the next request (rate-limit buckets start full again); upstreams
    /// added are started and routed, removed ones stopped, changed ones replaced (their
    /// clients' sessions on `/servers/NAME/mcp` end; `/mcp` sessions carry on and are
    /// told the lists changed). `auth` and `page_size` take effect on restart. A
    /// configuration that does not validate or compile, or whose secrets cannot be read,
    /// changes nothing, and the error says why.
    pub fn reload(&self, next: &GatewaySpec) -> Result<Reloaded, Error> {
        next.validate()?;
        let plan = self.plan(next)?;
        let mut report = self.reloader.reload(next)?;
        for name in &plan.removed {
            if let Some((_, old)) = self.hub.upstreams.find(name) {
                old.retire();
                self.unroute_upstream(name);
                self.hub.chain.upstream_guards.remove(name);
            }
        }
        for upstream in plan.started {
            let name = upstream.name().to_owned();
            if let Some((_, old)) = self.hub.upstreams.find(&name) {
                old.retire();
                report.upstreams_replaced.push(name);
            } else {
                report.upstreams_added.push(name);
            }
            match upstream.guard() {
                Some(guard) => self
                    .hub
                    .chain
                    .upstream_guards
                    .set(upstream.name(), guard.clone()),
                None => self.hub.chain.upstream_guards.remove(upstream.name()),
            }
            // Before it connects, so that its first session is set to the level asked.
            self.hub.logs_asked(&upstream);
            let i = self.hub.upstreams.push(upstream.clone());
            self.tasks.spawn(
                upstream
                    .clone()
                    .supervise(self.changes.clone(), upstream.stop_token()),
            );
            self.route_upstream(i, &upstream)?;
        }
        report.upstreams_removed = plan.removed;
        if report.upstreams_changed() {
            let hub = self.hub.clone();
            tokio::spawn(async move { hub.notify_list_changed().await });
        }
        Ok(report)
    }

    /// The upstreams `next` adds or changes, built (secrets read) but not started, and
    /// the names it removes.
    fn plan(&self, next: &GatewaySpec) -> Result<Plan, Error> {
        let running = self.hub.upstreams.active();
        let removed = running
            .iter()
            .filter(|(_, u)| !next.upstreams.iter().any(|n| n.name == u.name()))
            .map(|(_, u)| u.name().to_owned())
            .collect();
        let started = next
            .upstreams
            .iter()
            .filter(|n| {
                !running
                    .iter()
                    .any(|(_, u)| u.spec() == *n && u.guard_spec() == &next.guard_of(n))
            })
            .map(|n| {
                let upstream = Upstream::new(
                    n.clone(),
                    next,
                    self.shutdown.child_token(),
                    self.tasks.clone(),
                )?;
                let pins = match &self.pins {
                    Some(pins) => Some(pins.clone()),
                    None if next.guard_of(n).pin => Some(PinStore::open(
                        belay_store::Db::in_memory().map_err(|e| Error::Store(e.to_string()))?,
                    )?),
                    None => None,
                };
                guarded(upstream, next, &self.hub.chain, pins.as_ref())
            })
            .collect::<Result<_, _>>()?;
        Ok(Plan { started, removed })
    }

    /// Waits until the gateway has stopped: its shutdown token cancelled and every upstream
    /// session closed, the upstream told (an HTTP upstream's session deleted). A program
    /// that also serves the upstreams (`belay up`) stops them only after this, or their
    /// sessions could not be closed.
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await;
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The limits of the server loop that should serve the gateway's router
    /// (`belay_mcp::http::run_with`): slow and idle clients are cut off there.
    pub fn server_options(&self) -> belay_mcp::http::HttpServerOptions {
        self.http.server_options()
    }

    /// Every endpoint (see [`Self::protected_router`] for the same behind OAuth), and
    /// the metrics endpoint (`[gateway.metrics]`).
    pub fn router(&self) -> Router {
        // Without sign-in, building an endpoint cannot fail.
        let mcp = self.mcp_router(SignIn::Open).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot route the upstreams' endpoints");
            Router::new()
        });
        self.with_metrics(mcp)
    }

    /// `router` and the metrics route, which is outside every layer (Prometheus brings no
    /// token).
    fn with_metrics(&self, router: Router) -> Router {
        match &self.metrics {
            Some(metrics) => router.merge(metrics.clone()),
            None => router,
        }
    }

    /// [`Self::router`] behind OAuth (`[gateway] auth = true`): tokens checked per
    /// `resource` (issuer, audience, scopes), 401/403 with RFC 6750 challenges, and the
    /// gateway's own protected resource metadata; the metrics endpoint stays open. Each
    /// endpoint is its own resource, its URL (`<base_url>/mcp`, `<base_url>/sse`,
    /// `<base_url>/servers/NAME/mcp`, `<base_url>/servers/NAME/sse`; `…/messages` belongs to
    /// its `…/sse`), so a token for one endpoint opens no other; unless `resource.resource`
    /// names one resource for them all.
    /// The [`belay_auth::Caller`] reaches the chain; its token never goes upstream.
    pub fn protected_router(
        &self,
        resource: &belay_auth::ResourceSpec,
        base_url: &str,
    ) -> Result<Router, Error> {
        let base = base_url.trim_end_matches('/');
        // The token check reads bodies (for scopes) before admission does: it must not
        // read more than the gateway's limit.
        let resource = &belay_auth::ResourceSpec {
            max_body_bytes: self.http.max_body_bytes,
            ..resource.clone()
        };
        if resource.resource.is_some() {
            let protection = belay_auth::Protection::new(resource, &format!("{base}/mcp"))?
                .on_refusal(token_failures::hook(self.hub.chain.audit.clone(), ""));
            tracing::info!(
                issuer = %resource.issuer,
                resource = %protection.resource(),
                metadata = %protection.metadata_url(),
                "gateway requires sign-in (one resource for every endpoint)"
            );
            let metadata = protection.metadata_router();
            let router = self.mcp_router(SignIn::Shared(protection))?;
            return Ok(self.with_metrics(router.merge(metadata)));
        }
        let router = self.mcp_router(SignIn::PerEndpoint {
            resource: Box::new(resource.clone()),
            base: base.to_owned(),
        })?;
        tracing::info!(issuer = %resource.issuer, base = %base, "gateway requires sign-in (each endpoint its own resource)");
        Ok(self.with_metrics(router))
    }

    /// The upstreams in service, in configuration order (those a reload added last).
    pub fn upstreams(&self) -> Vec<Arc<Upstream>> {
        self.hub
            .upstreams
            .active()
            .into_iter()
            .map(|(_, u)| u)
            .collect()
    }

    /// The upstream in service called `name`.
    pub fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        self.hub.upstreams.find(name).map(|(_, u)| u)
    }

    /// Waits until upstream `name` is up with a session newer than `after_generation`
    /// (0 for the first), or `timeout` passes. Returns its status either way.
    pub async fn wait_up(
        &self,
        name: &str,
        after_generation: u64,
        timeout: Duration,
    ) -> Option<UpstreamStatus> {
        let upstream = self.upstream(name)?;
        let mut watch = upstream.watch();
        let _ = tokio::time::timeout(
            timeout,
            watch.wait_for(|s| s.state == UpstreamState::Up && s.generation > after_generation),
        )
        .await;
        Some(upstream.status())
    }
}
