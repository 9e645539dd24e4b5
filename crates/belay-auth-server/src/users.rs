//! People who can log in: argon2id password hashes, a stable id used as `sub`.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use belay_store::{
    Db,
    rusqlite::{self, OptionalExtension, params},
};
use serde::Serialize;

use crate::Error;

/// A user as listed (never with the password hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    /// Stable id, the `sub` of the user's tokens.
    pub id: String,
    /// Login name (`preferred_username`).
    pub username: String,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Unix time of creation.
    pub created_at: i64,
}

/// The user table. Its calls block (argon2 is deliberately slow): use them from CLI code
/// or `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct Users {
    db: Db,
}

const COLUMNS: &str = "id, username, name, email, created_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        created_at: r.get(4)?,
    })
}

impl Users {
    /// The users of `db` (whose tables [`crate::migrate`] has created).
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds a user. Names are 1-64 characters without spaces; passwords 8 or more.
    pub fn add(
        &self,
        username: &str,
        password: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<User, Error> {
        if username.is_empty()
            || username.len() > 64
            || username
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::User(format!(
                "user name `{username}` must be 1 to 64 characters without spaces"
            )));
        }
        if password.chars().count() < 8 {
            return Err(Error::User(
                "the password must have at least 8 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            created_at: crate::Clock::unix_seconds(&crate::SystemClock),
        };
        let u = user.clone();
        let inserted = self.db.call_blocking(move |c| {
            c.execute(
                "INSERT INTO as_users (id, username, name, email, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (username) DO NOTHING",
                params![u.id, u.username, u.name, u.email, hash, u.created_at],
            )
        })?;
        if inserted == 0 {
            return Err(Error::User(format!("user `{username}` already exists")));
        }
        Ok(user)
    }

    /// Every user, by name.
    pub fn list(&self) -> Result<Vec<User>, Error> {
        Ok(self.db.call_blocking(|c| {
            let mut stmt =
                c.prepare(&format!("SELECT {COLUMNS} FROM as_users ORDER BY username"))?;
            stmt.query_map([], row)?.collect()
        })?)
    }

    /// Removes a user and revokes every grant they hold (their tokens stop working at once
    /// at servers that check revocation, else at expiry). `false` if there was none.
    pub fn remove(&self, username: &str) -> Result<bool, Error> {
        let username = username.to_owned();
        let now = crate::Clock::unix_seconds(&crate::SystemClock);
        Ok(self.db.call_blocking(move |c| {
            let tx = belay_store::write_transaction(c)?;
            let id: Option<String> = tx
                .query_row(
                    "SELECT id FROM as_users WHERE username = ?1",
                    [&username],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                return Ok(false);
            };
            crate::families::revoke_in(
                &tx,
                "user_id = ?1",
                &id,
                crate::families::RevokeReason::Removed,
                now,
            )?;
            tx.execute("DELETE FROM as_users WHERE id = ?1", [&id])?;
            tx.commit()?;
            Ok(true)
        })?)
    }

    /// The user with id `id`.
    pub fn get(&self, id: &str) -> Result<Option<User>, Error> {
        let id = id.to_owned();
        Ok(self.db.call_blocking(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM as_users WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
        })?)
    }

    /// The user if `password` is theirs. Unknown names cost the same time as wrong
    /// passwords, so the form does not reveal which names exist.
    pub fn verify(&self, username: &str, password: &str) -> Result<Option<User>, Error> {
        let name = username.to_owned();
        let found = self.db.call_blocking(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS}, password_hash FROM as_users WHERE username = ?1"),
                [name],
                |r| Ok((row(r)?, r.get::<_, String>(5)?)),
            )
            .optional()
        })?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, dummy_hash()),
        };
        let parsed = PasswordHash::new(&hash).map_err(|e| Error::Hash(e.to_string()))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(user.filter(|_| ok))
    }
}

fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("belay-dummy-password").unwrap_or_default())
        .clone()
}

/// A random password for `belay auth user add` without one: 20 characters, ~119 bits.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
