//! The device authorization grant (RFC 8628), which rmcp does not implement.
//!
//! It uses the metadata rmcp discovered and writes the token into the same [`TokenStore`],
//! so refresh and reuse go through rmcp's manager afterwards like any other token.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmcp::transport::auth::{
    AuthorizationMetadata, CredentialStore, OAuthTokenResponse, StoredCredentials,
};
use serde::Deserialize;
use url::Url;

use crate::{
    agent::{DevicePrompt, UserAgent},
    cache::{ClientRecord, TokenStore},
    error::{Error, Result},
    signin::MAX_WAIT,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    error_description: Option<String>,
}

fn endpoint(metadata: &AuthorizationMetadata, name: &str) -> Option<String> {
    metadata
        .additional_fields
        .get(name)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Registers a public client for the device grant (RFC 7591): rmcp's registration asks for
/// the authorization code grant and a redirect URI, which a device client has neither of.
pub(crate) async fn register(
    metadata: &AuthorizationMetadata,
    client_name: &str,
) -> Result<ClientRecord> {
    let Some(registration) = &metadata.registration_endpoint else {
        return Err(Error::Device(
            "the authorization server offers no dynamic client registration: \
             pass a pre-registered client id"
                .into(),
        ));
    };
    let body = serde_json::json!({
        "client_name": client_name,
        "grant_types": [DEVICE_GRANT, "refresh_token"],
        "response_types": [],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    let response = http()?.post(registration).json(&body).send().await?;
    let status = response.status();
    let value: serde_json::Value = response.json().await.unwrap_or_default();
    let client_id = value["client_id"].as_str().filter(|_| status.is_success());
    let Some(client_id) = client_id else {
        return Err(Error::Device(format!(
            "client registration answered {status}: {value}"
        )));
    };
    Ok(ClientRecord {
        issuer: metadata.issuer.clone(),
        client_id: client_id.to_owned(),
        client_secret: value["client_secret"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    })
}

/// Adds client authentication: `client_secret_basic` unless only `client_secret_post` is
/// advertised; a public client just sends its id.
fn authenticate(
    request: reqwest::RequestBuilder,
    form: &mut Vec<(&'static str, String)>,
    metadata: &AuthorizationMetadata,
    client: &ClientRecord,
) -> reqwest::RequestBuilder {
    let Some(secret) = &client.client_secret else {
        form.push(("client_id", client.client_id.clone()));
        return request;
    };
    let methods = metadata
        .additional_fields
        .get("token_endpoint_auth_methods_supported")
        .and_then(|v| v.as_array());
    let post_only = methods.is_some_and(|m| {
        m.iter().any(|v| v == "client_secret_post") && !m.iter().any(|v| v == "client_secret_basic")
    });
    if post_only {
        form.push(("client_id", client.client_id.clone()));
        form.push(("client_secret", secret.clone()));
        request
    } else {
        request.basic_auth(&client.client_id, Some(secret))
    }
}

/// Runs the device grant to the end and stores the token.
pub(crate) async fn sign_in(
    server: &Url,
    metadata: &AuthorizationMetadata,
    client: &ClientRecord,
    scopes: &[String],
    agent: &dyn UserAgent,
    store: &TokenStore,
) -> Result<()> {
    let Some(device_endpoint) = endpoint(metadata, "device_authorization_endpoint") else {
        return Err(Error::Device(
            "the authorization server does not offer the device grant \
             (no device_authorization_endpoint in its metadata): use the browser sign-in"
                .into(),
        ));
    };
    let http = http()?;
    let mut form = vec![("resource", server.to_string())];
    if !scopes.is_empty() {
        form.push(("scope", scopes.join(" ")));
    }
    let request = authenticate(http.post(&device_endpoint), &mut form, metadata, client);
    let response = request.form(&form).send().await?;
    if !response.status().is_success() {
        return Err(Error::Device(oauth_error(response).await));
    }
    let authorization: DeviceAuthorization = response
        .json()
        .await
        .map_err(|e| Error::Device(format!("unreadable device authorization response: {e}")))?;
    agent
        .device_code(&DevicePrompt {
            verification_uri: authorization.verification_uri.clone(),
            verification_uri_complete: authorization.verification_uri_complete.clone(),
            user_code: authorization.user_code.clone(),
            expires_in: authorization.expires_in,
        })
        .await?;

    let deadline = Instant::now() + Duration::from_secs(authorization.expires_in).min(MAX_WAIT);
    let mut interval = Duration::from_secs(authorization.interval.unwrap_or(5).max(1));
    loop {
        if Instant::now() >= deadline {
            return Err(Error::Device(
                "the code expired before the sign-in was approved".into(),
            ));
        }
        tokio::time::sleep(interval).await;
        let mut form = vec![
            ("grant_type", DEVICE_GRANT.to_owned()),
            ("device_code", authorization.device_code.clone()),
            ("resource", server.to_string()),
        ];
        let request = authenticate(
            http.post(&metadata.token_endpoint),
            &mut form,
            metadata,
            client,
        );
        let response = request.form(&form).send().await?;
        if response.status().is_success() {
            let token: OAuthTokenResponse = response
                .json()
                .await
                .map_err(|e| Error::Device(format!("unreadable token response: {e}")))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let credentials = StoredCredentials::new(
                client.client_id.clone(),
                Some(token),
                scopes.to_vec(),
                Some(now),
            )
            .with_issuer(metadata.issuer.clone());
            store.save(credentials).await?;
            return Ok(());
        }
        let body: Option<OAuthErrorBody> = response.json().await.ok();
        match body.as_ref().map(|b| b.error.as_str()) {
            Some("authorization_pending") => {}
            // RFC 8628 section 3.5: add 5 seconds for this and every later request.
            Some("slow_down") => interval += Duration::from_secs(5),
            Some(_) | None => {
                let message = body.map_or_else(
                    || "the token endpoint answered with an unreadable error".to_owned(),
                    |b| {
                        format!(
                            "{}{}",
                            b.error,
                            b.error_description
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        )
                    },
                );
                return Err(Error::Device(message));
            }
        }
    }
}

async fn oauth_error(response: reqwest::Response) -> String {
    let status = response.status();
    match response.json::<OAuthErrorBody>().await {
        Ok(b) => format!(
            "{status}: {}{}",
            b.error,
            b.error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        Err(_) => format!("the device authorization endpoint answered {status}"),
    }
}
