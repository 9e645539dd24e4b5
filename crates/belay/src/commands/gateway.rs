//! `belay gateway`: check a gateway configuration, and serve the gateway it describes.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use belay_audit::AuditLog;
use belay_gateway::{
    BlockStore, Chain, Gateway, GatewaySpec, PinStore, TransportSpec,
    blocks::{Block, Target},
};
use belay_mcp::{guard::AllowList, http};
use clap::{Args, Subcommand};

use super::registry_gate::RegistryGate;
use crate::config::BelayConfig;

/// How long a stop waits for the gateway to close its upstream sessions.
pub(crate) const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Arguments of `belay gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GatewayCommand,
}

/// `belay gateway` subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Check a configuration (a belay.toml with `[gateway]`, or a standalone gateway file);
    /// errors carry line and column. Exit status 1 on error.
    Check {
        /// The file (default: the global `--config`).
        file: Option<PathBuf>,
    },
    /// Serve the gateway configured by `--config` until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// List pinned tool definitions and the changes waiting for approval (rug-pull
    /// pinning, `pin = true` in `[gateway.guard]`), each change as a diff.
    Pins {
        /// Only the changes waiting for approval.
        #[arg(long)]
        pending: bool,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Folder of the state database (as for `serve`).
        #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Approve the changed definition of an upstream's tool (or all of them): the gateway
    /// shows the tool again, also while it runs.
    Approve {
        /// The upstream's name, as in `[[gateway.upstream]]`.
        upstream: String,
        /// The tool, by its own name at the upstream (not prefixed).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tool: Option<String>,
        /// Every pending change of the upstream.
        #[arg(long)]
        all: bool,
        /// Folder of the state database (as for `serve`).
        #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Block a tool of one upstream, or a user, at every gateway on this store: refused
    /// from the next call on (a running gateway notices within a second) until unblocked.
    Block(BlockArgs),
    /// Lift a block made by `belay gateway block` (or the console).
    Unblock(BlockArgs),
    /// List the blocked tools and users.
    Blocks {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Folder of the state database (as for `serve`).
        #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// What `belay gateway block` and `unblock` name.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// The upstream whose tool it is, as in `[[gateway.upstream]]`.
    #[arg(long, requires = "tool", conflicts_with = "user")]
    pub upstream: Option<String>,
    /// The tool, by its own name at the upstream (not prefixed).
    #[arg(long, requires = "upstream")]
    pub tool: Option<String>,
    /// A user: token subject or user name (`preferred_username`).
    #[arg(long, required_unless_present = "tool")]
    pub user: Option<String>,
    /// Why (kept with the block; `block` only).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Folder of the state database (as for `serve`).
    #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl BlockArgs {
    fn target(&self) -> anyhow::Result<Target> {
        match (&self.upstream, &self.tool, &self.user) {
            (Some(upstream), Some(tool), None) => Ok(Target::Tool {
                upstream: upstream.clone(),
                tool: tool.clone(),
            }),
            (None, None, Some(user)) => Ok(Target::User { user: user.clone() }),
            _ => anyhow::bail!("name a tool (--upstream U --tool T) or a user (--user NAME)"),
        }
    }
}

/// Arguments of `belay gateway serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "BELAY_HOST")]
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8000, env = "BELAY_PORT")]
    pub port: u16,
    /// Folder of the state database and the audit file (default: the per-user data
    /// folder + `/belay`).
    #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Host name accepted besides loopback (DNS rebinding guard); repeatable.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Browser origin accepted besides loopback; repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
}

/// Runs `belay gateway …` with the configuration file `config`.
pub async fn run(args: GatewayArgs, config: Option<&Path>) -> anyhow::Result<()> {
    match args.command {
        GatewayCommand::Check { file } => {
            let file = file.as_deref().or(config).context(
                "name the file to check (`belay gateway check belay.toml`) or pass --config",
            )?;
            let spec = check(file)?;
            print!("{}", summary(file, &spec));
            Ok(())
        }
        GatewayCommand::Serve(serve_args) => serve(serve_args, config).await,
        GatewayCommand::Pins {
            pending,
            json,
            data_dir,
        } => {
            let config = BelayConfig::load(config)?;
            let pins = open_pins(&config, &self::data_dir(data_dir)?)?;
            super::pins::print(&pins.list(pending)?, json)
        }
        GatewayCommand::Approve {
            upstream,
            tool,
            all: _,
            data_dir,
        } => {
            let config = BelayConfig::load(config)?;
            let pins = open_pins(&config, &self::data_dir(data_dir)?)?;
            let approved = pins.approve(&upstream, tool.as_deref())?;
            if approved.is_empty() {
                let what = tool.map_or_else(
                    || format!("upstream `{upstream}` has no change waiting"),
                    |t| format!("tool `{t}` of upstream `{upstream}` has no change waiting"),
                );
                anyhow::bail!("{what} (see `belay gateway pins --pending`)");
            }
            for tool in approved {
                println!("approved {upstream} {tool}");
            }
            Ok(())
        }
        GatewayCommand::Block(args) => {
            let config = BelayConfig::load(config)?;
            let target = args.target()?;
            let blocks = open_blocks(&config, &self::data_dir(args.data_dir.clone())?)?;
            blocks.block(&target, &cli_user(), &args.reason)?;
            println!("blocked {target}");
            Ok(())
        }
        GatewayCommand::Unblock(args) => {
            let config = BelayConfig::load(config)?;
            let target = args.target()?;
            let blocks = open_blocks(&config, &self::data_dir(args.data_dir)?)?;
            if !blocks.unblock(&target)? {
                anyhow::bail!("{target} is not blocked (see `belay gateway blocks`)");
            }
            println!("unblocked {target}");
            Ok(())
        }
        GatewayCommand::Blocks { json, data_dir } => {
            let config = BelayConfig::load(config)?;
            let blocks = open_blocks(&config, &self::data_dir(data_dir)?)?;
            print_blocks(&blocks.list()?, json)
        }
    }
}

/// Who blocks from the command line: the OS user, for the record.
fn cli_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map_or_else(|_| "cli".into(), |u| format!("cli:{u}"))
}

fn print_blocks(blocks: &[Block], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(blocks)?);
        return Ok(());
    }
    if blocks.is_empty() {
        println!("nothing is blocked");
        return Ok(());
    }
    let bold = anstyle::Style::new().bold();
    let red = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Red.into()));
    anstream::println!(
        "{bold}{:<44} {:<20} {:<20} REASON{bold:#}",
        "BLOCKED",
        "BY",
        "SINCE"
    );
    for block in blocks {
        let since = chrono::DateTime::from_timestamp(block.blocked_at, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        anstream::println!(
            "{red}{:<44}{red:#} {:<20} {:<20} {}",
            block.target.to_string(),
            block.blocked_by,
            since,
            block.reason
        );
    }
    Ok(())
}

/// The operator blocks in the store of `dir` (or `[auth_server] database`).
pub(crate) fn open_blocks(config: &BelayConfig, dir: &Path) -> anyhow::Result<BlockStore> {
    super::create_data_dir(dir)?;
    let db = super::auth::open_db(&config.auth_server, Some(dir.to_owned()))?;
    BlockStore::open(db).context("cannot open the operator blocks")
}

/// The tool pins in the store of `dir` (or `[auth_server] database`).
pub(crate) fn open_pins(config: &BelayConfig, dir: &Path) -> anyhow::Result<PinStore> {
    super::create_data_dir(dir)?;
    let db = super::auth::open_db(&config.auth_server, Some(dir.to_owned()))?;
    PinStore::open(db).context("cannot open the tool pins")
}

/// Parses and validates `file`; an error reads `FILE:LINE:COLUMN: what to fix`.
fn check(file: &Path) -> anyhow::Result<GatewaySpec> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    belay_gateway::check(&text).map_err(|e| match (e.line, e.column) {
        (Some(line), Some(column)) => {
            anyhow::anyhow!("{}:{line}:{column}: {}", file.display(), e.message)
        }
        _ => anyhow::anyhow!("{}: {}", file.display(), e.message),
    })
}

fn summary(file: &Path, spec: &GatewaySpec) -> String {
    let mut out = format!(
        "{}: ok, {} upstream{}\n",
        file.display(),
        spec.upstreams.len(),
        if spec.upstreams.len() == 1 { "" } else { "s" }
    );
    for upstream in &spec.upstreams {
        let transport = match &upstream.transport {
            TransportSpec::Stdio { command, .. } => format!("stdio  {command}"),
            TransportSpec::Http { url, .. } => format!("http   {url}"),
            TransportSpec::Sse { url } => format!("sse    {url}"),
            TransportSpec::Openapi(api) => format!("openapi {}", api.document),
        };
        out.push_str(&format!(
            "  {:<16} prefix {:<16} {transport}\n",
            upstream.name,
            upstream.effective_prefix()
        ));
        out.push_str(&format!(
            "  {:<16} guards {}\n",
            "",
            super::pins::guards_line(&spec.guard_of(upstream))
        ));
    }
    let default = match spec.policy.default {
        belay_policy::Effect::Allow => "allow",
        belay_policy::Effect::Deny => "deny",
    };
    out.push_str(&format!(
        "policy: {} rule{}, default {default}; sign-in {}\n",
        spec.policy.rules.len(),
        if spec.policy.rules.len() == 1 {
            ""
        } else {
            "s"
        },
        if spec.auth { "required" } else { "off" },
    ));
    out
}

/// The folder the state database and a relative audit file live in.
pub(crate) fn data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => Ok(dirs::data_dir()
            .context("no per-user data folder on this system; pass --data-dir")?
            .join("belay")),
    }
}

/// The console client's secret from `[console] client_secret_env`, when the console is
/// on and configured (a gateway with sign-in at an external issuer: the client is
/// registered there by hand).
fn console_secret(config: &BelayConfig) -> anyhow::Result<Option<String>> {
    let console = &config.console;
    match (
        &console.client_secret_env,
        console.enabled && config.gateway.auth,
    ) {
        (Some(var), true) => std::env::var(var)
            .map(Some)
            .with_context(|| format!("[console] client_secret_env names ${var}, which is not set")),
        _ => Ok(None),
    }
}

/// The audit log `[audit]` configures, or `None` when it is disabled.
pub(crate) fn open_audit(config: &BelayConfig, dir: &Path) -> anyhow::Result<Option<AuditLog>> {
    if !config.audit.enabled {
        tracing::warn!("audit is disabled ([audit] enabled = false): requests are not recorded");
        return Ok(None);
    }
    super::create_data_dir(dir)?;
    let db = if config.audit.has(belay_audit::Sink::Store) {
        Some(super::auth::open_db(
            &config.auth_server,
            Some(dir.to_owned()),
        )?)
    } else {
        None
    };
    let log = AuditLog::open(&config.audit, dir, db).context("cannot open the audit log")?;
    Ok(Some(log))
}

async fn serve(args: ServeArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let config = BelayConfig::load(config_file)?;
    config
        .gateway
        .validate()
        .context("invalid [gateway] (run `belay gateway check` for the line)")?;
    let dir = data_dir(args.data_dir.clone())?;
    let audit = open_audit(&config, &dir)?;
    let chain = Chain::from_spec(
        &config.gateway,
        Arc::new(belay_policy::SystemClock),
        audit.clone(),
    )?;
    let shutdown = belay_core::shutdown::on_signal();
    let (listener, addr) = http::bind(&format!("{}:{}", args.host, args.port)).await?;
    let base = format!("http://{addr}");
    let pins = match config
        .gateway
        .upstreams
        .iter()
        .any(|u| config.gateway.guard_of(u).pin)
    {
        true => Some(open_pins(&config, &dir)?),
        false => None,
    };
    let gate = RegistryGate::of(&config.gateway, &[])?;
    let spec = match &gate {
        Some(gate) => gate.admit(config.gateway.clone()).await?,
        None => config.gateway.clone(),
    };
    let blocks = open_blocks(&config, &dir)?;
    let gateway = Gateway::start_with_stores(
        spec,
        chain,
        pins.clone(),
        Some(blocks.clone()),
        shutdown.clone(),
    )?;
    let reload_gate = gate.clone();
    let reload = super::reload::watch(
        gateway.clone(),
        config_file.map(Path::to_owned),
        config.gateway.reload_poll(),
        move |config| {
            let gate = reload_gate.clone();
            Box::pin(async move {
                match gate {
                    Some(gate) => gate.admit(config.gateway).await,
                    None => Ok(config.gateway),
                }
            })
        },
        shutdown.clone(),
    );
    let console_secret = console_secret(&config)?;
    let console_on = console_secret.is_some();
    let alerts =
        super::console::start_alerts(&config, audit.as_ref(), pins.clone(), &dir, &shutdown)?;
    let router = if config.gateway.auth {
        let router = gateway.protected_router(&config.resource, &base)?;
        match console_secret {
            Some(secret) => router.merge(super::console::router(super::console::Mount {
                config: &config,
                dir: &dir,
                gateway: &gateway,
                audit: audit.clone(),
                pins,
                blocks: Some(blocks),
                reload: Some(reload),
                alerts,
                registry: gate.as_ref().map(RegistryGate::status),
                place: belay_console::Place {
                    base_url: base.clone(),
                    resource: config.resource.clone(),
                    client_secret: secret,
                },
                default_admin: None,
                shutdown: shutdown.clone(),
            })?),
            None => router,
        }
    } else {
        gateway.router()
    };
    let router = match &gate {
        Some(gate) => gate.layer(router),
        None => router,
    };
    let mut banner = format!("gateway  {base}/mcp\n");
    if console_on {
        banner.push_str(&format!("console  {base}/ui\n"));
    }
    for upstream in gateway.upstreams() {
        banner.push_str(&format!(
            "         {base}/servers/{}/mcp\n",
            upstream.name()
        ));
    }
    super::announce(&banner);
    let allow = AllowList {
        hosts: args.allowed_hosts,
        origins: args.allowed_origins,
    };
    // `[gateway.http]`'s timeouts and connection cap are the server loop's; `[http]` says
    // which proxies may name the client.
    let options = config.front(gateway.server_options());
    http::run_with(listener, http::guarded(router, allow), shutdown, options).await?;
    // Close the upstream sessions (each told with a DELETE) before the runtime goes.
    if tokio::time::timeout(STOP_WAIT, gateway.stopped())
        .await
        .is_err()
    {
        tracing::warn!(
            secs = STOP_WAIT.as_secs(),
            "the upstream sessions did not all close in time"
        );
    }
    if let Some(log) = audit {
        log.flush()
            .await
            .context("cannot flush the audit log on exit")?;
    }
    eprintln!("belay gateway: stopped");
    Ok(())
}
