//! [`Throttle`]: the gateway's one rate-limit step, concurrency cap then token buckets.

use std::{sync::Arc, time::Duration};

use crate::{
    Clock, ConcurrencyLimits, Error, LocalRateLimiter, Permit, Principal, RateLimitSpec,
    RateLimiter, RateLimits, Refusal,
};

/// Everything `[gateway.rate_limits]` configures, behind one call: [`Throttle::admit`].
pub struct Throttle {
    limits: RateLimits,
    limiter: Arc<dyn RateLimiter>,
    concurrency: ConcurrencyLimits,
}

impl Throttle {
    /// Limits from `spec` with in-process buckets timed by `clock`.
    pub fn new(spec: &RateLimitSpec, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let local = LocalRateLimiter::new(
            clock,
            spec.max_buckets,
            Duration::from_secs(spec.sweep_interval_secs),
        );
        Self::with_limiter(spec, Arc::new(local))
    }

    /// Limits from `spec` with buckets kept by `limiter` (e.g. a shared store).
    pub fn with_limiter(
        spec: &RateLimitSpec,
        limiter: Arc<dyn RateLimiter>,
    ) -> Result<Self, Error> {
        Ok(Self {
            limits: RateLimits::new(spec)?,
            limiter,
            concurrency: ConcurrencyLimits::new(
                spec.max_concurrent,
                spec.upstream_max_concurrent.clone(),
            )?,
        })
    }

    /// A throttle for a reloaded `spec` that keeps this one's buckets (so a reload does not
    /// hand everyone a fresh burst) and the slots of upstreams whose cap is unchanged.
    pub fn reconfigured(&self, spec: &RateLimitSpec) -> Result<Self, Error> {
        Ok(Self {
            limits: RateLimits::new(spec)?,
            limiter: self.limiter.clone(),
            concurrency: self
                .concurrency
                .reconfigured(spec.max_concurrent, spec.upstream_max_concurrent.clone())?,
        })
    }

    /// Admits a request of `principal` to `upstream` (`tool` for a `tools/call`): a slot in
    /// the upstream's cap, then a token from each bucket. Hold the permit until the call
    /// ends. The slot comes first because it is local and given back on refusal, while
    /// tokens, once taken, are spent.
    pub async fn admit(
        &self,
        principal: &Principal,
        upstream: &str,
        tool: Option<&str>,
    ) -> Result<Permit, Refusal> {
        let permit = self.concurrency.try_acquire(upstream)?;
        let charges = self.limits.charges(principal, upstream, tool);
        if !charges.is_empty() {
            self.limiter.take(&charges).await?;
        }
        Ok(permit)
    }

    /// The bucket rules.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// The concurrency caps.
    pub fn concurrency(&self) -> &ConcurrencyLimits {
        &self.concurrency
    }
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}
