//! Every refusal the brief names, each with its exact status and `error`.

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::support::*;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

fn error_of(status: StatusCode, body: &Value) -> (StatusCode, Option<&str>) {
    (status, body["error"].as_str())
}

const INVALID_GRANT: (StatusCode, Option<&str>) = (StatusCode::BAD_REQUEST, Some("invalid_grant"));

#[tokio::test]
async fn a_replayed_code_is_refused_and_its_tokens_revoked() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let code = h.code(&client.id, &pkce, &[]).await?;
    let (status, first) = h.redeem(&client.id, &code, &pkce.verifier).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.introspect(str_of(&first, "access_token")?).await?["active"],
        true
    );
    let (status, body) = h.redeem(&client.id, &code, &pkce.verifier).await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    assert_eq!(
        h.introspect(str_of(&first, "access_token")?).await?["active"],
        false
    );
    let (status, body) = h
        .refresh(&client.id, str_of(&first, "refresh_token")?)
        .await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    Ok(())
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, first) = h.signed_in().await?;
    let old = str_of(&first, "refresh_token")?;
    let (status, second) = h.refresh(&client.id, old).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h.refresh(&client.id, old).await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    // The newest refresh token and access token die with the family.
    let (status, body) = h
        .refresh(&client.id, str_of(&second, "refresh_token")?)
        .await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    assert_eq!(
        h.introspect(str_of(&second, "access_token")?).await?["active"],
        false
    );
    Ok(())
}

async fn authorize_error(
    h: &Harness,
    extra: &[(&str, &str)],
) -> anyhow::Result<(StatusCode, Vec<(String, String)>)> {
    let client = h.register("none").await?;
    let resp = h.authorize(&client.id, &pkce().challenge, extra).await?;
    Ok((resp.status(), location_params(&resp)?))
}

#[tokio::test]
async fn pkce_plain_is_refused() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (status, params) = authorize_error(&h, &[("code_challenge_method", "plain")]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert!(param(&params, "error_description").is_some_and(|d| d.contains("S256")));
    assert_eq!(param(&params, "state"), Some("xyz"));
    Ok(())
}

#[tokio::test]
async fn pkce_missing_is_refused() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (status, params) =
        authorize_error(&h, &[("code_challenge", ""), ("code_challenge_method", "")]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert!(param(&params, "error_description").is_some_and(|d| d.contains("code_challenge")));
    Ok(())
}

#[tokio::test]
async fn a_missing_resource_is_invalid_target() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (status, params) = authorize_error(&h, &[("resource", "")]).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(param(&params, "error"), Some("invalid_target"));
    Ok(())
}

#[tokio::test]
async fn a_wrong_code_verifier_is_refused() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let code = h.code(&client.id, &pkce, &[]).await?;
    let (status, body) = h
        .redeem(&client.id, &code, &super::support::pkce().verifier)
        .await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    Ok(())
}

#[tokio::test]
async fn a_redirect_uri_mismatch_is_refused() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    // At /authorize: an error page, never a redirect to the unregistered URI.
    let resp = h
        .authorize(
            &client.id,
            &pkce.challenge,
            &[("redirect_uri", "https://evil.example/cb")],
        )
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(header::LOCATION).is_none());
    assert!(resp.text().await?.contains("not registered"));
    // At /token: the redirect_uri must be the one of the authorization request.
    let code = h.code(&client.id, &pkce, &[]).await?;
    let (status, body) = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &client.id),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:7777/other"),
                ("code_verifier", &pkce.verifier),
            ],
            None,
        )
        .await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    Ok(())
}

#[tokio::test]
async fn registration_refuses_non_loopback_http() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let resp = h
        .http
        .post(h.url("/register"))
        .json(&serde_json::json!({ "redirect_uris": ["http://app.example.com/cb"] }))
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    assert_eq!(
        error_of(status, &body),
        (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri"))
    );
    Ok(())
}

#[tokio::test]
async fn registration_is_rate_limited() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    for _ in 0..10 {
        h.register("none").await?;
    }
    let resp = h.http.post(h.url("/register"))
        .json(&serde_json::json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }))
        .send().await?;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert_eq!(retry, 6);
    // Once that time has passed, one more registration fits.
    h.clock.advance_secs(6);
    h.register("none").await?;
    Ok(())
}

#[tokio::test]
async fn an_expired_code_is_refused() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let code = h.code(&client.id, &pkce, &[]).await?;
    h.clock.advance_secs(61);
    let (status, body) = h.redeem(&client.id, &code, &pkce.verifier).await?;
    assert_eq!(error_of(status, &body), INVALID_GRANT);
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("expired"))
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let resp = h
        .http
        .post(h.url("/token"))
        .basic_auth(RS_ID, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Basic"))
    );
    let body: Value = resp.json().await?;
    assert_eq!(body["error"], "invalid_client");
    // A DCR confidential client with client_secret_post, wrong secret.
    let client = h.register("client_secret_post").await?;
    assert!(client.secret.as_deref().is_some_and(|s| s.len() >= 43));
    let (status, body) = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &client.id),
                ("client_secret", "wrong"),
            ],
            None,
        )
        .await?;
    assert_eq!(
        error_of(status, &body),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    Ok(())
}

#[tokio::test]
async fn token_exchange_refuses_a_revoked_subject_token() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let subject = str_of(&tokens, "access_token")?;
    let resp = h
        .http
        .post(h.url("/revoke"))
        .form(&[
            ("token", subject),
            ("token_type_hint", "access_token"),
            ("client_id", &client.id),
        ])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = h
        .token(
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", subject),
                ("subject_token_type", AT),
                ("resource", &h.url("/userinfo")),
            ],
            Some((RS_ID, RS_SECRET)),
        )
        .await?;
    // RFC 8693 §2.2.2: an unacceptable subject token is `invalid_request`.
    assert_eq!(
        error_of(status, &body),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("revoked"))
    );
    Ok(())
}

#[tokio::test]
async fn a_refresh_for_another_resource_is_invalid_target() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let (status, body) = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client.id),
                ("refresh_token", str_of(&tokens, "refresh_token")?),
                ("resource", "http://127.0.0.1:8002/mcp"),
            ],
            None,
        )
        .await?;
    assert_eq!(
        error_of(status, &body),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    Ok(())
}

#[tokio::test]
async fn introspection_of_a_revoked_token_is_inactive() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let token = str_of(&tokens, "access_token")?;
    assert_eq!(h.introspect(token).await?["active"], true);
    h.http
        .post(h.url("/revoke"))
        .form(&[("token", token), ("client_id", client.id.as_str())])
        .send()
        .await?;
    assert_eq!(
        h.introspect(token).await?,
        serde_json::json!({ "active": false })
    );
    // Expired tokens are inactive as well.
    let (_, tokens) = h.signed_in().await?;
    h.clock.advance_secs(901);
    assert_eq!(
        h.introspect(str_of(&tokens, "access_token")?).await?["active"],
        false
    );
    Ok(())
}
