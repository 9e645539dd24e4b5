//! An upstream sees only its own credential, never the client's token.

use belay_mcp::testkit::{Era, ScriptedClient, object, text_of};
use belay_servers::ServerName;
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;

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
