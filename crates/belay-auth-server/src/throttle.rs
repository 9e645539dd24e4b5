//! Password guessing, slowed down: failed sign-ins are counted per account and per client
//! address, and past a few free tries each new failure makes the next attempt wait twice as
//! long (1 s, 2 s, 4 s… up to 15 minutes). While an account or an address must wait, its
//! attempts are refused before any password is checked, so guessing costs time and no
//! argon2 work. Hand-written: the rule is a few lines over the server's clock, and no
//! crate offers per-key exponential lockouts with the explanation the page shows.
//!
//! In memory: a restart forgets the counts, which only gives an attacker one restart's worth
//! of free tries. Replicas will share it through the same store as rate limits (a trait
//! then).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

/// Failures an account may have before delays start (people mistype).
const ACCOUNT_FREE: u32 = 5;
/// Failures one address may have before delays start: higher, since many people can share
/// an address (an office, a NAT).
const ADDRESS_FREE: u32 = 20;
/// The longest wait, seconds.
const MAX_WAIT: i64 = 15 * 60;
/// A count is forgotten this long after its last failure, seconds.
const FORGET_AFTER: i64 = 60 * 60;
/// Most keys remembered per table; past this the ones not waiting are dropped.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: i64,
    /// No attempt before this time.
    until: i64,
}

#[derive(Debug, Default)]
struct Table<K>(HashMap<K, Failures>);

impl<K: std::hash::Hash + Eq> Table<K> {
    fn wait(&self, key: &K, now: i64) -> i64 {
        self.0.get(key).map_or(0, |f| (f.until - now).max(0))
    }

    /// Counts a failure; returns the wait it imposes (0 while tries are free).
    fn fail(&mut self, key: K, free: u32, now: i64) -> i64 {
        if self.0.len() >= MAX_KEYS {
            self.0
                .retain(|_, f| f.until > now || now - f.last < FORGET_AFTER);
            if self.0.len() >= MAX_KEYS {
                self.0.retain(|_, f| f.until > now);
            }
        }
        let entry = self.0.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            until: 0,
        });
        if now - entry.last > FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let wait = match entry.count.checked_sub(free + 1) {
            None => 0,
            Some(doublings) => 1_i64
                .checked_shl(doublings)
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT),
        };
        entry.until = now + wait;
        wait
    }
}

/// Failed sign-ins per account (user name as typed, case folded) and per address.
#[derive(Debug, Default)]
pub(crate) struct SignInThrottle {
    accounts: Mutex<Table<String>>,
    addresses: Mutex<Table<Option<IpAddr>>>,
}

fn account(username: &str) -> String {
    username.to_lowercase()
}

impl SignInThrottle {
    /// Seconds to wait before `username` may try again from `ip`; 0 when it may now.
    pub(crate) fn wait(&self, username: &str, ip: Option<IpAddr>, now: i64) -> u64 {
        let account = self
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wait(&account(username), now);
        let address = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wait(&ip, now);
        u64::try_from(account.max(address)).unwrap_or(0)
    }

    /// Counts a failed sign-in; returns the wait before the next attempt (0 if none).
    pub(crate) fn failed(&self, username: &str, ip: Option<IpAddr>, now: i64) -> u64 {
        let account = self
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fail(account(username), ACCOUNT_FREE, now);
        let address = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fail(ip, ADDRESS_FREE, now);
        u64::try_from(account.max(address)).unwrap_or(0)
    }

    /// A successful sign-in clears the account's count (not the address's: one good
    /// account must not reset the guessing of others from the same place).
    pub(crate) fn succeeded(&self, username: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .remove(&account(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn waits_double_after_the_free_tries_and_are_capped() {
        let t = SignInThrottle::default();
        for _ in 0..ACCOUNT_FREE {
            assert_eq!(t.failed("Alice", IP, 0), 0);
        }
        assert_eq!(t.failed("alice", IP, 0), 1);
        assert_eq!(
            t.wait("ALICE", None, 0),
            1,
            "the account waits from anywhere"
        );
        assert_eq!(t.failed("alice", IP, 1), 2);
        assert_eq!(t.failed("alice", IP, 3), 4);
        let mut now = 7;
        let mut wait = 0;
        for _ in 0..40 {
            wait = t.failed("alice", IP, now);
            now += i64::try_from(wait).unwrap_or(0);
        }
        assert_eq!(wait, 900);
        // Another account from elsewhere is not slowed.
        assert_eq!(t.wait("bob", None, now), 0);
        t.succeeded("alice");
        assert_eq!(t.wait("alice", None, now), 0);
    }

    #[test]
    fn one_address_guessing_many_accounts_is_slowed_too() {
        let t = SignInThrottle::default();
        for i in 0..ADDRESS_FREE {
            assert_eq!(t.failed(&format!("user{i}"), IP, 0), 0);
        }
        assert_eq!(t.failed("another", IP, 0), 1);
        assert_eq!(t.wait("yet-another", IP, 0), 1);
        assert_eq!(t.wait("yet-another", None, 0), 0);
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_hour() {
        let t = SignInThrottle::default();
        for _ in 0..=ACCOUNT_FREE {
            t.failed("alice", IP, 0);
        }
        assert_eq!(t.failed("alice", IP, FORGET_AFTER + 10), 0);
    }
}
