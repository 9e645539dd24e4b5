//! Every way a request is refused: each asserts the status and the RFC 6750 error.

use belay_auth::ResourceSpec;
use serde_json::json;

use crate::issuer::*;

/// An issuer with one ES256 key and a server protected by it.
async fn setup() -> anyhow::Result<(Issuer, SigningKey, Protected)> {
    let key = SigningKey::es256("k1")?;
    let (issuer, protected) = protected_by(&key).await?;
    Ok((issuer, key, protected))
}

async fn assert_invalid_token(
    protected: &Protected,
    token: &str,
    reason: &str,
) -> anyhow::Result<Answer> {
    let answer = call_bearer(&protected.url, token, &ping()).await?;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.param("error").as_deref(),
        Some("invalid_token"),
        "{answer:?}"
    );
    let description = answer.param("error_description").unwrap_or_default();
    assert!(
        description.contains(reason),
        "{description:?} lacks {reason:?}"
    );
    assert_eq!(answer.body["error"], "invalid_token");
    assert_eq!(
        answer.param("resource_metadata").as_deref(),
        Some(protected.protection.metadata_url())
    );
    Ok(answer)
}

#[tokio::test]
async fn no_token_gets_401_with_the_metadata_url_and_scopes() -> anyhow::Result<()> {
    let (_issuer, _key, protected) = setup().await?;
    let answer = call(&protected.url, None, &ping()).await?;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.param("error"),
        None,
        "no error code without credentials"
    );
    assert_eq!(
        answer.param("resource_metadata"),
        Some(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            protected.base
        ))
    );
    assert_eq!(
        answer.param("scope").as_deref(),
        Some("mcp:tools mcp:resources mcp:prompts weather:read")
    );
    Ok(())
}

#[tokio::test]
async fn a_malformed_authorization_header_is_an_invalid_request() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let token = key.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    for header in [
        "Bearer",
        "Bearer ",
        &format!("Bearer {token} extra"),
        "Bearer a\"b",
    ] {
        let answer = call(&protected.url, Some(header), &ping()).await?;
        assert_eq!(answer.status, 400, "{header:?}: {answer:?}");
        assert_eq!(
            answer.param("error").as_deref(),
            Some("invalid_request"),
            "{header:?}"
        );
    }
    // Another scheme carries no bearer credentials: the plain challenge.
    let answer = call(&protected.url, Some("Basic dXNlcjpwYXNz"), &ping()).await?;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.param("resource_metadata").is_some());
    // Tokens in the URL are refused even when valid (they end up in logs).
    let url = format!("{}?access_token={token}", protected.url);
    let answer = call(&url, None, &ping()).await?;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.param("error").as_deref(), Some("invalid_request"));
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    // Past the 60 s of tolerated skew.
    claims["exp"] = json!(now() - 120);
    claims["iat"] = json!(now() - 1000);
    claims["nbf"] = json!(now() - 1000);
    assert_invalid_token(&protected, &key.sign(&claims)?, "expired").await?;
    Ok(())
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    claims["nbf"] = json!(now() + 600);
    assert_invalid_token(&protected, &key.sign(&claims)?, "not valid yet").await?;
    Ok(())
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let claims = issuer.claims("http://127.0.0.1:1/other/mcp", "mcp:tools");
    assert_invalid_token(&protected, &key.sign(&claims)?, &protected.url).await?;
    Ok(())
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    claims["iss"] = json!("http://evil.example");
    assert_invalid_token(&protected, &key.sign(&claims)?, "not issued by").await?;
    Ok(())
}

#[tokio::test]
async fn alg_none_is_refused() -> anyhow::Result<()> {
    let (issuer, _key, protected) = setup().await?;
    let claims = issuer.claims(&protected.url, "mcp:tools");
    let token = forge(
        &json!({"alg": "none", "typ": "at+jwt", "kid": "k1"}),
        &claims,
        b"",
    );
    assert_invalid_token(&protected, &token, "alg `none` is refused").await?;
    Ok(())
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let claims = issuer.claims(&protected.url, "mcp:tools");
    // The classic confusion: the attacker HMACs with the (public) verification key.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    let secret = jsonwebtoken::EncodingKey::from_secret(key.jwk.to_string().as_bytes());
    let token = jsonwebtoken::encode(&header, &claims, &secret)?;
    assert_invalid_token(&protected, &token, "alg `HS256` is refused").await?;
    Ok(())
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    // A stranger's key claiming the issuer's kid: the signature cannot verify.
    let mut stranger = SigningKey::es256("k1")?;
    stranger.kid = key.kid.clone();
    let token = stranger.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    assert_invalid_token(&protected, &token, "signature").await?;
    Ok(())
}

#[tokio::test]
async fn unknown_kids_refetch_once_then_are_rate_limited() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let good = key.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    let answer = call_bearer(&protected.url, &good, &ping()).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(issuer.jwks_fetches(), 1);

    let junk = SigningKey::es256("junk-1")?;
    let token = junk.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    assert_invalid_token(&protected, &token, "no signing key `junk-1`").await?;
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "an unknown kid refetches the keys once"
    );

    let junk = SigningKey::es256("junk-2")?;
    let token = junk.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    assert_invalid_token(&protected, &token, "no signing key `junk-2`").await?;
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "a second unknown kid within the interval does not"
    );
    Ok(())
}

#[tokio::test]
async fn a_token_that_is_not_an_access_token_is_refused() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let claims = issuer.claims(&protected.url, "mcp:tools");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
    assert_invalid_token(&protected, &token, "not an access token").await?;
    assert_invalid_token(&protected, "not-a-jwt", "not a JWT").await?;
    Ok(())
}

#[tokio::test]
async fn a_missing_scope_gets_403_naming_it() -> anyhow::Result<()> {
    let (issuer, key, protected) = setup().await?;
    let token = key.sign(&issuer.claims(&protected.url, "openid mcp:resources"))?;
    let answer = call_bearer(&protected.url, &token, &tools_call("get_weather")).await?;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.param("error").as_deref(), Some("insufficient_scope"));
    let scope = answer.param("scope").unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').collect();
    assert!(scopes.contains(&"mcp:tools"), "{scope}");
    assert!(
        scopes.contains(&"mcp:resources"),
        "keeps granted scopes: {scope}"
    );
    assert!(answer.param("resource_metadata").is_some());
    assert_eq!(answer.body["error"], "insufficient_scope");

    // A per-tool scope replaces mcp:tools for that tool.
    let token = key.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    let answer = call_bearer(&protected.url, &token, &tools_call("get_forecast")).await?;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(
        answer
            .param("scope")
            .unwrap_or_default()
            .contains("weather:read")
    );
    assert!(
        answer
            .param("error_description")
            .unwrap_or_default()
            .contains("weather:read")
    );

    // A batch cannot smuggle a call past the check.
    let batch = json!([ping(), tools_call("get_forecast")]);
    let answer = call_bearer(&protected.url, &token, &batch).await?;
    assert_eq!(answer.status, 403, "{answer:?}");
    Ok(())
}

#[tokio::test]
async fn a_revoked_token_is_refused_when_introspection_is_on() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let issuer = Issuer::start(&[&key]).await?;
    let mut spec = spec(&issuer);
    spec.introspection.enabled = true;
    spec.introspection.client_id = Some(RS_CLIENT.into());
    spec.introspection.client_secret = Some(RS_SECRET.into());
    spec.introspection.cache_secs = 0;
    let protected = protect(spec).await?;
    let token = key.sign(&issuer.claims(&protected.url, "mcp:tools"))?;

    let answer = call_bearer(&protected.url, &token, &ping()).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    issuer.state.revoke(&token);
    assert_invalid_token(&protected, &token, "no longer active").await?;
    assert_eq!(
        issuer
            .state
            .introspections
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    Ok(())
}

/// Accepted tokens are remembered (their signature is not checked again), but never past
/// their expiry, and only byte for byte.
#[tokio::test]
async fn a_remembered_token_still_expires_and_a_tampered_copy_is_checked() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let issuer = Issuer::start(&[&key]).await?;
    let protected = protect(ResourceSpec {
        clock_skew_secs: 0,
        ..spec(&issuer)
    })
    .await?;
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    claims["exp"] = json!(now() + 2);
    let token = key.sign(&claims)?;
    for _ in 0..2 {
        let answer = call_bearer(&protected.url, &token, &ping()).await?;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    // The same header and claims with another signature: checked, and refused.
    let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
    let flipped: String = signature.chars().rev().collect();
    assert_invalid_token(&protected, &format!("{signed}.{flipped}"), "").await?;
    // Past `exp` (no skew here), the remembered token is refused like any other.
    while now() <= claims["exp"].as_i64().unwrap_or_default() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_invalid_token(&protected, &token, "expired").await?;
    Ok(())
}

#[tokio::test]
async fn a_service_token_is_refused_unless_its_client_is_allowed() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let issuer = Issuer::start(&[&key]).await?;
    let protected = protect(spec(&issuer)).await?;
    // Client credentials: the client acting for itself (RFC 9068: `sub` is the client).
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    claims["sub"] = json!("robot");
    claims["client_id"] = json!("robot");
    let service = key.sign(&claims)?;
    assert_invalid_token(&protected, &service, "service_clients").await?;
    // Entra ID's app-only tokens say so with `idtyp`, Auth0's with `gty`; Keycloak names its
    // service accounts.
    for (claim, value) in [
        ("idtyp", "app"),
        ("gty", "client-credentials"),
        ("preferred_username", "service-account-vscode"),
    ] {
        let mut app = issuer.claims(&protected.url, "mcp:tools");
        app[claim] = json!(value);
        assert_invalid_token(&protected, &key.sign(&app)?, "names no user").await?;
    }
    // Allowed by name: accepted; other robots still are not.
    let allowing = protect(ResourceSpec {
        service_clients: vec!["robot".into()],
        ..spec(&issuer)
    })
    .await?;
    claims["aud"] = json!(allowing.url);
    let answer = call_bearer(&allowing.url, &key.sign(&claims)?, &ping()).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    claims["sub"] = json!("other-robot");
    claims["client_id"] = json!("other-robot");
    assert_invalid_token(&allowing, &key.sign(&claims)?, "service_clients").await?;
    Ok(())
}

#[tokio::test]
async fn a_token_on_the_in_process_revocation_list_is_refused_at_once() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let issuer = Issuer::start(&[&key]).await?;
    let revoked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let list = revoked.clone();
    let protected = protect(ResourceSpec {
        revocations: Some(belay_auth::RevocationList::new(std::sync::Arc::new(
            move |jti: &str| list.lock().is_ok_and(|l| l.iter().any(|r| r == jti)),
        ))),
        ..spec(&issuer)
    })
    .await?;
    let claims = issuer.claims(&protected.url, "mcp:tools");
    let token = key.sign(&claims)?;
    // Accepted, so remembered: the list is still consulted on the next request.
    let answer = call_bearer(&protected.url, &token, &ping()).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    if let (Ok(mut l), Some(jti)) = (revoked.lock(), claims["jti"].as_str()) {
        l.push(jti.to_owned());
    }
    assert_invalid_token(&protected, &token, "revoked").await?;
    Ok(())
}

#[tokio::test]
async fn a_server_for_one_client_refuses_tokens_issued_to_others() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let issuer = Issuer::start(&[&key]).await?;
    let protected = protect(ResourceSpec {
        allowed_clients: vec!["belay-gateway".into()],
        ..spec(&issuer)
    })
    .await?;
    // A person's own token, minted for this server's address directly: refused.
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    assert_invalid_token(&protected, &key.sign(&claims)?, "belay-gateway only").await?;
    // The token the gateway obtained for that person: accepted.
    claims["client_id"] = json!("belay-gateway");
    let answer = call_bearer(&protected.url, &key.sign(&claims)?, &ping()).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    Ok(())
}
