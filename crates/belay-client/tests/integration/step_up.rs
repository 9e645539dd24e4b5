//! Reactions to 401 and 403 through the HTTP client under the transport.

use std::{collections::HashMap, sync::Arc};

use belay_client::{SignIn, SignInOptions, SignedInClient};
use rmcp::transport::streamable_http_client::StreamableHttpClient;

use crate::support::{Policy, Setup, World, ping};

async fn post(client: &SignedInClient, url: &str) -> anyhow::Result<Result<(), String>> {
    let result = client
        .post_message(url.into(), ping()?, None, None, HashMap::new())
        .await;
    Ok(result.map(|_| ()).map_err(|e| e.to_string()))
}

#[tokio::test]
async fn step_up_stops_at_the_retry_limit() -> anyhow::Result<()> {
    let world = World::start(Setup {
        policy: Policy::AlwaysInsufficient,
        ..Setup::default()
    })
    .await?;
    let options = SignInOptions {
        max_step_ups: 2,
        ..world.options()?
    };
    let sign_in = Arc::new(SignIn::new(&world.server_url, options)?);
    let client = SignedInClient::new(reqwest::Client::new(), sign_in);

    let error = post(&client, &world.server_url)
        .await?
        .expect_err("403 forever must fail");
    assert!(error.contains("2 step-up attempt"), "{error}");
    let authorize = world.log(|l| l.authorize.clone());
    assert_eq!(
        authorize.len(),
        3,
        "the first sign-in and two step-ups, then stop"
    );
    for step_up in &authorize[1..] {
        let scopes = step_up.get("scope").cloned().unwrap_or_default();
        assert!(
            scopes.split(' ').any(|s| s == "mcp:admin"),
            "challenged scope requested: {scopes}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn rejected_token_is_refreshed_before_signing_in_again() -> anyhow::Result<()> {
    // The first token is refused (as if revoked); the refreshed one works.
    let world = World::start(Setup {
        policy: Policy::FromToken(2),
        ..Setup::default()
    })
    .await?;
    let sign_in = Arc::new(SignIn::new(&world.server_url, world.options()?)?);
    let client = SignedInClient::new(reqwest::Client::new(), sign_in.clone());

    post(&client, &world.server_url)
        .await?
        .map_err(anyhow::Error::msg)?;
    let grants: Vec<String> = world.log(|l| {
        l.token
            .iter()
            .filter_map(|t| t.get("grant_type").cloned())
            .collect()
    });
    assert_eq!(grants, ["authorization_code", "refresh_token"]);
    assert_eq!(
        world.log(|l| l.authorize.len()),
        1,
        "refresh, not a second authorization"
    );
    assert_eq!(sign_in.access_token().await?.as_deref(), Some("tok-2"));

    // The next request reuses the refreshed token without any OAuth traffic.
    post(&client, &world.server_url)
        .await?
        .map_err(anyhow::Error::msg)?;
    assert_eq!(world.log(|l| l.token.len()), 2);
    Ok(())
}
