//! A circuit breaker per upstream: after N consecutive failures calls fail fast for T,
//! then one trial call decides whether it closes again.
//!
//! Only failures of the upstream count (transport errors, timeouts, failed pings), never a
//! JSON-RPC error it answered with: that shows it is alive. Time is tokio's, so tests
//! drive it with a paused clock.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

/// The breaker's state, as shown in health reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; the count of consecutive failures so far.
    Closed(u32),
    /// Calls fail fast until the deadline.
    Open(Instant),
    /// One trial call is in flight; others fail fast until it ends.
    HalfOpen,
}

/// Consecutive-failure circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures (0 never opens), for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold,
            open_for,
            state: Mutex::new(BreakerState::Closed(0)),
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        *self.lock()
    }

    /// May a call go out now? `Err` carries how long until the next trial.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            BreakerState::Closed(_) => Ok(()),
            BreakerState::Open(until) => {
                let now = Instant::now();
                if now >= until {
                    *state = BreakerState::HalfOpen;
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            // The trial's outcome decides; until then, fail fast.
            BreakerState::HalfOpen => Err(Duration::ZERO),
        }
    }

    /// The upstream answered.
    pub fn success(&self) {
        *self.lock() = BreakerState::Closed(0);
    }

    /// The upstream failed to answer.
    pub fn failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            BreakerState::Closed(n) => n.saturating_add(1),
            // A failed trial reopens at once.
            BreakerState::HalfOpen => self.threshold,
            BreakerState::Open(_) => return,
        };
        *state = if self.threshold > 0 && failures >= self.threshold {
            BreakerState::Open(Instant::now() + self.open_for)
        } else {
            BreakerState::Closed(failures)
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_half_opens_after_the_wait() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        breaker.failure();
        breaker.failure();
        assert!(
            breaker.admit().is_ok(),
            "two failures of three keep it closed"
        );
        breaker.failure();
        let wait = breaker.admit().expect_err("open after three failures");
        assert_eq!(wait, Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(breaker.admit().is_ok(), "one trial after the wait");
        assert!(breaker.admit().is_err(), "only one trial at a time");
        breaker.failure();
        assert!(
            matches!(breaker.state(), BreakerState::Open(_)),
            "failed trial reopens"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(breaker.admit().is_ok());
        breaker.success();
        assert_eq!(breaker.state(), BreakerState::Closed(0));
    }

    #[test]
    fn success_resets_the_count() {
        let breaker = Breaker::new(2, Duration::from_secs(1));
        breaker.failure();
        breaker.success();
        breaker.failure();
        assert_eq!(breaker.state(), BreakerState::Closed(1));
    }
}
