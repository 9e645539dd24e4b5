//! Sign-in at the gateway's edge: no token gets 401 with the gateway's own protected
//! resource metadata; a token from the (in-process) authorization server gets through, its
//! caller reaches policy, and the token never reaches the upstream.

use belay_servers::ServerName;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{
    ROBOT, ROBOT_SECRET, RobotGateway, header, http_toml, http_upstream, post_call,
    protected_gateway, robot_issuer, scoped_token, service_token, signed_in,
};

#[tokio::test]
async fn no_token_gets_401_and_a_token_gets_through_without_reaching_the_upstream()
-> anyhow::Result<()> {
    let world = RobotGateway::start().await?;
    let (base, issuer) = (&world.gw.base, &world.issuer);

    // No token: 401, pointing at the gateway's own metadata.
    let refused = post_call(&format!("{base}/mcp"), None, "tools/list", json!({})).await?;
    assert_eq!(refused.status(), 401);
    let challenge = header(&refused, "www-authenticate");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .await?
        .json()
        .await?;
    assert_eq!(metadata["resource"], format!("{base}/mcp"));
    assert_eq!(metadata["authorization_servers"], json!([issuer]));

    // A client-credentials token for the gateway's resource.
    let token = world.token().await?;
    let client = signed_in(&format!("{base}/mcp"), &token).await?;
    let tools = client.list_all_tools().await?;
    assert!(
        tools
            .iter()
            .any(|t| t.name == "stock__compare_stock_prices")
    );
    world.compare_and_check(client, &token).await
}

/// POSTs a `tools/call` to `url` with `token`; the status and `WWW-Authenticate`.
async fn call_status(url: &str, token: &str) -> anyhow::Result<(u16, String)> {
    let params = json!({"name": "get_stock_price", "arguments": {"symbol": "AAPL"}});
    let answer = post_call(url, Some(token), "tools/call", params).await?;
    Ok((
        answer.status().as_u16(),
        header(&answer, "www-authenticate"),
    ))
}

#[tokio::test]
async fn each_endpoint_is_its_own_resource_with_its_own_scopes() -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let issuer = robot_issuer(&stop).await?;
    let (stock, _, _upstream) = http_upstream(ServerName::Stock).await?;
    let scopes = r#"scopes = { tools = ["mcp:tools"] }"#;
    let toml = format!("auth = true\n{}{scopes}\n", http_toml("stock", &stock));
    let gw = protected_gateway(&toml, &issuer).await?;
    let base = &gw.base;
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
    let federated = service_token(&issuer, ROBOT, ROBOT_SECRET, &format!("{base}/mcp")).await?;
    let (status, _) = call_status(&stock_url, &federated).await?;
    assert_eq!(status, 401, "another resource's token is refused");

    // The right audience without the route's scope: 403 naming it, so the client steps up.
    let narrow = scoped_token(
        &issuer,
        ROBOT,
        ROBOT_SECRET,
        &stock_url,
        Some("mcp:prompts"),
    )
    .await?;
    let (status, challenge) = call_status(&stock_url, &narrow).await?;
    assert_eq!(status, 403, "{challenge}");
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("mcp:tools"),
        "{challenge}"
    );
    let wide = scoped_token(&issuer, ROBOT, ROBOT_SECRET, &stock_url, Some("mcp:tools")).await?;
    let (status, challenge) = call_status(&stock_url, &wide).await?;
    assert!(
        status != 401 && status != 403,
        "the scoped token passes the edge: {status} {challenge}"
    );
    Ok(())
}
