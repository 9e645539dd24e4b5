//! A person signs in through the form; tokens are bound to one server; whoami exchanges.

use std::sync::Arc;

use anyhow::Context as _;
use belay_client::{SignIn, connect, connect_with};
use belay_mcp::testkit::{Era, object, text_of};
use belay_servers::{
    stock::StockServer,
    weather::WeatherServer,
    whoami::{WhoamiConfig, WhoamiServer},
};
use rmcp::{ClientLifecycleMode, model::CallToolRequestParams};
use serde_json::json;

use crate::world::{PASSWORD, World, as_alice};

fn call(tool: &str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned()).with_arguments(object(arguments))
}

#[tokio::test]
async fn a_person_signs_in_through_the_form_and_calls_a_protected_server() -> anyhow::Result<()> {
    let world = World::start(|_| {}).await?;
    let url = world
        .protected(WeatherServer::new(), &world.resource_spec())
        .await?;
    for era in [Era::Handshake, Era::RoundTrip] {
        let client = connect(&url, as_alice(PASSWORD)?, (), era.lifecycle()).await?;
        let result = client
            .call_tool(call("get_weather", json!({"city": "London"})))
            .await?;
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
        assert!(text_of(&result).contains("London"), "{}", text_of(&result));
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_ends_the_sign_in_with_a_clear_error() -> anyhow::Result<()> {
    let world = World::start(|_| {}).await?;
    let url = world
        .protected(WeatherServer::new(), &world.resource_spec())
        .await?;
    let outcome = connect(
        &url,
        as_alice("not the password")?,
        (),
        ClientLifecycleMode::Initialize,
    )
    .await;
    let message = format!(
        "{:#}",
        outcome.err().context("signed in with a wrong password")?
    );
    assert!(message.contains("username or password"), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_token_for_one_server_is_refused_by_another() -> anyhow::Result<()> {
    let world = World::start(|_| {}).await?;
    let spec = world.resource_spec();
    let weather = world.protected(WeatherServer::new(), &spec).await?;
    let stock = world.protected(StockServer::new(), &spec).await?;
    let sign_in = Arc::new(SignIn::new(&weather, as_alice(PASSWORD)?)?);
    let client = connect_with(sign_in.clone(), (), ClientLifecycleMode::Initialize).await?;
    client.list_tools(None).await?;
    let token = sign_in
        .access_token()
        .await?
        .context("no token after signing in")?;
    let answer = reqwest::Client::new()
        .post(&stock)
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await?;
    assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED);
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn whoami_answers_for_the_person_through_an_exchanged_token() -> anyhow::Result<()> {
    let world = World::start(|_| {}).await?;
    // It cannot register itself for token exchange: that grant is an administrator's to give.
    let unregistered = WhoamiServer::connect(WhoamiConfig {
        issuer: world.issuer.clone(),
        credentials: None,
        profile: None,
    })
    .await;
    let Err(refused) = unregistered else {
        anyhow::bail!("anonymous registration for token exchange must be refused");
    };
    assert!(
        refused.to_string().contains("belay auth client add"),
        "{refused}"
    );
    // As `belay auth client add whoami --exchange-from URL --exchange-to ISSUER/userinfo`.
    let (listener, url) = World::listener("/mcp").await?;
    let (_, secret) = belay_auth_server::Clients::new(world.server.db().clone()).add(
        belay_auth_server::NewClient {
            client_id: "whoami".into(),
            token_exchange: Some(belay_auth_server::ExchangeSpec {
                from: vec![url.clone()],
                to: vec![format!("{}/userinfo", world.issuer)],
            }),
            ..belay_auth_server::NewClient::default()
        },
        world.server.now(),
    )?;
    let whoami = WhoamiServer::connect(WhoamiConfig {
        issuer: world.issuer.clone(),
        credentials: Some(belay_auth::exchange::ClientCredentials::new(
            "whoami".to_owned(),
            secret.context("a service client has a secret")?,
        )),
        profile: None,
    })
    .await?;
    world.protected_on(listener, &url, whoami, &world.resource_spec())?;
    let client = connect(
        &url,
        as_alice(PASSWORD)?,
        (),
        ClientLifecycleMode::Initialize,
    )
    .await?;
    let result = client.call_tool(call("whoami", json!({}))).await?;
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    let who = result
        .structured_content
        .context("whoami returns structured content")?;
    assert_eq!(who["username"], "alice", "{who}");
    assert_eq!(who["name"], "Alice Liddell", "{who}");
    assert_eq!(who["email"], "alice@example.com", "{who}");
    // The client alice signed in with, not whoami's own; nobody in between.
    assert_ne!(who["client_id"], "whoami", "{who}");
    assert!(who["client_id"].is_string(), "{who}");
    assert_eq!(who["via"], json!([]), "{who}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_device_signs_in_while_the_person_approves_on_the_verification_page() -> anyhow::Result<()>
{
    let world = World::start(|_| {}).await?;
    let url = world
        .protected(WeatherServer::new(), &world.resource_spec())
        .await?;
    let options = belay_client::SignInOptions {
        grant: belay_client::Grant::DeviceCode,
        ..as_alice(PASSWORD)?
    };
    let client = connect(&url, options, (), ClientLifecycleMode::Initialize).await?;
    let result = client
        .call_tool(call("get_weather", json!({"city": "Tokyo"})))
        .await?;
    assert!(text_of(&result).contains("Tokyo"), "{}", text_of(&result));
    client.cancel().await?;
    Ok(())
}
