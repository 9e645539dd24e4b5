//! Server-to-client requests cross the gateway: an upstream's elicitation reaches the
//! client whose call caused it, and the answer goes back.

use belay_mcp::testkit::{Era, ScriptedClient, object, text_of};
use belay_servers::ServerName;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::support::{gateway, http_upstream};

#[tokio::test]
async fn elicitation_crosses_the_gateway_both_ways() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let gw = gateway(&format!(
        "[[upstream]]\nname = \"stock\"\ntransport = {{ type = \"http\", url = \"{stock}\" }}\n"
    ))
    .await?;
    gw.up("stock").await?;
    for include in [true, false] {
        let person =
            ScriptedClient::new(Era::Handshake).answering(json!({ "include_week_range": include }));
        let client = gw.client("/mcp", person.clone()).await?;
        let result = client
            .call_tool(
                CallToolRequestParams::new("stock__get_ticker_info")
                    .with_arguments(object(json!({"symbol": "AAPL"}))),
            )
            .await?;
        let text = text_of(&result);
        assert!(text.contains("Apple Inc."), "{text}");
        assert_eq!(
            text.contains("52-week range"),
            include,
            "the answer reached the upstream: {text}"
        );
        assert_eq!(person.questions().len(), 1, "the client was asked once");
        client.cancel().await?;
    }
    Ok(())
}
