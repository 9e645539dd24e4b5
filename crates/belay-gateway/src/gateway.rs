//! [`Gateway`]: the runtime built from a [`GatewaySpec`], and its HTTP router.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::Router;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    Error,
    chain::Chain,
    federation::Scope,
    reload::{Reloaded, Reloader},
    http_limits,
    server::{GatewayServer, Hub},
    spec::{GatewaySpec, HttpLimitsSpec, RateLimitStatus},
    upstream::{Upstream, UpstreamState, UpstreamStatus},
};

/// A running gateway: upstreams supervised in the background, endpoints from [`Self::router`].
#[derive(Clone)]
pub struct Gateway {
    hub: Arc<Hub>,
    shutdown: CancellationToken,
    /// `GET [gateway.metrics] path`, unless metrics are off.
    metrics: Option<Router>,
    /// `[gateway.http]`.
    http: HttpLimitsSpec,
    /// What a configuration reload can replace.
    reloader: Arc<Reloader>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstreams", &self.hub.upstreams)
            .finish()
    }
}

impl Gateway {
    /// Validates `spec`, reads secrets and starts connecting to every upstream. Returns
    /// at once: an upstream that is down does not stop the others, nor the gateway.
    /// Everything stops when `shutdown` is cancelled. Needs a tokio runtime. With
    /// `[gateway.metrics]` on, the chain records into its [`Chain::metrics`] (a new
    /// registry unless the caller gave one), which [`Self::router`] serves.
    pub fn start(
        spec: GatewaySpec,
        mut chain: Chain,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        spec.validate()?;
        let metrics = spec
            .metrics
            .enabled
            .then(|| chain.metrics.get_or_insert_with(Default::default).clone());
        let reloader = Arc::new(Reloader::install(
            &mut chain,
            spec.clone(),
            Arc::new(belay_policy::SystemClock),
        ));
        let upstreams = spec
            .upstreams
            .iter()
            .map(|u| Upstream::new(u.clone(), &spec, shutdown.child_token()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let hub = Arc::new(Hub {
            upstreams,
            chain,
            page_size: spec.page_size,
            clients: Mutex::new(Vec::new()),
            listeners: Default::default(),
        });
        let (changes, mut rx) = mpsc::unbounded_channel();
        for upstream in &hub.upstreams {
            tokio::spawn(
                upstream
                    .clone()
                    .supervise(changes.clone(), shutdown.clone()),
            );
        }
        let notifier = hub.clone();
        tokio::spawn(async move {
            while let Some((upstream, change)) = rx.recv().await {
                tracing::debug!(%upstream, ?change, "upstream catalog changed");
                notifier.listeners.announce(&upstream, change);
                notifier.notify_list_changed().await;
            }
        });
        let metrics = metrics.map(|m| m.router(&spec.metrics.path, hub.upstreams.clone()));
        Ok(Self {
            hub,
            shutdown,
            metrics,
            http: spec.http,
            reloader,
        })
    }

    /// Applies a new configuration without dropping sessions: policy and rate limits
    /// take effect for the next request (rate-limit buckets start full again). Other
    /// changes are reported as needing a restart. A configuration that does not validate
    /// or compile changes nothing, and the error says why.
    pub fn reload(&self, spec: &GatewaySpec) -> Result<Reloaded, Error> {
        self.reloader.reload(spec)
    }

    /// The gateway's MCP endpoints, each as the path that names it (its OAuth resource)
    /// and the routes that serve it: `/mcp` (every upstream, prefixed) and
    /// `/servers/NAME/mcp` (one upstream, as is), both Streamable HTTP. Each also serves
    /// 2024-11-05 HTTP+SSE clients on its own routes (`/sse` + `/messages`, and
    /// `/servers/NAME/sse` + `/servers/NAME/messages`): one endpoint, one resource.
    fn endpoints(&self) -> Vec<(String, Router)> {
        let mut endpoints = vec![(
            "/mcp".to_owned(),
            belay_mcp::http::streamable_router_with_limit(
                GatewayServer::new(self.hub.clone(), Scope::Federated),
                "/mcp",
                false,
                self.shutdown.clone(),
                self.http.max_body_bytes,
            )
            .merge(belay_mcp::legacy_sse::router(
                GatewayServer::new(self.hub.clone(), Scope::Federated),
                "/sse",
                "/messages",
                self.shutdown.clone(),
            )),
        )];
        for (i, upstream) in self.hub.upstreams.iter().enumerate() {
            let path = format!("/servers/{}/mcp", upstream.name());
            let router = belay_mcp::http::streamable_router_with_limit(
                GatewayServer::new(self.hub.clone(), Scope::Single(i)),
                &path,
                false,
                self.shutdown.clone(),
                self.http.max_body_bytes,
            )
            .merge(belay_mcp::legacy_sse::router(
                GatewayServer::new(self.hub.clone(), Scope::Single(i)),
                &format!("/servers/{}/sse", upstream.name()),
                &format!("/servers/{}/messages", upstream.name()),
                self.shutdown.clone(),
            ));
            endpoints.push((path, router));
        }
        // In the order built: the federated endpoint, then upstream 0, 1, …
        endpoints
            .into_iter()
            .enumerate()
            .map(|(n, (path, router))| {
                let scope = n.checked_sub(1).map_or(Scope::Federated, Scope::Single);
                (path, self.limited(router, scope))
            })
            .collect()
    }

    /// `[gateway.http]`'s body limits around one endpoint, and its 429 answer to
    /// rate-limited requests; inside authentication, so the caller is known.
    fn limited(&self, router: Router, scope: Scope) -> Router {
        let router = match self.http.rate_limit_status {
            RateLimitStatus::Http => http_limits::rate_limited(router, self.hub.clone(), scope),
            RateLimitStatus::Jsonrpc => router,
        };
        http_limits::body_limits(router, &self.http)
    }

    /// The limits of the server loop that should serve the gateway's router
    /// (`belay_mcp::http::run_with`): slow and idle clients are cut off there.
    pub fn server_options(&self) -> belay_mcp::http::HttpServerOptions {
        self.http.server_options()
    }

    /// Every endpoint (see [`Self::protected_router`] for the same behind OAuth), and
    /// the metrics endpoint (`[gateway.metrics]`).
    pub fn router(&self) -> Router {
        self.with_metrics(self.mcp_router())
    }

    fn mcp_router(&self) -> Router {
        self.endpoints()
            .into_iter()
            .fold(Router::new(), |router, (_, endpoint)| {
                router.merge(endpoint)
            })
    }

    /// Adds `[gateway.http]`'s header check around `router` (before authentication: a
    /// token is a header too), then the metrics route outside every layer (Prometheus
    /// brings no token).
    fn with_metrics(&self, router: Router) -> Router {
        let router = http_limits::outer(router, &self.http);
        match &self.metrics {
            Some(metrics) => router.merge(metrics.clone()),
            None => router,
        }
    }

    /// [`Self::router`] behind OAuth (`[gateway] auth = true`): tokens checked per
    /// `resource` (issuer, audience, scopes), 401/403 with RFC 6750 challenges, and the
    /// gateway's own protected resource metadata; the metrics endpoint stays open. Each endpoint is its own resource, its
    /// URL (`<base_url>/mcp`, `<base_url>/servers/NAME/mcp`), so a token for one upstream's
    /// endpoint opens no other; unless `resource.resource` names one resource for them all.
    /// The [`belay_auth::Caller`] reaches the chain; its token never goes upstream.
    pub fn protected_router(
        &self,
        resource: &belay_auth::ResourceSpec,
        base_url: &str,
    ) -> Result<Router, Error> {
        let base = base_url.trim_end_matches('/');
        if resource.resource.is_some() {
            let protection = belay_auth::Protection::new(resource, &format!("{base}/mcp"))?;
            tracing::info!(
                issuer = %resource.issuer,
                resource = %protection.resource(),
                metadata = %protection.metadata_url(),
                "gateway requires sign-in (one resource for every endpoint)"
            );
            return Ok(self.with_metrics(protection.protect(self.mcp_router())));
        }
        let mut router = Router::new();
        // In the order built: the federated endpoint, then upstream 0, 1, …
        for (n, (path, endpoint)) in self.endpoints().into_iter().enumerate() {
            let scopes = n
                .checked_sub(1)
                .and_then(|i| self.hub.upstreams[i].spec().scopes.clone());
            let own = belay_auth::ResourceSpec {
                scopes: scopes.unwrap_or_else(|| resource.scopes.clone()),
                ..resource.clone()
            };
            let protection = belay_auth::Protection::new(&own, &format!("{base}{path}"))?;
            router = router.merge(protection.protect_shared_origin(endpoint));
        }
        tracing::info!(issuer = %resource.issuer, base = %base, "gateway requires sign-in (each endpoint its own resource)");
        Ok(self.with_metrics(router))
    }

    /// The upstreams, in configuration order.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.hub.upstreams
    }

    /// The upstream called `name`.
    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.hub.upstreams.iter().find(|u| u.name() == name)
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
