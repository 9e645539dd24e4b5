//! An upstream sees only its own credential, never the client's token: a static bearer,
//! or a client-credentials token from the real embedded authorization server, fetched
//! once, cached, and renewed when the upstream refuses it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{extract::Request, middleware::Next};
use belay_auth::{Protection, ResourceSpec};
use belay_auth_server::{AuthServer, ClientSpec, ServerSpec, Settings, SystemClock};
use belay_mcp::testkit::{Era, ScriptedClient, object, text_of};
use belay_servers::ServerName;
use belay_store::Db;
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{gateway, http_upstream};

const CLIENT_TOKEN: &str = "client-token-for-the-gateway-only";
const UPSTREAM_TOKEN: &str = "upstream-secret-from-a-file";

#[tokio::test]
async fn the_clients_token_never_reaches_an_upstream() -> anyhow::Result<()> {
    let (stock, seen, _s) = http_upstream(ServerName::Stock).await?;
    let (weather, seen_plain, _w) = http_upstream(ServerName::Weather).await?;
    let secret = std::env::temp_dir().join(format!("belay-gw-secret-{}", std::process::id()));
    std::fs::write(&secret, format!("{UPSTREAM_TOKEN}\n"))?;
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{stock}" }}
credentials = {{ type = "bearer", secret = {{ file = "{}" }} }}
[[upstream]]
name = "weather"
transport = {{ type = "http", url = "{weather}" }}
"#,
        secret.display()
    ))
    .await?;
    gw.up("stock").await?;
    gw.up("weather").await?;

    // The client presents its own token to the gateway, on both endpoints.
    for path in ["/mcp", "/servers/stock/mcp"] {
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}{path}", gw.base))
            .auth_header(CLIENT_TOKEN);
        let transport = StreamableHttpClientTransport::from_config(config);
        let client = ScriptedClient::new(Era::Handshake).serve(transport).await?;
        let tool = if path == "/mcp" {
            "stock__get_stock_price"
        } else {
            "get_stock_price"
        };
        let result = client
            .call_tool(
                CallToolRequestParams::new(tool).with_arguments(object(json!({"symbol": "TSLA"}))),
            )
            .await?;
        assert!(!result.is_error.unwrap_or(false), "{}", text_of(&result));
        client.cancel().await?;
    }
    let client = gw.plain("/mcp").await?;
    client.list_all_tools().await?;
    client.cancel().await?;
    let _ = std::fs::remove_file(&secret);

    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(!seen.is_empty(), "the upstream was called");
    assert!(
        seen.iter()
            .all(|h| h == &format!("Bearer {UPSTREAM_TOKEN}")),
        "stock saw only its own credential: {seen:?}"
    );
    let plain = seen_plain.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        plain.is_empty(),
        "weather has no credential and saw none: {plain:?}"
    );
    assert!(!seen.iter().chain(&plain).any(|h| h.contains(CLIENT_TOKEN)));
    Ok(())
}

/// Token requests the authorization server answered.
type Fetches = Arc<AtomicUsize>;

/// The embedded authorization server on `listener`, knowing the gateway as a confidential
/// client-credentials client; counts token requests. Stops when the handle is awaited
/// after cancelling `stop`.
async fn auth_server(
    listener: tokio::net::TcpListener,
    issuer: &str,
    fetches: Fetches,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let spec = ServerSpec {
        issuer: Some(issuer.to_owned()),
        clients: vec![ClientSpec {
            client_id: GATEWAY_CLIENT.into(),
            client_secret: Some(GATEWAY_SECRET.into()),
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        }],
        ..ServerSpec::default()
    };
    let settings = Settings::try_from(&spec)?;
    let server = tokio::task::spawn_blocking(move || {
        AuthServer::new(Db::in_memory()?, settings, Arc::new(SystemClock))
            .map_err(anyhow::Error::from)
    })
    .await??;
    let router = server.router().layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            if request.uri().path() == "/token" {
                fetches.fetch_add(1, Ordering::SeqCst);
            }
            next.run(request)
        },
    ));
    Ok(tokio::spawn(belay_auth_server::serve(
        listener, router, stop,
    )))
}

const GATEWAY_CLIENT: &str = "belay-gateway";
const GATEWAY_SECRET: &str = "gateway-client-secret-0123456789";

#[tokio::test]
async fn client_credentials_are_fetched_cached_and_renewed_after_key_rotation() -> anyhow::Result<()>
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let issuer = format!("http://{addr}");
    let fetches = Fetches::default();
    let stop = CancellationToken::new();
    let first = auth_server(listener, &issuer, fetches.clone(), stop.clone()).await?;

    // Stock behind real token checks: only tokens for its own audience get through.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", upstream.local_addr()?);
    let resource = ResourceSpec {
        issuer: issuer.clone(),
        // Keys are fetched on every check, so the upstream notices the rotation at once.
        jwks_ttl_secs: 0,
        jwks_refetch_interval_secs: 0,
        // The gateway comes as itself (client credentials), which it must say it accepts.
        service_clients: vec!["*".into()],
        ..ResourceSpec::default()
    };
    let seen: crate::support::Seen = Arc::default();
    let record = seen.clone();
    let shutdown = CancellationToken::new();
    let _upstream_guard = shutdown.clone().drop_guard();
    let router =
        belay_servers::streamable_router(ServerName::Stock, "/mcp", false, shutdown.clone());
    // No pooled connections for key fetches: a pooled connection to the stopped server
    // would fail, and the checker would keep trusting its cached (old) keys meanwhile.
    let key_fetches = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let router = Protection::with_http(&resource, &url, key_fetches)?
        .protect(router)
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                if let Some(value) = request.headers().get("authorization")
                    && let Ok(mut seen) = record.lock()
                {
                    seen.push(value.to_str().unwrap_or("<binary>").to_owned());
                }
                next.run(request)
            },
        ));
    tokio::spawn(belay_mcp::http::run(upstream, router, shutdown.clone()));

    let secret = std::env::temp_dir().join(format!("belay-gw-cc-{}", std::process::id()));
    std::fs::write(&secret, GATEWAY_SECRET)?;
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{url}" }}
credentials = {{ type = "client_credentials", issuer = "{issuer}", client_id = "{GATEWAY_CLIENT}", client_secret = {{ file = "{}" }}, resource = "{url}" }}
"#,
        secret.display()
    ))
    .await?;
    gw.up("stock").await?;
    let _ = std::fs::remove_file(&secret);

    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", gw.base))
        .auth_header(CLIENT_TOKEN);
    let client = ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await?;
    let price = || {
        client.call_tool(
            CallToolRequestParams::new("stock__get_stock_price")
                .with_arguments(object(json!({"symbol": "TSLA"}))),
        )
    };
    for _ in 0..3 {
        let result = price().await?;
        assert!(!result.is_error.unwrap_or(false), "{}", text_of(&result));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "one token, cached");
    let tokens = distinct(&seen);
    assert_eq!(tokens.len(), 1, "one token for every request: {tokens:?}");

    // Rotate: a new authorization server (new signing key) on the same address. The
    // cached token is refused; the gateway fetches a new one and retries once.
    stop.cancel();
    first.await??;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let stop = CancellationToken::new();
    let _second = stop.clone().drop_guard();
    auth_server(listener, &issuer, fetches.clone(), stop).await?;
    let result = price().await?;
    assert!(!result.is_error.unwrap_or(false), "{}", text_of(&result));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "renewed once after the 401"
    );
    let tokens = distinct(&seen);
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(
        !seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
            .iter()
            .any(|h| h.contains(CLIENT_TOKEN)),
        "the client's token never reached the upstream"
    );
    client.cancel().await?;
    Ok(())
}

/// The distinct Authorization values an upstream saw, all of them bearer tokens.
fn distinct(seen: &crate::support::Seen) -> Vec<String> {
    let mut all = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(all.iter().all(|h| h.starts_with("Bearer ")), "{all:?}");
    all.sort();
    all.dedup();
    all
}
