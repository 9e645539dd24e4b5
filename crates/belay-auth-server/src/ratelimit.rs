//! A token bucket per client IP, for dynamic registration and device user-code lookups:
//! belay-core's buckets on the server clock's monotonic time. In memory on purpose: limits are
//! about bursts, and a restart giving everyone a fresh bucket is harmless.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use belay_core::bucket::{Charge, InvalidRate, Rate, TokenBuckets};

/// Buckets of `burst` tokens refilled at `per_minute`, one per address.
pub(crate) struct RateLimiter {
    rate: Rate,
    buckets: TokenBuckets<Option<IpAddr>>,
}

/// More buckets than this and the full ones are dropped, then those idle longest, so memory
/// stays bounded.
const MAX_BUCKETS: usize = 10_000;
/// Full buckets are dropped this often.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// Fails when `burst` or `per_minute` is 0 (a limit that refuses everyone).
    pub(crate) fn new(burst: u32, per_minute: u32, now: Instant) -> Result<Self, InvalidRate> {
        Ok(Self {
            rate: Rate::new(f64::from(per_minute), burst)?,
            buckets: TokenBuckets::new(MAX_BUCKETS, SWEEP_EVERY, now),
        })
    }

    /// Takes a token for `ip` at `now`; `Err(seconds)` to wait when there is none.
    pub(crate) fn take(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let charge = [Charge {
            key: crate::throttle::limit_key(ip),
            rate: self.rate,
        }];
        self.buckets
            .try_take(now, &charge)
            .map_err(|empty| empty.retry_after_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_minute: u32, now: Instant) -> RateLimiter {
        match RateLimiter::new(burst, per_minute, now) {
            Ok(limiter) => limiter,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let limiter = limiter(2, 6, t0);
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(limiter.take(ip, t0).is_ok());
        assert!(limiter.take(ip, t0).is_ok());
        assert_eq!(limiter.take(ip, t0), Err(10));
        assert_eq!(limiter.take(ip, t0 + Duration::from_secs(4)), Err(6));
        assert!(limiter.take(None, t0).is_ok());
        assert!(limiter.take(ip, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn an_ipv6_host_shares_its_prefix_bucket() {
        let t0 = Instant::now();
        let limiter = limiter(1, 1, t0);
        assert!(RateLimiter::new(0, 1, t0).is_err());
        let host = |n: u16| Some(IpAddr::from([0x2001, 0xdb8, 1, 2, n, n, n, n]));
        assert!(limiter.take(host(1), t0).is_ok());
        assert_eq!(limiter.take(host(2), t0), Err(60), "the same /64");
        assert!(
            limiter
                .take(Some(IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1])), t0)
                .is_ok()
        );
    }
}
