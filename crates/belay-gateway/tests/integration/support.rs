//! Shared setup: reference servers as upstreams on loopback, a gateway in front, clients.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use axum::{Router, extract::Request, middleware::Next, response::Response};
use belay_gateway::{Chain, Gateway, GatewaySpec};
use belay_mcp::testkit::{Client, Era, ScriptedClient};
use belay_servers::ServerName;
use rmcp::{ServiceExt, transport::StreamableHttpClientTransport};
use tokio_util::sync::{CancellationToken, DropGuard};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Serves `router` on a free loopback port until the guard drops; returns its base URL.
pub(crate) async fn serve(router: Router) -> anyhow::Result<(String, DropGuard)> {
    let stop = CancellationToken::new();
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    tokio::spawn(belay_mcp::http::run(listener, router, stop.clone()));
    Ok((format!("http://{addr}"), stop.drop_guard()))
}

/// Every `Authorization` header an upstream received.
pub(crate) type Seen = Arc<Mutex<Vec<String>>>;

/// A reference server on Streamable HTTP at `/mcp`, recording Authorization headers.
pub(crate) async fn http_upstream(name: ServerName) -> anyhow::Result<(String, Seen, DropGuard)> {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router = belay_servers::streamable_router(name, "/mcp", false, CancellationToken::new())
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let record = record.clone();
                async move {
                    if let Some(value) = request.headers().get("authorization")
                        && let Ok(mut seen) = record.lock()
                    {
                        seen.push(value.to_str().unwrap_or("<binary>").to_owned());
                    }
                    let response: Response = next.run(request).await;
                    response
                }
            },
        ));
    let (base, guard) = serve(router).await?;
    Ok((format!("{base}/mcp"), seen, guard))
}

/// The fixture binary that serves a reference server on stdio.
pub(crate) fn fixture() -> &'static str {
    env!("CARGO_BIN_EXE_gateway-fixture-upstream")
}

/// A running gateway and its URL; everything stops when this drops.
pub(crate) struct Running {
    pub(crate) gateway: Gateway,
    pub(crate) base: String,
    _server: DropGuard,
    _gateway: DropGuard,
}

/// Starts a gateway for `toml` (a standalone gateway file) and serves it.
pub(crate) async fn gateway(toml: &str) -> anyhow::Result<Running> {
    let spec: GatewaySpec = belay_gateway::check(toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    gateway_with(spec, Chain::default(), |r| r).await
}

/// A gateway in front of one Streamable HTTP upstream `name` at `url`, once it is up.
pub(crate) async fn one_upstream(name: &str, url: &str) -> anyhow::Result<Running> {
    let gw = gateway(&format!(
        "[[upstream]]\nname = \"{name}\"\ntransport = {{ type = \"http\", url = \"{url}\" }}\n"
    ))
    .await?;
    gw.up(name).await?;
    Ok(gw)
}

/// Starts a gateway for `spec` with `chain`, its router passed through `wrap`.
pub(crate) async fn gateway_with(
    spec: GatewaySpec,
    chain: Chain,
    wrap: impl FnOnce(Router) -> Router,
) -> anyhow::Result<Running> {
    let stop = CancellationToken::new();
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let (base, server) = serve(wrap(gateway.router())).await?;
    Ok(Running {
        gateway,
        base,
        _server: server,
        _gateway: stop.drop_guard(),
    })
}

impl Running {
    /// Waits for upstream `name`'s first session.
    pub(crate) async fn up(&self, name: &str) -> anyhow::Result<u64> {
        let status = self
            .gateway
            .wait_up(name, 0, WAIT)
            .await
            .context("no such upstream")?;
        anyhow::ensure!(
            status.state == belay_gateway::upstream::UpstreamState::Up,
            "upstream {name} did not come up: {status:?}"
        );
        Ok(status.generation)
    }

    /// A scripted handshake-era client on `path` (`/mcp` or `/servers/NAME/mcp`).
    pub(crate) async fn client(
        &self,
        path: &str,
        person: ScriptedClient,
    ) -> anyhow::Result<Client> {
        let transport = StreamableHttpClientTransport::from_uri(format!("{}{path}", self.base));
        Ok(person.serve(transport).await?)
    }

    /// A bare handshake-era client on `path`.
    pub(crate) async fn plain(&self, path: &str) -> anyhow::Result<Client> {
        self.client(path, ScriptedClient::new(Era::Handshake)).await
    }
}

/// The embedded authorization server on a free loopback port, knowing `clients`, with
/// its router passed through `wrap`; returns its issuer URL. Stops with `stop`.
pub(crate) async fn issuer_with(
    clients: Vec<belay_auth_server::ClientSpec>,
    wrap: impl FnOnce(Router) -> Router,
    stop: &CancellationToken,
) -> anyhow::Result<String> {
    use belay_auth_server::{AuthServer, ServerSpec, Settings, SystemClock};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let spec = ServerSpec {
        issuer: Some(issuer.clone()),
        clients,
        ..ServerSpec::default()
    };
    let settings = Settings::try_from(&spec)?;
    let server = tokio::task::spawn_blocking(move || {
        AuthServer::new(
            belay_store::Db::in_memory()?,
            settings,
            Arc::new(SystemClock),
        )
        .map_err(anyhow::Error::from)
    })
    .await??;
    tokio::spawn(belay_auth_server::serve(
        listener,
        wrap(server.router()),
        stop.clone(),
    ));
    Ok(issuer)
}

/// A client-credentials token of `client` for `resource`, from `issuer`.
pub(crate) async fn service_token(
    issuer: &str,
    client: &str,
    secret: &str,
    resource: &str,
) -> anyhow::Result<String> {
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", resource)])
        .send()
        .await?
        .json()
        .await?;
    token["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access token: {token}"))
}
