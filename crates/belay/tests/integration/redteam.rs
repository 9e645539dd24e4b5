//! `belay redteam` as processes: against `belay up` (with and without a signed-in user's
//! token) nothing succeeds; against every lab served bare, over HTTP and over stdio, the
//! lab's own attack succeeds and the red team fails (exit 1).

use belay_labs::LabName;
use belay_mcp::Transport;

use crate::support::*;

/// `belay redteam ARGS --json`: the exit code and the report.
fn redteam(args: &[&str]) -> anyhow::Result<(Option<i32>, Value)> {
    let out = belay().args(["redteam", "--json"]).args(args).output()?;
    let report = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!(
            "no report ({e}); exit {:?}, stderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((out.status.code(), report))
}

fn attempts(report: &Value) -> Vec<Value> {
    report["attempts"].as_array().cloned().unwrap_or_default()
}

/// The outcome of the first attempt whose attack starts with `attack`.
fn outcome(report: &Value, attack: &str) -> String {
    attempts(report)
        .iter()
        .find(|a| a["attack"].as_str().is_some_and(|n| n.starts_with(attack)))
        .and_then(|a| a["outcome"].as_str())
        .unwrap_or("missing")
        .to_owned()
}

fn succeeded(report: &Value) -> Vec<String> {
    attempts(report)
        .iter()
        .filter(|a| a["outcome"] == "succeeded")
        .map(|a| format!("{}: {}", a["attack"], a["evidence"]))
        .collect()
}

#[tokio::test]
async fn nothing_succeeds_against_belay_up_with_or_without_a_token() -> anyhow::Result<()> {
    let data = fresh_dir("redteam-up")?;
    let state = data.join("state");
    let (mut up, info) = start_up(&state.to_string_lossy())?;
    let gateway = info["gateway"]["url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no gateway in {info}"))?
        .to_owned();
    let password = info["user"]["password"].as_str().unwrap_or_default();

    // No token: every token attack is refused, the tools are out of reach and it says so.
    let (code, report) = redteam(&[&gateway])?;
    assert_eq!(code, Some(0), "{report:#}");
    assert!(succeeded(&report).is_empty(), "{report:#}");
    for attack in [
        "anonymous access",
        "forged unsigned JWT",
        "JWT for another audience",
        "expired JWT",
        "malformed JSON-RPC: oversize",
        "malformed JSON-RPC: deeply nested",
    ] {
        assert_eq!(outcome(&report, attack), "blocked", "{attack}: {report:#}");
    }
    assert!(
        report["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("--token")),
        "{report:#}"
    );
    let anonymous = attempts(&report)
        .into_iter()
        .find(|a| a["attack"] == "anonymous access")
        .unwrap_or_default();
    assert_eq!(anonymous["evidence"], "refused: HTTP 401", "{report:#}");

    // MCP08: each refused token is in the audit log (the plain no-token 401, the first
    // step of every sign-in, is not).
    let query = belay()
        .args([
            "audit",
            "query",
            "--decision",
            "unauthenticated",
            "--json",
            "--data-dir",
        ])
        .arg(&state)
        .output()?;
    let records: Vec<Value> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failures: Vec<String> = records
        .iter()
        .filter(|r| r["method"] == "auth/token")
        .filter_map(|r| r["outcome"]["message"].as_str().map(str::to_owned))
        .collect();
    // The unsigned, the other audience's and the expired forgery: each refused and audited.
    let invalid = failures
        .iter()
        .filter(|f| f.starts_with("HTTP 401 invalid_token from 127.0.0.1"))
        .count();
    assert!(invalid >= 3, "{failures:#?}");
    assert!(
        records.iter().all(|r| !r.to_string().contains("eyJ")),
        "a token reached the audit log: {records:#?}"
    );

    // A signed-in user's token: the tools are attacked behind it, and still nothing works.
    let token = token_of(&gateway, "demo", password).await?;
    let started = std::time::Instant::now();
    let (code, report) = redteam(&[&gateway, "--token", &token])?;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{:#?}\n{report:#}", succeeded(&report));
    for attack in [
        "anonymous access",
        "forged unsigned JWT",
        "JWT for another audience",
        "expired JWT",
        "token in the URL query",
        "poisoned tool metadata",
        "shell/eval payloads in `matheval__evaluate`.expression",
        "schema-breaking arguments",
        "calls to unlisted tools",
        "malformed JSON-RPC: truncated",
    ] {
        assert_eq!(outcome(&report, attack), "blocked", "{attack}: {report:#}");
    }
    // The labs' tools are not behind belay up: shown, not counted.
    assert_eq!(
        outcome(&report, "lab exploit: tool-poisoning"),
        "not_applicable"
    );
    eprintln!("belay redteam against belay up with a token: {took:?}");

    // The human table says the same, grouped by risk. No --token this time: the token
    // `belay auth login` cached for the gateway is used (the sign-in a person would do).
    let cache = data.join("tokens");
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        cache: Some(belay_client::TokenCache::new(cache.clone())),
        ..belay_client::SignInOptions::default()
    };
    belay_client::SignIn::new(&gateway, options)?
        .sign_in(None, None)
        .await?;
    let out = belay()
        .args(["redteam", &gateway, "--token-cache"])
        .arg(&cache)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()?;
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("{table}");
    assert!(
        table.contains("MCP07 Insufficient authentication")
            && table.contains("MCP05 Command injection")
            && table.contains("0 succeeded")
            && !table.contains("note:"),
        "{table}"
    );
    assert_eq!(out.status.code(), Some(0), "{table}");
    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// Every lab served bare fails the red team: over HTTP (one `belay lab run` per server of
/// the lab, all attacked at once) and over stdio (`-- COMMAND`, or an mcp.json naming each
/// server of a lab of several). The lab's own exploit is among what succeeds.
#[test]
fn every_lab_served_bare_fails_the_red_team_over_http_and_stdio() -> anyhow::Result<()> {
    let exe = env!("CARGO_BIN_EXE_belay");
    for &lab in LabName::ALL {
        let exploit = format!("lab exploit: {lab}");
        let servers: Vec<Option<&str>> = match lab.servers() {
            [] => vec![None],
            names => names.iter().copied().map(Some).collect(),
        };
        let transports = lab.lab().transports;
        if transports.contains(&Transport::Http) {
            let mut served = Vec::new();
            let mut urls = Vec::new();
            for server in &servers {
                let mut args = vec![lab.as_str()];
                args.extend(server.iter().flat_map(|s| ["--server", *s]));
                let (child, url) = crate::lab::lab_over_http(&args)?;
                served.push(child);
                urls.push(url);
            }
            let started = std::time::Instant::now();
            let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
            let (code, report) = redteam(&urls)?;
            eprintln!("{lab} over HTTP: {:?}", started.elapsed());
            assert_eq!(code, Some(1), "{lab} over HTTP: {report:#}");
            assert_eq!(outcome(&report, &exploit), "succeeded", "{report:#}");
            // Served bare, nothing asks for a token: said once.
            assert_eq!(outcome(&report, "anonymous access"), "succeeded");
            for child in &mut served {
                terminate(&child.0);
                let _ = wait_with_timeout(&mut child.0, Duration::from_secs(10));
            }
        }
        if transports.contains(&Transport::Stdio) {
            let started = std::time::Instant::now();
            let (code, report) = match servers.as_slice() {
                [None] => redteam(&["--", exe, "lab", "run", lab.as_str()])?,
                several => {
                    let dir = fresh_dir(&format!("redteam-{lab}"))?;
                    let entries: serde_json::Map<String, Value> = several
                        .iter()
                        .flatten()
                        .map(|server| {
                            let entry = serde_json::json!({
                                "command": exe,
                                "args": ["lab", "run", lab.as_str(), "--server", server],
                            });
                            ((*server).to_owned(), entry)
                        })
                        .collect();
                    let file = dir.join("mcp.json");
                    std::fs::write(&file, serde_json::json!({ "servers": entries }).to_string())?;
                    let outcome = redteam(&[&file.to_string_lossy()]);
                    let _ = std::fs::remove_dir_all(&dir);
                    outcome?
                }
            };
            eprintln!("{lab} over stdio: {:?}", started.elapsed());
            assert_eq!(code, Some(1), "{lab} over stdio: {report:#}");
            assert_eq!(outcome(&report, &exploit), "succeeded", "{report:#}");
        }
    }
    Ok(())
}

#[test]
fn a_target_that_cannot_be_reached_is_exit_2() -> anyhow::Result<()> {
    let out = belay()
        .args(["redteam", "http://127.0.0.1:9/mcp"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    let out = belay().args(["redteam"]).output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to attack"));
    Ok(())
}
