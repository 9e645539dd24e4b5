//! Configuration reload while the gateway runs: new policy and rate limits take effect for
//! the next request, and no session is dropped. (Upstream changes: [`crate::Gateway::reload`].)
//!
//! The chain's policy and limiter are reached through [`Swap`]s, so a reload replaces what
//! they point at and nothing else: requests in flight finish under the rules they started
//! with. A new configuration is compiled completely before anything is swapped, so one that
//! fails leaves the running one in place and says why ([`Reloader::reload`]).

use std::sync::{Arc, Mutex, RwLock};

use belay_policy::{Clock, Policy, Throttle};
use futures::future::BoxFuture;

use crate::{
    Error, GatewaySpec, PolicyDecide, ThrottleLimit,
    chain::{Admission, CallContext, Chain, Decide, Decision, Limit, Refused},
};

/// A step of the chain that a reload can replace.
pub(crate) struct Swap<T: ?Sized>(RwLock<Arc<T>>);

impl<T: ?Sized> Swap<T> {
    fn new(inner: Arc<T>) -> Self {
        Self(RwLock::new(inner))
    }

    fn current(&self) -> Arc<T> {
        self.0
            .read()
            .map_or_else(|e| e.into_inner().clone(), |g| g.clone())
    }

    fn replace(&self, inner: Arc<T>) {
        match self.0.write() {
            Ok(mut slot) => *slot = inner,
            Err(e) => *e.into_inner() = inner,
        }
    }
}

impl Decide for Swap<dyn Decide> {
    fn decide(&self, ctx: &CallContext) -> Decision {
        self.current().decide(ctx)
    }

    fn visible(&self, ctx: &CallContext) -> bool {
        self.current().visible(ctx)
    }
}

impl Limit for Swap<dyn Limit> {
    fn admit<'a>(&'a self, ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
        let current = self.current();
        Box::pin(async move { current.admit(ctx).await })
    }
}

/// What a reload changed, and what it could not change while running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// `[gateway.policy]` was replaced.
    pub policy: bool,
    /// `[gateway.rate_limits]` was replaced (buckets start full again).
    pub rate_limits: bool,
    /// Upstreams started.
    pub upstreams_added: Vec<String>,
    /// Upstreams whose settings changed: stopped and started again with the new ones.
    pub upstreams_replaced: Vec<String>,
    /// Upstreams stopped.
    pub upstreams_removed: Vec<String>,
    /// Settings that differ but only take effect on restart (`auth`, `page_size`, …).
    pub needs_restart: Vec<&'static str>,
}

impl Reloaded {
    /// Whether the set of upstreams (or one's settings) changed.
    pub fn upstreams_changed(&self) -> bool {
        !(self.upstreams_added.is_empty()
            && self.upstreams_replaced.is_empty()
            && self.upstreams_removed.is_empty())
    }
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut applied: Vec<String> = Vec::new();
        if self.policy {
            applied.push("policy".into());
        }
        if self.rate_limits {
            applied.push("rate limits".into());
        }
        for (what, names) in [
            ("added", &self.upstreams_added),
            ("replaced", &self.upstreams_replaced),
            ("removed", &self.upstreams_removed),
        ] {
            if !names.is_empty() {
                applied.push(format!("upstreams {what}: {}", names.join(", ")));
            }
        }
        match applied.is_empty() {
            true => f.write_str("nothing to apply")?,
            false => write!(f, "applied {}", applied.join("; "))?,
        }
        if !self.needs_restart.is_empty() {
            write!(
                f,
                "; changes to {} take effect on restart",
                self.needs_restart.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The reloadable parts of a running gateway.
pub(crate) struct Reloader {
    decide: Arc<Swap<dyn Decide>>,
    limit: Arc<Swap<dyn Limit>>,
    clock: Arc<dyn Clock>,
    spec: Mutex<GatewaySpec>,
}

impl Reloader {
    /// Puts `chain`'s policy and limiter behind swaps; `spec` is what is running.
    pub(crate) fn install(chain: &mut Chain, spec: GatewaySpec, clock: Arc<dyn Clock>) -> Self {
        let decide: Arc<Swap<dyn Decide>> = Arc::new(Swap::new(chain.decide.clone()));
        let limit: Arc<Swap<dyn Limit>> = Arc::new(Swap::new(chain.limit.clone()));
        chain.decide = decide.clone();
        chain.limit = limit.clone();
        Self {
            decide,
            limit,
            clock,
            spec: Mutex::new(spec),
        }
    }

    /// Validates and compiles `next`, then swaps in what changed. On error nothing
    /// changes.
    pub(crate) fn reload(&self, next: &GatewaySpec) -> Result<Reloaded, Error> {
        next.validate()?;
        let mut running = self.spec.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = Reloaded::default();
        // Compile both before swapping either: all or nothing.
        let policy = (next.policy != running.policy)
            .then(|| Policy::new(&next.policy))
            .transpose()?;
        let throttle = (next.rate_limits != running.rate_limits)
            .then(|| Throttle::new(&next.rate_limits, self.clock.clone()))
            .transpose()?;
        if let Some(policy) = policy {
            self.decide.replace(Arc::new(PolicyDecide::new(policy)));
            running.policy = next.policy.clone();
            report.policy = true;
        }
        if let Some(throttle) = throttle {
            self.limit.replace(Arc::new(ThrottleLimit::new(throttle)));
            running.rate_limits = next.rate_limits.clone();
            report.rate_limits = true;
        }
        running.upstreams = next.upstreams.clone();
        let restart = [
            ("auth", next.auth != running.auth),
            ("page_size", next.page_size != running.page_size),
            ("http", next.http != running.http),
            ("metrics", next.metrics != running.metrics),
            (
                "health_interval_secs",
                next.health_interval_secs != running.health_interval_secs,
            ),
            (
                "breaker_failures",
                next.breaker_failures != running.breaker_failures,
            ),
            (
                "breaker_open_secs",
                next.breaker_open_secs != running.breaker_open_secs,
            ),
            (
                "reload_poll_ms",
                next.reload_poll_ms != running.reload_poll_ms,
            ),
        ];
        report.needs_restart = restart
            .into_iter()
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect();
        Ok(report)
    }
}
