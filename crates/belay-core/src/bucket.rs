//! The one token bucket of the workspace: [`TokenBuckets`] keeps a bucket per key, takes a
//! token from several at once or from none, and bounds its memory. The gateway's rate limits
//! (belay-policy) and the authorization server's per-address limits both use it.
//!
//! Buckets are timed on monotonic time ([`Instant`], from
//! [`Clock::monotonic_now`](crate::clock::Clock::monotonic_now)): a wall clock set back would
//! otherwise stop a refill, and one set forward would hand out a free burst.

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

/// A bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_minute: f64,
    burst: u32,
}

/// Why a [`Rate`] cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidRate {
    /// The refill is not a positive number.
    #[error("`per_minute` must be a positive number, not {0}")]
    PerMinute(f64),
    /// The bucket holds nothing.
    #[error("`burst` must be at least 1, or every request would be refused")]
    Burst,
}

impl Rate {
    /// `per_minute` tokens a minute, at most `burst` held. Fails unless `per_minute` is a
    /// positive number and `burst` at least 1.
    pub fn new(per_minute: f64, burst: u32) -> Result<Self, InvalidRate> {
        if !(per_minute.is_finite() && per_minute > 0.0) {
            return Err(InvalidRate::PerMinute(per_minute));
        }
        if burst == 0 {
            return Err(InvalidRate::Burst);
        }
        Ok(Self { per_minute, burst })
    }

    /// Tokens added per minute.
    pub fn per_minute(&self) -> f64 {
        self.per_minute
    }

    /// Tokens added per second.
    pub fn per_second(&self) -> f64 {
        self.per_minute / 60.0
    }

    /// Most tokens the bucket holds.
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per minute, burst {}", self.per_minute, self.burst)
    }
}

/// One token to take from the bucket `key`, which refills at `rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge<K> {
    /// The bucket.
    pub key: K,
    /// Its rate, from the configuration in force (a change applies at once).
    pub rate: Rate,
}

/// A refusal: `charge`'s bucket has no token, and will have one after `wait`.
#[derive(Debug, PartialEq)]
pub struct Exhausted<'a, K> {
    /// The charge with the longest wait, when several buckets are empty.
    pub charge: &'a Charge<K>,
    /// Until the bucket has a token again.
    pub wait: Duration,
}

impl<K> Exhausted<'_, K> {
    /// The wait as an HTTP `Retry-After`: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        retry_after_secs(self.wait)
    }
}

/// `wait` as whole seconds, rounded up, at least 1: `Retry-After: 0` would invite an instant
/// retry that is sure to fail. The nanosecond of slack absorbs float error (1.000000001 s is 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs_f64() - 1e-9;
    (secs.ceil() as u64).max(1)
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

/// Token buckets by key, at most `max_buckets` of them. One mutex guards the map: the critical
/// section is a few float operations, far cheaper than the request it guards, and one lock
/// makes "all buckets or none" trivially atomic. A key with no bucket counts as full, which is
/// what lets a sweep drop full buckets without changing any answer.
pub struct TokenBuckets<K> {
    max_buckets: usize,
    sweep_every: Duration,
    state: Mutex<State<K>>,
}

struct State<K> {
    buckets: HashMap<K, Bucket>,
    last_sweep: Instant,
}

impl<K: Hash + Eq + Clone> TokenBuckets<K> {
    /// At most `max_buckets` buckets (at least 1), with full (idle) ones dropped every
    /// `sweep_every`; `now` starts the sweep interval.
    pub fn new(max_buckets: usize, sweep_every: Duration, now: Instant) -> Self {
        Self {
            max_buckets: max_buckets.max(1),
            sweep_every,
            state: Mutex::new(State {
                buckets: HashMap::new(),
                last_sweep: now,
            }),
        }
    }

    /// Buckets held now (for metrics and tests).
    pub fn len(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one token at `now` from the bucket of every charge, or from none: a refusal by
    /// one bucket does not spend the others. A refusal names the charge with the longest wait.
    pub fn try_take<'c>(
        &self,
        now: Instant,
        charges: &'c [Charge<K>],
    ) -> Result<(), Exhausted<'c, K>> {
        let mut state = self.lock();
        let mut worst: Option<Exhausted<'c, K>> = None;
        for charge in charges {
            let tokens = state
                .buckets
                .get(&charge.key)
                .map_or(f64::from(charge.rate.burst()), |b| {
                    b.tokens_at(now, charge.rate)
                });
            if tokens < 1.0 {
                let wait = Duration::from_secs_f64((1.0 - tokens) / charge.rate.per_second());
                if worst.as_ref().is_none_or(|longest| wait > longest.wait) {
                    worst = Some(Exhausted { charge, wait });
                }
            }
        }
        if let Some(refusal) = worst {
            return Err(refusal);
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
    fn sweep(&self, state: &mut State<K>, now: Instant) {
        state.last_sweep = now;
        state
            .buckets
            .retain(|_, b| b.tokens_at(now, b.rate) < f64::from(b.rate.burst()));
        if state.buckets.len() > self.max_buckets {
            let keep = self.max_buckets - self.max_buckets / 10;
            let mut by_age: Vec<(Instant, K)> = state
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

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // A panic while holding the lock cannot leave a bucket half-updated in a way that
        // matters (worst case one token), so carry on rather than poison every request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K> fmt::Debug for TokenBuckets<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len();
        f.debug_struct("TokenBuckets")
            .field("max_buckets", &self.max_buckets)
            .field("sweep_every", &self.sweep_every)
            .field("buckets", &held)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: f64, burst: u32) -> Rate {
        match Rate::new(per_minute, burst) {
            Ok(rate) => rate,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn rates_must_refill_and_hold_something() {
        assert_eq!(Rate::new(0.0, 1), Err(InvalidRate::PerMinute(0.0)));
        assert!(Rate::new(f64::NAN, 1).is_err());
        assert!(Rate::new(f64::INFINITY, 1).is_err());
        assert_eq!(Rate::new(1.0, 0), Err(InvalidRate::Burst));
        assert_eq!(rate(2.5, 3).to_string(), "2.5 per minute, burst 3");
    }

    #[test]
    fn a_burst_then_one_token_per_refill_interval() {
        let t0 = Instant::now();
        let buckets = TokenBuckets::new(10, Duration::from_secs(60), t0);
        let one = [Charge {
            key: "a",
            rate: rate(6.0, 2),
        }];
        assert_eq!(buckets.try_take(t0, &one), Ok(()));
        assert_eq!(buckets.try_take(t0, &one), Ok(()));
        let refusal = buckets.try_take(t0, &one).err();
        assert_eq!(refusal.map(|r| r.retry_after_secs()), Some(10));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(buckets.try_take(later, &one), Ok(()));
        assert!(buckets.try_take(later, &one).is_err());
    }

    #[test]
    fn a_refusal_spends_no_other_bucket_and_names_the_longest_wait() {
        let t0 = Instant::now();
        let buckets = TokenBuckets::new(10, Duration::from_secs(60), t0);
        let roomy = Charge {
            key: "roomy",
            rate: rate(60.0, 2),
        };
        let tight = Charge {
            key: "tight",
            rate: rate(1.0, 1),
        };
        let both = [roomy.clone(), tight.clone()];
        assert_eq!(buckets.try_take(t0, &both), Ok(()));
        for _ in 0..5 {
            let refusal = buckets.try_take(t0, &both).err();
            assert_eq!(refusal.map(|r| r.charge.key), Some("tight"));
        }
        // `roomy` still holds its second token: the refusals above took none.
        assert_eq!(buckets.try_take(t0, std::slice::from_ref(&roomy)), Ok(()));
        let refusal = buckets.try_take(t0, &both).err();
        assert_eq!(
            refusal.map(|r| (r.charge.key, r.retry_after_secs())),
            Some(("tight", 60)),
            "the tool's minute, not roomy's second"
        );
    }

    #[test]
    fn time_going_back_refills_nothing() {
        let t0 = Instant::now() + Duration::from_secs(100);
        let buckets = TokenBuckets::new(10, Duration::from_secs(60), t0);
        let one = [Charge {
            key: 1,
            rate: rate(60.0, 1),
        }];
        assert_eq!(buckets.try_take(t0, &one), Ok(()));
        assert!(
            buckets
                .try_take(t0 - Duration::from_secs(50), &one)
                .is_err()
        );
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs_f64(8.57)), 9);
    }
}
