//! `belay registry`: serve the private MCP registry (the official Registry REST API over the
//! state store), and govern what was published: list, approve, deprecate, block. The work is
//! belay-registry's; this file reads flags and prints.

use std::path::{Path, PathBuf};

use anstyle::{AnsiColor, Style};
use anyhow::Context;
use belay_mcp::{guard::AllowList, http::HttpServerOptions};
use belay_registry::{
    Entry, RegistryStore, Review, ServerList, Status, api, name::parse_name_version,
    scan::ScanReport, store,
};
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
    /// Every published version with its status, scan, owners and tags (all statuses,
    /// unlike the API).
    List {
        /// Only versions with this status.
        #[arg(long, value_parser = ["pending", "approved", "deprecated", "blocked"])]
        status: Option<String>,
        /// Only servers this publisher owns (`alice`, `client:ci`).
        #[arg(long)]
        owner: Option<String>,
        /// Only servers with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve NAME@VERSION: the API lists it, and it can become the latest. A version
    /// whose scan at submission found high or critical issues needs --override.
    Approve {
        /// e.g. `com.example/weather@1.0.0`.
        target: String,
        /// Approve although the scan found high or critical issues (recorded and audited
        /// as an `override`, with --reason).
        #[arg(long = "override", requires = "reason")]
        override_scan: bool,
        /// Why the findings are acceptable (required with --override).
        #[arg(long, requires = "override_scan")]
        reason: Option<String>,
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
    /// Mirror: import FILE, a `GET /v0.1/servers` answer saved from another registry (the
    /// public one), offline. Versions keep their provenance in `_meta` and start pending
    /// unless --approve; versions already here are skipped.
    Import {
        /// The saved list answer (JSON).
        file: PathBuf,
        /// Where it came from, for provenance (default: registry.modelcontextprotocol.io).
        #[arg(long, default_value = "registry.modelcontextprotocol.io")]
        source: String,
        /// Approve what is imported (a version whose scan finds high or critical issues
        /// stays pending unless --override).
        #[arg(long)]
        approve: bool,
        /// With --approve: approve those too (recorded as overrides, with --reason).
        #[arg(long = "override", requires_all = ["reason", "approve"])]
        override_scan: bool,
        /// Why the findings are acceptable (required with --override).
        #[arg(long, requires = "override_scan")]
        reason: Option<String>,
        /// One JSON report instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Show or change who owns a server: owners may publish its next versions.
    Owners {
        /// The server, e.g. `com.example/weather`.
        name: String,
        /// Publisher to add (repeatable).
        #[arg(long, value_name = "PUBLISHER")]
        add: Vec<String>,
        /// Publisher to remove (repeatable); the last owner stays.
        #[arg(long, value_name = "PUBLISHER")]
        remove: Vec<String>,
    },
    /// Show or change a server's tags.
    Tags {
        /// The server, e.g. `com.example/weather`.
        name: String,
        /// Tag to add (repeatable): lowercase letters, digits, `-`, `.`, `_`.
        #[arg(long, value_name = "TAG")]
        add: Vec<String>,
        /// Tag to remove (repeatable).
        #[arg(long, value_name = "TAG")]
        remove: Vec<String>,
    },
    /// Every recorded change (publications, reviews, overrides, owners, tags), oldest first.
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
    let db = super::auth::open_db(&config.auth_server, Some(dir.clone()))?;
    let store = RegistryStore::open(db).context("cannot open the registry's tables")?;
    let (status, target, override_reason) = match args.command {
        RegistryCommand::Serve {
            host,
            port,
            allowed_hosts,
        } => return serve(config, dir, store, host, port, allowed_hosts).await,
        RegistryCommand::List {
            status,
            owner,
            tag,
            json,
        } => {
            let status = status.as_deref().map(parse_status);
            let entries = store.all(status, owner.as_deref(), tag.as_deref()).await?;
            return print_list(&entries, json);
        }
        RegistryCommand::History { name, json } => {
            return print_history(&store.history(name.as_deref()).await?, json);
        }
        RegistryCommand::Import {
            file,
            source,
            approve,
            override_scan: _,
            reason,
            json,
        } => return import(&store, &file, source, approve, reason, json).await,
        RegistryCommand::Owners { name, add, remove } => {
            return change_list(&store, ServerList::Owners, &name, &add, &remove).await;
        }
        RegistryCommand::Tags { name, add, remove } => {
            return change_list(&store, ServerList::Tags, &name, &add, &remove).await;
        }
        RegistryCommand::Approve {
            target,
            override_scan: _,
            reason,
        } => (Status::Approved, target, reason),
        RegistryCommand::Deprecate { target } => (Status::Deprecated, target, None),
        RegistryCommand::Block { target } => (Status::Blocked, target, None),
    };
    let (name, version) = parse_name_version(&target)?;
    let review = Review {
        actor: actor(),
        override_reason,
    };
    let entry = store
        .set_status(name.as_str(), &version, status, &review)
        .await?;
    anstream::println!(
        "{}@{} is now {}{}{}",
        entry.name,
        entry.version,
        styled(entry.status),
        if entry.is_latest { " (latest)" } else { "" },
        if review.override_reason.is_some() && entry.needs_override() {
            " (scan overridden, recorded)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `belay registry owners|tags NAME [--add X]… [--remove X]…`: prints the list, changed
/// when asked.
async fn change_list(
    store: &RegistryStore,
    list: ServerList,
    name: &str,
    add: &[String],
    remove: &[String],
) -> anyhow::Result<()> {
    let items = if add.is_empty() && remove.is_empty() {
        let entries = store.versions(name, true).await?;
        let entry = entries
            .and_then(|e| e.into_iter().next())
            .ok_or_else(|| anyhow::anyhow!("{name} is not in the registry"))?;
        match list {
            ServerList::Owners => entry.owners,
            ServerList::Tags => entry.tags,
        }
    } else {
        store.change(name, list, add, remove, &actor()).await?
    };
    println!("{name} {}: {}", list.as_str(), items.join(", "));
    Ok(())
}

async fn import(
    store: &RegistryStore,
    file: &Path,
    source: String,
    approve: bool,
    override_reason: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    anyhow::ensure!(
        size <= belay_registry::import::MAX_FILE_BYTES as u64,
        "{} is over {} bytes",
        file.display(),
        belay_registry::import::MAX_FILE_BYTES
    );
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let options = belay_registry::import::ImportOptions {
        source,
        file: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        actor: actor(),
        approve,
        override_reason,
    };
    let validator = belay_registry::DocumentValidator::new()?;
    let guard = belay_guard::MetadataGuard::new()?;
    let report =
        belay_registry::import::import(store, &validator, &guard, &bytes, &options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for line in &report.lines {
            let colour = match line.outcome.as_str() {
                "approved" => AnsiColor::Green,
                "imported" => AnsiColor::Yellow,
                "failed" => AnsiColor::Red,
                _ => AnsiColor::BrightBlack,
            };
            let style = Style::new().fg_color(Some(colour.into())).bold();
            anstream::println!(
                "{style}{:<9}{style:#} {}  {}",
                line.outcome,
                belay_client::terminal::clean(&line.item),
                belay_client::terminal::clean(&line.detail)
            );
        }
        println!(
            "{} imported ({} approved), {} skipped, {} failed",
            report.count("imported") + report.count("approved"),
            report.count("approved"),
            report.count("skipped"),
            report.count("failed")
        );
    }
    anyhow::ensure!(
        report.count("failed") == 0,
        "{} item(s) of {} could not be imported (see above)",
        report.count("failed"),
        file.display()
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

/// The scan column: `clean`, or the count and the worst severity, coloured by it.
fn scan_cell(scan: Option<&ScanReport>) -> (String, usize) {
    let Some(scan) = scan else {
        return ("-".into(), 1);
    };
    let text = scan.summary();
    let colour = match scan.worst.as_deref() {
        None => AnsiColor::Green,
        Some("critical" | "high") => AnsiColor::Red,
        Some("medium") => AnsiColor::Yellow,
        Some(_) => AnsiColor::Cyan,
    };
    let style = Style::new().fg_color(Some(colour.into()));
    let width = text.chars().count();
    (format!("{style}{text}{style:#}"), width)
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
        "{bold}{:<36} {:<12} {:<11} {:<6} {:<22} {:<20} {:<16} PUBLISHED{bold:#}",
        "NAME",
        "VERSION",
        "STATUS",
        "LATEST",
        "SCAN",
        "OWNERS",
        "TAGS"
    );
    for e in entries {
        // Padding counts the visible text, not the colour codes around it.
        let status = format!(
            "{}{}",
            styled(e.status),
            " ".repeat(11usize.saturating_sub(e.status.as_str().len()))
        );
        let (scan, width) = scan_cell(e.scan.as_ref());
        let scan = format!("{scan}{}", " ".repeat(22usize.saturating_sub(width)));
        anstream::println!(
            "{:<36} {:<12} {status} {:<6} {scan} {:<20} {:<16} {}",
            e.name,
            e.version,
            if e.is_latest { "yes" } else { "" },
            e.owners.join(","),
            e.tags.join(","),
            store::rfc3339(e.published_at)
        );
        if let Some(scan) = e.scan.as_ref().filter(|s| s.needs_override) {
            for finding in scan.findings.iter().take(3) {
                anstream::println!(
                    "    {} {} at {}: {}",
                    finding.severity,
                    finding.rule,
                    finding.field,
                    finding.explanation
                );
            }
        }
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
        let target = if e.version.is_empty() {
            e.name.clone()
        } else {
            format!("{}@{}", e.name, e.version)
        };
        let why = e
            .reason
            .as_deref()
            .map(|r| format!("  ({r})"))
            .unwrap_or_default();
        // The reason and names were checked for control characters when stored; cleaned
        // again here since older rows were not.
        println!(
            "{}  {:<9} {target}  {change}  by {}{}",
            store::rfc3339(e.at),
            e.action,
            e.actor,
            belay_client::terminal::clean(&why)
        );
    }
    Ok(())
}

/// How often the server seals registry changes made by other processes (CLI reviews)
/// into the audit log.
const SEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Seals registry changes into `log` now and every [`SEAL_EVERY`] until `shutdown`, then
/// once more: the process that owns the audit log is the one that writes them.
pub(crate) fn seal_changes(
    store: RegistryStore,
    log: belay_audit::AuditLog,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEAL_EVERY);
        loop {
            let stopping = tokio::select! {
                () = shutdown.cancelled() => true,
                _ = tick.tick() => false,
            };
            match belay_registry::audit::seal_pending(&store, &log).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(changes = n, "registry changes sealed into the audit log"),
                Err(e) => tracing::error!(error = %e, "registry changes NOT sealed yet; retrying"),
            }
            if stopping {
                return;
            }
        }
    })
}

async fn serve(
    config: BelayConfig,
    dir: PathBuf,
    store: RegistryStore,
    host: Option<String>,
    port: Option<u16>,
    allowed_hosts: Vec<String>,
) -> anyhow::Result<()> {
    let audit = super::gateway::open_audit(&config, &dir)?;
    let spec = config.registry.clone();
    let host = host.unwrap_or_else(|| spec.host.clone());
    let port = port.unwrap_or(spec.port);
    let (listener, addr) = belay_mcp::http::bind(&format!("{host}:{port}")).await?;
    let url = format!("http://{addr}");
    let scope = spec.scope.clone();
    let issuer = spec.auth.issuer.clone();
    let publishers = spec.namespaces.len();
    let registry = api::Registry::new(store.clone(), spec, &url)?;
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
    let sealer = audit
        .clone()
        .map(|log| seal_changes(store.clone(), log, shutdown.clone()));
    belay_mcp::http::run_with(
        listener,
        router,
        shutdown.clone(),
        config.front(HttpServerOptions::default()),
    )
    .await
    .context("`belay registry serve` stopped")?;
    shutdown.cancel();
    if let Some(sealer) = sealer {
        let _ = sealer.await;
    }
    if let Some(log) = audit {
        log.flush()
            .await
            .context("cannot flush the audit log on exit")?;
    }
    eprintln!("belay registry: stopped");
    Ok(())
}
