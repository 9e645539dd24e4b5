//! Grant families: everything issued from one authorization (its access tokens' `jti`s
//! and its chain of rotated refresh tokens), so a replayed code or a reused refresh token
//! revokes the lot (RFC 9700 §2.2.2, §4.14). Also the `jti` revocation list.

use belay_store::rusqlite::{OptionalExtension, params};

use crate::{AuthServer, Error, secret};

/// A family as stored.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) scope: String,
    pub(crate) resource: String,
    pub(crate) revoked: bool,
}

/// What a presented refresh token turned out to be.
pub(crate) enum RefreshLookup {
    Unknown,
    Expired,
    /// Issued to another client; left untouched.
    WrongClient,
    /// Already rotated: a sign of theft; the caller revokes the family.
    Reused(Family),
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

    /// Remembers that access token `jti` came from `family`.
    pub(crate) async fn record_issued(
        &self,
        family: &str,
        jti: &str,
        exp: i64,
    ) -> Result<(), Error> {
        let (family, jti) = (family.to_owned(), jti.to_owned());
        self.db()
            .call(move |c| {
                c.execute(
                    "INSERT INTO as_issued (jti, family_id, exp) VALUES (?1, ?2, ?3)",
                    params![jti, family, exp],
                )
            })
            .await?;
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

    /// Looks a refresh token up and, if live, marks it used in the same statement so two
    /// concurrent refreshes cannot both succeed.
    pub(crate) async fn take_refresh(
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
                        "SELECT r.expires_at, r.used_at, f.id, f.client_id, f.user_id,
                                f.scope, f.resource, f.revoked_at
                         FROM as_refresh_tokens r JOIN as_families f ON f.id = r.family_id
                         WHERE r.hash = ?1",
                        [&hash],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, Option<i64>>(1)?,
                                Family {
                                    id: r.get(2)?,
                                    client_id: r.get(3)?,
                                    user_id: r.get(4)?,
                                    scope: r.get(5)?,
                                    resource: r.get(6)?,
                                    revoked: r.get::<_, Option<i64>>(7)?.is_some(),
                                },
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
                if used.is_some() {
                    return Ok(RefreshLookup::Reused(family));
                }
                if expires <= now {
                    return Ok(RefreshLookup::Expired);
                }
                let taken = c.execute(
                    "UPDATE as_refresh_tokens SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL",
                    params![now, hash],
                )?;
                Ok(if taken == 1 {
                    RefreshLookup::Live(family)
                } else {
                    RefreshLookup::Reused(family)
                })
            })
            .await?;
        Ok(found)
    }

    /// Revokes a family: no refresh token of it works again, nor any access token it issued.
    pub(crate) async fn revoke_family(&self, family: &str) -> Result<(), Error> {
        let family = family.to_owned();
        let now = self.now();
        self.db()
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "UPDATE as_families SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                    params![now, family],
                )?;
                tx.execute(
                    "UPDATE as_refresh_tokens SET used_at = coalesce(used_at, ?1) WHERE family_id = ?2",
                    params![now, family],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO as_revoked (jti, exp)
                     SELECT jti, exp FROM as_issued WHERE family_id = ?1",
                    [&family],
                )?;
                tx.commit()
            })
            .await?;
        Ok(())
    }

    /// Puts one access token on the revocation list until it expires.
    pub(crate) async fn revoke_jti(&self, jti: &str, exp: i64) -> Result<(), Error> {
        let jti = jti.to_owned();
        let now = self.now();
        self.db()
            .call(move |c| {
                // Expired entries are useless: a token past `exp` fails anyway.
                c.execute("DELETE FROM as_revoked WHERE exp <= ?1", [now])?;
                c.execute(
                    "INSERT OR IGNORE INTO as_revoked (jti, exp) VALUES (?1, ?2)",
                    params![jti, exp],
                )
            })
            .await?;
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
                self.revoke_family(&f).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
