//! `belay registry`: serve the private MCP registry (the official Registry REST API over the
//! state store), and govern what was published: list, approve, deprecate, block. The work is
//! belay-registry's; this file reads flags and prints.

use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_mcp::{guard::AllowList, http::HttpServerOptions};
use belay_registry::{Entry, RegistryStore, Status, api, name::parse_name_version, store};
use clap::{Args, Subcommand};

use crate::config::BelayConfig;

/// Arguments of `belay registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RegistryCommand,
    /// Folder of the state database (default: the per-user data folder + `/belay`).
    #[arg(long, global = true, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `belay registry` subcommands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve the registry API (`/v0.1/servers`, `/v0.1/publish`, and `/v0/…`).
    Serve {
        /// Interface to listen on (default: `[registry] host`, 127.0.0.1).
        #[arg(long)]
        host: Option<String>,
        /// Port to listen on; 0 picks a free one (default: `[registry] port`, 8100).
        #[arg(long, short)]
        port: Option<u16>,
        /// Host name accepted besides loopback (DNS rebinding guard); repeatable.
        #[arg(long = "allowed-host", value_name = "HOST")]
        allowed_hosts: Vec<String>,
    },
    /// Every published version with its status (all statuses, unlike the API).
    List {
        /// Only versions with this status.
        #[arg(long, value_parser = ["pending", "approved", "deprecated", "blocked"])]
        status: Option<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve NAME@VERSION: the API lists it, and it can become the latest.
    Approve {
        /// e.g. `com.example/weather@1.0.0`.
        target: String,
    },
    /// Deprecate NAME@VERSION: still listed, marked deprecated.
    Deprecate {
        /// e.g. `com.example/weather@1.0.0`.
        target: String,
    },
    /// Block NAME@VERSION: no longer listed, never the latest.
    Block {
        /// e.g. `com.example/weather@1.0.0`.
        target: String,
    },
    /// Every recorded change (publications and reviews), oldest first.
    History {
        /// Only this server.
        name: Option<String>,
        /// One JSON document instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `belay registry …` with the configuration file `config`.
pub async fn run(args: RegistryArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config)?;
    let dir = super::gateway::data_dir(args.data_dir)?;
    super::create_data_dir(&dir)?;
    let db = super::auth::open_db(&config.auth_server, Some(dir))?;
    let store = RegistryStore::open(db).context("cannot open the registry's tables")?;
    let (status, target) = match args.command {
        RegistryCommand::Serve {
            host,
            port,
            allowed_hosts,
        } => return serve(config, store, host, port, allowed_hosts).await,
        RegistryCommand::List { status, json } => {
            let status = status.as_deref().map(parse_status);
            return print_list(&store.all(status).await?, json);
        }
        RegistryCommand::History { name, json } => {
            return print_history(&store.history(name.as_deref()).await?, json);
        }
        RegistryCommand::Approve { target } => (Status::Approved, target),
        RegistryCommand::Deprecate { target } => (Status::Deprecated, target),
        RegistryCommand::Block { target } => (Status::Blocked, target),
    };
    let (name, version) = parse_name_version(&target)?;
    let entry = store
        .set_status(name.as_str(), &version, status, &actor())
        .await?;
    anstream::println!(
        "{}@{} is now {}{}",
        entry.name,
        entry.version,
        styled(entry.status),
        if entry.is_latest { " (latest)" } else { "" }
    );
    Ok(())
}

fn parse_status(text: &str) -> Status {
    match text {
        "approved" => Status::Approved,
        "deprecated" => Status::Deprecated,
        "blocked" => Status::Blocked,
        _ => Status::Pending,
    }
}

/// Who made a change from the command line, for the history.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn styled(status: Status) -> String {
    let colour = match status {
        Status::Pending => AnsiColor::Yellow,
        Status::Approved => AnsiColor::Green,
        Status::Deprecated => AnsiColor::Magenta,
        Status::Blocked => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into())).bold();
    format!("{style}{status}{style:#}")
}

fn print_list(entries: &[Entry], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("nothing published yet");
        return Ok(());
    }
    let bold = Style::new().bold();
    anstream::println!(
        "{bold}{:<40} {:<16} {:<12} {:<7} {:<20} PUBLISHED{bold:#}",
        "NAME",
        "VERSION",
        "STATUS",
        "LATEST",
        "OWNER"
    );
    for e in entries {
        // Padding counts the visible text, not the colour codes around it.
        let status = format!(
            "{}{}",
            styled(e.status),
            " ".repeat(12 - e.status.as_str().len())
        );
        anstream::println!(
            "{:<40} {:<16} {status} {:<7} {:<20} {}",
            e.name,
            e.version,
            if e.is_latest { "yes" } else { "" },
            e.owner,
            store::rfc3339(e.published_at)
        );
    }
    Ok(())
}

fn print_history(events: &[belay_registry::Event], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(events)?);
        return Ok(());
    }
    for e in events {
        let change = match &e.previous {
            Some(previous) => format!("{previous} → {}", e.status),
            None => e.status.clone(),
        };
        println!(
            "{}  {:<9} {}@{}  {change}  by {}",
            store::rfc3339(e.at),
            e.action,
            e.name,
            e.version,
            e.actor
        );
    }
    Ok(())
}

async fn serve(
    config: BelayConfig,
    store: RegistryStore,
    host: Option<String>,
    port: Option<u16>,
    allowed_hosts: Vec<String>,
) -> anyhow::Result<()> {
    let spec = config.registry.clone();
    let host = host.unwrap_or_else(|| spec.host.clone());
    let port = port.unwrap_or(spec.port);
    let (listener, addr) = belay_mcp::http::bind(&format!("{host}:{port}")).await?;
    let url = format!("http://{addr}");
    let scope = spec.scope.clone();
    let issuer = spec.auth.issuer.clone();
    let publishers = spec.namespaces.len();
    let registry = api::Registry::new(store, spec, &url)?;
    super::announce(&format!(
        "registry  {url}/v0.1/servers\npublish   POST {url}/v0.1/publish with a token from \
         {issuer} for audience {} and scope {scope} ({publishers} publisher(s) in \
         [registry.namespaces])\n",
        registry.audience()
    ));
    let router = belay_mcp::http::guarded(
        api::router(registry),
        AllowList {
            hosts: allowed_hosts,
            origins: Vec::new(),
        },
    );
    let shutdown = belay_core::shutdown::on_signal();
    belay_mcp::http::run_with(
        listener,
        router,
        shutdown,
        config.front(HttpServerOptions::default()),
    )
    .await
    .context("`belay registry serve` stopped")?;
    eprintln!("belay registry: stopped");
    Ok(())
}
