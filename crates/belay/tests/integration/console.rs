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
