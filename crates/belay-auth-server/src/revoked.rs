//! The revoked access tokens, in memory: loaded from `as_revoked` at start and kept current
//! by every revocation this server makes, so a resource server in the same process
//! (`belay up`'s gateway) refuses a revoked token on its next request without a query.
//! The table stays the record (other processes, restarts: `belay auth user remove` beside a
//! running `belay up`); this is its fast copy, read again from the table every few seconds
//! ([`crate::AuthServer::watch_revocations`]).

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use belay_store::{Db, rusqlite::params};

use crate::Error;

/// How long past its `exp` a revoked token stays listed, seconds: resource servers accept
/// tokens a clock skew past `exp` (60 s by default), and a listing that ended first would let
/// a revoked token work again for that long.
pub(crate) const KEPT_PAST_EXPIRY: i64 = 300;

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
    /// The revocations of tokens that have not expired by `now` (give or take
    /// [`KEPT_PAST_EXPIRY`]).
    pub(crate) fn load(db: &Db, now: i64) -> Result<Self, Error> {
        let ids = read_table(db, now)?;
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
            listed.ids.retain(|_, exp| *exp > now - KEPT_PAST_EXPIRY);
            listed.kept = listed.ids.len();
        }
    }
}

/// The table's revocations of tokens not long expired by `now`. Blocking.
pub(crate) fn read_table(db: &Db, now: i64) -> Result<HashMap<String, i64>, Error> {
    Ok(db.call_blocking(|c| {
        let mut statement = c.prepare("SELECT jti, exp FROM as_revoked WHERE exp > ?1")?;
        let rows = statement.query_map(params![now - KEPT_PAST_EXPIRY], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<Result<HashMap<String, i64>, _>>()
    })?)
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
        // Enough entries to prune; `a` expired long enough ago, the new ones have not.
        ids.add(
            (0..3000).map(|i| (format!("n{i}"), 900)),
            100 + KEPT_PAST_EXPIRY + 1,
        );
        assert!(!ids.contains("a"));
        assert!(ids.contains("n2999"));
    }
}
