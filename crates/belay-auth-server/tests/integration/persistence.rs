//! State survives a restart; key rotation keeps earlier tokens verifiable.

use belay_auth_server::{Alg, ManualClock};
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_restart_keeps_users_clients_keys_and_refresh_tokens() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("belay-as-restart-{}", uuid::Uuid::new_v4()));
    let path = dir.join("belay.db");
    let clock = ManualClock::new();
    let (client, tokens, jwks) = {
        let h = Harness::start_on_file(&path, clock.clone()).await?;
        let (client, tokens) = h.signed_in().await?;
        let jwks: serde_json::Value = h.http.get(h.url("/jwks.json")).send().await?.json().await?;
        (client, tokens, jwks)
    };
    let h = Harness::start_on_file(&path, clock).await?;
    let again: serde_json::Value = h.http.get(h.url("/jwks.json")).send().await?.json().await?;
    assert_eq!(again, jwks, "the signing key changed across the restart");
    assert_eq!(h.server.users().list()?.len(), 1);
    let (status, body) = h
        .refresh(&client.id, str_of(&tokens, "refresh_token")?)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The new server has a new port, hence a new issuer; the key is what must persist.
    let claims = h.verify_with_jwks(str_of(&body, "access_token")?).await?;
    assert_eq!(claims["client_id"], client.id.as_str());
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn rotation_keeps_old_tokens_verifiable_until_they_expire() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (_, before) = h.signed_in().await?;
    let old = str_of(&before, "access_token")?;
    let old_kid = jsonwebtoken::decode_header(old)?.kid;
    let new_kid = h.server.rotate(Alg::Rs256).await?;
    let (_, after) = h.signed_in().await?;
    let new = str_of(&after, "access_token")?;
    let header = jsonwebtoken::decode_header(new)?;
    assert_eq!(
        (header.kid.as_deref(), header.alg),
        (Some(new_kid.as_str()), jsonwebtoken::Algorithm::RS256)
    );
    // Both verify through the JWKS, and the server still accepts the old one.
    h.verify_with_jwks(old).await?;
    h.verify_with_jwks(new).await?;
    assert_eq!(h.introspect(old).await?["active"], true);
    // Once every token of the old key has expired (900 s + 60 s skew), it is dropped.
    h.clock.advance_secs(961);
    let jwks: serde_json::Value = h.http.get(h.url("/jwks.json")).send().await?.json().await?;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["kid"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kids, vec![new_kid.as_str()]);
    assert!(old_kid.is_some_and(|k| !kids.contains(&k.as_str())));
    Ok(())
}
