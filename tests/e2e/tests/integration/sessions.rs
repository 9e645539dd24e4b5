//! An MCP session belongs to whoever opened it: another person's token (or the same
//! person's token for another application) naming the session gets the 404 of a session
//! that does not exist, on every method and transport, and the owner carries on.

use belay_client::SignIn;
use belay_mcp::testkit::requests::{check_session_is_private, check_sse_session_is_private};
use belay_servers::weather::WeatherServer;

use crate::world::{OTHER_PASSWORD, OTHER_USER, PASSWORD, USER, World, as_user};

/// A token for `url` as `user`, signing in through a client named `app`.
async fn token(url: &str, user: &str, password: &str, app: &str) -> anyhow::Result<String> {
    let mut options = as_user(user, password)?;
    options.client_name = app.into();
    Ok(SignIn::new(url, options)?.sign_in(None, None).await?)
}

#[tokio::test]
async fn a_streamable_http_session_answers_only_the_principal_that_opened_it() -> anyhow::Result<()>
{
    let world = World::start(|_| {}).await?;
    let url = world
        .protected(WeatherServer::new(), &world.resource_spec())
        .await?;
    let alice = token(&url, USER, PASSWORD, "alice's app").await?;
    let bob = token(&url, OTHER_USER, OTHER_PASSWORD, "bob's app").await?;
    // Alice herself, through another application: its sessions are not this one's.
    let alice_elsewhere = token(&url, USER, PASSWORD, "alice's other app").await?;
    check_session_is_private(&url, &alice, &[&bob, &alice_elsewhere], "get_weather").await?;
    Ok(())
}

#[tokio::test]
async fn a_legacy_sse_session_answers_only_the_principal_that_opened_it() -> anyhow::Result<()> {
    let world = World::start(|_| {}).await?;
    let url = world
        .protected_sse(WeatherServer::new(), &world.resource_spec())
        .await?;
    let alice = token(&url, USER, PASSWORD, "alice's app").await?;
    let bob = token(&url, OTHER_USER, OTHER_PASSWORD, "bob's app").await?;
    check_sse_session_is_private(&url, &alice, &bob).await?;
    Ok(())
}
