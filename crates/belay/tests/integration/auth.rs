//! `belay auth`: users, and `login`/`logout` with a device code.

use crate::support::*;

#[test]
fn auth_login_signs_in_with_a_device_code_and_keeps_the_token() -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("belay-cli-login-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_dir = data.to_string_lossy().into_owned();
    let tokens = data.join("tokens").to_string_lossy().into_owned();
    let password = "correct horse battery staple";
    let added = belay()
        .args(["auth", "user", "add", "alice", "--password", password])
        .args(["--data-dir", &data_dir])
        .output()?;
    assert!(added.status.success(), "{added:?}");

    let mut auth = Reaper(
        belay()
            .args(["auth", "serve", "--port", "0", "--data-dir", &data_dir])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let issuer = stdout_line(&mut auth.0, "issuer")?;
    let mut weather = Reaper(
        belay()
            .args(["serve", "weather", "--transport", "http", "--port", "0"])
            .args(["--auth", "--issuer", &issuer, "--log-format", "json"])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let url = listening_url(&mut weather.0)?;

    let login = |extra: &[&str]| {
        belay()
            .args(["auth", "login", &url, "--device-code", "--no-browser"])
            .args(["--token-cache", &tokens, "--print-token"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    let mut first = Reaper(login(&[])?);
    let stderr = first
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    // "To sign in, open {link} and enter the code {code} (expires in N s)."
    let mut before = Vec::new();
    let prompt = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .find(|l| {
            before.push(l.clone());
            l.contains("/device?user_code=")
        })
        .ok_or_else(|| anyhow::anyhow!("login printed no device prompt: {before:#?}"))?;
    let link = prompt
        .split_whitespace()
        .find(|w| w.contains("/device?user_code="))
        .unwrap_or_default()
        .to_owned();
    let code = link.rsplit('=').next().unwrap_or_default().to_owned();
    // The person approves on the verification page, as on their phone.
    let person = belay_client::FormAgent::new("alice", password)?;
    tokio::runtime::Runtime::new()?.block_on(belay_client::UserAgent::device_code(
        &person,
        &belay_client::DevicePrompt {
            verification_uri: link.clone(),
            verification_uri_complete: Some(link),
            user_code: code,
            expires_in: 600,
        },
    ))?;
    let status = wait_with_timeout(&mut first.0, Duration::from_secs(30));
    assert_eq!(
        status.map(|s| s.success()),
        Some(true),
        "first login failed"
    );
    let mut token = String::new();
    std::io::Read::read_to_string(
        &mut first
            .0
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
        &mut token,
    )?;
    let token = token.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    let rest: Vec<_> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("Signed in")), "{rest:?}");

    // The cached token is used at once: no second prompt.
    let again = belay()
        .args(["auth", "login", &url, "--device-code", "--no-browser"])
        .args(["--token-cache", &tokens, "--print-token"])
        .output()?;
    assert!(again.status.success(), "{again:?}");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !stderr.contains("/device?user_code="),
        "asked again: {stderr}"
    );

    // `belay scan` on the same server signs in with the cached token and lists its tools;
    // with an empty cache and no terminal to sign in from, it fails (2) saying what to run.
    let scanned = belay()
        .args(["scan", "--json", &url, "--token-cache", &tokens])
        .output()?;
    assert_eq!(scanned.status.code(), Some(0), "{scanned:?}");
    let report: Value = serde_json::from_slice(&scanned.stdout)?;
    assert!(report["servers"][0]["tools"].as_u64() > Some(0), "{report}");
    let empty = data.join("no-tokens").to_string_lossy().into_owned();
    let refused = belay()
        .args(["scan", &url, "--token-cache", &empty])
        .stdin(Stdio::null())
        .output()?;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(said.contains(&format!("belay auth login {url}")), "{said}");

    // `belay chat` on the same server signs in with the cached token: no prompt, and the
    // model's call reaches the protected tool.
    let runtime = tokio::runtime::Runtime::new()?;
    let model = runtime.block_on(crate::model_script::ScriptedModel::start(vec![
        crate::model_script::Reply::Calls(vec![("c1", "get_weather", r#"{"city":"Tokyo"}"#)]),
        crate::model_script::Reply::Text("Mild in Tokyo."),
    ]))?;
    let chat = belay()
        .args(["chat", &url, "--token-cache", &tokens, "--no-browser"])
        .args([
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "Tokyo?",
        ])
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&chat.stderr);
    assert!(chat.status.success(), "{stderr}");
    assert!(
        !stderr.contains("/device?user_code=") && !stderr.contains("Sign in"),
        "{stderr}"
    );
    let transcript: Value = serde_json::from_slice(&chat.stdout)?;
    let result = &transcript["turns"][0]["tool_calls"][0];
    assert_eq!(result["is_error"], false, "{transcript}");
    assert!(
        result["result"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Tokyo"),
        "{transcript}"
    );

    let out = belay()
        .args(["auth", "logout", &url, "--token-cache", &tokens])
        .output()?;
    assert!(out.status.success(), "{out:?}");
    let cached: Vec<_> = std::fs::read_dir(&tokens)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert!(cached.is_empty(), "tokens left after logout: {cached:?}");
    terminate(&weather.0);
    terminate(&auth.0);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[test]
fn auth_users_are_added_listed_and_removed() -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("belay-cli-users-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data = data.to_string_lossy().into_owned();
    let auth = |args: &[&str]| {
        belay()
            .arg("auth")
            .args(args)
            .args(["--data-dir", &data])
            .env_remove("BELAY_CONFIG")
            .output()
    };
    // No password given: one is generated and shown once.
    let added = auth(&["user", "add", "bob", "--name", "Bob Builder"])?;
    assert!(added.status.success(), "{added:?}");
    let shown = String::from_utf8_lossy(&added.stdout);
    assert!(shown.contains("password:"), "{shown}");
    let short = auth(&["user", "add", "eve", "--password", "short"])?;
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
    let again = auth(&["user", "add", "bob", "--password", "another password"])?;
    assert!(!again.status.success(), "a second bob was added");

    let listed = auth(&["user", "list", "--json"])?;
    assert!(listed.status.success(), "{listed:?}");
    let users: Value = serde_json::from_slice(&listed.stdout)?;
    let names: Vec<_> = users
        .as_array()
        .map(|a| a.iter().filter_map(|u| u["username"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["bob"], "{users}");
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("argon2"),
        "password hashes must not be listed"
    );

    assert!(auth(&["user", "remove", "bob"])?.status.success());
    let gone = auth(&["user", "remove", "bob"])?;
    assert!(!gone.status.success(), "removing an unknown user succeeded");
    let listed = auth(&["user", "list", "--json"])?;
    assert_eq!(
        serde_json::from_slice::<Value>(&listed.stdout)?,
        serde_json::json!([])
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

#[test]
fn a_closed_stdout_does_not_stop_the_authorization_server() -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("belay-cli-closed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // Nobody will ever read the banner: the pipe's reading end is gone before it starts.
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let mut auth = Reaper(
        belay()
            .args(["auth", "serve", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("BELAY_CONFIG")
            .stdout(writer)
            .stderr(Stdio::null())
            .spawn()?,
    );
    let url = format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        match http_exchange(&url, "GET", "") {
            Ok((status, _, _)) => break status,
            Err(_) if std::time::Instant::now() < deadline => {
                anyhow::ensure!(
                    auth.0.try_wait()?.is_none(),
                    "the server exited: its banner could not be written"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    };
    assert_eq!(status, 200);
    terminate(&auth.0);
    let _ = wait_with_timeout(&mut auth.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
