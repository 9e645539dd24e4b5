//! Issue 17's front door, against the real `belay up`: no tool call without a person
//! signing in, a revoked token stops at once, and the state folder is the owner's alone.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::support::*;

/// The `demo` user's access token for `url`, signed in through the form as a client does.
async fn demo_token(url: &str, password: &str) -> anyhow::Result<String> {
    let options = belay_client::SignInOptions {
        user_agent: Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    Ok(belay_client::SignIn::new(url, options)?
        .sign_in(None, None)
        .await?)
}

/// One claim of a JWT, read without verification (the test minted nothing itself).
fn claim(token: &str, name: &str) -> anyhow::Result<String> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    claims[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {name} in {claims}"))
}

/// Calls `get_stock_price` on the session `client` opened.
async fn price(client: &belay_mcp::testkit::Client) -> anyhow::Result<rmcp::model::CallToolResult> {
    Ok(client
        .call_tool(
            CallToolRequestParams::new("stock__get_stock_price")
                .with_arguments(object(serde_json::json!({"symbol": "AAPL"}))),
        )
        .await?)
}

async fn session(url: &str, token: &str) -> anyhow::Result<belay_mcp::testkit::Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
    Ok(ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await?)
}

fn base_of(info: &Value) -> String {
    info["issuer"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_stranger_cannot_register_a_service_client_and_an_admin_one_calls_no_tool()
-> anyhow::Result<()> {
    let data = fresh_dir("front-door-service")?;
    let data = data.to_string_lossy().into_owned();
    let (_up, info) = start_up(&data)?;
    let base = base_of(&info);
    let http = reqwest::Client::new();
    // The attack of the review: anonymous registration for client credentials.
    let answer = http
        .post(format!("{base}/register"))
        .json(&serde_json::json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await?;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await?;
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");

    // A service client an administrator made gets a token, which the gateway refuses: it
    // names no user, and `[resource] service_clients` does not list it.
    let added = belay()
        .args([
            "auth",
            "client",
            "add",
            "robot",
            "--json",
            "--data-dir",
            &data,
        ])
        .output()?;
    assert!(added.status.success(), "{added:?}");
    let robot: Value = serde_json::from_slice(&added.stdout)?;
    let secret = robot["client_secret"].as_str().unwrap_or_default();
    let gateway = format!("{base}/mcp");
    let token: Value = http
        .post(format!("{base}/token"))
        .basic_auth("robot", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", &gateway)])
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"].as_str().unwrap_or_default();
    assert!(!token.is_empty(), "client credentials work for the robot");
    let answer = http
        .post(&gateway)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await?;
    assert_eq!(answer.status(), 401);
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("names no user"), "{challenge}");
    Ok(())
}

#[tokio::test]
async fn a_revoked_token_stops_at_the_gateway_in_old_and_new_sessions() -> anyhow::Result<()> {
    let data = fresh_dir("front-door-revoke")?;
    let data = data.to_string_lossy().into_owned();
    let (_up, info) = start_up(&data)?;
    let password = info["user"]["password"].as_str().unwrap_or_default();
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = demo_token(&gateway, password).await?;
    let open = session(&gateway, &token).await?;
    let answer = price(&open).await?;
    assert_ne!(answer.is_error, Some(true), "{answer:?}");

    let revoked = reqwest::Client::new()
        .post(format!("{}/revoke", base_of(&info)))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
            ("client_id", &claim(&token, "client_id")?),
        ])
        .send()
        .await?;
    assert_eq!(revoked.status(), 200);
    assert!(
        price(&open).await.is_err(),
        "the open session must refuse the revoked token"
    );
    assert_refused_as(&gateway, &token, "revoked").await
}

/// A new session's first request with `token` gets 401 `invalid_token` saying `why`.
async fn assert_refused_as(gateway: &str, token: &str, why: &str) -> anyhow::Result<()> {
    let answer = reqwest::Client::new()
        .post(gateway)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await?;
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        answer.status() == 401 && challenge.contains("invalid_token") && challenge.contains(why),
        "expected 401 invalid_token ({why}), got {}: {challenge}",
        answer.status()
    );
    Ok(())
}

#[tokio::test]
async fn a_user_removed_from_the_command_line_is_refused_by_the_running_gateway()
-> anyhow::Result<()> {
    let root = fresh_dir("front-door-remove")?;
    let log = root.join("stderr.log");
    let data = root.join("state").to_string_lossy().into_owned();
    let mut up = Reaper(
        belay()
            .args(["up", "--port", "0", "--json", "--data-dir", &data])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let info = first_json_line(&mut up.0)?;
    let password = info["user"]["password"].as_str().unwrap_or_default();
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = demo_token(&gateway, password).await?;
    let open = session(&gateway, &token).await?;
    assert_ne!(price(&open).await?.is_error, Some(true));
    // Another process, beside the running `belay up`, as an administrator would.
    let removed = belay()
        .args(["auth", "user", "remove", "demo", "--data-dir", &data])
        .output()?;
    assert!(removed.status.success(), "{removed:?}");
    // The gateway reads the revocations every two seconds: then the edge refuses the token,
    // in the open session and a new one.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while assert_refused_as(&gateway, &token, "revoked")
        .await
        .is_err()
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the removed user's token still opens sessions"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(price(&open).await.is_err(), "the open session still works");
    // Stopping ends the upstream session the removed person had, whose token is revoked:
    // nothing anyone could act on, so nothing alarming in the log.
    terminate(&up.0);
    let status = wait_with_timeout(&mut up.0, Duration::from_secs(15));
    assert_eq!(status.map(|s| s.success()), Some(true));
    let stderr = std::fs::read_to_string(&log)?;
    // Calls made while the removal was reaching the gateway may fail upstream and be logged;
    // what is checked is the stop.
    let alarming: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("shutdown signal received"))
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(
        stderr.contains("shutdown signal received"),
        "no shutdown line:\n{stderr}"
    );
    assert!(alarming.is_empty(), "{}", alarming.join("\n"));
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn the_state_folder_is_the_owners_alone_and_an_exposed_one_is_refused() -> anyhow::Result<()>
{
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode() & 0o777);
    let root = fresh_dir("front-door-files")?;
    let data = root.join("state");
    let (mut up, _) = start_up(&data.to_string_lossy())?;
    assert_eq!(mode(&data), 0o700, "the data folder");
    let mut files = 0;
    for entry in std::fs::read_dir(&data)? {
        let path = entry?.path();
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} is open to others",
            path.display()
        );
        files += 1;
    }
    assert!(files >= 3, "belay.db, its WAL and the secrets are there");
    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));

    // A store an older release left readable: refused, naming the fix.
    let db = data.join("belay.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644))?;
    let refused = belay()
        .args(["up", "--port", "0", "--json", "--data-dir"])
        .arg(&data)
        .env_remove("BELAY_CONFIG")
        .output()?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("chmod 600 {}*", db.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
