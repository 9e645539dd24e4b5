//! The cap on connections open at once from one client address, so one client (or one
//! flood of slow requests) cannot take every connection a server can hold.
//!
//! Counted per TCP peer, as connections are what is held; trusted proxies are exempt, as
//! one proxy carries many clients (and bounds them itself). A connection over the cap
//! gets a canned 503 if the socket takes it at once, and is closed: refusing costs one
//! lock and one write, no task. The refusals are logged once per address per minute with
//! their count, not once per connection, so a flood cannot flood the log too.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

use super::{HttpServerOptions, TrustedProxies};

/// How often refusals for one address are logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Past this many addresses tracked, entries with nothing open are pruned.
const PRUNE_ABOVE: usize = 4096;

/// Open connections per client address, for one server (shared by its shards).
pub(super) struct PerAddress {
    max: Option<usize>,
    setting: Option<&'static str>,
    trusted: TrustedProxies,
    /// The whole answer to a refused connection.
    refusal: Vec<u8>,
    open: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Debug, Default)]
struct Entry {
    open: usize,
    /// When a refusal of this address was last logged.
    warned: Option<Instant>,
    /// Refusals since then.
    refused: u64,
}

/// One admitted connection; its address's count goes down when it drops.
pub(super) struct Slot {
    limiter: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    pub(super) fn new(options: &HttpServerOptions) -> Arc<Self> {
        let max = options.max_connections_per_address;
        let setting = options.setting_names.max_connections_per_address;
        let hint = setting.map(|s| format!(" ({s})")).unwrap_or_default();
        let message = format!(
            "too many connections from this address ({} open at most{hint}): close some and retry",
            max.unwrap_or(usize::MAX)
        );
        let error = rmcp::ErrorData::new(rmcp::model::ErrorCode::INVALID_REQUEST, message, None);
        let body = super::error_body(&serde_json::Value::Null, &error).to_string();
        let refusal = format!(
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        Arc::new(Self {
            max,
            setting,
            trusted: options.trusted_proxies.clone(),
            refusal,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `peer`: `Ok(None)` when no cap applies to it, `Ok(slot)`
    /// to hold while it is open, `Err(answer)` (the bytes to send before closing) when
    /// the address has its fill.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Option<Slot>, &[u8]> {
        let Some(max) = self.max else {
            return Ok(None);
        };
        let ip = peer.to_canonical();
        if self.trusted.trusts(ip) {
            return Ok(None);
        }
        let mut entries = self.entries();
        if entries.len() > PRUNE_ABOVE {
            let now = Instant::now();
            entries.retain(|_, e| e.open > 0 || e.warned.is_some_and(|w| now - w < WARN_EVERY));
        }
        let entry = entries.entry(ip).or_default();
        if entry.open < max {
            entry.open += 1;
            return Ok(Some(Slot {
                limiter: self.clone(),
                ip,
            }));
        }
        entry.refused += 1;
        let now = Instant::now();
        if entry.warned.is_none_or(|w| now - w >= WARN_EVERY) {
            tracing::warn!(
                address = %ip,
                max,
                refused = entry.refused,
                setting = self.setting.unwrap_or_default(),
                "refusing connections from an address that has its fill open (logged once a minute)"
            );
            entry.warned = Some(now);
            entry.refused = 0;
        }
        Err(&self.refusal)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut entries = self.limiter.entries();
        if let Some(entry) = entries.get_mut(&self.ip) {
            entry.open = entry.open.saturating_sub(1);
            // Kept while its last warning is recent, so a flood is logged once a minute.
            if entry.open == 0 && entry.warned.is_none_or(|w| w.elapsed() >= WARN_EVERY) {
                entries.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_per_address_and_released_on_close() {
        let options = HttpServerOptions {
            max_connections_per_address: Some(2),
            ..HttpServerOptions::default()
        };
        let limiter = PerAddress::new(&options);
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        let first = limiter.admit(a);
        let second = limiter.admit(a);
        assert!(matches!((&first, &second), (Ok(Some(_)), Ok(Some(_)))));
        let refused = limiter
            .admit(a)
            .err()
            .map(|r| String::from_utf8_lossy(r).into_owned());
        assert!(
            refused.is_some_and(
                |r| r.starts_with("HTTP/1.1 503") && r.contains("too many connections")
            ),
        );
        assert!(matches!(limiter.admit(b), Ok(Some(_))));
        drop(first);
        let third = limiter.admit(a);
        assert!(matches!(third, Ok(Some(_))));
        // An IPv4 peer seen through a dual-stack socket is the same address.
        assert!(
            limiter
                .admit("::ffff:192.0.2.1".parse().unwrap_or(a))
                .is_err()
        );
        drop((second, third));
        // Nothing open from b: forgotten; a is kept while its warning is recent.
        let entries = limiter.entries();
        assert!(!entries.contains_key(&b));
        assert!(
            entries
                .get(&a)
                .is_some_and(|e| e.open == 0 && e.warned.is_some())
        );
    }
}
