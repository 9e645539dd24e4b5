//! `belay up` serves the operations console at `/ui`: the demo user signs in through the
//! embedded authorization server's form and sees the call it just made; without sign-in
//! (`--no-auth`) there is no console at all.

use crate::support::*;

/// `name=value` of the `Set-Cookie` for `name`.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[tokio::test]
async fn up_serves_the_console_to_its_demo_admin() -> anyhow::Result<()> {
    let data = fresh_dir("up-console")?;
    let (mut up, info) = start_up(&data.to_string_lossy())?;
    let password = info["user"]["password"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let console = info["console"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(console.ends_with("/ui"), "no console in {info}");
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call_as_demo(
        &gateway,
        &password,
        "matheval__evaluate",
        serde_json::json!({"expression": "6*7"}),
    )
    .await?;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http.get(format!("{console}/login")).send().await?;
    let login_cookie =
        cookie(&login, "belay_console_login").ok_or_else(|| anyhow::anyhow!("no login cookie"))?;
    let authorize = login
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let back = belay_client::FormAgent::new("demo", &password)?
        .submit(&authorize)
        .await?;
    let landed = http
        .get(&back)
        .header(reqwest::header::COOKIE, login_cookie)
        .send()
        .await?;
    assert_eq!(landed.status(), 200);
    let session =
        cookie(&landed, "belay_console").ok_or_else(|| anyhow::anyhow!("demo got no session"))?;
    let page = http
        .get(format!("{console}/audit?tool=evaluate"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await?;
    assert_eq!(page.status(), 200);
    let page = page.text().await?;
    assert!(
        page.contains("1 record<"),
        "the call made is listed: {page}"
    );
    assert!(page.contains("chain intact"), "{page}");

    terminate(&up.0);
    let status = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true));

    // The week's report of the same data folder: the call, the sign-in, every OWASP risk.
    let report = belay()
        .args(["report", "--since", "7d", "--json", "--data-dir"])
        .arg(&data)
        .env_remove("BELAY_CONFIG")
        .output()?;
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&report.stdout)?;
    assert_eq!(
        report["top_tools"][0]["label"], "matheval/evaluate",
        "{report}"
    );
    assert_eq!(report["owasp"].as_array().map(Vec::len), Some(10));
    assert!(
        report["chain"]
            .as_str()
            .is_some_and(|c| c.contains("verifies")),
        "{report}"
    );
    let html = data.join("report.html");
    let written = belay()
        .args(["report", "--output"])
        .arg(&html)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("BELAY_CONFIG")
        .output()?;
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let page = std::fs::read_to_string(&html)?;
    assert!(page.contains("<svg") && page.contains("MCP08") && !page.contains("<script"));

    // No sign-in, no console.
    let child = belay()
        .args(["up", "--no-auth", "--port", "0", "--json", "--data-dir"])
        .arg(data.join("open"))
        .env_remove("BELAY_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut open = Reaper(child);
    let info = first_json_line(&mut open.0)?;
    assert!(info["console"].is_null(), "{info}");
    let base = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches("/mcp")
        .to_owned();
    let response = http.get(format!("{base}/ui")).send().await?;
    assert_eq!(response.status(), 404);
    terminate(&open.0);
    let _ = wait_with_timeout(&mut open.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[tokio::test]
async fn alerts_test_sends_a_sample_to_the_rules_webhooks() -> anyhow::Result<()> {
    let received: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().map(|mut r| r.push(body)).ok();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = fresh_dir("alerts-test")?;
    let config = dir.join("belay.toml");
    std::fs::write(
        &config,
        format!(
            "[[alerts.rule]]\nname = \"sign-in-failures\"\nwhen = \"unauthenticated\"\n\
             threshold = 5\nper = \"client\"\n\n[[alerts.webhook]]\nname = \"ops\"\n\
             url = \"{hook}\"\nformat = \"slack\"\n"
        ),
    )?;
    let run = |rule: &str| {
        let config = config.clone();
        let rule = rule.to_owned();
        tokio::task::spawn_blocking(move || {
            belay()
                .arg("--config")
                .arg(&config)
                .args(["alerts", "test", &rule])
                .env_remove("BELAY_CONFIG")
                .output()
        })
    };
    let sent = run("sign-in-failures").await??;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let bodies = received.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(bodies.len(), 1);
    let text = bodies[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("sign-in-failures") && text.contains("(test)"),
        "{text}"
    );
    let unknown = run("nope").await??;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no alert rule `nope`"));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
