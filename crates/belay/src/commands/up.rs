//! `belay up`: the main job on embedded defaults.
//!
//! One port serves the embedded authorization server at its root and the gateway at
//! `/mcp` (every reference server's tools, prefixed) and `/servers/NAME/mcp` (one server
//! each). The reference servers run in this process on a second, loopback-only port, each
//! protected as its own OAuth resource; the gateway reaches them with tokens it exchanges on
//! behalf of the signed-in user (RFC 8693), so each server learns who is calling without
//! ever seeing the user's own token. Upstreams, policy and rate limits from `[gateway]` in
//! belay.toml are added. State (users, clients, keys, refresh tokens, the audit log) lives
//! under `--data-dir`, so the next run keeps it. The first run creates a `demo` user and
//! prints its password once. `--no-auth` serves the same without sign-in.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use belay_auth::{Protection, ResourceSpec, RevocationList, exchange::ClientCredentials};
use belay_auth_server::{AuthServer, ClientSpec, ExchangeSpec, Settings, SystemClock};
use belay_gateway::{
    Chain, CredentialSpec, Gateway, GatewaySpec, TransportSpec, UpstreamSpec,
    spec::{GuardSpec, OAuthClientSpec, SecretSpec},
};
use belay_mcp::{guard::AllowList, http};
use belay_servers::{ServerName, whoami::WhoamiServer};
use clap::Args;
use tokio_util::sync::CancellationToken;

use belay_registry::{RegistrySpec, RegistryStore};

use super::registry_gate::RegistryGate;
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

    /// Folder of the state database and the audit log (default: the per-user data folder
    /// + `/belay`).
    #[arg(long, env = "BELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Serve without OAuth: anyone who can reach the port can call every server.
    #[arg(long)]
    pub no_auth: bool,

    /// Print the endpoints as one JSON object on stdout instead of the friendly banner.
    #[arg(long)]
    pub json: bool,
}

/// The URL path at which a server is served (by the gateway, and internally).
pub fn server_path(name: ServerName) -> String {
    format!("/servers/{name}/mcp")
}

/// Where `belay up` serves the private registry (`belay registry`'s API).
pub const REGISTRY_PATH: &str = "/registry";

/// The login created on the first run.
const DEMO_USER: &str = "demo";
/// The client whoami exchanges tokens as; its secret is new on every run.
const WHOAMI_CLIENT: &str = "belay-whoami";
/// The client the gateway exchanges users' tokens as; its secret is new on every run.
const GATEWAY_CLIENT: &str = "belay-gateway";
/// The file under the data folder holding the gateway client's secret (mode 0600).
const GATEWAY_SECRET_FILE: &str = "gateway-client.secret";

/// What `up` started, for the banner and `--json`.
struct Started {
    /// The gateway's federated endpoint.
    gateway: String,
    /// Each upstream's own endpoint at the gateway.
    servers: Vec<(String, String)>,
    /// The issuer, when OAuth is on.
    issuer: Option<String>,
    /// The demo user's password, on the run that created it.
    new_password: Option<String>,
    /// The audit log's JSON lines file, when audit is on.
    audit: Option<PathBuf>,
    /// The registry's list endpoint.
    registry: String,
    /// The operations console, when it is served (only with sign-in).
    console: Option<String>,
}

/// The embedded authorization server, as `up` runs it.
struct Issuer {
    url: String,
    server: AuthServer,
    new_password: Option<String>,
    whoami_secret: String,
    /// The console client's secret, when the console is on.
    console_secret: Option<String>,
}

/// Runs the authorization server, the gateway and every reference server until
/// SIGINT/SIGTERM.
pub async fn run(args: UpArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let shutdown = belay_core::shutdown::on_signal();
    let config = BelayConfig::load(config_file)?;
    let dir = super::gateway::data_dir(args.data_dir.clone())?;
    super::create_data_dir(&dir)?;
    let (listener, addr) = http::bind(&format!("{}:{}", args.host, args.port)).await?;
    let base = format!("http://{addr}");
    // The reference servers, on loopback only: the gateway is their one way in. They stop
    // after the gateway, once it has closed its sessions with them (or those closes would
    // find nobody listening, and each would be logged as an error).
    let internal_stop = CancellationToken::new();
    let (internal, internal_addr) = http::bind("127.0.0.1:0").await?;
    let internal_base = format!("http://{internal_addr}");
    let issuer = match args.no_auth {
        true => None,
        false => Some(start_issuer(&config, &dir, &base, &internal_base).await?),
    };
    // The gateway's edge checks tokens as `[resource]` says, and refuses revoked ones at
    // once: the authorization server in this process tells it, with no round trip, and reads
    // what other processes revoked (`belay auth user remove`) every two seconds.
    if let Some(issuer) = &issuer {
        issuer
            .server
            .watch_revocations(std::time::Duration::from_secs(2), shutdown.clone());
    }
    let resource = ResourceSpec {
        issuer: base.clone(),
        revocations: issuer.as_ref().map(|i| {
            let server = i.server.clone();
            RevocationList::new(Arc::new(move |jti: &str| server.is_revoked_now(jti)))
        }),
        ..config.resource.clone()
    };
    let servers = reference_servers(&internal_base, issuer.as_ref(), &resource, &internal_stop)?;
    // Only the gateway connects here, with as many connections as calls in flight: no cap.
    let internal_options = http::HttpServerOptions {
        max_connections_per_address: None,
        ..http::HttpServerOptions::default()
    };
    let internal_serving = tokio::spawn(http::run_with(
        internal,
        servers,
        internal_stop.clone(),
        internal_options,
    ));

    let spec = gateway_spec(
        &config.gateway,
        &internal_base,
        issuer.is_some(),
        &base,
        &dir,
    )?;
    let audit = super::gateway::open_audit(&config, &dir)?;
    let chain = Chain::from_spec(&spec, Arc::new(belay_policy::SystemClock), audit.clone())?;
    let poll = spec.reload_poll();
    let pins = super::gateway::open_pins(&config, &dir)?;
    // Belay's own reference servers are not looked up in `[gateway] registry`.
    let exempt: Vec<&str> = builtin_names().iter().map(|n| n.as_str()).collect();
    let gate = RegistryGate::of(&spec, &exempt)?;
    let spec = match &gate {
        Some(gate) => gate.admit(spec).await?,
        None => spec,
    };
    let blocks = super::gateway::open_blocks(&config, &dir)?;
    let gateway = Gateway::start_with_stores(
        spec,
        chain,
        Some(pins.clone()),
        Some(blocks.clone()),
        shutdown.clone(),
    )?;
    let alerts =
        super::console::start_alerts(&config, audit.as_ref(), Some(pins.clone()), &dir, &shutdown)?;
    let (auth, dir_) = (issuer.is_some(), dir.clone());
    let (internal_, base_) = (internal_base.clone(), base.clone());
    let reload_gate = gate.clone();
    let reload = super::reload::watch(
        gateway.clone(),
        config_file.map(Path::to_owned),
        poll,
        move |config| {
            let spec = gateway_spec(&config.gateway, &internal_, auth, &base_, &dir_);
            let gate = reload_gate.clone();
            Box::pin(async move {
                match gate {
                    Some(gate) => gate.admit(spec?).await,
                    None => spec,
                }
            })
        },
        shutdown.clone(),
    );
    let console = match &issuer {
        Some(Issuer {
            console_secret: Some(secret),
            ..
        }) => Some(super::console::router(super::console::Mount {
            config: &config,
            dir: &dir,
            gateway: &gateway,
            audit: audit.clone(),
            pins: Some(pins.clone()),
            blocks: Some(blocks.clone()),
            reload: Some(reload),
            alerts,
            registry: gate.as_ref().map(RegistryGate::status),
            place: belay_console::Place {
                base_url: base.clone(),
                resource: resource.clone(),
                client_secret: secret.clone(),
            },
            default_admin: Some(DEMO_USER),
            shutdown: shutdown.clone(),
        })?),
        _ => None,
    };
    let console_url = console.is_some().then(|| format!("{base}/ui"));
    let router = match &issuer {
        Some(issuer) => issuer
            .server
            .router()
            .merge(gateway.protected_router(&resource, &base)?)
            .merge(console.unwrap_or_default()),
        None => gateway.router(),
    };
    let router = match &gate {
        Some(gate) => gate.layer(router),
        None => router,
    };
    // The private registry at /registry, on the same store; publish tokens come from this
    // issuer, for the audience `{base}/registry` unless `[registry.auth]` names another.
    let registry_store = RegistryStore::open(super::auth::open_db(
        &config.auth_server,
        Some(dir.clone()),
    )?)
    .context("cannot open the registry's tables")?;
    let registry_spec = RegistrySpec {
        auth: ResourceSpec {
            issuer: base.clone(),
            revocations: resource.revocations.clone(),
            ..config.registry.auth.clone()
        },
        ..config.registry.clone()
    };
    let registry_url = format!("{base}{REGISTRY_PATH}");
    let registry =
        belay_registry::api::Registry::new(registry_store.clone(), registry_spec, &registry_url)?;
    let router = router.nest(REGISTRY_PATH, belay_registry::api::router(registry));
    // This process owns the audit log: it seals the registry's changes, the CLI's too.
    let sealer = audit
        .clone()
        .map(|log| super::registry::seal_changes(registry_store.clone(), log, shutdown.clone()));
    // Serving starts now: the upstreams fetch their tokens from the issuer on this port.
    let serving = tokio::spawn(http::run_with(
        listener,
        http::guarded(router, AllowList::default()),
        shutdown,
        config.front(gateway.server_options()),
    ));
    // Lists are complete from the first request: wait (briefly) for the local servers.
    for &name in builtin_names() {
        gateway
            .wait_up(name.as_str(), 0, std::time::Duration::from_secs(10))
            .await;
    }
    let started = Started {
        gateway: format!("{base}/mcp"),
        servers: gateway
            .upstreams()
            .iter()
            .map(|u| {
                (
                    u.name().to_owned(),
                    format!("{base}/servers/{}/mcp", u.name()),
                )
            })
            .collect(),
        issuer: issuer.as_ref().map(|i| i.url.clone()),
        new_password: issuer.and_then(|i| i.new_password),
        audit: config.audit.enabled.then(|| config.audit.file_in(&dir)),
        registry: format!("{registry_url}/v0.1/servers"),
        console: console_url,
    };
    if args.json {
        super::announce(&format!("{}\n", started_json(&started)));
    } else {
        print_banner(&started, &super::audit::follow_command(&dir, config_file));
    }
    serving.await.context("the server task failed")??;
    let wait = super::gateway::STOP_WAIT;
    if tokio::time::timeout(wait, gateway.stopped()).await.is_err() {
        tracing::warn!(
            secs = wait.as_secs(),
            "the gateway's upstream sessions did not all close in time"
        );
    }
    internal_stop.cancel();
    internal_serving
        .await
        .context("the reference servers' task failed")??;
    if let Some(sealer) = sealer {
        let _ = sealer.await;
    }
    if let Some(log) = audit {
        log.flush()
            .await
            .context("cannot flush the audit log on exit")?;
    }
    eprintln!("belay up: stopped");
    Ok(())
}

/// The reference servers `up` runs, whoami included when there is sign-in.
fn builtin_names() -> &'static [ServerName] {
    const NAMES: &[ServerName] = &[
        ServerName::Stock,
        ServerName::Weather,
        ServerName::Matheval,
        ServerName::News,
        ServerName::Whoami,
    ];
    NAMES
}

fn builtins(auth: bool) -> impl Iterator<Item = ServerName> {
    builtin_names()
        .iter()
        .copied()
        .filter(move |&name| auth || name != ServerName::Whoami)
}

/// Starts the authorization server's state: users (the demo user on the first run) and the
/// clients of the gateway and whoami, with secrets new on every run. Each may exchange only
/// the tokens minted for it, and only for the servers behind it: the gateway trades its
/// callers' tokens for the reference servers', whoami trades those for the profile API's.
async fn start_issuer(
    config: &BelayConfig,
    dir: &Path,
    base: &str,
    internal_base: &str,
) -> anyhow::Result<Issuer> {
    let mut spec = config.auth_server.clone();
    let url = spec.issuer.clone().unwrap_or_else(|| base.to_owned());
    spec.issuer = Some(url.clone());
    let whoami_secret = belay_auth_server::users::generate_password();
    spec.clients.push(ClientSpec {
        client_id: WHOAMI_CLIENT.into(),
        client_secret: Some(whoami_secret.clone()),
        grant_types: vec![belay_auth::exchange::TOKEN_EXCHANGE_GRANT.into()],
        name: Some("belay whoami".into()),
        token_exchange: Some(ExchangeSpec {
            from: vec![format!(
                "{internal_base}{}",
                server_path(ServerName::Whoami)
            )],
            to: vec![format!("{url}/userinfo")],
        }),
        ..ClientSpec::default()
    });
    let gateway_secret = belay_auth_server::users::generate_password();
    write_secret(&dir.join(GATEWAY_SECRET_FILE), &gateway_secret)?;
    let gateway_resources = match &config.resource.resource {
        Some(one) => vec![one.clone()],
        None => ["/mcp", "/sse", "/servers/*"]
            .iter()
            .map(|path| format!("{base}{path}"))
            .collect(),
    };
    spec.clients.push(ClientSpec {
        client_id: GATEWAY_CLIENT.into(),
        client_secret: Some(gateway_secret),
        grant_types: vec![
            "client_credentials".into(),
            belay_auth::exchange::TOKEN_EXCHANGE_GRANT.into(),
        ],
        name: Some("belay gateway".into()),
        token_exchange: Some(ExchangeSpec {
            from: gateway_resources,
            to: vec![format!("{internal_base}/servers/*")],
        }),
        ..ClientSpec::default()
    });
    let console_secret = config.console.enabled.then(|| {
        // The console signs admins in as its own confidential client, which may ask only
        // for the admin scope, for the console's resource.
        let secret = belay_auth_server::users::generate_password();
        if !spec.scopes.contains(&config.console.scope) {
            spec.scopes.push(config.console.scope.clone());
        }
        spec.clients.push(ClientSpec {
            client_id: config.console.client_id.clone(),
            client_secret: Some(secret.clone()),
            redirect_uris: vec![belay_console::Console::redirect_uri(base)],
            grant_types: vec!["authorization_code".into()],
            scopes: vec![config.console.scope.clone()],
            name: Some("Belay console".into()),
            ..ClientSpec::default()
        });
        secret
    });
    let db = super::auth::open_db(&spec, Some(dir.to_owned()))?;
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
    Ok(Issuer {
        url,
        server,
        new_password,
        whoami_secret,
        console_secret,
    })
}

/// Writes a secret only its owner can read (a file a previous run left looser is tightened).
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    belay_core::private::write(path, secret.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The reference servers at `/servers/NAME/mcp` of `internal_base`; with an issuer, each
/// is its own resource (its internal URL), so a token minted for one is refused by the
/// others.
fn reference_servers(
    internal_base: &str,
    issuer: Option<&Issuer>,
    resource: &ResourceSpec,
    shutdown: &CancellationToken,
) -> anyhow::Result<axum::Router> {
    let mut router = axum::Router::new();
    for name in builtins(issuer.is_some()) {
        let path = server_path(name);
        let served = match (name, issuer) {
            (ServerName::Whoami, Some(issuer)) => {
                let whoami = WhoamiServer::for_embedded_issuer(
                    &issuer.url,
                    ClientCredentials::new(WHOAMI_CLIENT.to_owned(), issuer.whoami_secret.clone()),
                )?;
                http::streamable_router(whoami, &path, false, shutdown.clone())
            }
            _ => belay_servers::streamable_router(name, &path, false, shutdown.clone()),
        };
        router = router.merge(match issuer {
            Some(_) => {
                // Each its own resource; the gateway's own token (client credentials, for
                // lists and health checks) is the only one without a user they accept,
                // and only tokens the gateway obtained (a person's token minted for this
                // address directly would skip its policy, limits and audit).
                let own = ResourceSpec {
                    resource: Some(format!("{internal_base}{path}")),
                    service_clients: vec![GATEWAY_CLIENT.into()],
                    allowed_clients: vec![GATEWAY_CLIENT.into()],
                    ..resource.clone()
                };
                Protection::new(&own, internal_base)
                    .with_context(|| format!("cannot protect {name}"))?
                    .protect_shared_origin(served)
            }
            None => served,
        });
    }
    Ok(router)
}

/// `[gateway]` from belay.toml with the reference servers first among the upstreams,
/// reached with tokens exchanged for the user when there is sign-in.
fn gateway_spec(
    configured: &GatewaySpec,
    internal_base: &str,
    auth: bool,
    issuer: &str,
    dir: &Path,
) -> anyhow::Result<GatewaySpec> {
    let mut spec = configured.clone();
    spec.auth = auth;
    // Guards are on unless `[gateway.guard]` says otherwise. The reference servers are not
    // pinned: their definitions ship in this binary and change only with it.
    let guard = spec
        .guard
        .get_or_insert_with(GuardSpec::recommended)
        .clone();
    let builtin_guard = GuardSpec {
        pin: false,
        ..guard
    };
    let credentials = match auth {
        true => CredentialSpec::TokenExchange(OAuthClientSpec {
            token_url: None,
            issuer: Some(issuer.to_owned()),
            client_id: GATEWAY_CLIENT.into(),
            client_secret: SecretSpec {
                env: None,
                file: Some(dir.join(GATEWAY_SECRET_FILE)),
            },
            scope: None,
            resource: None,
        }),
        false => CredentialSpec::None,
    };
    let builtin = builtins(auth).map(|name| UpstreamSpec {
        name: name.to_string(),
        prefix: None,
        transport: TransportSpec::Http {
            url: format!("{internal_base}{}", server_path(name)),
            headers: Default::default(),
        },
        credentials: credentials.clone(),
        timeouts: Default::default(),
        scopes: None,
        guard: Some(builtin_guard.clone()),
        registry_name: None,
    });
    spec.upstreams = builtin
        .chain(configured.upstreams.iter().cloned())
        .collect();
    spec.validate()
        .context("invalid [gateway] in the configuration (run `belay gateway check`)")?;
    Ok(spec)
}

mod banner;

use banner::{print_banner, started_json};

#[cfg(test)]
mod tests;
