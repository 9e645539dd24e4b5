//! The gateway's downstream sessions belong to whoever opened them: on `/mcp`, on
//! `/servers/NAME/mcp` and on legacy `/sse`, another person's token naming a session gets
//! the 404 of a session that does not exist, and the owner's session carries on; a DELETE
//! by the owner answers 204.

use belay_client::{FormAgent, SignIn, SignInOptions};
use belay_mcp::testkit::requests::{check_session_is_private, check_sse_session_is_private};
use belay_servers::ServerName;
use tokio_util::sync::CancellationToken;

use crate::support::{Running, http_toml, http_upstream, protected_gateway};

pub(crate) const ALICE: (&str, &str) = ("alice", "alice's long passphrase");
const BOB: (&str, &str) = ("bob", "bob's long passphrase");

/// A token for the endpoint `url` as `person`, signed in through the form.
pub(crate) async fn token(url: &str, (user, password): (&str, &str)) -> anyhow::Result<String> {
    let options = SignInOptions {
        client_name: format!("{user}'s app"),
        user_agent: std::sync::Arc::new(FormAgent::new(user, password)?),
        allow_private_addresses: true,
        ..SignInOptions::default()
    };
    Ok(SignIn::new(url, options)?.sign_in(None, None).await?)
}

/// The authorization server with alice and bob, the weather server and a gateway in front
/// requiring sign-in; everything stops with the returned token.
pub(crate) async fn world() -> anyhow::Result<(Running, CancellationToken)> {
    let stop = CancellationToken::new();
    let (issuer, server) = belay_auth_server::spawn_ephemeral(|_| {}, |r| r, stop.clone()).await?;
    for (user, password) in [ALICE, BOB] {
        server.users().add(user, password, None, None)?;
    }
    let (weather, _, upstream) = http_upstream(ServerName::Weather).await?;
    // The upstream lives as long as the world.
    tokio::spawn({
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            drop(upstream);
        }
    });
    let gw = protected_gateway(
        &format!("auth = true\n{}", http_toml("weather", &weather)),
        &issuer,
    )
    .await?;
    gw.up("weather").await?;
    Ok((gw, stop))
}

#[tokio::test]
async fn another_persons_token_cannot_use_end_or_see_a_session_at_any_endpoint()
-> anyhow::Result<()> {
    let (gw, stop) = world().await?;
    let _stop = stop.drop_guard();
    for path in ["/mcp", "/servers/weather/mcp"] {
        let url = format!("{}{path}", gw.base);
        let alice = token(&url, ALICE).await?;
        let bob = token(&url, BOB).await?;
        check_session_is_private(&url, &alice, &[&bob], "get_weather").await?;
    }
    Ok(())
}

#[tokio::test]
async fn another_persons_token_cannot_post_into_a_legacy_sse_session() -> anyhow::Result<()> {
    let (gw, stop) = world().await?;
    let _stop = stop.drop_guard();
    // `/sse` (with its `/messages`) is a resource of its own.
    let resource = format!("{}/sse", gw.base);
    let alice = token(&resource, ALICE).await?;
    let bob = token(&resource, BOB).await?;
    check_sse_session_is_private(&format!("{}/sse", gw.base), &alice, &bob).await?;
    Ok(())
}
