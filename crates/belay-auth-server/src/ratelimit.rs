//! A token bucket per client IP, for dynamic registration and device user-code lookups.
//! In memory on purpose: limits are about bursts, and a restart giving everyone a fresh
//! bucket is harmless.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

/// Buckets of `burst` tokens refilled at `per_minute`.
pub(crate) struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<Option<IpAddr>, (f64, i64)>>,
}

/// More buckets than this and the full ones are dropped, so memory stays bounded.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    pub(crate) fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` at time `now`; `Err(seconds)` to wait when there is none.
    pub(crate) fn take(&self, ip: Option<IpAddr>, now: i64) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, (tokens, at)| *tokens + (now - *at) as f64 * rate < burst);
        }
        let (tokens, at) = buckets
            .entry(crate::throttle::limit_key(ip))
            .or_insert((self.burst, now));
        let elapsed = (now - *at).max(0) as f64;
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / self.per_second).ceil();
            Err(if wait.is_finite() && wait >= 1.0 {
                wait as u64
            } else {
                1
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(2, 6);
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(limiter.take(ip, 0).is_ok());
        assert!(limiter.take(ip, 0).is_ok());
        assert_eq!(limiter.take(ip, 0), Err(10));
        assert!(limiter.take(None, 0).is_ok());
        assert!(limiter.take(ip, 10).is_ok());
    }
}
