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
    server::{GatewayServer, Hub},
    spec::GatewaySpec,
    upstream::{Upstream, UpstreamState, UpstreamStatus},
};

/// A running gateway: upstreams supervised in the background, endpoints from [`Self::router`].
#[derive(Clone)]
pub struct Gateway {
    hub: Arc<Hub>,
    shutdown: CancellationToken,
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
    /// Everything stops when `shutdown` is cancelled. Needs a tokio runtime.
    pub fn start(
        spec: GatewaySpec,
        chain: Chain,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        spec.validate()?;
        let upstreams = spec
            .upstreams
            .iter()
            .map(|u| Upstream::new(u.clone(), &spec).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let hub = Arc::new(Hub {
            upstreams,
            chain,
            page_size: spec.page_size,
            clients: Mutex::new(Vec::new()),
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
                notifier.notify_list_changed().await;
            }
        });
        Ok(Self { hub, shutdown })
    }

    /// `/mcp` (every upstream, prefixed) and `/servers/NAME/mcp` (one upstream, as is),
    /// both Streamable HTTP. Wrap it with `belay_auth::Protection` to authenticate.
    pub fn router(&self) -> Router {
        let mut router = belay_mcp::http::streamable_router(
            GatewayServer::new(self.hub.clone(), Scope::Federated),
            "/mcp",
            false,
            self.shutdown.clone(),
        );
        for (i, upstream) in self.hub.upstreams.iter().enumerate() {
            router = router.merge(belay_mcp::http::streamable_router(
                GatewayServer::new(self.hub.clone(), Scope::Single(i)),
                &format!("/servers/{}/mcp", upstream.name()),
                false,
                self.shutdown.clone(),
            ));
        }
        router
    }

    /// [`Self::router`] behind OAuth (`[gateway] auth = true`): tokens checked per
    /// `resource` (issuer, audience, scopes), 401/403 with RFC 6750 challenges, and the
    /// gateway's own protected resource metadata. Every endpoint (`/mcp` and each
    /// `/servers/NAME/mcp`) is the one resource `resource.resource`, by default
    /// `<base_url>/mcp`, so one sign-in covers them all. The [`belay_auth::Caller`] reaches
    /// the chain; its token never goes upstream.
    pub fn protected_router(
        &self,
        resource: &belay_auth::ResourceSpec,
        base_url: &str,
    ) -> Result<Router, Error> {
        let url = format!("{}/mcp", base_url.trim_end_matches('/'));
        let protection = belay_auth::Protection::new(resource, &url)?;
        tracing::info!(
            issuer = %resource.issuer,
            resource = %protection.resource(),
            metadata = %protection.metadata_url(),
            "gateway requires sign-in"
        );
        Ok(protection.protect(self.router()))
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
