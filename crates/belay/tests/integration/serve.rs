//! `belay serve`: stdio hygiene, argument errors, JSON logs, and `--auth`.

use crate::support::*;

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

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// `belay serve weather` over HTTP on a free port, logging JSON to a piped stderr.
fn weather_with_json_logs(extra: &[&str]) -> std::io::Result<Child> {
    belay()
        .args(["serve", "weather", "--transport", "http", "--port", "0"])
        .args(["--log-format", "json"])
        .args(extra)
        .env_remove("BELAY_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
}

#[test]
fn json_logs_are_json_lines_on_stderr() -> anyhow::Result<()> {
    let mut child = Reaper(weather_with_json_logs(&[])?);
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

#[test]
fn default_logs_leave_out_rmcp_session_lines() -> anyhow::Result<()> {
    let quiet = session_log_targets(&[])?;
    assert!(quiet.iter().any(|t| t.starts_with("belay")), "{quiet:?}");
    assert!(!quiet.iter().any(|t| t.starts_with("rmcp")), "{quiet:?}");
    let asked = session_log_targets(&["--log", "info,rmcp=info"])?;
    assert!(asked.iter().any(|t| t.starts_with("rmcp")), "{asked:?}");
    Ok(())
}

/// The `target` of every log line `belay serve weather` writes through one initialize.
fn session_log_targets(extra: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut child = Reaper(weather_with_json_logs(extra)?);
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let (lines, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut records = Vec::new();
    let url = loop {
        let record: Value = serde_json::from_str(&received.recv_timeout(Duration::from_secs(10))?)?;
        let url = record["url"].as_str().map(str::to_owned);
        records.push(record);
        if let Some(url) = url {
            break url;
        }
    };
    let (status, _, body) = http_exchange(&url, "POST", INITIALIZE)?;
    assert_eq!(status, 200, "{body}");
    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true));
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the stderr reader panicked"))?;
    for line in received.try_iter() {
        records.push(serde_json::from_str(&line)?);
    }
    Ok(records
        .iter()
        .filter_map(|record| record["target"].as_str().map(str::to_owned))
        .collect())
}

#[test]
fn serve_with_auth_answers_401_with_the_metadata_link_and_serves_it() -> anyhow::Result<()> {
    let mut child = Reaper(weather_with_json_logs(&["--auth"])?);
    let url = listening_url(&mut child.0)?;

    let (status, headers, _) = http_exchange(&url, "POST", INITIALIZE)?;
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

#[test]
fn serve_help_lists_its_own_options_apart_from_the_global_ones() -> anyhow::Result<()> {
    let output = belay().args(["serve", "--help"]).output()?;
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let (own, global) = help
        .split_once("\nGlobal options:\n")
        .ok_or_else(|| anyhow::anyhow!("no `Global options:` heading:\n{help}"))?;
    let own = own
        .split_once("\nOptions:\n")
        .map(|(_, options)| options)
        .ok_or_else(|| anyhow::anyhow!("no `Options:` heading:\n{help}"))?;
    let flags = |section: &str| -> Vec<String> {
        section
            .lines()
            .filter_map(|line| {
                let line = line
                    .trim_start()
                    .trim_start_matches("-t, ")
                    .trim_start_matches("-p, ");
                line.starts_with("--").then(|| {
                    line.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
            })
            .collect()
    };
    let (own, global) = (flags(own), flags(global));
    for flag in [
        "--transport",
        "--host",
        "--port",
        "--path",
        "--auth",
        "--issuer",
    ] {
        assert!(own.iter().any(|f| f == flag), "{flag} missing from {own:?}");
    }
    for flag in ["--log-format", "--log", "--config"] {
        assert!(
            !own.iter().any(|f| f == flag),
            "{flag} among serve's own: {own:?}"
        );
        assert!(
            global.iter().any(|f| f == flag),
            "{flag} not global: {global:?}"
        );
    }
    // Other commands' options stay with them.
    for flag in ["--data-dir", "--json", "--no-auth"] {
        assert!(!help.contains(flag), "{flag} in serve --help:\n{help}");
    }
    Ok(())
}

#[test]
fn malformed_bodies_get_json_rpc_errors_and_the_server_keeps_serving() -> anyhow::Result<()> {
    let mut child = Reaper(
        belay()
            .args(["serve", "stock", "--transport", "http", "--port", "0"])
            .args(["--log-format", "json"])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let url = listening_url(&mut child.0)?;
    for case in belay_mcp::testkit::malformed_bodies() {
        let (status, _, body) = http_request(&url, "POST", &[], &case.body)?;
        belay_mcp::testkit::check_refusal(&case, status, &body).map_err(anyhow::Error::msg)?;
    }
    let (status, headers, body) = http_exchange(&url, "POST", INITIALIZE)?;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers.iter().any(|(k, _)| k == "mcp-session-id"),
        "{headers:?}"
    );
    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true));
    Ok(())
}
