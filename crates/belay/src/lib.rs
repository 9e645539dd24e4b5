//! The `belay` command line: one subcommand per file under [`commands`].
//!
//! This crate is the only home of `anyhow` and of process exit codes; the libraries it
//! drives return typed errors.
#![deny(missing_docs)]

pub mod commands;
pub mod config;

use std::process::ExitCode;

use belay_core::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};

/// The log filter when none is given.
const DEFAULT_LOG: &str = "info,rmcp=warn";

/// Where the options every command accepts are listed in each command's help, so they do
/// not mix with the command's own.
const GLOBAL_OPTIONS: &str = "Global options";

/// Build, secure and run Model Context Protocol servers.
#[derive(Debug, Parser)]
#[command(name = "belay", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr: `text` for people, `json` for log shippers.
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "BELAY_LOG_FORMAT",
        help_heading = GLOBAL_OPTIONS
    )]
    pub log_format: LogFormat,

    /// Log filter when RUST_LOG is unset (e.g. `debug`, `belay_mcp=trace`). rmcp's own
    /// info lines (a full dump of each peer's capabilities per session) are off by default:
    /// `--log info,rmcp=info` brings them back.
    #[arg(
        long,
        global = true,
        default_value = DEFAULT_LOG,
        env = "BELAY_LOG",
        help_heading = GLOBAL_OPTIONS
    )]
    pub log: String,

    /// Configuration file (`belay.toml`); `BELAY_<TABLE>__<KEY>` variables override it.
    #[arg(
        long,
        global = true,
        env = "BELAY_CONFIG",
        value_name = "FILE",
        help_heading = GLOBAL_OPTIONS
    )]
    pub config: Option<std::path::PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the main job on embedded defaults: the authorization server and every reference
    /// server behind OAuth, on one port.
    Up(commands::up::UpArgs),
    /// Run one reference MCP server on stdio, Streamable HTTP or legacy SSE.
    Serve(commands::serve::ServeArgs),
    /// Run the embedded OAuth authorization server; manage its users and signing keys.
    Auth(commands::auth::AuthArgs),
    /// One secure front door for many MCP servers: check its configuration, serve it.
    Gateway(commands::gateway::GatewayArgs),
    /// Verify, follow and search the gateway's tamper-evident audit log.
    Audit(commands::audit::AuditArgs),
    /// A console where a language model drives MCP servers, and you stay in control.
    Chat(commands::chat::ChatArgs),
    /// Check MCP servers for tool poisoning, shadowing and changed tool definitions
    /// (exit 0 clean, 1 findings, 2 the scan failed).
    Scan(commands::scan::ScanArgs),
    /// Vulnerable MCP servers beside their fixed twins, and the exploits that prove each fix
    /// (`exploit`: exit 0 defended, 1 the attack succeeded, 2 it could not run).
    Lab(commands::lab::LabArgs),
    /// Attack an MCP server or gateway with a catalogue of attacks tagged by OWASP MCP risk
    /// (exit 0 nothing succeeded, 1 an attack succeeded, 2 the red team could not run).
    Redteam(commands::redteam::RedteamArgs),
    /// A private MCP registry (the official Registry API) with governance: serve it, list
    /// what was published, approve, deprecate or block a version.
    Registry(commands::registry::RegistryArgs),
    /// Alert rules over the audit stream (`[[alerts.rule]]`): list them, send a sample.
    Alerts(commands::alerts::AlertsArgs),
    /// A security review's report of the audit log: self-contained HTML with SVG charts (or
    /// `--json`), a section per OWASP MCP risk.
    Report(commands::report::ReportArgs),
    /// REST APIs as MCP tools: show the tools an OpenAPI document gives (`inspect`), or
    /// serve them (`serve`); the gateway serves them as `type = "openapi"` upstreams.
    Openapi(commands::openapi::OpenapiArgs),
}

/// Parses the command line, runs the command and maps errors to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Dropped last, after the runtime: flushes the traces still queued (OTLP export).
    // `belay scan` says itself why a server could not be scanned; rmcp's error lines about
    // the same broken transport would only repeat it in a worse form.
    let log = match &cli.command {
        Command::Scan(_) | Command::Lab(_) | Command::Redteam(_) if cli.log == DEFAULT_LOG => {
            "info,rmcp=off"
        }
        _ => cli.log.as_str(),
    };
    let _telemetry = telemetry::init(cli.log_format, log);
    // `serve` runs on single-threaded runtimes: stdio has one client and one pipe, and
    // HTTP gets one runtime per core (`HttpOptions::threads`), so a call never pays for
    // work stealing's cross-thread hand-offs (benches/RESULTS.md). Everything else gets
    // tokio's multi-threaded runtime.
    let single_threaded = matches!(&cli.command, Command::Serve(_));
    let mut builder = if single_threaded {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let config = cli.config.as_deref();
        match cli.command {
            Command::Up(args) => commands::up::run(args, config).await,
            Command::Serve(args) => commands::serve::run(args, config).await,
            Command::Auth(args) => commands::auth::run(args, config).await,
            Command::Gateway(args) => commands::gateway::run(args, config).await,
            Command::Audit(args) => commands::audit::run(args, config).await,
            Command::Chat(args) => commands::chat::run(args, config).await,
            Command::Registry(args) => commands::registry::run(args, config).await,
            Command::Alerts(args) => commands::alerts::run(args, config).await,
            Command::Report(args) => commands::report::run(args, config).await,
            Command::Openapi(args) => commands::openapi::run(args, config).await,
            // Its own exit statuses (0, 1, 2): a finding is not an error.
            Command::Scan(args) => return Ok(commands::scan::run(args).await),
            Command::Lab(args) => return commands::lab::run(args).await,
            Command::Redteam(args) => return Ok(commands::redteam::run(args).await),
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", explain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The line printed for a failed command: the error and its causes, except that a port
/// another program holds is said plainly with what to do, whichever command met it
/// (`serve`, `up`, `auth serve` and `gateway serve` all bind through `belay_mcp::http`).
fn explain(error: &anyhow::Error) -> String {
    let taken = error.chain().find_map(|cause| match cause.downcast_ref() {
        Some(belay_mcp::Error::Bind { addr, source })
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            Some(addr)
        }
        _ => None,
    });
    match taken {
        Some(addr) => format!(
            "cannot listen on {addr}: the address is already in use (another program listens \
             there); choose another --port, or --port 0 for a free one"
        ),
        None => format!("{error:#}"),
    }
}
