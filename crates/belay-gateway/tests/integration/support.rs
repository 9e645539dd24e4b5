//! Shared setup: reference servers as upstreams on loopback, a gateway in front, clients.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Router,
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use belay_auth::ResourceSpec;
use belay_auth_server::ClientSpec;
use belay_gateway::{Chain, Gateway, GatewaySpec};
use belay_mcp::testkit::{Client, Era, ScriptedClient};
use belay_servers::ServerName;
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
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

/// Every `Authorization` header the upstream has received so far.
pub(crate) fn heard(seen: &Seen) -> Vec<String> {
    seen.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Reference server `name`'s Streamable HTTP router at `/mcp`, for a test to wrap and serve.
pub(crate) fn reference(name: ServerName) -> Router {
    belay_servers::streamable_router(name, "/mcp", false, CancellationToken::new())
}

/// A reference server on Streamable HTTP at `/mcp`, recording Authorization headers.
pub(crate) async fn http_upstream(name: ServerName) -> anyhow::Result<(String, Seen, DropGuard)> {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router = reference(name).layer(axum::middleware::from_fn(
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

/// `router` serving the handshake era only, as the Python SDK does: a 2026-07-28 request
/// (one without a session) is refused with 400.
pub(crate) fn handshake_only(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(
        |request: Request, next: Next| async move {
            let headers = request.headers();
            let round_trip = headers
                .get("mcp-protocol-version")
                .is_some_and(|v| v == "2026-07-28")
                && headers.get("mcp-session-id").is_none();
            if round_trip {
                let refusal = json!({"jsonrpc": "2.0", "id": null, "error": {
                    "code": -32600, "message": "Bad Request: Missing session ID"}});
                let refused: Response =
                    (http::StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
                return refused;
            }
            next.run(request).await
        },
    ))
}

/// A reference server on Streamable HTTP at `/mcp` that serves the handshake era only.
pub(crate) async fn handshake_http_upstream(
    name: ServerName,
) -> anyhow::Result<(String, DropGuard)> {
    let (base, guard) = serve(handshake_only(reference(name))).await?;
    Ok((format!("{base}/mcp"), guard))
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

/// `toml` (a standalone gateway file) checked, its error as text.
pub(crate) fn spec(toml: &str) -> anyhow::Result<GatewaySpec> {
    belay_gateway::check(toml).map_err(|e| anyhow::anyhow!("{e}"))
}

/// What `check` reports for `toml`, which should not pass; empty if it did.
pub(crate) fn refusal(toml: &str) -> String {
    belay_gateway::check(toml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// Starts a gateway for `toml` (a standalone gateway file) and serves it.
pub(crate) async fn gateway(toml: &str) -> anyhow::Result<Running> {
    gateway_with(spec(toml)?, Chain::default(), |r| r).await
}

/// Starts a gateway for `toml` (with `auth = true`) as `belay gateway serve` does, its chain
/// from the file, and serves it requiring sign-in with tokens from `issuer`, each endpoint
/// its own resource.
pub(crate) async fn protected_gateway(toml: &str, issuer: &str) -> anyhow::Result<Running> {
    // The router needs its own base URL, so bind before building it.
    protected_gateway_on(belay_mcp::http::bind("127.0.0.1:0").await?, toml, issuer).await
}

/// [`protected_gateway`] on a listener bound beforehand (`belay_mcp::http::bind`), for a
/// test that must know the gateway's URL before it starts.
pub(crate) async fn protected_gateway_on(
    (listener, addr): (tokio::net::TcpListener, std::net::SocketAddr),
    toml: &str,
    issuer: &str,
) -> anyhow::Result<Running> {
    let spec = spec(toml)?;
    let chain = Chain::from_spec(&spec, Arc::new(belay_policy::SystemClock), None)?;
    let stop = CancellationToken::new();
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let base = format!("http://{addr}");
    let resource = ResourceSpec {
        issuer: issuer.to_owned(),
        // The sign-in tests call as robots (client credentials); that a service token is
        // refused unless its client is listed has tests of its own (belay-auth, belay up).
        service_clients: vec!["*".into()],
        ..ResourceSpec::default()
    };
    let router = gateway.protected_router(&resource, &base)?;
    let server = CancellationToken::new();
    let options = gateway.server_options();
    tokio::spawn(belay_mcp::http::run_with(
        listener,
        router,
        server.clone(),
        options,
    ));
    Ok(Running {
        gateway,
        base,
        _server: server.drop_guard(),
        _gateway: stop.drop_guard(),
    })
}

/// The `[[upstream]]` table of a Streamable HTTP upstream `name` at `url`; more of its keys
/// may follow.
pub(crate) fn http_toml(name: &str, url: &str) -> String {
    format!("[[upstream]]\nname = \"{name}\"\ntransport = {{ type = \"http\", url = \"{url}\" }}\n")
}

/// A gateway in front of one Streamable HTTP upstream `name` at `url`, once it is up.
pub(crate) async fn one_upstream(name: &str, url: &str) -> anyhow::Result<Running> {
    let gw = gateway(&http_toml(name, url)).await?;
    gw.up(name).await?;
    Ok(gw)
}

/// Starts a gateway for `spec` with `chain`, its router passed through `wrap`.
pub(crate) async fn gateway_with(
    spec: GatewaySpec,
    chain: Chain,
    wrap: impl FnOnce(Router) -> Router,
) -> anyhow::Result<Running> {
    gateway_with_blocks(spec, chain, None, wrap).await
}

/// [`gateway_with`], enforcing the operator blocks in `blocks`.
pub(crate) async fn gateway_with_blocks(
    spec: GatewaySpec,
    chain: Chain,
    blocks: Option<belay_gateway::BlockStore>,
    wrap: impl FnOnce(Router) -> Router,
) -> anyhow::Result<Running> {
    let stop = CancellationToken::new();
    let gateway = Gateway::start_with_stores(spec, chain, None, blocks, stop.clone())?;
    let (base, server) = serve(wrap(gateway.router())).await?;
    Ok(Running {
        gateway,
        base,
        _server: server,
        _gateway: stop.drop_guard(),
    })
}

impl Running {
    /// Waits for upstream `name`'s first session; its generation.
    pub(crate) async fn up(&self, name: &str) -> anyhow::Result<u64> {
        Ok(self.up_after(name, 0).await?.generation)
    }

    /// Waits for upstream `name` to be up with a session newer than `generation`.
    pub(crate) async fn up_after(
        &self,
        name: &str,
        generation: u64,
    ) -> anyhow::Result<belay_gateway::upstream::UpstreamStatus> {
        let status = self
            .gateway
            .wait_up(name, generation, WAIT)
            .await
            .context("no such upstream")?;
        anyhow::ensure!(
            status.state == belay_gateway::upstream::UpstreamState::Up,
            "upstream {name} did not come up after session {generation}: {status:?}"
        );
        Ok(status)
    }

    /// Waits (at most [`WAIT`]) until upstream `name`'s status satisfies `done`.
    pub(crate) async fn until(
        &self,
        name: &str,
        done: impl FnMut(&belay_gateway::upstream::UpstreamStatus) -> bool,
    ) -> anyhow::Result<()> {
        let upstream = self.gateway.upstream(name).context("no such upstream")?;
        let mut watch = upstream.watch();
        tokio::time::timeout(WAIT, watch.wait_for(done)).await??;
        Ok(())
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

/// The names of every tool `client` is offered, in order.
pub(crate) async fn tool_names(client: &Client) -> anyhow::Result<Vec<String>> {
    let tools = client.list_all_tools().await?;
    Ok(tools.into_iter().map(|t| t.name.to_string()).collect())
}

/// A handshake-era person who answers the stock server's question (include the 52-week
/// range?) with `include`.
pub(crate) fn week_range_person(include: bool) -> ScriptedClient {
    ScriptedClient::new(Era::Handshake).answering(json!({ "include_week_range": include }))
}

/// Calls the stock server's `get_ticker_info` (named with `prefix` at `client`'s endpoint)
/// for AAPL; checks that `person`, who answered with `include`, was asked once and that the
/// answer reached the upstream.
pub(crate) async fn ticker_info_answered(
    client: &Client,
    person: &ScriptedClient,
    prefix: &str,
    include: bool,
) -> anyhow::Result<()> {
    let asked = person.questions().len();
    let params = json!({"symbol": "AAPL"});
    let text = crate::policy::call(client, &format!("{prefix}get_ticker_info"), params).await?;
    assert!(text.contains("Apple Inc."), "{text}");
    assert_eq!(
        text.contains("52-week range"),
        include,
        "the answer reached the upstream: {text}"
    );
    assert_eq!(
        person.questions().len(),
        asked + 1,
        "the client was asked once"
    );
    Ok(())
}

/// The embedded authorization server on a free loopback port, knowing `clients`, with
/// its router passed through `wrap`; returns its issuer URL. Stops with `stop`.
pub(crate) async fn issuer_with(
    clients: Vec<belay_auth_server::ClientSpec>,
    wrap: impl FnOnce(Router) -> Router,
    stop: &CancellationToken,
) -> anyhow::Result<String> {
    let (issuer, _) =
        belay_auth_server::spawn_ephemeral(|spec| spec.clients = clients, wrap, stop.clone())
            .await?;
    Ok(issuer)
}

/// The client of the sign-in tests: confidential, allowed client credentials.
pub(crate) const ROBOT: &str = "robot";
/// [`ROBOT`]'s secret.
pub(crate) const ROBOT_SECRET: &str = "robot-secret-for-tests";

/// A confidential client `id` with `secret`, allowed `grants`.
pub(crate) fn service_client(id: &str, secret: &str, grants: &[&str]) -> ClientSpec {
    ClientSpec {
        client_id: id.into(),
        client_secret: Some(secret.into()),
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        ..ClientSpec::default()
    }
}

/// The authorization server knowing only [`ROBOT`]; its issuer URL. Stops with `stop`.
pub(crate) async fn robot_issuer(stop: &CancellationToken) -> anyhow::Result<String> {
    let robot = service_client(ROBOT, ROBOT_SECRET, &["client_credentials"]);
    issuer_with(vec![robot], |r| r, stop).await
}

/// Sign-in at the edge of a gateway in front of the stock server, where only [`ROBOT`] may
/// compare: a comparison that passes proves the caller reached policy.
pub(crate) struct RobotGateway {
    pub(crate) issuer: String,
    pub(crate) gw: Running,
    /// What the upstream received as Authorization: never a caller's token.
    seen: Seen,
    _upstream: DropGuard,
    _issuer: DropGuard,
}

impl RobotGateway {
    /// Starts the authorization server, the stock server and the gateway; returns once
    /// the upstream is up.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let stop = CancellationToken::new();
        let issuer = robot_issuer(&stop).await?;
        let (stock, seen, upstream) = http_upstream(ServerName::Stock).await?;
        let toml = format!(
            r#"auth = true
{}[policy]
[[policy.rules]]
id = "robots-compare"
clients = ["{ROBOT}"]
names = ["compare_*"]
[[policy.rules]]
id = "others-do-not"
effect = "deny"
names = ["compare_*"]
"#,
            http_toml("stock", &stock)
        );
        let gw = protected_gateway(&toml, &issuer).await?;
        gw.up("stock").await?;
        Ok(Self {
            issuer,
            gw,
            seen,
            _upstream: upstream,
            _issuer: stop.drop_guard(),
        })
    }

    /// A token of [`ROBOT`] for the federated endpoint, `/mcp`.
    pub(crate) async fn token(&self) -> anyhow::Result<String> {
        let resource = format!("{}/mcp", self.gw.base);
        service_token(&self.issuer, ROBOT, ROBOT_SECRET, &resource).await
    }

    /// Compares two tickers through `client`, signed in with `token`: only the robot may,
    /// so the call passing proves the caller reached policy. Then ends the session and
    /// checks that `token` never reached the upstream.
    pub(crate) async fn compare_and_check(
        &self,
        client: Client,
        token: &str,
    ) -> anyhow::Result<()> {
        let compared = crate::policy::call(
            &client,
            "stock__compare_stock_prices",
            json!({"symbol1": "AAPL", "symbol2": "MSFT"}),
        )
        .await?;
        assert!(!compared.is_empty());
        client.cancel().await?;
        assert!(
            !heard(&self.seen).iter().any(|h| h.contains(token)),
            "the client's token reached the upstream"
        );
        Ok(())
    }
}

/// A handshake-era client of `url` presenting `token` as its bearer.
pub(crate) async fn signed_in(url: &str, token: &str) -> anyhow::Result<Client> {
    signed_in_as(ScriptedClient::new(Era::Handshake), url, token).await
}

/// [`signed_in`] as `person`.
pub(crate) async fn signed_in_as(
    person: ScriptedClient,
    url: &str,
    token: &str,
) -> anyhow::Result<Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
    Ok(person
        .serve(StreamableHttpClientTransport::from_config(config))
        .await?)
}

/// POSTs one JSON-RPC request (id 1) to the MCP endpoint `url`, with `token` if any.
pub(crate) async fn post_call(
    url: &str,
    token: Option<&str>,
    method: &str,
    params: Value,
) -> anyhow::Result<reqwest::Response> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?)
}

/// The value of `response`'s header `name` as text; empty when absent.
pub(crate) fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A client-credentials token of `client` for `resource`, from `issuer`.
pub(crate) async fn service_token(
    issuer: &str,
    client: &str,
    secret: &str,
    resource: &str,
) -> anyhow::Result<String> {
    scoped_token(issuer, client, secret, resource, None).await
}

/// [`service_token`] asking for `scope` (space separated), if given.
pub(crate) async fn scoped_token(
    issuer: &str,
    client: &str,
    secret: &str,
    resource: &str,
    scope: Option<&str>,
) -> anyhow::Result<String> {
    let mut form = vec![("grant_type", "client_credentials"), ("resource", resource)];
    form.extend(scope.map(|s| ("scope", s)));
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(client, Some(secret))
        .form(&form)
        .send()
        .await?
        .json()
        .await?;
    token["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access token: {token}"))
}
