//! Discovery fallbacks: where the client looks for resource and authorization server metadata.

use belay_client::SignIn;

use crate::support::{AsMetadata, Setup, World};

async fn sign_in(world: &World) -> anyhow::Result<Vec<String>> {
    let sign_in = SignIn::new(&world.server_url, world.options()?)?;
    sign_in.sign_in(Some(&world.challenge()), None).await?;
    Ok(world.log(|l| l.hits.clone()))
}

fn position(hits: &[String], hit: &str) -> Option<usize> {
    hits.iter().position(|h| h == hit)
}

#[tokio::test]
async fn protected_resource_metadata_comes_from_the_challenge_first() -> anyhow::Result<()> {
    let world = World::start(Setup {
        prm_path: "/meta/prm.json",
        ..Setup::default()
    })
    .await?;
    let hits = sign_in(&world).await?;
    assert!(position(&hits, "GET /meta/prm.json").is_some(), "{hits:?}");
    assert!(
        !hits.iter().any(|h| h.contains("oauth-protected-resource")),
        "no well-known probing when the challenge names the metadata: {hits:?}"
    );
    Ok(())
}

#[tokio::test]
async fn protected_resource_metadata_falls_back_to_well_known_paths() -> anyhow::Result<()> {
    // Path-suffixed well-known location.
    let world = World::start(Setup {
        challenge_names_prm: false,
        ..Setup::default()
    })
    .await?;
    let hits = sign_in(&world).await?;
    assert!(
        position(&hits, "GET /.well-known/oauth-protected-resource/mcp").is_some(),
        "{hits:?}"
    );

    // Root location, tried after the path-suffixed one.
    let world = World::start(Setup {
        challenge_names_prm: false,
        prm_path: "/.well-known/oauth-protected-resource",
        ..Setup::default()
    })
    .await?;
    let hits = sign_in(&world).await?;
    let suffixed = position(&hits, "GET /.well-known/oauth-protected-resource/mcp");
    let root = position(&hits, "GET /.well-known/oauth-protected-resource");
    assert!(
        suffixed.is_some() && root.is_some() && suffixed < root,
        "{hits:?}"
    );
    Ok(())
}

#[tokio::test]
async fn authorization_server_metadata_uses_path_insertion() -> anyhow::Result<()> {
    let world = World::start(Setup {
        issuer_path: "/tenant",
        ..Setup::default()
    })
    .await?;
    let hits = sign_in(&world).await?;
    assert!(
        position(&hits, "GET /.well-known/oauth-authorization-server/tenant").is_some(),
        "{hits:?}"
    );
    assert!(position(&hits, "POST /tenant/token").is_some(), "{hits:?}");
    Ok(())
}

#[tokio::test]
async fn authorization_server_metadata_falls_back_to_openid_discovery() -> anyhow::Result<()> {
    let world = World::start(Setup {
        issuer_path: "/tenant",
        as_metadata: AsMetadata::Oidc,
        ..Setup::default()
    })
    .await?;
    let hits = sign_in(&world).await?;
    let oauth = position(&hits, "GET /.well-known/oauth-authorization-server/tenant");
    let oidc = position(&hits, "GET /tenant/.well-known/openid-configuration");
    assert!(
        oauth.is_some() && oidc.is_some() && oauth < oidc,
        "RFC 8414 first, then OIDC: {hits:?}"
    );
    assert!(position(&hits, "POST /tenant/token").is_some(), "{hits:?}");
    Ok(())
}
