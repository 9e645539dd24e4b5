//! The in-process [`RateLimiter`]: token buckets in one map, with bounded memory.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    Clock,
    limits::{BoxFuture, BucketKey, Charge, Rate, RateLimiter, Refusal},
};

/// Token buckets kept in this process. One mutex guards the map: the critical section is
/// a few float operations, far cheaper than the MCP call it guards, and one lock makes
/// "all buckets or none" trivially atomic.
pub struct LocalRateLimiter {
    clock: Arc<dyn Clock>,
    max_buckets: usize,
    sweep_every: Duration,
    state: Mutex<State>,
}

struct State {
    buckets: HashMap<BucketKey, Bucket>,
    last_sweep: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// The rate last charged, so a sweep can tell whether the bucket has refilled.
    rate: Rate,
}

impl Bucket {
    /// Tokens at `now`, counting the refill since the last update.
    fn tokens_at(&self, now: Instant, rate: Rate) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * rate.per_second()).min(f64::from(rate.burst()))
    }
}

impl LocalRateLimiter {
    /// Buckets timed by `clock`, at most `max_buckets` of them (at least 1), with full
    /// (idle) buckets dropped every `sweep_every`.
    pub fn new(clock: Arc<dyn Clock>, max_buckets: usize, sweep_every: Duration) -> Self {
        let last_sweep = clock.now();
        Self {
            clock,
            max_buckets: max_buckets.max(1),
            sweep_every,
            state: Mutex::new(State {
                buckets: HashMap::new(),
                last_sweep,
            }),
        }
    }

    /// Buckets held now (for metrics and tests).
    pub fn bucket_count(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Takes one token from every bucket of `charges`, or none; the synchronous core of
    /// [`RateLimiter::take`].
    pub fn try_take(&self, charges: &[Charge]) -> Result<(), Refusal> {
        let now = self.clock.now();
        let mut state = self.lock();
        let mut worst: Option<(f64, &Charge)> = None;
        for charge in charges {
            let tokens = state
                .buckets
                .get(&charge.key)
                .map_or(f64::from(charge.rate.burst()), |b| {
                    b.tokens_at(now, charge.rate)
                });
            if tokens < 1.0 {
                let wait = (1.0 - tokens) / charge.rate.per_second();
                if worst.is_none_or(|(longest, _)| wait > longest) {
                    worst = Some((wait, charge));
                }
            }
        }
        if let Some((wait, charge)) = worst {
            return Err(Refusal::exhausted(
                &charge.key,
                charge.rate,
                Duration::from_secs_f64(wait),
            ));
        }
        for charge in charges {
            let rate = charge.rate;
            let bucket = state.buckets.entry(charge.key.clone()).or_insert(Bucket {
                tokens: f64::from(rate.burst()),
                updated: now,
                rate,
            });
            bucket.tokens = bucket.tokens_at(now, rate) - 1.0;
            bucket.updated = now;
            bucket.rate = rate;
        }
        if state.buckets.len() > self.max_buckets
            || now.saturating_duration_since(state.last_sweep) >= self.sweep_every
        {
            self.sweep(&mut state, now);
        }
        Ok(())
    }

    /// Drops full buckets (no change in behaviour: a missing bucket counts as full), then,
    /// if still over the cap, those idle longest, down to 90% of the cap so that the next
    /// few new buckets do not each trigger another sweep.
    fn sweep(&self, state: &mut State, now: Instant) {
        state.last_sweep = now;
        state
            .buckets
            .retain(|_, b| b.tokens_at(now, b.rate) < f64::from(b.rate.burst()));
        if state.buckets.len() > self.max_buckets {
            let keep = self.max_buckets - self.max_buckets / 10;
            let mut by_age: Vec<(Instant, BucketKey)> = state
                .buckets
                .iter()
                .map(|(k, b)| (b.updated, k.clone()))
                .collect();
            by_age.sort_unstable_by_key(|(updated, _)| *updated);
            let excess = by_age.len().saturating_sub(keep);
            for (_, key) in by_age.into_iter().take(excess) {
                state.buckets.remove(&key);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a bucket half-updated in a way that
        // matters (worst case one token), so carry on rather than poison every request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
            .field("max_buckets", &self.max_buckets)
            .field("sweep_every", &self.sweep_every)
            .field("buckets", &self.bucket_count())
            .finish()
    }
}
