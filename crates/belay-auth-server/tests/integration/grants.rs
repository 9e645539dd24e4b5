//! Refresh, client credentials, token exchange, userinfo, revocation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

pub(crate) const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Refreshes `token` asking for `scope`.
async fn refresh_for(
    h: &Harness,
    client: &str,
    token: &str,
    scope: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    h.token(
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", token),
            ("scope", scope),
        ],
        None,
    )
    .await
}

/// The resource server exchanges `subject` for a token to `resource`, with `extra`
/// parameters.
pub(crate) async fn exchange(
    h: &Harness,
    subject: &str,
    resource: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<(StatusCode, Value)> {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT),
        ("resource", resource),
    ];
    form.extend_from_slice(extra);
    h.token(&form, Some((RS_ID, RS_SECRET))).await
}

/// POST /revoke as public client `client`.
async fn revoke(h: &Harness, client: &str, token: &str) -> anyhow::Result<StatusCode> {
    let resp = h
        .http
        .post(h.url("/revoke"))
        .form(&[("token", token), ("client_id", client)])
        .send()
        .await?;
    Ok(resp.status())
}

#[tokio::test]
async fn refresh_rotates_the_token() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, first) = h.signed_in().await?;
    let (status, second) = h
        .refresh(&client.id, str_of(&first, "refresh_token")?)
        .await?;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let claims = h.verify_with_jwks(str_of(&second, "access_token")?).await?;
    assert_eq!(claims["aud"], RESOURCE);
    // Narrowing the scope is allowed, widening is not.
    let (status, narrow) = refresh_for(
        &h,
        &client.id,
        str_of(&second, "refresh_token")?,
        "mcp:tools",
    )
    .await?;
    assert_eq!(
        (status, narrow["scope"].as_str()),
        (StatusCode::OK, Some("mcp:tools"))
    );
    let wide = refresh_for(
        &h,
        &client.id,
        str_of(&narrow, "refresh_token")?,
        "mcp:tools mcp:prompts",
    )
    .await?;
    assert_refused(&wide, "invalid_scope");
    Ok(())
}

#[tokio::test]
async fn a_refused_refresh_leaves_the_token_usable() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let refresh = str_of(&tokens, "refresh_token")?;
    let wide = refresh_for(&h, &client.id, refresh, "mcp:prompts").await?;
    assert_refused(&wide, "invalid_scope");
    let resource = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client.id),
                ("refresh_token", refresh),
                ("resource", "https://other.example/mcp"),
            ],
            None,
        )
        .await?;
    assert_refused(&resource, "invalid_target");
    // Neither mistake used the token up.
    let (status, body) = h.refresh(&client.id, refresh).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn only_clients_allowed_to_refresh_get_refresh_tokens() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let body = h
        .registered(json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
        }))
        .await?;
    let id = str_of(&body, "client_id")?;
    let pkce = pkce();
    // The harness asks for `mcp:tools offline_access`.
    let code = h.code(id, &pkce, &[]).await?;
    let (status, tokens) = h.redeem(id, &code, &pkce.verifier).await?;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_null(), "{tokens}");
    Ok(())
}

#[tokio::test]
async fn a_replayed_code_is_named_as_the_reason_the_grant_was_revoked() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let code = h.code(&client.id, &pkce, &[]).await?;
    let (status, tokens) = h.redeem(&client.id, &code, &pkce.verifier).await?;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let replayed = h.redeem(&client.id, &code, &pkce.verifier).await?;
    assert_refused(&replayed, "invalid_grant");
    let (status, body) = h
        .refresh(&client.id, str_of(&tokens, "refresh_token")?)
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let why = str_of(&body, "error_description")?;
    assert!(why.contains("authorization code was used twice"), "{why}");
    assert!(!why.contains("refresh token was already used"), "{why}");
    Ok(())
}

#[tokio::test]
async fn client_credentials_tokens_name_the_client() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (status, body) = h
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", RESOURCE),
                ("scope", "mcp:tools"),
            ],
            Some((RS_ID, RS_SECRET)),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_null());
    let claims = h.verify_with_jwks(str_of(&body, "access_token")?).await?;
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some(RS_ID), Some(RS_ID))
    );
    // A public client may not use it.
    let public = h.register("none").await?;
    let refused = h
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &public.id),
                ("resource", RESOURCE),
            ],
            None,
        )
        .await?;
    assert_refused(&refused, "unauthorized_client");
    Ok(())
}

#[tokio::test]
async fn token_exchange_reaches_userinfo_with_an_act_claim() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (_, tokens) = h.signed_in().await?;
    let subject = str_of(&tokens, "access_token")?;
    // The user's token is for the MCP server, not for userinfo.
    let resp = h
        .http
        .get(h.url("/userinfo"))
        .bearer_auth(subject)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let userinfo = h.url("/userinfo");
    let (status, body) = exchange(&h, subject, &userinfo, &[]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], AT);
    let exchanged = str_of(&body, "access_token")?;
    let claims = h.verify_with_jwks(exchanged).await?;
    assert_eq!(claims["aud"], userinfo.as_str());
    assert_eq!(claims["act"]["sub"], RS_ID);
    // `offline_access` asked for a refresh token; no access token carries it.
    assert_eq!(claims["scope"], "mcp:tools");
    let resp = h.http.get(&userinfo).bearer_auth(exchanged).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let info: Value = resp.json().await?;
    assert_eq!(info["preferred_username"], USER);
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["sub"], claims["sub"]);
    // More scope than the subject token holds is refused.
    let wider = exchange(&h, subject, &userinfo, &[("scope", "mcp:prompts")]).await?;
    assert_refused(&wider, "invalid_scope");
    Ok(())
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let refresh = str_of(&tokens, "refresh_token")?;
    assert_eq!(revoke(&h, &client.id, refresh).await?, StatusCode::OK);
    assert_refused(&h.refresh(&client.id, refresh).await?, "invalid_grant");
    let intro = h.introspect(str_of(&tokens, "access_token")?).await?;
    assert_eq!(intro["active"], false);
    // Unknown tokens get 200 too.
    assert_eq!(revoke(&h, &client.id, "nonsense").await?, StatusCode::OK);
    Ok(())
}
