//! Clients an administrator manages (`belay auth client add|list|remove`): the only way,
//! besides `[[auth_server.clients]]` in belay.toml, to get a client with a service grant
//! (client credentials, token exchange), since self-registration never grants those.

use belay_store::{
    Db,
    rusqlite::{self, params},
};
use serde::Serialize;

use crate::{
    Error,
    clients::{self, AuthMethod, Client, check_grants, check_redirect_uri},
    families::{RevokeReason, revoke_held, revoke_in},
    secret,
    spec::ExchangeSpec,
};

/// A client as listed (never with its secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its id.
    pub client_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Grants it may use.
    pub grant_types: Vec<String>,
    /// Scopes it may request; empty means any.
    pub scopes: Vec<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Whether it holds a secret.
    pub confidential: bool,
    /// What it may trade by token exchange.
    pub token_exchange: Option<ExchangeSpec>,
    /// Who made it: `admin` (`belay auth client add`), `config` (belay.toml) or `dcr`
    /// (registered itself).
    pub source: String,
    /// Unix time of creation.
    pub created_at: i64,
}

/// What `belay auth client add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// The id; letters, digits and `-._:` only.
    pub client_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Grants; none means `client_credentials`.
    pub grant_types: Vec<String>,
    /// Scopes it may request; empty means any the server knows.
    pub scopes: Vec<String>,
    /// Redirect URIs (for the authorization code grant).
    pub redirect_uris: Vec<String>,
    /// A public client (no secret): only for user grants.
    pub public: bool,
    /// What it may trade by token exchange (grants the token-exchange grant).
    pub token_exchange: Option<ExchangeSpec>,
}

/// The client table, for administrators. Its calls block: use them from CLI code or
/// `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct Clients {
    db: Db,
}

impl Clients {
    /// The clients of `db` (whose tables [`crate::migrate`] has created).
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds a client; returns it and, for a confidential one, its secret (shown once:
    /// only a hash is kept). An id already in use is refused.
    pub fn add(&self, new: NewClient, now: i64) -> Result<(ClientInfo, Option<String>), Error> {
        let id = &new.client_id;
        if id.is_empty()
            || id.len() > 128
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c))
        {
            return Err(Error::User(format!(
                "client id `{id}` must be 1 to 128 letters, digits or `-._:`"
            )));
        }
        for uri in &new.redirect_uris {
            check_redirect_uri(uri).map_err(Error::User)?;
        }
        if let Some(rights) = &new.token_exchange {
            rights.check().map_err(Error::User)?;
        }
        let mut grant_types = if new.grant_types.is_empty() {
            vec!["client_credentials".to_owned()]
        } else {
            new.grant_types.clone()
        };
        if new.token_exchange.is_some()
            && !grant_types
                .iter()
                .any(|g| g == crate::token::TOKEN_EXCHANGE)
        {
            grant_types.push(crate::token::TOKEN_EXCHANGE.to_owned());
        }
        let secret = (!new.public).then(secret::random_token);
        let client = Client {
            client_id: new.client_id.clone(),
            secret_hash: secret.as_deref().map(secret::hash),
            name: new.name.clone(),
            redirect_uris: new.redirect_uris.clone(),
            grant_types,
            scopes: new.scopes.clone(),
            auth_method: if new.public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            token_exchange: new.token_exchange.clone(),
            self_registered: false,
        };
        check_grants(&client).map_err(|why| Error::User(format!("client `{id}`: {why}")))?;
        let stored = client.clone();
        let added = self.db.call_blocking(move |c| {
            let tx = belay_store::write_transaction(c)?;
            let taken: bool = tx.query_row(
                "SELECT count(*) > 0 FROM as_clients WHERE client_id = ?1",
                [&stored.client_id],
                |r| r.get(0),
            )?;
            if !taken {
                clients::store(&tx, &stored, "admin", now)?;
            }
            tx.commit()?;
            Ok(!taken)
        })?;
        if !added {
            return Err(Error::User(format!(
                "a client `{id}` exists already; remove it first to replace it"
            )));
        }
        Ok((info(client, "admin", now), secret))
    }

    /// Every client, oldest first.
    pub fn list(&self) -> Result<Vec<ClientInfo>, Error> {
        Ok(self.db.call_blocking(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {}, created_at FROM as_clients ORDER BY created_at, client_id",
                clients::CLIENT_COLUMNS
            ))?;
            let rows = statement.query_map([], |r| {
                let client = clients::from_row(r)?;
                Ok(info(client, &r.get::<_, String>(8)?, r.get(9)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?)
    }

    /// Removes a client and revokes every grant it holds and every token it holds (client
    /// credentials, exchanged): they stop working at servers that check revocation (a
    /// running `belay up` picks the change up within seconds), else at expiry. `false` if
    /// there was none.
    pub fn remove(&self, client_id: &str, now: i64) -> Result<bool, Error> {
        let id = client_id.to_owned();
        Ok(self.db.call_blocking(move |c| {
            let tx = belay_store::write_transaction(c)?;
            revoke_in(&tx, "client_id = ?1", &id, RevokeReason::Removed, now)?;
            revoke_held(&tx, &id, now)?;
            let removed = tx.execute("DELETE FROM as_clients WHERE client_id = ?1", params![id])?;
            tx.commit()?;
            Ok(removed > 0)
        })?)
    }
}

fn info(client: Client, source: &str, created_at: i64) -> ClientInfo {
    ClientInfo {
        confidential: client.is_confidential(),
        client_id: client.client_id,
        name: client.name,
        grant_types: client.grant_types,
        scopes: client.scopes,
        redirect_uris: client.redirect_uris,
        token_exchange: client.token_exchange,
        source: source.to_owned(),
        created_at,
    }
}
