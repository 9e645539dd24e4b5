//! The `belay` binary end to end: real processes, real sockets, real signals.
#![allow(missing_docs)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use belay_mcp::testkit::{Era, ScriptedClient, object};
use rmcp::{
    ClientServiceExt, ServiceExt,
    model::CallToolRequestParams,
    transport::{StreamableHttpClientTransport, TokioChildProcess},
};
use serde_json::Value;

fn belay() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_belay"));
    command.env_remove("RUST_LOG");
    command
}

/// Kills the child if a test fails before it stops it properly.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn up_without_auth_serves_every_server_and_stops_cleanly_on_sigterm() -> anyhow::Result<()> {
    let child = belay()
        .args(["up", "--no-auth", "--port", "0", "--json"])
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
    Ok(())
}

#[tokio::test]
async fn serve_over_stdio_keeps_stdout_for_the_protocol() -> anyhow::Result<()> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_belay"));
    // Debug logging must all go to stderr: one stray line on stdout would break the stream.
    command.args(["serve", "stock", "--log", "debug"]);
    let transport = TokioChildProcess::new(command)?;
    let client = ScriptedClient::new(Era::Handshake).serve(transport).await?;
    let tools = client.list_all_tools().await?;
    assert!(
        tools.iter().any(|t| t.name == "get_stock_history"),
        "{tools:?}"
    );
    client.cancel().await?;
    Ok(())
}

#[test]
fn bad_arguments_are_refused_with_a_message_that_says_what_to_fix() -> anyhow::Result<()> {
    let output = belay().args(["serve", "bogus"]).output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown server `bogus`") && stderr.contains("stock"),
        "{stderr}"
    );

    let output = belay()
        .args(["serve", "stock", "--transport", "carrier-pigeon"])
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected stdio, http or sse"));
    Ok(())
}

#[test]
fn json_logs_are_json_lines_on_stderr() -> anyhow::Result<()> {
    let child = belay()
        .args([
            "serve",
            "weather",
            "--transport",
            "http",
            "--port",
            "0",
            "--log-format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = Reaper(child);
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    let record: Value = serde_json::from_str(&first)
        .map_err(|e| anyhow::anyhow!("not a JSON log line: {first:?}: {e}"))?;
    assert_eq!(record["level"], "INFO", "{record}");
    assert!(
        record["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:"))
    );
    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true));
    Ok(())
}

/// Status, headers (names lower-cased) and body of one HTTP answer.
type HttpAnswer = (u16, Vec<(String, String)>, String);

/// One HTTP/1.1 exchange on a fresh connection.
fn http_exchange(url: &str, method: &str, body: &str) -> anyhow::Result<HttpAnswer> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("not http: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line: {head}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

#[test]
fn serve_with_auth_answers_401_with_the_metadata_link_and_serves_it() -> anyhow::Result<()> {
    let child = belay()
        .args([
            "serve",
            "weather",
            "--transport",
            "http",
            "--auth",
            "--port",
            "0",
            "--log-format",
            "json",
        ])
        .env_remove("BELAY_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = Reaper(child);
    let url = listening_url(&mut child.0)?;

    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let (status, headers, _) = http_exchange(&url, "POST", initialize)?;
    assert_eq!(status, 401);
    let challenge = headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let origin = url.trim_end_matches("/mcp");
    let metadata_url = format!("{origin}/.well-known/oauth-protected-resource/mcp");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp:tools"), "{challenge}");

    let (status, _, body) = http_exchange(&metadata_url, "GET", "")?;
    assert_eq!(status, 200, "{body}");
    let metadata: Value = serde_json::from_str(&body)?;
    assert_eq!(metadata["resource"], url.as_str());
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!(["http://127.0.0.1:9000"])
    );
    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true));
    Ok(())
}

#[test]
fn auth_over_stdio_is_refused_with_a_way_out() -> anyhow::Result<()> {
    let output = belay().args(["serve", "weather", "--auth"]).output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--transport http"), "{stderr}");
    Ok(())
}

/// The first line of `child`'s stdout that starts with `prefix`, minus the prefix.
fn stdout_line(child: &mut Child, prefix: &str) -> anyhow::Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    for line in BufReader::new(stdout).lines().take(10) {
        if let Some(rest) = line?.strip_prefix(prefix) {
            return Ok(rest.trim().to_owned());
        }
    }
    anyhow::bail!("no line starting with `{prefix}`")
}

/// The URL a `belay serve --log-format json` child logs when it listens.
fn listening_url(child: &mut Child) -> anyhow::Result<String> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    for line in BufReader::new(stderr).lines().take(20) {
        let record: Value = serde_json::from_str(&line?)?;
        if let Some(found) = record["url"].as_str() {
            return Ok(found.to_owned());
        }
    }
    anyhow::bail!("no `listening` log line")
}

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
    let prompt = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .find(|l| l.contains("/device?user_code="))
        .ok_or_else(|| anyhow::anyhow!("login printed no device prompt"))?;
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

/// Starts `belay up` on a free port with state in `data`; returns it and its JSON line.
fn start_up(data: &str) -> anyhow::Result<(Reaper, Value)> {
    let mut child = Reaper(
        belay()
            .args(["up", "--port", "0", "--json", "--data-dir", data])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let info = first_json_line(&mut child.0)?;
    Ok((child, info))
}

/// The first line `child` writes on stdout, as JSON (`belay up --json`).
fn first_json_line(child: &mut Child) -> anyhow::Result<Value> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    Ok(serde_json::from_str(&line)?)
}

/// Signs in as `demo` through the login form and calls `tool` on the server at `url`.
async fn call_as_demo(
    url: &str,
    password: &str,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<rmcp::model::CallToolResult> {
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    let client =
        belay_client::connect(url, options, (), rmcp::ClientLifecycleMode::Initialize).await?;
    let result = client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned())
                .with_arguments(arguments.as_object().cloned().unwrap_or_default()),
        )
        .await?;
    client.cancel().await?;
    Ok(result)
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

/// A fresh folder for one test, removed first if a previous run left it.
fn fresh_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("belay-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn gateway_check_points_at_the_line_and_column_and_summarises_a_good_file() -> anyhow::Result<()> {
    let dir = fresh_dir("gw-check")?;
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[gateway]\n[[gateway.upstream]]\nname = \"a\"\nprefix = \"no spaces\"\n\
         transport = { type = \"stdio\", command = \"x\" }\n",
    )?;
    let out = belay().args(["gateway", "check"]).arg(&bad).output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:10: upstream `a`: prefix", bad.display())),
        "{stderr}"
    );

    let good = dir.join("belay.toml");
    std::fs::write(
        &good,
        "[gateway]\n[[gateway.upstream]]\nname = \"stock\"\n\
         transport = { type = \"http\", url = \"http://127.0.0.1:9/mcp\" }\n\
         [[gateway.policy.rules]]\nid = \"r\"\nnames = [\"get_*\"]\n",
    )?;
    // The file comes from the global --config when not named.
    let out = belay()
        .args(["gateway", "check", "--config"])
        .arg(&good)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok, 1 upstream"), "{stdout}");
    assert!(
        stdout.contains("stock") && stdout.contains("stock__"),
        "{stdout}"
    );
    assert!(stdout.contains("1 rule"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn gateway_serve_audits_calls_and_audit_verify_detects_tampering() -> anyhow::Result<()> {
    let dir = fresh_dir("gw-serve")?;
    let config = dir.join("belay.toml");
    std::fs::write(
        &config,
        format!(
            r#"[gateway]
[[gateway.upstream]]
name = "stock"
transport = {{ type = "stdio", command = "{}", args = ["serve", "stock"] }}
[[gateway.policy.rules]]
id = "no-compare"
effect = "deny"
names = ["compare_*"]
[audit]
sinks = ["file", "store"]
"#,
            env!("CARGO_BIN_EXE_belay")
        ),
    )?;
    let data = dir.join("data");
    let run = |args: &[&str]| {
        belay()
            .arg("--config")
            .arg(&config)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("BELAY_CONFIG")
            .output()
    };
    let mut child = Reaper(
        belay()
            .arg("--config")
            .arg(&config)
            .args(["gateway", "serve", "--port", "0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let url = stdout_line(&mut child.0, "gateway")?;
    let client = ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await?;
    // The stdio upstream starts in the background: wait for its tools.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !client
        .list_all_tools()
        .await?
        .iter()
        .any(|t| t.name == "stock__get_stock_price")
    {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no upstream tools");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let price = client
        .call_tool(
            CallToolRequestParams::new("stock__get_stock_price")
                .with_arguments(object(serde_json::json!({"symbol": "AAPL"}))),
        )
        .await?;
    assert!(!price.is_error.unwrap_or(false));
    let denied = client
        .call_tool(CallToolRequestParams::new("stock__compare_stock_prices"))
        .await;
    assert!(format!("{denied:?}").contains("no-compare"), "{denied:?}");
    client.cancel().await?;
    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let verified = run(&["audit", "verify"])?;
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(stdout.contains("intact: 2 records"), "{stdout}");

    let tail = run(&["audit", "tail", "--json", "-n", "1"])?;
    let lines: Vec<Value> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "deny");
    assert_eq!(lines[0]["rule"], "no-compare");

    let query = run(&["audit", "query", "--decision", "allow", "--json"])?;
    let found: Vec<Value> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["name"], "get_stock_price");
    let table = run(&["audit", "query", "--tool", "compare_stock_prices"])?;
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("DECISION") && table.contains("deny"),
        "{table}"
    );

    // Edit the first record's symbol: its hash no longer matches.
    let file = data.join("audit.jsonl");
    let text = std::fs::read_to_string(&file)?;
    std::fs::write(&file, text.replacen("AAPL", "MSFT", 1))?;
    let broken = run(&["audit", "verify"])?;
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("record 1") && stderr.contains("line 1"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
