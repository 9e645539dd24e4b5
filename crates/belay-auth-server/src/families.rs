//! Grant families: everything issued from one authorization (its access tokens' `jti`s
//! and its chain of rotated refresh tokens), so a replayed code or a reused refresh token
//! revokes the lot (RFC 9700 §2.2.2, §4.14). Also the `jti` revocation list.

use belay_store::rusqlite::{OptionalExtension, params};

use crate::{AuthServer, Error, OAuthError, secret};

/// A family as stored.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) scope: String,
    pub(crate) resource: String,
    pub(crate) revoked: bool,
    /// Why it was revoked, when it was.
    pub(crate) revoked_reason: Option<String>,
}

/// Why a grant was revoked; stored, and told to whoever presents one of its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeReason {
    /// Its authorization code was presented a second time.
    CodeReplayed,
    /// One of its refresh tokens was presented after it had been rotated.
    RefreshReused,
    /// The client asked (RFC 7009).
    Requested,
    /// An administrator removed the user or the client.
    Removed,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::CodeReplayed => "code_replayed",
            Self::RefreshReused => "refresh_reused",
            Self::Requested => "requested",
            Self::Removed => "removed",
        }
    }

    /// What a person or client should read: what happened, and what to do.
    pub(crate) fn explain(stored: Option<&str>) -> &'static str {
        match stored {
            Some("code_replayed") => {
                "this grant was revoked because its authorization code was used twice (a sign \
                 of a stolen code); sign in again"
            }
            Some("refresh_reused") => {
                "this grant was revoked because one of its refresh tokens was used after it \
                 had been replaced (a sign of a stolen token); sign in again"
            }
            Some("requested") => "this grant was revoked at the client's request; sign in again",
            Some("removed") => "the user or client of this grant was removed",
            _ => "this grant was revoked; sign in again",
        }
    }
}

/// Revokes, inside `tx`, every live family matching `filter` (an SQL condition on
/// `as_families` with `?1` bound to `value`): their refresh tokens are used up and their
/// unexpired access tokens listed as revoked. Returns those tokens' `(jti, exp)`.
pub(crate) fn revoke_in(
    tx: &belay_store::rusqlite::Transaction<'_>,
    filter: &str,
    value: &str,
    reason: RevokeReason,
    now: i64,
) -> belay_store::rusqlite::Result<Vec<(String, i64)>> {
    let families = format!("SELECT id FROM as_families WHERE {filter}");
    tx.execute(
        &format!(
            "UPDATE as_refresh_tokens SET used_at = coalesce(used_at, ?2)
             WHERE family_id IN ({families})"
        ),
        params![value, now],
    )?;
    let revoked = {
        const KEPT: i64 = crate::revoked::KEPT_PAST_EXPIRY;
        let mut statement = tx.prepare(&format!(
            "SELECT jti, exp FROM as_issued WHERE exp > ?2 - {KEPT} AND family_id IN ({families})"
        ))?;
        let rows = statement.query_map(params![value, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<Vec<(String, i64)>, _>>()?
    };
    {
        let mut insert =
            tx.prepare("INSERT OR IGNORE INTO as_revoked (jti, exp) VALUES (?1, ?2)")?;
        for (jti, exp) in &revoked {
            insert.execute(params![jti, exp])?;
        }
    }
    tx.execute(
        &format!(
            "UPDATE as_families SET revoked_at = ?2, revoked_reason = ?3
             WHERE revoked_at IS NULL AND id IN ({families})"
        ),
        params![value, now, reason.as_str()],
    )?;
    Ok(revoked)
}

/// Revokes, inside `tx`, every unexpired access token client `holder` holds (its client
/// credentials tokens, the tokens it obtained by exchange). Returns their `(jti, exp)`.
pub(crate) fn revoke_held(
    tx: &belay_store::rusqlite::Transaction<'_>,
    holder: &str,
    now: i64,
) -> belay_store::rusqlite::Result<Vec<(String, i64)>> {
    const KEPT: i64 = crate::revoked::KEPT_PAST_EXPIRY;
    let held = {
        let mut statement = tx.prepare(&format!(
            "SELECT jti, exp FROM as_issued WHERE holder = ?1 AND exp > ?2 - {KEPT}"
        ))?;
        let rows = statement.query_map(params![holder, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<Vec<(String, i64)>, _>>()?
    };
    let mut insert = tx.prepare("INSERT OR IGNORE INTO as_revoked (jti, exp) VALUES (?1, ?2)")?;
    for (jti, exp) in &held {
        insert.execute(params![jti, exp])?;
    }
    Ok(held)
}

const FAMILY_COLUMNS: &str =
    "f.id, f.client_id, f.user_id, f.scope, f.resource, f.revoked_at, f.revoked_reason";

fn family_row(
    r: &belay_store::rusqlite::Row<'_>,
    at: usize,
) -> belay_store::rusqlite::Result<Family> {
    Ok(Family {
        id: r.get(at)?,
        client_id: r.get(at + 1)?,
        user_id: r.get(at + 2)?,
        scope: r.get(at + 3)?,
        resource: r.get(at + 4)?,
        revoked: r.get::<_, Option<i64>>(at + 5)?.is_some(),
        revoked_reason: r.get(at + 6)?,
    })
}

/// What a presented refresh token turned out to be.
pub(crate) enum RefreshLookup {
    Unknown,
    Expired,
    /// Issued to another client; left untouched.
    WrongClient,
    /// Already rotated: a sign of theft; the caller revokes the family.
    Reused(Family),
    /// Its grant was revoked.
    Revoked(Family),
    Live(Family),
}

impl AuthServer {
    pub(crate) async fn create_family_with_id(
        &self,
        id: &str,
        client_id: &str,
        sub: &str,
        user_id: Option<&str>,
        scope: &str,
        resource: &str,
    ) -> Result<(), Error> {
        let now = self.now();
        let args = (
            id.to_owned(),
            client_id.to_owned(),
            sub.to_owned(),
            user_id.map(str::to_owned),
            scope.to_owned(),
            resource.to_owned(),
        );
        self.db()
            .call(move |c| {
                c.execute(
                    "INSERT INTO as_families (id, client_id, sub, user_id, scope, resource, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![args.0, args.1, args.2, args.3, args.4, args.5, now],
                )
            })
            .await?;
        Ok(())
    }

    /// Remembers that access token `jti` is held by client `holder` and, for a user's grant,
    /// came from `family`. Refused when that grant was revoked meanwhile (a replayed code or a
    /// reused refresh token racing this issue): the token is then never handed out.
    pub(crate) async fn record_issued(
        &self,
        family: Option<&str>,
        holder: &str,
        jti: &str,
        exp: i64,
    ) -> Result<(), OAuthError> {
        let (family, holder, jti) = (family.map(str::to_owned), holder.to_owned(), jti.to_owned());
        let recorded = self
            .db()
            .call(move |c| match family {
                Some(family) => c.execute(
                    "INSERT INTO as_issued (jti, family_id, exp, holder)
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS
                         (SELECT 1 FROM as_families WHERE id = ?2 AND revoked_at IS NULL)",
                    params![jti, family, exp, holder],
                ),
                // Client credentials: no grant family (the empty id matches none).
                None => c.execute(
                    "INSERT INTO as_issued (jti, family_id, exp, holder) VALUES (?1, '', ?2, ?3)",
                    params![jti, exp, holder],
                ),
            })
            .await?;
        if recorded == 0 {
            return Err(OAuthError::invalid_grant(
                "this grant was revoked while its token was being issued; sign in again",
            ));
        }
        Ok(())
    }

    /// A new refresh token in `family`.
    pub(crate) async fn issue_refresh(&self, family: &str) -> Result<String, Error> {
        let token = secret::random_token();
        let hash = secret::hash(&token);
        let family = family.to_owned();
        let expires = self.now() + self.settings().refresh_token_ttl;
        self.db()
            .call(move |c| {
                c.execute(
                    "INSERT INTO as_refresh_tokens (hash, family_id, expires_at) VALUES (?1, ?2, ?3)",
                    params![hash, family, expires],
                )
            })
            .await?;
        Ok(token)
    }

    /// Looks a refresh token up, changing nothing: a request that is refused after this
    /// (a scope it may not have) leaves the token usable. [`Self::claim_refresh`] uses it.
    pub(crate) async fn find_refresh(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<RefreshLookup, Error> {
        let hash = secret::hash(token);
        let client = client_id.to_owned();
        let now = self.now();
        let found = self
            .db()
            .call(move |c| {
                let row = c
                    .query_row(
                        &format!(
                            "SELECT r.expires_at, r.used_at, {FAMILY_COLUMNS}
                             FROM as_refresh_tokens r JOIN as_families f ON f.id = r.family_id
                             WHERE r.hash = ?1"
                        ),
                        [&hash],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, Option<i64>>(1)?,
                                family_row(r, 2)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((expires, used, family)) = row else {
                    return Ok(RefreshLookup::Unknown);
                };
                if family.client_id != client {
                    return Ok(RefreshLookup::WrongClient);
                }
                // A revoked grant's tokens were all marked used when it was revoked: say
                // why it was revoked, not that this token was reused.
                if family.revoked {
                    return Ok(RefreshLookup::Revoked(family));
                }
                if used.is_some() {
                    return Ok(RefreshLookup::Reused(family));
                }
                if expires <= now {
                    return Ok(RefreshLookup::Expired);
                }
                Ok(RefreshLookup::Live(family))
            })
            .await?;
        Ok(found)
    }

    /// Marks a live refresh token used, in one statement so that of two concurrent
    /// refreshes only one wins: `false` means another request used it first.
    pub(crate) async fn claim_refresh(&self, token: &str) -> Result<bool, Error> {
        let hash = secret::hash(token);
        let now = self.now();
        let taken = self
            .db()
            .call(move |c| {
                c.execute(
                    "UPDATE as_refresh_tokens SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL",
                    params![now, hash],
                )
            })
            .await?;
        Ok(taken == 1)
    }

    /// Revokes a family: no refresh token of it works again, nor any access token it issued
    /// (exchanged ones included).
    pub(crate) async fn revoke_family(
        &self,
        family: &str,
        reason: RevokeReason,
    ) -> Result<(), Error> {
        let family = family.to_owned();
        let now = self.now();
        let revoked = self
            .db()
            .call(move |c| {
                let tx = belay_store::write_transaction(c)?;
                let revoked = revoke_in(&tx, "id = ?1", &family, reason, now)?;
                tx.commit()?;
                Ok(revoked)
            })
            .await?;
        self.inner.revoked.add(revoked, now);
        Ok(())
    }

    /// The grant family an access token (by `jti`) was issued from, if any: client
    /// credentials tokens have none.
    pub(crate) async fn family_of(&self, jti: &str) -> Result<Option<Family>, Error> {
        let jti = jti.to_owned();
        Ok(self
            .db()
            .call(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {FAMILY_COLUMNS} FROM as_issued i
                         JOIN as_families f ON f.id = i.family_id WHERE i.jti = ?1"
                    ),
                    [jti],
                    |r| family_row(r, 0),
                )
                .optional()
            })
            .await?)
    }

    /// Puts one access token on the revocation list until it expires.
    pub(crate) async fn revoke_jti(&self, jti: &str, exp: i64) -> Result<(), Error> {
        let now = self.now();
        let id = jti.to_owned();
        const KEPT: i64 = crate::revoked::KEPT_PAST_EXPIRY;
        self.db()
            .call(move |c| {
                // Expired entries are useless: a token past `exp` fails anyway.
                c.execute(
                    &format!("DELETE FROM as_revoked WHERE exp <= ?1 - {KEPT}"),
                    [now],
                )?;
                c.execute(
                    "INSERT OR IGNORE INTO as_revoked (jti, exp) VALUES (?1, ?2)",
                    params![id, exp],
                )
            })
            .await?;
        self.inner.revoked.add([(jti.to_owned(), exp)], now);
        Ok(())
    }

    pub(crate) async fn is_revoked(&self, jti: &str) -> Result<bool, Error> {
        let jti = jti.to_owned();
        Ok(self
            .db()
            .call(move |c| {
                c.query_row("SELECT 1 FROM as_revoked WHERE jti = ?1", [jti], |_| Ok(()))
                    .optional()
            })
            .await?
            .is_some())
    }

    /// Revokes the family a refresh token belongs to; unknown tokens are ignored (RFC 7009).
    pub(crate) async fn revoke_refresh(&self, token: &str, client_id: &str) -> Result<bool, Error> {
        let hash = secret::hash(token);
        let client = client_id.to_owned();
        let family: Option<String> = self
            .db()
            .call(move |c| {
                c.query_row(
                    "SELECT f.id FROM as_refresh_tokens r JOIN as_families f ON f.id = r.family_id
                     WHERE r.hash = ?1 AND f.client_id = ?2",
                    params![hash, client],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        match family {
            Some(f) => {
                self.revoke_family(&f, RevokeReason::Requested).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
