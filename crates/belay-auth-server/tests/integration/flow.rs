//! Discovery and the code flow driven through the HTML form.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn metadata_documents_list_every_endpoint() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let resp = h.http.get(h.url(path)).send().await?;
        assert_eq!(resp.status(), StatusCode::OK);
        let m: Value = resp.json().await?;
        assert_eq!(m["issuer"], h.base.as_str());
        assert_eq!(m["token_endpoint"], h.url("/token").as_str());
        assert_eq!(m["authorization_endpoint"], h.url("/authorize").as_str());
        assert_eq!(m["jwks_uri"], h.url("/jwks.json").as_str());
        assert_eq!(m["registration_endpoint"], h.url("/register").as_str());
        assert_eq!(
            m["device_authorization_endpoint"],
            h.url("/device_authorization").as_str()
        );
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        let scopes = m["scopes_supported"].as_array().map(Vec::len);
        assert_eq!(scopes, Some(7));
    }
    let jwks: Value = h.http.get(h.url("/jwks.json")).send().await?.json().await?;
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["alg"].as_str(),
            key["use"].as_str(),
            key["kty"].as_str()
        ),
        (Some("ES256"), Some("sig"), Some("EC"))
    );
    assert!(key["d"].is_null(), "private part published");
    Ok(())
}

#[tokio::test]
async fn code_flow_through_the_form_issues_a_bound_jwt() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let page = h.authorize(&client.id, &pkce.challenge, &[]).await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    // The page names the client (escaped), the redirect host, the scopes and the resource.
    assert!(html.contains("Test &lt;App&gt;") && html.contains("127.0.0.1"));
    assert!(html.contains("mcp:tools") && html.contains(RESOURCE));
    let code = h.code(&client.id, &pkce, &[]).await?;
    let (status, body) = h.redeem(&client.id, &code, &pkce.verifier).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    // `offline_access` got the refresh token; the access token does not carry it.
    assert_eq!(body["scope"], "mcp:tools");
    assert!(body["refresh_token"].is_string());
    let jwt = str_of(&body, "access_token")?;
    let header = jsonwebtoken::decode_header(jwt)?;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let claims = h.verify_with_jwks(jwt).await?;
    assert_eq!(claims["iss"], h.base.as_str());
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["preferred_username"], USER);
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(900)
    );
    let user = h.server.users().list()?;
    assert_eq!(claims["sub"], user[0].id.as_str());
    let intro = h.introspect(jwt).await?;
    assert_eq!(
        (intro["active"].as_bool(), intro["aud"].as_str()),
        (Some(true), Some(RESOURCE))
    );
    Ok(())
}

#[tokio::test]
async fn wrong_password_shows_the_page_again_and_deny_redirects() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let form = Harness::form(h.authorize(&client.id, &pkce.challenge, &[]).await?).await?;
    let resp = h.submit(&form, "wrong password", "approve").await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await?.contains("Wrong user name or password"));
    let resp = h.submit(&form, "", "deny").await?;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let params = location_params(&resp)?;
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert_eq!(param(&params, "iss"), Some(h.base.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_post_without_the_csrf_cookie_is_refused() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let mut form = Harness::form(h.authorize(&client.id, &pkce.challenge, &[]).await?).await?;
    form.cookie = "belay_csrf_x=forged".into();
    let resp = h.submit(&form, PASSWORD, "approve").await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("location").is_none());
    Ok(())
}

#[tokio::test]
async fn a_loopback_redirect_matches_any_port() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let other = "http://127.0.0.1:4242/callback";
    let form = Harness::form(
        h.authorize(&client.id, &pkce.challenge, &[("redirect_uri", other)])
            .await?,
    )
    .await?;
    let resp = h.submit(&form, PASSWORD, "approve").await?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(location.starts_with(other), "{location}");
    Ok(())
}
