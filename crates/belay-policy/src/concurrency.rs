//! Concurrency caps per upstream: a call holds a [`Permit`] until it ends.
//!
//! Kept in process even when buckets move to a shared store: a cap protects the upstream
//! connections of this gateway, and a permit must come back when its call ends or its task
//! dies, which a local semaphore guarantees on drop and a remote lease could not.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    Error,
    limits::{LimitKind, Refusal},
};

/// Semaphores are sized in `u32` but tokio's maximum is lower; anything near it is no cap.
const MAX_CAP: u32 = 1 << 28;

/// Caps on calls in flight per upstream.
#[derive(Debug)]
pub struct ConcurrencyLimits {
    default: Option<u32>,
    caps: BTreeMap<String, u32>,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A slot in an upstream's cap, given back when dropped (the call ended, was cancelled or
/// its task panicked). Uncapped upstreams get an empty permit.
#[derive(Debug)]
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl ConcurrencyLimits {
    /// `default` for every upstream, overridden per upstream name by `caps`. A cap of 0 is
    /// refused: it would make an upstream unreachable (remove the upstream instead).
    pub fn new(default: Option<u32>, caps: BTreeMap<String, u32>) -> Result<Self, Error> {
        if default == Some(0) {
            return Err(Error::limit(
                "max_concurrent",
                "0 would refuse every call; remove it for no cap",
            ));
        }
        if let Some((name, _)) = caps.iter().find(|(_, cap)| **cap == 0) {
            return Err(Error::limit(
                &format!("upstream_max_concurrent.{name}"),
                "0 would refuse every call; remove the upstream instead",
            ));
        }
        Ok(Self {
            default,
            caps,
            semaphores: Mutex::new(HashMap::new()),
        })
    }

    /// Caps from `default` and `caps` like [`ConcurrencyLimits::new`], keeping the
    /// semaphores of `self` whose cap did not change, so calls in flight across a config
    /// reload still count against their upstream's cap.
    pub fn reconfigured(
        &self,
        default: Option<u32>,
        caps: BTreeMap<String, u32>,
    ) -> Result<Self, Error> {
        let next = Self::new(default, caps)?;
        let old = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
        let kept = old
            .iter()
            .filter(|(upstream, _)| next.cap(upstream) == self.cap(upstream))
            .map(|(upstream, semaphore)| (upstream.clone(), semaphore.clone()))
            .collect();
        drop(old);
        *next.semaphores.lock().unwrap_or_else(|e| e.into_inner()) = kept;
        Ok(next)
    }

    /// No caps.
    pub fn unlimited() -> Self {
        Self {
            default: None,
            caps: BTreeMap::new(),
            semaphores: Mutex::new(HashMap::new()),
        }
    }

    /// The cap of `upstream`, if any.
    pub fn cap(&self, upstream: &str) -> Option<u32> {
        self.caps.get(upstream).copied().or(self.default)
    }

    /// A slot now, or a refusal (retry after 1 s) if `upstream` is at its cap.
    pub fn try_acquire(&self, upstream: &str) -> Result<Permit, Refusal> {
        let Some(semaphore) = self.semaphore(upstream) else {
            return Ok(Permit { _slot: None });
        };
        semaphore
            .try_acquire_owned()
            .map(|slot| Permit { _slot: Some(slot) })
            .map_err(|_| self.refusal(upstream))
    }

    /// A slot, waiting up to `wait` for one to free up, so short bursts queue instead of
    /// failing.
    pub async fn acquire(&self, upstream: &str, wait: Duration) -> Result<Permit, Refusal> {
        let Some(semaphore) = self.semaphore(upstream) else {
            return Ok(Permit { _slot: None });
        };
        match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(slot)) => Ok(Permit { _slot: Some(slot) }),
            // The semaphore is never closed; treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => Err(self.refusal(upstream)),
        }
    }

    /// Calls in flight to `upstream` (0 when it has no cap).
    pub fn in_flight(&self, upstream: &str) -> u32 {
        match (self.cap(upstream), self.semaphore(upstream)) {
            (Some(cap), Some(semaphore)) => {
                let free = u32::try_from(semaphore.available_permits()).unwrap_or(u32::MAX);
                cap.min(MAX_CAP).saturating_sub(free)
            }
            _ => 0,
        }
    }

    /// The semaphore of a capped upstream, made on first use. Upstream names come from the
    /// gateway's configuration, so the map stays as small as the upstream list.
    fn semaphore(&self, upstream: &str) -> Option<Arc<Semaphore>> {
        let cap = self.cap(upstream)?.min(MAX_CAP);
        let mut semaphores = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
        let semaphore = semaphores
            .entry(upstream.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(cap as usize)));
        Some(semaphore.clone())
    }

    fn refusal(&self, upstream: &str) -> Refusal {
        let cap = self.cap(upstream).unwrap_or_default();
        Refusal {
            kind: LimitKind::Concurrency,
            retry_after_secs: 1,
            reason: format!(
                "upstream `{upstream}` already has {cap} calls in flight, its limit; retry in 1 s"
            ),
        }
    }
}
