//! RFC 8628 device authorization: every answer of the polling loop, and the browser side
//! driven through the real `/device` form.

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Form, Harness, PASSWORD, RESOURCE, USER, str_of};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public client allowed the device grant (and `authorization_code` only when `device`
/// is false).
async fn client(h: &Harness, device: bool) -> anyhow::Result<String> {
    let grants = if device {
        vec![GRANT, "refresh_token"]
    } else {
        vec!["authorization_code"]
    };
    let body = h
        .registered(serde_json::json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "grant_types": grants,
            "token_endpoint_auth_method": "none",
            "client_name": "Kitchen <TV>",
        }))
        .await?;
    Ok(str_of(&body, "client_id")?.to_owned())
}

async fn start(h: &Harness, client: &str) -> anyhow::Result<(StatusCode, Value)> {
    let resp = h
        .http
        .post(h.url("/device_authorization"))
        .form(&[
            ("client_id", client),
            ("scope", "mcp:tools offline_access"),
            ("resource", RESOURCE),
        ])
        .send()
        .await?;
    Ok((resp.status(), resp.json().await?))
}

async fn poll(h: &Harness, client: &str, device_code: &str) -> anyhow::Result<(StatusCode, Value)> {
    h.token(
        &[
            ("grant_type", GRANT),
            ("client_id", client),
            ("device_code", device_code),
        ],
        None,
    )
    .await
}

fn assert_error(got: &(StatusCode, Value), code: &str) {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{code}: {}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(got.1["error_description"].is_string());
}

/// GET `/device?user_code=`.
async fn device_page(h: &Harness, user_code: &str) -> anyhow::Result<reqwest::Response> {
    Ok(h.http
        .get(h.url("/device"))
        .query(&[("user_code", user_code)])
        .send()
        .await?)
}

/// Opens `/device?user_code=` and reads the consent form.
async fn open(h: &Harness, user_code: &str) -> anyhow::Result<Form> {
    Harness::form(device_page(h, user_code).await?).await
}

/// A device client and the answer to its `/device_authorization`.
async fn started(h: &Harness) -> anyhow::Result<(String, Value)> {
    let id = client(h, true).await?;
    let (_, started) = start(h, &id).await?;
    Ok((id, started))
}

async fn answer(
    h: &Harness,
    form: &Form,
    password: &str,
    consent: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let resp = h.post_consent("/device", form, password, consent).await?;
    Ok((resp.status(), resp.text().await?))
}

#[tokio::test]
async fn full_flow_through_the_form() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let id = client(&h, true).await?;
    let (status, started) = start(&h, &id).await?;
    assert_eq!(status, StatusCode::OK, "{started}");
    let user_code = str_of(&started, "user_code")?;
    let device_code = str_of(&started, "device_code")?;
    assert_eq!(user_code.len(), 9);
    assert_eq!(user_code.as_bytes()[4], b'-');
    assert_eq!(started["verification_uri"], h.url("/device"));
    assert_eq!(
        started["verification_uri_complete"],
        h.url(&format!("/device?user_code={user_code}"))
    );
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);
    assert_error(&poll(&h, &id, device_code).await?, "authorization_pending");

    // The bare page asks for the code; the lower-case code typed in leads to consent.
    let entry = h.http.get(h.url("/device")).send().await?;
    assert_eq!(entry.status(), StatusCode::OK);
    assert!(entry.text().await?.contains("name=\"user_code\""));
    let page = device_page(&h, &user_code.to_ascii_lowercase())
        .await?
        .text()
        .await?;
    assert!(page.contains("Kitchen &lt;TV&gt;"), "client name, escaped");
    assert!(page.contains("<code>mcp:tools</code>"));
    assert!(page.contains("action=\"device\""));

    let form = open(&h, user_code).await?;
    let (status, body) = answer(&h, &form, "wrong password", "approve").await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Wrong user name or password"));
    let (status, body) = answer(&h, &form, PASSWORD, "approve").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Device connected"));

    h.clock.advance_secs(5);
    let (status, tokens) = poll(&h, &id, device_code).await?;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
    let claims = h.verify_with_jwks(str_of(&tokens, "access_token")?).await?;
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "mcp:tools");
    assert_eq!(claims["preferred_username"], USER);

    // Tokens are issued once; the code cannot be approved again either.
    h.clock.advance_secs(5);
    assert_error(&poll(&h, &id, device_code).await?, "invalid_grant");
    let again = device_page(&h, user_code).await?;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn polling_too_fast_adds_five_seconds() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (id, started) = started(&h).await?;
    let code = str_of(&started, "device_code")?;
    assert_error(&poll(&h, &id, code).await?, "authorization_pending");
    let fast = poll(&h, &id, code).await?;
    assert_error(&fast, "slow_down");
    assert!(
        fast.1["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("10 s")),
        "{}",
        fast.1
    );
    // The interval is now 10 s: 9 s later is still too fast, and it grows to 15 s.
    h.clock.advance_secs(9);
    assert_error(&poll(&h, &id, code).await?, "slow_down");
    h.clock.advance_secs(15);
    assert_error(&poll(&h, &id, code).await?, "authorization_pending");
    Ok(())
}

#[tokio::test]
async fn denial_reaches_the_device() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (id, started) = started(&h).await?;
    let form = open(&h, str_of(&started, "user_code")?).await?;
    let (status, body) = answer(&h, &form, "", "deny").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Access denied"));
    assert_error(
        &poll(&h, &id, str_of(&started, "device_code")?).await?,
        "access_denied",
    );
    // The answer is final: approving afterwards is refused.
    let (status, _) = answer(&h, &form, PASSWORD, "approve").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (id, started) = started(&h).await?;
    let form = open(&h, str_of(&started, "user_code")?).await?;
    h.clock.advance_secs(601);
    assert_error(
        &poll(&h, &id, str_of(&started, "device_code")?).await?,
        "expired_token",
    );
    let (status, body) = answer(&h, &form, PASSWORD, "approve").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("expired"));
    let page = device_page(&h, str_of(&started, "user_code")?).await?;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await?.contains("not valid or has expired"));
    Ok(())
}

#[tokio::test]
async fn the_form_needs_its_csrf_cookie() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let (id, started) = started(&h).await?;
    let mut form = open(&h, str_of(&started, "user_code")?).await?;
    form.cookie = String::new();
    let (status, body) = answer(&h, &form, PASSWORD, "approve").await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("CSRF"));
    assert_error(
        &poll(&h, &id, str_of(&started, "device_code")?).await?,
        "authorization_pending",
    );
    Ok(())
}

#[tokio::test]
async fn refusals() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let code_only = client(&h, false).await?;
    let (status, body) = start(&h, &code_only).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client", "{body}");

    let id = client(&h, true).await?;
    let other = client(&h, true).await?;
    let (_, started) = start(&h, &id).await?;
    let code = str_of(&started, "device_code")?;
    assert_error(&poll(&h, &other, code).await?, "invalid_grant");
    assert_error(&poll(&h, &id, "no-such-code").await?, "invalid_grant");

    let resp = h
        .http
        .post(h.url("/device_authorization"))
        .form(&[("client_id", id.as_str()), ("scope", "admin")])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.context("error body")?;
    assert_eq!(body["error"], "invalid_scope");

    let resp = h
        .http
        .post(h.url("/device_authorization"))
        .form(&[("client_id", id.as_str())])
        .send()
        .await?;
    let body: Value = resp.json().await?;
    assert_eq!(
        body["error"], "invalid_target",
        "no resource and no default"
    );
    Ok(())
}

#[tokio::test]
async fn guessing_user_codes_is_rate_limited() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let resp = h
            .http
            .get(h.url("/device?user_code=BCDF-GHJK"))
            .send()
            .await?;
        statuses.push((resp.status(), resp.headers().get("retry-after").cloned()));
    }
    // Ten tries are a person mistyping; the eleventh from the same address waits.
    assert!(
        statuses[..10]
            .iter()
            .all(|(s, _)| *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    let (status, retry_after) = &statuses[10];
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some(), "429 without Retry-After");
    // The page without a code is never limited.
    assert_eq!(
        h.http.get(h.url("/device")).send().await?.status(),
        StatusCode::OK
    );
    Ok(())
}
