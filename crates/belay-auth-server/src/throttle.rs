//! Password guessing, slowed down: failed sign-ins are counted per account from one address,
//! per address, and per account from anywhere; past a few free tries each new failure makes
//! the next attempt wait twice as long (1 s, 2 s, 4 s…). While any of the three must wait,
//! attempts are refused before any password is checked, so guessing costs time and no argon2
//! work. An account from one address and an address may wait up to 15 minutes; an account
//! from anywhere at most a minute, so a stranger elsewhere who knows a user name can slow that
//! person down but not lock them out. Addresses count by IPv6 /64 (one host holds a whole
//! prefix). Hand-written: the rule is a few lines over the server's clock, and no
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

/// Failures an account may have from one address before delays start (people mistype).
const PAIR_FREE: u32 = 5;
/// Failures one address may have before delays start: higher, since many people can share
/// an address (an office, a NAT).
const ADDRESS_FREE: u32 = 20;
/// Failures an account may have from all addresses together before delays start.
const ACCOUNT_FREE: u32 = 20;
/// The longest wait for an account from one address, and for an address, seconds.
const MAX_WAIT: i64 = 15 * 60;
/// The longest wait for an account from anywhere, seconds.
const MAX_ACCOUNT_WAIT: i64 = 60;
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

    /// Counts a failure; returns the wait it imposes (0 while tries are free, at most `max`).
    fn fail(&mut self, key: K, free: u32, max: i64, now: i64) -> i64 {
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
            Some(doublings) => 1_i64.checked_shl(doublings).unwrap_or(max).min(max),
        };
        entry.until = now + wait;
        wait
    }
}

/// Failed sign-ins per account and address, per address, and per account (user names as
/// typed: they are case-sensitive, like the user table).
#[derive(Debug, Default)]
pub(crate) struct SignInThrottle {
    pairs: Mutex<Table<(String, Option<IpAddr>)>>,
    addresses: Mutex<Table<Option<IpAddr>>>,
    accounts: Mutex<Table<String>>,
}

impl SignInThrottle {
    /// Seconds to wait before `username` may try again from `ip`; 0 when it may now.
    pub(crate) fn wait(&self, username: &str, ip: Option<IpAddr>, now: i64) -> u64 {
        let ip = limit_key(ip);
        let pair = lock(&self.pairs).wait(&(username.to_owned(), ip), now);
        let address = lock(&self.addresses).wait(&ip, now);
        let account = lock(&self.accounts).wait(&username.to_owned(), now);
        u64::try_from(pair.max(address).max(account)).unwrap_or(0)
    }

    /// Counts a failed sign-in; returns the wait before the next attempt (0 if none).
    pub(crate) fn failed(&self, username: &str, ip: Option<IpAddr>, now: i64) -> u64 {
        let ip = limit_key(ip);
        let pair = lock(&self.pairs).fail((username.to_owned(), ip), PAIR_FREE, MAX_WAIT, now);
        let address = lock(&self.addresses).fail(ip, ADDRESS_FREE, MAX_WAIT, now);
        let account =
            lock(&self.accounts).fail(username.to_owned(), ACCOUNT_FREE, MAX_ACCOUNT_WAIT, now);
        u64::try_from(pair.max(address).max(account)).unwrap_or(0)
    }

    /// A successful sign-in clears the account's counts (not the address's: one good account
    /// must not reset the guessing of others from the same place).
    pub(crate) fn succeeded(&self, username: &str, ip: Option<IpAddr>) {
        let ip = limit_key(ip);
        lock(&self.pairs).0.remove(&(username.to_owned(), ip));
        lock(&self.accounts).0.remove(username);
    }
}

fn lock<T>(table: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The key an address is limited by: IPv4 as is, IPv6 by its /64 (a host is handed a whole
/// prefix, so counting single addresses would let it rotate past every limit).
pub(crate) fn limit_key(ip: Option<IpAddr>) -> Option<IpAddr> {
    ip.map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const OTHER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7)));

    #[test]
    fn waits_double_after_the_free_tries_and_are_capped() {
        let t = SignInThrottle::default();
        for _ in 0..PAIR_FREE {
            assert_eq!(t.failed("alice", IP, 0), 0);
        }
        assert_eq!(t.failed("alice", IP, 0), 1);
        assert_eq!(t.wait("alice", IP, 0), 1);
        assert_eq!(t.failed("alice", IP, 1), 2);
        assert_eq!(t.failed("alice", IP, 3), 4);
        let mut now = 7;
        let mut wait = 0;
        for _ in 0..40 {
            wait = t.failed("alice", IP, now);
            now += i64::try_from(wait).unwrap_or(0);
        }
        assert_eq!(wait, 900);
        // Another account is not slowed, nor the same account from elsewhere beyond the
        // minute an account waits from anywhere.
        assert_eq!(t.wait("bob", None, now), 0);
        assert!(t.wait("alice", OTHER, now) <= 60);
        t.succeeded("alice", IP);
        assert_eq!(t.wait("alice", IP, now), 0);
    }

    #[test]
    fn a_stranger_slows_an_account_down_but_does_not_lock_it_out() {
        let t = SignInThrottle::default();
        let mut now = 0;
        for i in 0..200 {
            // Many addresses, each within its own free tries.
            let ip = Some(IpAddr::V4(std::net::Ipv4Addr::new(
                10,
                1,
                (i / 250) as u8,
                (i % 250) as u8,
            )));
            now += i64::try_from(t.failed("alice", ip, now)).unwrap_or(0);
        }
        assert!(t.wait("alice", IP, now) <= 60);
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
    fn an_ipv6_host_counts_as_its_prefix() {
        let t = SignInThrottle::default();
        let host = |n: u16| {
            Some(IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 1, 2, n, n, n, n,
            )))
        };
        for n in 0..=ADDRESS_FREE {
            let n = u16::try_from(n).unwrap_or(0);
            t.failed(&format!("user{n}"), host(n), 0);
        }
        assert_eq!(t.wait("someone", host(999), 0), 1, "the same /64");
        let elsewhere = Some(IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001, 0xdb8, 1, 3, 0, 0, 0, 1,
        )));
        assert_eq!(t.wait("someone", elsewhere, 0), 0);
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_hour() {
        let t = SignInThrottle::default();
        for _ in 0..=PAIR_FREE {
            t.failed("alice", IP, 0);
        }
        assert_eq!(t.failed("alice", IP, FORGET_AFTER + 10), 0);
    }
}
