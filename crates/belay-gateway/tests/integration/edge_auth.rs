//! Sign-in at the gateway's edge: no token gets 401 with the gateway's own protected
//! resource metadata; a token from the (in-process) authorization server gets through, its
//! caller reaches policy, and the token never reaches the upstream.

use std::sync::Arc;

use belay_auth::ResourceSpec;
use belay_auth_server::ClientSpec;
use belay_gateway::{Chain, Gateway, GatewaySpec};
use belay_mcp::testkit::{Era, ScriptedClient};
use belay_servers::ServerName;
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    policy::call,
    support::{WAIT, http_upstream, issuer_with, scoped_token, service_token},
};

const CLIENT: &str = "robot";
const SECRET: &str = "robot-secret-for-tests";

/// The authorization server, with one confidential client allowed client credentials.
async fn issuer(stop: &CancellationToken) -> anyhow::Result<String> {
    let robot = ClientSpec {
        client_id: CLIENT.into(),
        client_secret: Some(SECRET.into()),
        grant_types: vec!["client_credentials".into()],
        ..ClientSpec::default()
    };
    issuer_with(vec![robot], |r| r, stop).await
}

#[tokio::test]
async fn no_token_gets_401_and_a_token_gets_through_without_reaching_the_upstream()
-> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let issuer = issuer(&stop).await?;
    let (stock, seen, _upstream) = http_upstream(ServerName::Stock).await?;
    // Only the robot client may compare: proves the caller reaches policy.
    let toml = format!(
        r#"
auth = true
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{stock}" }}
[policy]
[[policy.rules]]
id = "robots-compare"
clients = ["{CLIENT}"]
names = ["compare_*"]
[[policy.rules]]
id = "others-do-not"
effect = "deny"
names = ["compare_*"]
"#
    );
    let spec: GatewaySpec = belay_gateway::check(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let chain = Chain::from_spec(&spec, Arc::new(belay_policy::SystemClock), None)?;
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    let base = format!("http://{addr}");
    let resource = ResourceSpec {
        issuer: issuer.clone(),
        ..ResourceSpec::default()
    };
    let router = gateway.protected_router(&resource, &base)?;
    tokio::spawn(belay_mcp::http::run(listener, router, stop.clone()));
    gateway.wait_up("stock", 0, WAIT).await;

    // No token: 401, pointing at the gateway's own metadata.
    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await?;
    assert_eq!(refused.status(), 401);
    let challenge = refused
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(metadata["resource"], format!("{base}/mcp"));
    assert_eq!(metadata["authorization_servers"], json!([issuer]));

    // A client-credentials token for the gateway's resource.
    let token = service_token(&issuer, CLIENT, SECRET, &format!("{base}/mcp")).await?;
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(&token);
    let client = ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await?;
    let tools = client.list_all_tools().await?;
    assert!(
        tools
            .iter()
            .any(|t| t.name == "stock__compare_stock_prices")
    );
    let compared = call(
        &client,
        "stock__compare_stock_prices",
        json!({"symbol1": "AAPL", "symbol2": "MSFT"}),
    )
    .await?;
    assert!(!compared.is_empty());
    client.cancel().await?;

    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        !seen.iter().any(|h| h.contains(&token)),
        "the client's token reached the upstream"
    );
    Ok(())
}

/// POSTs a `tools/call` to `url` with `token`; the status and `WWW-Authenticate`.
async fn call_status(url: &str, token: &str) -> anyhow::Result<(u16, String)> {
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "get_stock_price", "arguments": {"symbol": "AAPL"}}}))
        .send()
        .await?;
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((answer.status().as_u16(), challenge))
}

#[tokio::test]
async fn each_endpoint_is_its_own_resource_with_its_own_scopes() -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let issuer = issuer(&stop).await?;
    let (stock, _, _upstream) = http_upstream(ServerName::Stock).await?;
    let toml = format!(
        r#"
auth = true
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{stock}" }}
scopes = {{ tools = ["mcp:tools"] }}
"#
    );
    let spec: GatewaySpec = belay_gateway::check(&toml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let chain = Chain::from_spec(&spec, Arc::new(belay_policy::SystemClock), None)?;
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    let base = format!("http://{addr}");
    let resource = ResourceSpec {
        issuer: issuer.clone(),
        ..ResourceSpec::default()
    };
    tokio::spawn(belay_mcp::http::run(
        listener,
        gateway.protected_router(&resource, &base)?,
        stop.clone(),
    ));
    let stock_url = format!("{base}/servers/stock/mcp");

    // Its own metadata names its own URL as the resource, and its scopes.
    let metadata: Value = reqwest::get(format!(
        "{base}/.well-known/oauth-protected-resource/servers/stock/mcp"
    ))
    .await?
    .json()
    .await?;
    assert_eq!(metadata["resource"], stock_url.as_str(), "{metadata}");

    // A token for the federated endpoint does not open the upstream's.
    let federated = service_token(&issuer, CLIENT, SECRET, &format!("{base}/mcp")).await?;
    let (status, _) = call_status(&stock_url, &federated).await?;
    assert_eq!(status, 401, "another resource's token is refused");

    // The right audience without the route's scope: 403 naming it, so the client steps up.
    let narrow = scoped_token(&issuer, CLIENT, SECRET, &stock_url, Some("mcp:prompts")).await?;
    let (status, challenge) = call_status(&stock_url, &narrow).await?;
    assert_eq!(status, 403, "{challenge}");
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("mcp:tools"),
        "{challenge}"
    );
    let wide = scoped_token(&issuer, CLIENT, SECRET, &stock_url, Some("mcp:tools")).await?;
    let (status, challenge) = call_status(&stock_url, &wide).await?;
    assert!(
        status != 401 && status != 403,
        "the scoped token passes the edge: {status} {challenge}"
    );
    Ok(())
}
