//! `belay serve NAME`: one reference server on the transport of your choice, optionally
//! behind OAuth (`--auth`: a resource server checking the issuer's tokens).

use std::{path::Path, sync::Arc};

use anyhow::Context;
use belay_auth::{Protection, ResourceSpec, exchange::ClientCredentials};
use belay_mcp::{HttpOptions, Transport, guard::AllowList};
use belay_servers::{
    ServerName,
    whoami::{ProfileApi, WhoamiConfig, WhoamiServer},
};
use clap::Args;

/// Arguments of `belay serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which server: stock, weather, matheval, news, whoami or conformance.
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

    /// Require OAuth access tokens (HTTP transports): 401 with the protected resource
    /// metadata link without one, 403 without the scope a method needs. `[resource]` in
    /// the config file sets the details.
    #[arg(long)]
    pub auth: bool,

    /// Issuer whose tokens are accepted (overrides `[resource] issuer`).
    #[arg(long, value_name = "URL", requires = "auth")]
    pub issuer: Option<String>,

    /// Canonical URI of this server that tokens must be minted for (overrides
    /// `[resource] resource`; default: the URL it listens on).
    #[arg(long, value_name = "URL", requires = "auth")]
    pub resource: Option<String>,

    /// whoami: its own client id for the token exchange (default: register one, where the
    /// issuer allows it; Belay's needs `belay auth client add`).
    #[arg(long, value_name = "ID", requires = "client_secret")]
    pub client_id: Option<String>,

    /// whoami: its client secret.
    #[arg(
        long,
        value_name = "SECRET",
        env = "BELAY_WHOAMI_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,

    /// whoami: reach the profile API with Entra ID's on-behalf-of grant for this scope
    /// (default for Entra issuers: https://graph.microsoft.com/User.Read; others use RFC 8693).
    #[arg(long, value_name = "SCOPE")]
    pub obo_scope: Option<String>,

    /// whoami: the profile API called on-behalf-of (default: Microsoft Graph's /v1.0/me).
    #[arg(long, value_name = "URL", requires = "obo_scope")]
    pub profile_url: Option<String>,
}

impl ServeArgs {
    /// whoami's profile API: on-behalf-of when a scope is given, else chosen by issuer.
    fn profile_api(&self) -> Option<ProfileApi> {
        let scope = self.obo_scope.clone()?;
        let url = match (&self.profile_url, ProfileApi::microsoft_graph()) {
            (Some(url), _) => url.clone(),
            (None, ProfileApi::OnBehalfOf { url, .. }) => url,
            (None, ProfileApi::Userinfo) => return None,
        };
        Some(ProfileApi::OnBehalfOf { scope, url })
    }

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
            // One single-threaded runtime per core (`belay::main` runs `serve` on one).
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            // No wrap; the default time limits on slow request heads and idle connections.
            ..HttpOptions::default()
        })
    }
}

/// Runs the server until the client leaves (stdio) or SIGINT/SIGTERM, with `config` as the
/// configuration file (the global `--config`).
pub async fn run(args: ServeArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let mut options = args.http_options()?;
    let shutdown = belay_core::shutdown::on_signal();
    let name = args.name;
    let transport = args.transport;
    let on_ready = |url: String| {
        // Logs, not println!: stdout may be the protocol channel.
        tracing::info!(server = %name, %transport, %url, "listening");
    };
    // The configuration matters to HTTP only: over stdio there is no front to configure.
    let config = match transport {
        Transport::Stdio => None,
        _ => Some(crate::config::BelayConfig::load(config)?),
    };
    if let Some(config) = &config {
        options.limits = config.front(options.limits);
    }
    if !args.auth {
        return belay_servers::serve(name, transport, &options, shutdown, on_ready)
            .await
            .with_context(|| format!("`belay serve {name}` stopped"));
    }
    anyhow::ensure!(
        transport != Transport::Stdio,
        "--auth protects HTTP transports: add `--transport http` (or `sse`). Over stdio the \
         client launches the server and no bearer token is exchanged"
    );
    let spec = args.resource_spec(config.unwrap_or_default())?;
    options.wrap = Some(protect(spec.clone()));
    let served = if name == ServerName::Whoami {
        let credentials = match (&args.client_id, &args.client_secret) {
            (Some(id), Some(secret)) => Some(ClientCredentials::new(id.clone(), secret.clone())),
            _ => None,
        };
        let server = WhoamiServer::connect(WhoamiConfig {
            issuer: spec.issuer.clone(),
            credentials,
            profile: args.profile_api(),
        })
        .await
        .with_context(|| {
            let issuer = &spec.issuer;
            if args.client_id.is_some() {
                return format!("whoami cannot set up its token exchange at `{issuer}`");
            }
            let url = spec
                .resource
                .clone()
                .unwrap_or_else(|| format!("http://{}:{}{}", args.host, args.port, args.path));
            format!(
                "whoami has no client for the token exchange at `{issuer}` and could not \
                 register one. Belay's authorization server gives that grant only to clients an \
                 administrator creates: run `belay auth client add whoami --exchange-from {url} \
                 --exchange-to {issuer}/userinfo`, then start whoami with `--client-id whoami` \
                 and BELAY_WHOAMI_CLIENT_SECRET set to the secret it printed"
            )
        })?;
        belay_mcp::serve(server, transport, &options, shutdown, on_ready).await
    } else {
        belay_servers::serve(name, transport, &options, shutdown, on_ready).await
    };
    served.with_context(|| format!("`belay serve {name} --auth` stopped"))
}

impl ServeArgs {
    /// `[resource]` from the config file and environment (`config`), then the flags.
    fn resource_spec(&self, config: crate::config::BelayConfig) -> anyhow::Result<ResourceSpec> {
        let mut spec = config.resource;
        if let Some(issuer) = &self.issuer {
            spec.issuer = issuer.clone();
        }
        if let Some(resource) = &self.resource {
            spec.resource = Some(resource.clone());
        }
        // Refuse a bad issuer or resource now, not at the first request.
        Protection::new(&spec, "http://127.0.0.1/mcp")?;
        Ok(spec)
    }
}

/// The hook that puts the server behind OAuth once its URL is known (`--port 0`).
fn protect(spec: ResourceSpec) -> belay_mcp::RouterWrap {
    Arc::new(move |router, url| {
        let protection = Protection::new(&spec, url).map_err(|e| e.to_string())?;
        tracing::info!(
            issuer = %spec.issuer,
            resource = %protection.resource(),
            metadata = %protection.metadata_url(),
            "OAuth required"
        );
        Ok(protection.protect(router))
    })
}
