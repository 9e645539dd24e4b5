//! The one clock of the workspace, injected so that tests move time instead of sleeping.
//!
//! A [`Clock`] gives two readings that must not be mixed up:
//! - [`Clock::monotonic_now`], an [`Instant`]: for measuring how much time passed inside this
//!   process (token buckets, waits). It never goes back, and means nothing outside the process.
//! - [`Clock::wall_now`], a [`SystemTime`]: for times written down or read by others (a token's
//!   `exp` and `iat`, a row's `created_at`). It can jump when the host's clock is set.
//!
//! [`SystemClock`] is the real one; [`ManualClock`] moves both readings together, only when told.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time, for durations measured in this process.
    fn monotonic_now(&self) -> Instant;

    /// Wall-clock time, for times that leave the process.
    fn wall_now(&self) -> SystemTime;

    /// Wall-clock time in whole seconds since the Unix epoch (a JWT `NumericDate`); 0 before
    /// the epoch.
    fn unix_seconds(&self) -> i64 {
        unix_seconds(self.wall_now())
    }
}

/// `time` in whole seconds since the Unix epoch; 0 before it.
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The host's clocks. Monotonic time is read through tokio, so that a runtime whose clock is
/// paused (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`) sees paused time too;
/// outside a runtime it is [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn monotonic_now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to. Both readings start at the present (or where
/// [`ManualClock::at_unix_seconds`] puts the wall clock) and [`ManualClock::advance`] moves them
/// together. Clones share the same time, so a test keeps one and hands another to the code.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: (Instant, SystemTime),
    elapsed: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock stopped at the present.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// A clock stopped with its wall clock at `seconds` after the Unix epoch (negative:
    /// before it); its monotonic clock starts at the present instant.
    pub fn at_unix_seconds(seconds: i64) -> Self {
        let offset = Duration::from_secs(seconds.unsigned_abs());
        let wall = if seconds >= 0 {
            UNIX_EPOCH.checked_add(offset)
        } else {
            UNIX_EPOCH.checked_sub(offset)
        };
        Self::starting_at(wall.unwrap_or(UNIX_EPOCH))
    }

    fn starting_at(wall: SystemTime) -> Self {
        Self {
            start: (Instant::now(), wall),
            elapsed: Arc::default(),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(PoisonError::into_inner);
        *elapsed = elapsed.saturating_add(by);
    }

    /// Moves both readings forward by `seconds`.
    pub fn advance_secs(&self, seconds: u64) {
        self.advance(Duration::from_secs(seconds));
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn monotonic_now(&self) -> Instant {
        // `Instant + Duration` panics on overflow; a test would have to advance by centuries.
        let (start, _) = self.start;
        start.checked_add(self.elapsed()).unwrap_or(start)
    }

    fn wall_now(&self) -> SystemTime {
        let (_, start) = self.start;
        start.checked_add(self.elapsed()).unwrap_or(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_both_readings_together_and_clones_share_it() {
        let clock = ManualClock::at_unix_seconds(1_000);
        let shared = clock.clone();
        let (instant, wall) = (clock.monotonic_now(), clock.wall_now());
        assert_eq!(clock.unix_seconds(), 1_000);
        assert_eq!(clock.monotonic_now(), instant, "stopped until told");
        shared.advance(Duration::from_millis(1_500));
        assert_eq!(
            clock.monotonic_now() - instant,
            Duration::from_millis(1_500)
        );
        assert_eq!(
            clock.wall_now().duration_since(wall).ok(),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(clock.unix_seconds(), 1_001, "whole seconds, rounded down");
        clock.advance_secs(60);
        assert_eq!(shared.unix_seconds(), 1_061);
    }

    #[test]
    fn unix_seconds_before_the_epoch_are_zero() {
        assert_eq!(ManualClock::at_unix_seconds(-5).unix_seconds(), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(42)), 42);
    }

    #[tokio::test(start_paused = true)]
    async fn the_system_clock_follows_tokio_paused_time_but_not_the_wall() {
        let clock = SystemClock;
        let before = clock.monotonic_now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(clock.monotonic_now() - before >= Duration::from_secs(3600));
        // The wall clock is the host's: an hour of paused time does not move it an hour.
        let (wall, host) = (clock.wall_now(), SystemTime::now());
        let apart = wall
            .duration_since(host)
            .unwrap_or_else(|behind| behind.duration());
        assert!(
            apart < Duration::from_secs(60),
            "{apart:?} from the host's clock"
        );
    }
}
