//! `belay serve NAME`: one reference server on the transport of your choice.

use anyhow::Context;
use belay_mcp::{HttpOptions, Transport, guard::AllowList};
use belay_servers::ServerName;
use clap::Args;

/// Arguments of `belay serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which server: stock, weather, matheval, news or conformance.
    pub name: ServerName,

    /// Transport: `stdio` (launched by a client), `http` (Streamable HTTP) or `sse`
    /// (legacy 2024-11-05 HTTP+SSE at /sse and /messages).
    #[arg(long, short, default_value = "stdio", env = "BELAY_TRANSPORT")]
    pub transport: Transport,

    /// Interface to listen on (HTTP transports).
    #[arg(long, default_value = "127.0.0.1", env = "BELAY_HOST")]
    pub host: String,

    /// Port to listen on (HTTP transports); 0 picks a free one.
    #[arg(long, short, default_value_t = 8000, env = "BELAY_PORT")]
    pub port: u16,

    /// Path of the Streamable HTTP endpoint.
    #[arg(long, default_value = "/mcp", env = "BELAY_PATH")]
    pub path: String,

    /// Serve handshake-era clients without sessions (2026-07-28 clients are always stateless).
    #[arg(long)]
    pub stateless: bool,

    /// Host name to accept besides loopback (DNS rebinding guard); repeatable.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,

    /// Browser origin to accept besides loopback, e.g. https://app.example.com; repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
}

impl ServeArgs {
    fn http_options(&self) -> anyhow::Result<HttpOptions> {
        anyhow::ensure!(
            self.path.starts_with('/'),
            "--path must start with `/` (got `{}`)",
            self.path
        );
        Ok(HttpOptions {
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
            stateless: self.stateless,
            allow: AllowList {
                hosts: self.allowed_hosts.clone(),
                origins: self.allowed_origins.clone(),
            },
        })
    }
}

/// Runs the server until the client leaves (stdio) or SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let options = args.http_options()?;
    let shutdown = belay_core::shutdown::on_signal();
    let name = args.name;
    let transport = args.transport;
    // Logs, not println!: stdout may be the protocol channel.
    belay_servers::serve(name, transport, &options, shutdown, |url| {
        tracing::info!(server = %name, %transport, %url, "listening");
    })
    .await
    .with_context(|| format!("`belay serve {name}` stopped"))
}
