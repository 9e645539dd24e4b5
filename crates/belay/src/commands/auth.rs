//! `belay auth`: run the embedded authorization server and manage its users and keys.

use std::{io::Read, path::PathBuf, sync::Arc};

use anyhow::Context;
use belay_auth_server::{Alg, AuthServer, ServerSpec, Settings, SystemClock, Users};
use belay_mcp::{guard::AllowList, http::HttpServerOptions};
use belay_store::Db;
use clap::{Args, Subcommand};

use crate::config::BelayConfig;

/// Arguments of `belay auth`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Folder of the state database (default: the per-user data folder + `/belay`).
    #[arg(long, global = true, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// `belay auth` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Run the authorization server until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Make a new signing key; old keys stay published until their tokens expire.
    RotateKeys {
        /// Algorithm of the new key.
        #[arg(long, default_value = "ES256")]
        alg: Alg,
    },
    /// Manage the people who can sign in.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage clients an administrator creates (service clients: client credentials,
    /// token exchange).
    #[command(subcommand)]
    Client(super::auth_client::ClientCommand),
    /// Sign in to an MCP server that asks for OAuth, and keep the tokens.
    Login(super::login::LoginArgs),
    /// Forget the tokens kept for an MCP server.
    Logout(super::login::LogoutArgs),
}

/// Arguments of `belay auth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Interface to listen on (default: auth_server.host, 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on; 0 picks a free one (default: auth_server.port, 9000).
    #[arg(long)]
    pub port: Option<u16>,
    /// Public base URL (default: auth_server.issuer, else http://HOST:PORT).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// `belay auth user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a generated password when none is given.
    Add {
        /// Login name.
        name: String,
        /// Read the password from standard input (first line).
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password (visible in the process list: prefer --password-stdin).
        #[arg(long)]
        password: Option<String>,
        /// Display name, e.g. "Ada Lovelace".
        #[arg(long = "name", value_name = "FULL NAME")]
        full_name: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
    },
    /// List users.
    List {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user.
    Remove {
        /// Login name.
        name: String,
    },
}

pub(crate) fn open_db(spec: &ServerSpec, data_dir: Option<PathBuf>) -> anyhow::Result<Db> {
    let path = match (&spec.database, data_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.join("belay.db"),
        (None, None) => dirs::data_dir()
            .context("no per-user data folder on this system; pass --data-dir")?
            .join("belay")
            .join("belay.db"),
    };
    let db = Db::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    belay_auth_server::migrate(&db)?;
    Ok(db)
}

/// Runs `belay auth …` with the configuration file `config`.
pub async fn run(args: AuthArgs, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let state = |spec: &ServerSpec| open_db(spec, args.data_dir.clone());
    let spec = || BelayConfig::load(config).map(|c| c.auth_server);
    match args.command {
        AuthCommand::Serve(serve) => {
            let loaded = BelayConfig::load(config)?;
            let options = loaded.front(HttpServerOptions::default());
            let mut spec = loaded.auth_server;
            let db = state(&spec)?;
            if let Some(host) = serve.host {
                spec.host = host;
            }
            if let Some(port) = serve.port {
                spec.port = port;
            }
            if serve.issuer.is_some() {
                spec.issuer = serve.issuer;
            }
            run_server(spec, db, options).await
        }
        AuthCommand::RotateKeys { alg } => {
            let db = state(&spec()?)?;
            let kid = tokio::task::spawn_blocking(move || {
                belay_auth_server::keys::rotate(
                    &db,
                    alg,
                    belay_auth_server::Clock::unix_seconds(&SystemClock),
                )
            })
            .await??;
            println!(
                "new {alg} signing key {kid}; previous keys stay published until their tokens expire"
            );
            Ok(())
        }
        AuthCommand::User(cmd) => {
            let db = state(&spec()?)?;
            tokio::task::spawn_blocking(move || user(Users::new(db), cmd)).await?
        }
        AuthCommand::Client(cmd) => {
            let db = state(&spec()?)?;
            tokio::task::spawn_blocking(move || super::auth_client::run(db, cmd)).await?
        }
        // Signing in to a server is the client side: no authorization-server state.
        AuthCommand::Login(login) => super::login::login(login).await,
        AuthCommand::Logout(logout) => super::login::logout(logout).await,
    }
}

async fn run_server(
    mut spec: ServerSpec,
    db: Db,
    options: HttpServerOptions,
) -> anyhow::Result<()> {
    let (listener, addr) = belay_mcp::http::bind(&format!("{}:{}", spec.host, spec.port)).await?;
    // With --port 0 the issuer must name the port actually bound.
    spec.port = addr.port();
    let settings = Settings::try_from(&spec)?;
    let allow = AllowList {
        hosts: issuer_host(&settings.issuer)
            .into_iter()
            .chain(spec.allowed_hosts.iter().cloned())
            .collect(),
        origins: Vec::new(),
    };
    let server =
        tokio::task::spawn_blocking(move || AuthServer::new(db, settings, Arc::new(SystemClock)))
            .await??;
    let issuer = server.issuer().to_owned();
    super::announce(&format!(
        "issuer   {issuer}\nmetadata {issuer}/.well-known/oauth-authorization-server\n"
    ));
    if server.users().list()?.is_empty() {
        eprintln!("no users yet: add one with `belay auth user add NAME`");
    }
    let shutdown = belay_core::shutdown::on_signal();
    let router = belay_mcp::http::guarded(server.router(), allow);
    belay_auth_server::serve_with(listener, router, shutdown, options).await?;
    eprintln!("belay auth: stopped");
    Ok(())
}

fn issuer_host(issuer: &str) -> Option<String> {
    let rest = issuer.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority
        .strip_prefix('[')
        .and_then(|a| a.split(']').next())
        .unwrap_or_else(|| authority.rsplit_once(':').map_or(authority, |(h, _)| h));
    Some(host.to_owned())
}

fn user(users: Users, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            password_stdin,
            password,
            full_name,
            email,
        } => {
            let (password, generated) = match (password_stdin, password) {
                (true, _) => {
                    let mut line = String::new();
                    std::io::stdin().read_to_string(&mut line)?;
                    (line.lines().next().unwrap_or_default().to_owned(), false)
                }
                (false, Some(p)) => (p, false),
                (false, None) => (belay_auth_server::users::generate_password(), true),
            };
            let user = users.add(&name, &password, full_name.as_deref(), email.as_deref())?;
            println!("added user {} (id {})", user.username, user.id);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List { json } => {
            let list = users.list()?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no users");
            } else {
                for u in list {
                    println!(
                        "{}\t{}\t{}\t{}",
                        u.username,
                        u.name.unwrap_or_default(),
                        u.email.unwrap_or_default(),
                        u.id
                    );
                }
            }
        }
        UserCommand::Remove { name } => {
            anyhow::ensure!(users.remove(&name)?, "no user named `{name}`");
            println!("removed user {name}");
        }
    }
    Ok(())
}
