//! The in-process [`RateLimiter`]: belay-core's token buckets, timed by an injected clock.

use std::{sync::Arc, time::Duration};

use belay_core::bucket::TokenBuckets;

use crate::{
    Clock,
    limits::{BoxFuture, BucketKey, Charge, RateLimiter, Refusal},
};

/// Token buckets kept in this process, at most `max_buckets` of them (see
/// [`TokenBuckets`] for the sweep and the cap).
pub struct LocalRateLimiter {
    clock: Arc<dyn Clock>,
    buckets: TokenBuckets<BucketKey>,
}

impl LocalRateLimiter {
    /// Buckets timed by `clock` (its monotonic time), at most `max_buckets` of them (at
    /// least 1), with full (idle) buckets dropped every `sweep_every`.
    pub fn new(clock: Arc<dyn Clock>, max_buckets: usize, sweep_every: Duration) -> Self {
        let buckets = TokenBuckets::new(max_buckets, sweep_every, clock.monotonic_now());
        Self { clock, buckets }
    }

    /// Buckets held now (for metrics and tests).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Takes one token from every bucket of `charges`, or none; the synchronous core of
    /// [`RateLimiter::take`].
    pub fn try_take(&self, charges: &[Charge]) -> Result<(), Refusal> {
        self.buckets
            .try_take(self.clock.monotonic_now(), charges)
            .map_err(|empty| Refusal::exhausted(&empty.charge.key, empty.charge.rate, empty.wait))
    }
}

impl RateLimiter for LocalRateLimiter {
    fn take<'a>(&'a self, charges: &'a [Charge]) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(std::future::ready(self.try_take(charges)))
    }
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter")
            .field("clock", &self.clock)
            .field("buckets", &self.buckets)
            .finish()
    }
}
