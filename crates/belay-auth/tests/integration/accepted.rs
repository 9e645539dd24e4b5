//! Tokens that must pass, and the metadata clients discover.

use serde_json::{Value, json};

use crate::issuer::*;

#[tokio::test]
async fn an_es256_token_reaches_the_handler_with_its_caller() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let (issuer, protected) = protected_by(&key).await?;
    let token = key.sign(&issuer.claims(&protected.url, "mcp:tools openid"))?;
    let answer = call_bearer(&protected.url, &token, &tools_call("get_weather")).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        json!({"sub": "user-42", "client_id": "vscode", "scopes": ["mcp:tools", "openid"], "username": "alice"})
    );
    Ok(())
}

#[tokio::test]
async fn an_rs256_token_is_accepted() -> anyhow::Result<()> {
    let key = SigningKey::rs256("rsa-1")?;
    let (issuer, protected) = protected_by(&key).await?;
    let token = key.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    let answer = call_bearer(&protected.url, &token, &tools_call("get_weather")).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    // The RSA key only allows RS256: the same key id with ES256 is refused.
    let es = SigningKey {
        kid: "rsa-1".into(),
        ..SigningKey::es256("x")?
    };
    let answer = call_bearer(
        &protected.url,
        &es.sign(&issuer.claims(&protected.url, "mcp:tools"))?,
        &ping(),
    )
    .await?;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(
        answer
            .param("error_description")
            .unwrap_or_default()
            .contains("signs with RS256")
    );
    Ok(())
}

#[tokio::test]
async fn entra_style_tokens_pass_by_configuration() -> anyhow::Result<()> {
    let key = SigningKey::rs256("entra")?;
    let issuer = Issuer::start(&[&key]).await?;
    let mut spec = spec(&issuer);
    spec.audience = Some("api://belay-weather".into());
    spec.accept_plain_jwt = true;
    spec.scope_prefix = Some("api://belay-weather/".into());
    spec.scopes.tools = vec!["Tools.Call".into()];
    spec.scopes.resources = vec!["Resources.Admin".into()];
    let protected = protect(spec).await?;
    let now = now();
    // Entra v2: `typ: JWT`, scp for delegated scopes, roles for app roles, azp.
    let claims = json!({
        "iss": issuer.url, "sub": "entra-sub", "aud": "api://belay-weather", "azp": "cli-app",
        "scp": "Tools.Call", "roles": ["Resources.Admin"], "iat": now, "nbf": now, "exp": now + 600,
        "preferred_username": "alice@contoso.example", "name": "Alice",
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("entra".into());
    let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
    let answer = call_bearer(&protected.url, &token, &tools_call("get_weather")).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["client_id"], "cli-app");
    let read =
        json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "x"}});
    let answer = call_bearer(&protected.url, &token, &read).await?;
    assert_eq!(answer.status, 200, "roles count as scopes: {answer:?}");
    // Clients are told the scope names Entra expects.
    let answer = call(&protected.url, None, &ping()).await?;
    assert!(
        answer
            .param("scope")
            .unwrap_or_default()
            .contains("api://belay-weather/Tools.Call"),
        "{answer:?}"
    );
    Ok(())
}

#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_paths() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let (issuer, protected) = protected_by(&key).await?;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = reqwest::get(format!("{}{path}", protected.base)).await?;
        assert_eq!(response.status(), 200, "{path}");
        let metadata: Value = response.json().await?;
        assert_eq!(metadata["resource"], protected.url.as_str(), "{path}");
        assert_eq!(metadata["authorization_servers"], json!([issuer.url]));
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
        assert_eq!(
            metadata["scopes_supported"],
            json!(["mcp:tools", "mcp:resources", "mcp:prompts", "weather:read"])
        );
        assert!(metadata["resource_name"].is_string());
    }
    Ok(())
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_token() -> anyhow::Result<()> {
    let old = SigningKey::es256("2026-01")?;
    let (issuer, protected) = protected_by(&old).await?;
    let token = old.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    assert_eq!(
        call_bearer(&protected.url, &token, &ping()).await?.status,
        200
    );

    let new = SigningKey::rs256("2026-02")?;
    issuer.state.set_keys(&[&new]);
    let token = new.sign(&issuer.claims(&protected.url, "mcp:tools"))?;
    let answer = call_bearer(&protected.url, &token, &ping()).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(issuer.jwks_fetches(), 2);
    Ok(())
}

#[tokio::test]
async fn an_issuer_whose_metadata_names_another_issuer_is_not_trusted() -> anyhow::Result<()> {
    let key = SigningKey::es256("k1")?;
    let issuer = Issuer::start(&[&key]).await?;
    // Same server, but configured with a trailing slash: the metadata's issuer differs.
    let mut spec = spec(&issuer);
    spec.issuer = format!("{}/", issuer.url);
    let protected = protect(spec).await?;
    let mut claims = issuer.claims(&protected.url, "mcp:tools");
    claims["iss"] = json!(format!("{}/", issuer.url));
    let answer = call_bearer(&protected.url, &key.sign(&claims)?, &ping()).await?;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(
        answer.body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("not the configured"),
        "{answer:?}"
    );
    Ok(())
}

/// The bearer check as a tower layer around a service that is not an axum `Router` (what a
/// plain rmcp `StreamableHttpService` is): refused without a token, reached with one, the
/// caller in the request's extensions.
#[tokio::test]
async fn the_check_is_a_layer_around_any_service() -> anyhow::Result<()> {
    use std::{convert::Infallible, sync::Arc};

    use axum::{body::Body, extract::Request, response::Response};
    use belay_auth::{Caller, Protection};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    let key = SigningKey::es256("layer")?;
    let issuer = Issuer::start(&[&key]).await?;
    let url = "http://127.0.0.1:9/mcp";
    let protection = Protection::new(&spec(&issuer), url)?;
    let plain = service_fn(|request: Request| async move {
        let caller = request
            .extensions()
            .get::<Arc<Caller>>()
            .map(|c| c.sub.clone());
        Ok::<_, Infallible>(Response::new(Body::from(caller.unwrap_or_default())))
    });
    let service = ServiceBuilder::new().layer(protection).service(plain);
    let post = |authorization: Option<String>| {
        let mut request = Request::post(url).header("content-type", "application/json");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.body(Body::from(ping().to_string()))
    };

    let anonymous = service.clone().oneshot(post(None)?).await?;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let token = key.sign(&issuer.claims(url, ""))?;
    let signed_in = service
        .oneshot(post(Some(format!("Bearer {token}")))?)
        .await?;
    assert_eq!(signed_in.status(), 200);
    let body = axum::body::to_bytes(signed_in.into_body(), 1024).await?;
    assert_eq!(body, "user-42", "the service saw the caller");
    Ok(())
}
