//! The revoked access tokens, in memory: loaded from `as_revoked` at start and kept current
//! by every revocation this server makes, so a resource server in the same process
//! (`belay up`'s gateway) refuses a revoked token on its next request without a query.
//! The table stays the record (other processes, restarts); this is its fast copy.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use belay_store::{Db, rusqlite::params};

use crate::Error;

/// Revoked `jti`s and when each token would have expired.
#[derive(Debug, Default)]
pub(crate) struct RevokedIds {
    inner: RwLock<Listed>,
}

#[derive(Debug, Default)]
struct Listed {
    ids: HashMap<String, i64>,
    /// How many were left after the last pruning.
    kept: usize,
}

/// Fewest entries worth pruning.
const PRUNE_FROM: usize = 1024;

impl RevokedIds {
    /// The revocations of tokens that have not expired by `now`.
    pub(crate) fn load(db: &Db, now: i64) -> Result<Self, Error> {
        let ids = db.call_blocking(|c| {
            let mut statement = c.prepare("SELECT jti, exp FROM as_revoked WHERE exp > ?1")?;
            let rows = statement.query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<HashMap<String, i64>, _>>()
        })?;
        let kept = ids.len();
        Ok(Self {
            inner: RwLock::new(Listed { ids, kept }),
        })
    }

    /// Whether `jti` was revoked. Expired tokens may or may not still be listed: they
    /// fail their `exp` check anyway.
    pub(crate) fn contains(&self, jti: &str) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .ids
            .contains_key(jti)
    }

    /// Adds revoked `(jti, exp)`s, first dropping the entries expired by `now` when the set
    /// has doubled since it was last pruned (so pruning costs O(1) per insert on average).
    pub(crate) fn add(&self, revoked: impl IntoIterator<Item = (String, i64)>, now: i64) {
        let mut listed = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        listed.ids.extend(revoked);
        if listed.ids.len() > PRUNE_FROM.max(2 * listed.kept) {
            listed.ids.retain(|_, exp| *exp > now);
            listed.kept = listed.ids.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_until_pruned_after_expiry() {
        let ids = RevokedIds::default();
        ids.add([("a".to_owned(), 100)], 0);
        assert!(ids.contains("a"));
        assert!(!ids.contains("b"));
        // Enough entries to prune; `a` expired by now = 200, the new ones have not.
        ids.add((0..3000).map(|i| (format!("n{i}"), 300)), 200);
        assert!(!ids.contains("a"));
        assert!(ids.contains("n2999"));
    }
}
