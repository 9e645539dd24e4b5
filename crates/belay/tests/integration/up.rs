//! `belay up`: open and protected, and its state across runs.

use crate::support::*;

#[tokio::test]
async fn up_without_auth_serves_every_server_and_stops_cleanly_on_sigterm() -> anyhow::Result<()> {
    // Its own data folder (made by belay): the default one is the user's.
    let data = fresh_dir("up-no-auth")?;
    let child = belay()
        .args(["up", "--no-auth", "--port", "0", "--json", "--data-dir"])
        .arg(data.join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut child = Reaper(child);
    let endpoints = first_json_line(&mut child.0)?;
    let line = endpoints.to_string();
    let servers = endpoints["servers"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for name in ["stock", "weather", "matheval", "news"] {
        assert_eq!(servers[name]["type"], "http", "{name} missing from {line}");
    }

    for era in Era::BOTH {
        let url = servers["stock"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let transport = StreamableHttpClientTransport::from_uri(url);
        let client = ScriptedClient::new(era)
            .serve_with_lifecycle(transport, era.lifecycle())
            .await?;
        let price = client
            .call_tool(
                CallToolRequestParams::new("get_stock_price")
                    .with_arguments(object(serde_json::json!({"symbol": "AAPL"}))),
            )
            .await?;
        assert_ne!(price.is_error, Some(true), "{price:?}");
        client.cancel().await?;
    }

    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(
        status.map(|s| s.success()),
        Some(true),
        "belay up did not exit 0 on SIGTERM"
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[tokio::test]
async fn up_protects_every_server_and_keeps_its_users_across_runs() -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("belay-cli-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data = data.to_string_lossy().into_owned();
    let (mut first, info) = start_up(&data)?;
    let password = info["user"]["password"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the first run printed no password: {info}"))?
        .to_owned();
    let url = |name: &str| {
        info["servers"][name]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // Without a token: 401 naming this server's own metadata.
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let (status, headers, _) = http_exchange(&url("stock"), "POST", ping)?;
    assert_eq!(status, 401);
    let challenge = headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        challenge.contains("/.well-known/oauth-protected-resource/servers/stock/mcp"),
        "{challenge}"
    );

    let price = call_as_demo(
        &url("stock"),
        &password,
        "get_stock_price",
        serde_json::json!({"symbol": "AAPL"}),
    )
    .await?;
    assert_ne!(price.is_error, Some(true), "{price:?}");
    let who = call_as_demo(&url("whoami"), &password, "whoami", serde_json::json!({})).await?;
    let who = who
        .structured_content
        .ok_or_else(|| anyhow::anyhow!("whoami gave no structured result"))?;
    assert_eq!(who["username"], "demo", "{who}");
    // The federated endpoint: every server's tools, prefixed, one sign-in.
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        info["mcp_json"]["servers"]["belay"]["url"],
        gateway.as_str()
    );
    let converted = call_as_demo(
        &gateway,
        &password,
        "matheval__evaluate",
        serde_json::json!({"expression": "6*7"}),
    )
    .await?;
    assert_ne!(converted.is_error, Some(true), "{converted:?}");
    terminate(&first.0);
    let status = wait_with_timeout(&mut first.0, Duration::from_secs(10));
    assert_eq!(
        status.map(|s| s.success()),
        Some(true),
        "first run did not exit 0"
    );

    // The next run keeps the user: no new password, and the old one still signs in.
    let (mut second, info) = start_up(&data)?;
    assert!(info["user"]["password"].is_null(), "{info}");
    // The gateway audited the first run's calls, as the demo user, in an unbroken chain.
    let verified = belay()
        .args(["audit", "verify", "--json", "--data-dir", &data])
        .output()?;
    assert!(verified.status.success(), "{verified:?}");
    let audit = std::fs::read_to_string(
        info["audit"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no audit file in {info}"))?,
    )?;
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let names: Vec<_> = records.iter().map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        [Some("get_stock_price"), Some("whoami"), Some("evaluate")],
        "{audit}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["user"] == records[0]["user"] && r["decision"] == "allow"),
        "one user, every call allowed: {audit}"
    );
    let weather = info["servers"]["weather"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let forecast = call_as_demo(
        &weather,
        &password,
        "get_weather",
        serde_json::json!({"city": "Paris"}),
    )
    .await?;
    assert_ne!(forecast.is_error, Some(true), "{forecast:?}");
    terminate(&second.0);
    let _ = wait_with_timeout(&mut second.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[tokio::test]
async fn up_keeps_each_persons_sessions_their_own() -> anyhow::Result<()> {
    let data = fresh_dir("up-sessions")?;
    let state = data.join("state");
    let state = state.to_string_lossy();
    let (mut up, info) = start_up(&state)?;
    let demo_password = info["user"]["password"].as_str().unwrap_or_default();
    let bob_password = "bob's own long passphrase";
    let added = belay()
        .args([
            "auth",
            "user",
            "add",
            "bob",
            "--password",
            bob_password,
            "--data-dir",
        ])
        .arg(&*state)
        .output()?;
    assert!(added.status.success(), "{added:?}");
    let url = info["gateway"]["url"].as_str().unwrap_or_default();
    let demo = token_of(url, "demo", demo_password).await?;
    let bob = token_of(url, "bob", bob_password).await?;
    belay_mcp::testkit::requests::check_session_is_private(
        url,
        &demo,
        &[&bob],
        "stock__get_stock_price",
    )
    .await?;

    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
