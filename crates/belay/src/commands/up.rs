//! `belay up`: the main job on embedded defaults.
//!
//! One port serves the embedded authorization server at its root and every reference server
//! at `/servers/NAME/mcp` (the path the gateway will keep), each protected by OAuth with its
//! own URL as the token audience. State (users, clients, keys, refresh tokens) lives in one
//! SQLite file under `--data-dir`, so the next run keeps it. The first run creates a `demo`
//! user and prints its password once. `--no-auth` serves the same servers without sign-in.

use std::{path::PathBuf, sync::Arc};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_auth::{Protection, exchange::ClientCredentials};
use belay_auth_server::{AuthServer, ClientSpec, Settings, SystemClock};
use belay_mcp::{guard::AllowList, http};
use belay_servers::{ServerName, whoami::WhoamiServer};
use clap::Args;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::BelayConfig;

/// Arguments of `belay up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "BELAY_HOST")]
    pub host: String,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, short, default_value_t = 8000, env = "BELAY_PORT")]
    pub port: u16,

    /// Folder of the state database (default: the per-user data folder + `/belay`).
    #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Serve without OAuth: anyone who can reach the port can call every server.
    #[arg(long)]
    pub no_auth: bool,

    /// Print the endpoints as one JSON object on stdout instead of the friendly banner.
    #[arg(long)]
    pub json: bool,
}

/// The URL path at which `up` serves `name`.
pub fn server_path(name: ServerName) -> String {
    format!("/servers/{name}/mcp")
}

/// The login created on the first run.
const DEMO_USER: &str = "demo";
/// The client whoami exchanges tokens as; its secret is new on every run.
const WHOAMI_CLIENT: &str = "belay-whoami";

/// What `up` started, for the banner and `--json`.
struct Started {
    servers: Vec<(ServerName, String)>,
    /// The issuer, when OAuth is on.
    issuer: Option<String>,
    /// The demo user's password, on the run that created it.
    new_password: Option<String>,
}

/// Runs the authorization server and every reference server until SIGINT/SIGTERM.
pub async fn run(args: UpArgs, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let shutdown = belay_core::shutdown::on_signal();
    let (listener, addr) = http::bind(&format!("{}:{}", args.host, args.port)).await?;
    let base = format!("http://{addr}");
    let (router, started) = if args.no_auth {
        open_servers(&base, &shutdown)
    } else {
        protected_servers(&args, config, &base, &shutdown).await?
    };
    if args.json {
        super::announce(&format!("{}\n", started_json(&started)));
    } else {
        print_banner(&started);
    }
    http::run(
        listener,
        http::guarded(router, AllowList::default()),
        shutdown,
    )
    .await?;
    eprintln!("belay up: stopped");
    Ok(())
}

fn open_servers(base: &str, shutdown: &CancellationToken) -> (axum::Router, Started) {
    let mut router = axum::Router::new();
    for &name in ServerName::UP {
        router = router.merge(belay_servers::streamable_router(
            name,
            &server_path(name),
            false,
            shutdown.clone(),
        ));
    }
    let started = Started {
        servers: endpoints(base, ServerName::UP),
        issuer: None,
        new_password: None,
    };
    (router, started)
}

async fn protected_servers(
    args: &UpArgs,
    config: Option<&std::path::Path>,
    base: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<(axum::Router, Started)> {
    let config = BelayConfig::load(config)?;
    let mut spec = config.auth_server;
    let issuer = spec.issuer.clone().unwrap_or_else(|| base.to_owned());
    spec.issuer = Some(issuer.clone());
    let whoami_secret = belay_auth_server::users::generate_password();
    spec.clients.push(ClientSpec {
        client_id: WHOAMI_CLIENT.into(),
        client_secret: Some(whoami_secret.clone()),
        grant_types: vec![belay_auth::exchange::TOKEN_EXCHANGE_GRANT.into()],
        name: Some("belay whoami".into()),
        ..ClientSpec::default()
    });
    let db = super::auth::open_db(&spec, args.data_dir.clone())?;
    let settings = Settings::try_from(&spec)?;
    let (server, new_password) = tokio::task::spawn_blocking(move || {
        let server = AuthServer::new(db, settings, Arc::new(SystemClock))?;
        let users = server.users();
        let new_password = if users.list()?.is_empty() {
            let password = belay_auth_server::users::generate_password();
            users.add(DEMO_USER, &password, Some("Demo User"), None)?;
            Some(password)
        } else {
            None
        };
        anyhow::Ok((server, new_password))
    })
    .await??;

    let mut resource = config.resource;
    resource.issuer = issuer.clone();
    let mut router = server.router();
    let mut names = ServerName::UP.to_vec();
    names.push(ServerName::Whoami);
    for &name in &names {
        let path = server_path(name);
        // Every server is its own resource: a token for one is refused by the others.
        let mut own = resource.clone();
        own.resource = Some(format!("{base}{path}"));
        let protection =
            Protection::new(&own, base).with_context(|| format!("cannot protect {name}"))?;
        let served = if name == ServerName::Whoami {
            let whoami = WhoamiServer::for_embedded_issuer(
                &issuer,
                ClientCredentials::new(WHOAMI_CLIENT.to_owned(), whoami_secret.clone()),
            )?;
            http::streamable_router(whoami, &path, false, shutdown.clone())
        } else {
            belay_servers::streamable_router(name, &path, false, shutdown.clone())
        };
        router = router.merge(protection.protect_shared_origin(served));
    }
    let started = Started {
        servers: endpoints(base, &names),
        issuer: Some(issuer),
        new_password,
    };
    Ok((router, started))
}

fn endpoints(base: &str, names: &[ServerName]) -> Vec<(ServerName, String)> {
    names
        .iter()
        .map(|&name| (name, format!("{base}{}", server_path(name))))
        .collect()
}

/// `{"stock": {"type": "http", "url": …}, …}`: the `servers` object of VS Code's mcp.json.
fn endpoints_json(endpoints: &[(ServerName, String)]) -> serde_json::Value {
    endpoints
        .iter()
        .map(|(name, url)| (name.to_string(), json!({ "type": "http", "url": url })))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn started_json(started: &Started) -> serde_json::Value {
    let mut value = json!({ "servers": endpoints_json(&started.servers) });
    if let Some(issuer) = &started.issuer {
        value["issuer"] = json!(issuer);
        value["user"] = json!({ "username": DEMO_USER, "password": started.new_password });
    }
    value
}

fn print_banner(started: &Started) {
    let bold = Style::new().bold();
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    let how = if started.issuer.is_some() {
        "Streamable HTTP, OAuth sign-in"
    } else {
        "Streamable HTTP, no sign-in"
    };
    out.push_str(&format!(
        "\n{green}Belay is up.{green:#} Reference MCP servers ({how}):\n\n"
    ));
    for (name, url) in &started.servers {
        out.push_str(&format!("  {bold}{:<10}{bold:#} {url}\n", name.as_str()));
    }
    if let Some(issuer) = &started.issuer {
        out.push_str(&format!(
            "\n{bold}Sign-in{bold:#}    {issuer}  (user {DEMO_USER}"
        ));
        match &started.new_password {
            Some(password) => out.push_str(&format!(
                ", password {yellow}{password}{yellow:#} {dim}shown once, stored hashed{dim:#})\n"
            )),
            None => out.push_str(&format!(
                "; {dim}forgot the password? `belay auth user remove {DEMO_USER}`, then \
                 restart{dim:#})\n"
            )),
        }
    }
    let mcp_json = json!({ "servers": endpoints_json(&started.servers) });
    let pretty = serde_json::to_string_pretty(&mcp_json).unwrap_or_default();
    out.push_str(&format!(
        "\n{bold}VS Code{bold:#} {dim}(.vscode/mcp.json):{dim:#}\n{pretty}\n\n{dim}Press Ctrl-C to stop.{dim:#}\n"
    ));
    super::announce(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_json_lists_every_server_with_its_url() {
        let eps = endpoints("http://127.0.0.1:8000", ServerName::UP);
        let value = endpoints_json(&eps);
        assert_eq!(
            value["stock"],
            json!({"type": "http", "url": "http://127.0.0.1:8000/servers/stock/mcp"})
        );
        assert_eq!(
            value.as_object().map(|o| o.len()),
            Some(ServerName::UP.len())
        );
    }

    #[test]
    fn the_password_appears_only_on_the_run_that_made_it() {
        let mut started = Started {
            servers: Vec::new(),
            issuer: Some("http://127.0.0.1:8000".into()),
            new_password: Some("s3cret".into()),
        };
        assert_eq!(started_json(&started)["user"]["password"], "s3cret");
        started.new_password = None;
        assert!(started_json(&started)["user"]["password"].is_null());
    }
}
