//! `belay auth client`: the clients an administrator creates. Service grants (client
//! credentials, token exchange) mint tokens nobody consented to, so self-registration
//! never gets them: a service client comes from here or from `[[auth_server.clients]]`.

use anyhow::Context;
use belay_auth_server::{Clients, ExchangeSpec, NewClient};
use belay_store::Db;
use clap::Subcommand;

/// `belay auth client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Add a client; prints its secret once.
    Add {
        /// The client id, e.g. `reporting-job`.
        id: String,
        /// Display name (shown on the consent page).
        #[arg(long)]
        name: Option<String>,
        /// A grant it may use (repeatable): client-credentials (default), token-exchange,
        /// authorization-code, refresh-token, device-code.
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// A scope it may request (repeatable; default: any).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// A redirect URI (repeatable; for authorization-code).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// No secret (user grants only).
        #[arg(long)]
        public: bool,
        /// Token exchange: the audience of tokens it may exchange, its own resource
        /// (repeatable; `URL/*` for every URL under a path). Implies token-exchange.
        #[arg(long = "exchange-from", value_name = "URL", requires = "exchange_to")]
        exchange_from: Vec<String>,
        /// Token exchange: an audience it may ask for (repeatable; `URL/*` allowed).
        #[arg(long = "exchange-to", value_name = "URL", requires = "exchange_from")]
        exchange_to: Vec<String>,
        /// Print the client and its secret as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the clients (without secrets).
    List {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a client and revoke every grant it holds.
    Remove {
        /// The client id.
        id: String,
    },
}

/// The grant type URI or name for a short name.
fn grant_type(name: &str) -> String {
    match name.replace('_', "-").as_str() {
        "client-credentials" => "client_credentials".into(),
        "token-exchange" => belay_auth::exchange::TOKEN_EXCHANGE_GRANT.into(),
        "authorization-code" => "authorization_code".into(),
        "refresh-token" => "refresh_token".into(),
        "device-code" => "urn:ietf:params:oauth:grant-type:device_code".into(),
        _ => name.to_owned(),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs one `belay auth client` command on `db`. Blocking.
pub(crate) fn run(db: Db, command: ClientCommand) -> anyhow::Result<()> {
    let clients = Clients::new(db);
    match command {
        ClientCommand::Add {
            id,
            name,
            grants,
            scopes,
            redirect_uris,
            public,
            exchange_from,
            exchange_to,
            json,
        } => {
            let token_exchange = (!exchange_from.is_empty()).then_some(ExchangeSpec {
                from: exchange_from,
                to: exchange_to,
            });
            let new = NewClient {
                client_id: id,
                name,
                grant_types: grants.iter().map(|g| grant_type(g)).collect(),
                scopes,
                redirect_uris,
                public,
                token_exchange,
            };
            let (client, secret) = clients.add(new, now())?;
            if json {
                let mut value = serde_json::to_value(&client)?;
                value["client_secret"] = secret.into();
                println!("{value}");
            } else {
                println!(
                    "added client {} ({})",
                    client.client_id,
                    client.grant_types.join(", ")
                );
                if let Some(secret) = secret {
                    println!("secret: {secret}\n(shown once; only a hash is kept)");
                }
            }
        }
        ClientCommand::List { json } => {
            let list = clients.list()?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no clients");
            } else {
                for c in list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.client_id,
                        c.source,
                        c.grant_types.join(","),
                        if c.confidential {
                            "confidential"
                        } else {
                            "public"
                        },
                        c.name.unwrap_or_default(),
                    );
                }
            }
        }
        ClientCommand::Remove { id } => {
            let removed = clients
                .remove(&id, now())
                .with_context(|| format!("cannot remove client `{id}`"))?;
            anyhow::ensure!(removed, "no client `{id}`");
            println!(
                "removed client {id}; its grants are revoked (a client from belay.toml comes \
                 back on the next start unless you delete it there)"
            );
        }
    }
    Ok(())
}
