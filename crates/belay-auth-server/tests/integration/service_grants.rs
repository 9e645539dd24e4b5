//! Who may hold a service grant, and what token exchange may trade (issue 17, items 1, 2
//! and 4): anonymous registration gets no service grant; an exchange takes only a token
//! minted for the exchanging client's own resource, mints only for audiences it fronts,
//! and the new token lives and dies with the user's grant.

use belay_auth_server::{Clients, ExchangeSpec, NewClient};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    grants::{AT, EXCHANGE, exchange},
    support::*,
};

#[tokio::test]
async fn anonymous_registration_gets_no_service_grant() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    for grants in [
        json!(["client_credentials"]),
        json!([EXCHANGE]),
        json!(["authorization_code", "client_credentials"]),
    ] {
        let (status, body) = h
            .register_with(json!({
                "redirect_uris": [REDIRECT],
                "grant_types": grants,
                "token_endpoint_auth_method": "client_secret_basic",
            }))
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{grants}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata");
        let why = str_of(&body, "error_description")?;
        assert!(why.contains("belay auth client add"), "{why}");
    }
    // The grants where a person signs in stay open to anyone.
    let body = h
        .registered(json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token",
                            "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await?;
    assert!(body["client_secret"].is_string(), "{body}");
    Ok(())
}

/// A service client made as `belay auth client add` makes it; returns its secret.
fn admin_client(h: &Harness, new: NewClient) -> anyhow::Result<String> {
    let (_, secret) = Clients::new(h.server.db().clone()).add(new, h.server.now())?;
    secret.ok_or_else(|| anyhow::anyhow!("a confidential client has a secret"))
}

#[tokio::test]
async fn an_administrator_creates_service_clients_and_removing_one_revokes_its_tokens()
-> anyhow::Result<()> {
    let h = Harness::start().await?;
    let secret = admin_client(
        &h,
        NewClient {
            client_id: "nightly-report".into(),
            ..NewClient::default()
        },
    )?;
    let creds = Some(("nightly-report", secret.as_str()));
    let form = [("grant_type", "client_credentials"), ("resource", RESOURCE)];
    let (status, body) = h.token(&form, creds).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = str_of(&body, "access_token")?;
    assert_eq!(h.introspect(token).await?["active"], true);
    // Client-credentials tokens have no grant family: removal lists nothing for them, but
    // the client itself is gone.
    assert!(Clients::new(h.server.db().clone()).remove("nightly-report", h.server.now())?);
    let (status, body) = h.token(&form, creds).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    // A token-exchange grant without audiences is refused at creation.
    let refused = Clients::new(h.server.db().clone()).add(
        NewClient {
            client_id: "loose".into(),
            grant_types: vec![EXCHANGE.into()],
            ..NewClient::default()
        },
        h.server.now(),
    );
    assert!(refused.is_err());
    Ok(())
}

#[tokio::test]
async fn a_client_without_exchange_rights_cannot_exchange() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let secret = admin_client(
        &h,
        NewClient {
            client_id: "reporter".into(),
            ..NewClient::default()
        },
    )?;
    let (_, tokens) = h.signed_in().await?;
    let subject = str_of(&tokens, "access_token")?;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT),
        ("resource", &h.url("/userinfo")),
    ];
    let (status, body) = h.token(&form, Some(("reporter", &secret))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
    Ok(())
}

#[tokio::test]
async fn a_token_minted_for_someone_else_cannot_be_laundered() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    // The user signed in to another service; that service's token reaches our client.
    let client = h.register("none").await?;
    let pkce = pkce();
    let code = h
        .code(
            &client.id,
            &pkce,
            &[("resource", "https://evil.example/mcp")],
        )
        .await?;
    let (_, tokens) = h.redeem(&client.id, &code, &pkce.verifier).await?;
    let foreign = str_of(&tokens, "access_token")?;
    for target in [h.url("/userinfo"), RESOURCE.to_owned()] {
        let (status, body) = exchange(&h, foreign, &target, &[]).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{target}: {body}");
        assert_eq!(body["error"], "invalid_request", "{body}");
        assert!(
            str_of(&body, "error_description")?.contains("https://evil.example/mcp"),
            "{body}"
        );
    }
    // Its own callers' tokens, only to the audiences it fronts.
    let (_, tokens) = h.signed_in().await?;
    let own = str_of(&tokens, "access_token")?;
    let refused = exchange(&h, own, "https://elsewhere.example/api", &[]).await?;
    assert_refused(&refused, "invalid_target");
    let (status, body) = exchange(&h, own, &h.url("/userinfo"), &[]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_service_token_cannot_be_exchanged_for_a_user_token() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (status, body) = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
            Some((RS_ID, RS_SECRET)),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let service = str_of(&body, "access_token")?;
    let refused = exchange(&h, service, &h.url("/userinfo"), &[]).await?;
    assert_refused(&refused, "invalid_request");
    Ok(())
}

#[tokio::test]
async fn exchanged_tokens_die_with_the_grant_and_never_outlive_the_subject() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let subject = str_of(&tokens, "access_token")?;
    let subject_exp = h.verify_with_jwks(subject).await?["exp"].clone();
    // Ten minutes into the subject token's fifteen.
    h.clock.advance_secs(600);
    let (status, body) = exchange(&h, subject, &h.url("/userinfo"), &[]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exchanged = str_of(&body, "access_token")?;
    let claims = h.verify_with_jwks(exchanged).await?;
    assert_eq!(claims["exp"], subject_exp);
    assert_eq!(body["expires_in"], 300);
    assert_eq!(claims["client_id"], RS_ID);
    assert_eq!(claims["origin_client_id"], client.id.as_str());
    assert_eq!(h.introspect(exchanged).await?["active"], true);
    // The user's grant is revoked (the refresh token, by its client): the exchanged token
    // goes with it, in the store and in the in-process list resource servers consult.
    let refresh = str_of(&tokens, "refresh_token")?;
    let resp = h
        .http
        .post(h.url("/revoke"))
        .form(&[("token", refresh), ("client_id", client.id.as_str())])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(h.introspect(exchanged).await?["active"], false);
    let jti = str_of(&claims, "jti")?;
    assert!(h.server.is_revoked_now(jti));
    // And a revoked grant's token cannot be exchanged again.
    let refused = exchange(&h, subject, &h.url("/userinfo"), &[]).await?;
    assert_refused(&refused, "invalid_request");
    Ok(())
}

#[tokio::test]
async fn revoking_an_access_token_reaches_the_in_process_list() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let access = str_of(&tokens, "access_token")?;
    let jti = h.verify_with_jwks(access).await?["jti"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(!h.server.is_revoked_now(&jti));
    let resp = h
        .http
        .post(h.url("/revoke"))
        .form(&[
            ("token", access),
            ("token_type_hint", "access_token"),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(h.server.is_revoked_now(&jti));
    Ok(())
}

#[tokio::test]
async fn removing_a_user_revokes_their_grants() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (client, tokens) = h.signed_in().await?;
    let access = str_of(&tokens, "access_token")?;
    let jti = h.verify_with_jwks(access).await?["jti"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    // As `belay auth user remove` does, from another process: the store only.
    assert!(belay_auth_server::Users::new(h.server.db().clone()).remove(USER)?);
    assert_eq!(h.introspect(access).await?["active"], false);
    let refused = h
        .refresh(&client.id, str_of(&tokens, "refresh_token")?)
        .await?;
    assert_refused(&refused, "invalid_grant");
    // A running server's in-process list learns it at its next reading of the table.
    assert!(!h.server.is_revoked_now(&jti));
    h.server.sync_revocations().await?;
    assert!(h.server.is_revoked_now(&jti));
    Ok(())
}

#[tokio::test]
async fn removing_a_client_revokes_the_tokens_it_holds() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let clients = Clients::new(h.server.db().clone());
    let (_, secret) = clients.add(
        NewClient {
            client_id: "exchanger".into(),
            token_exchange: Some(ExchangeSpec {
                from: vec![RESOURCE.into()],
                to: vec![h.url("/userinfo")],
            }),
            ..NewClient::default()
        },
        h.server.now(),
    )?;
    let secret = secret.unwrap_or_default();
    let creds = Some(("exchanger", secret.as_str()));
    let (_, own) = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
            creds,
        )
        .await?;
    let own = str_of(&own, "access_token")?.to_owned();
    let (_, tokens) = h.signed_in().await?;
    let subject = str_of(&tokens, "access_token")?;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT),
        ("resource", &h.url("/userinfo")),
    ];
    let (status, body) = h.token(&form, creds).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exchanged = str_of(&body, "access_token")?.to_owned();
    for token in [&own, &exchanged] {
        assert_eq!(h.introspect(token).await?["active"], true);
    }
    assert!(clients.remove("exchanger", h.server.now())?);
    for token in [&own, &exchanged] {
        assert_eq!(h.introspect(token).await?["active"], false);
    }
    // The user's own token is theirs, not the exchanger's: it stays.
    assert_eq!(h.introspect(subject).await?["active"], true);
    Ok(())
}

#[tokio::test]
async fn a_client_that_registered_itself_before_the_rule_gets_no_service_token()
-> anyhow::Result<()> {
    let h = Harness::start().await?;
    // A row as an older release stored it for `{"grant_types":["client_credentials"]}`.
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(b"old-secret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    h.server.db().call_blocking(move |c| {
        c.execute(
            "INSERT INTO as_clients (client_id, secret_hash, redirect_uris, grant_types,
                                     auth_method, source, created_at)
             VALUES ('old-dcr', ?1, '[]', '[\"client_credentials\"]',
                     'client_secret_basic', 'dcr', 0)",
            [hash],
        )
    })?;
    let (status, body) = h
        .token(
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
            Some(("old-dcr", "old-secret")),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    Ok(())
}

#[tokio::test]
async fn exchange_rights_in_the_configuration_are_checked_at_start() -> anyhow::Result<()> {
    let bad = ExchangeSpec {
        from: vec!["https://gw.example*".into()],
        to: vec!["https://internal.example/*".into()],
    };
    let started = Harness::start_with(
        belay_store::Db::in_memory()?,
        belay_auth_server::ManualClock::new(),
        move |settings| {
            if let Some(rs) = settings.clients.first_mut() {
                rs.token_exchange = Some(bad);
            }
        },
    )
    .await;
    let Err(e) = started else {
        anyhow::bail!("a wildcard in the host must be refused");
    };
    assert!(e.to_string().contains("/*"), "{e}");
    Ok(())
}
