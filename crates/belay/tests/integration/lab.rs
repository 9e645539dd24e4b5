//! `belay lab` as processes. For every lab: the exploit succeeds against the vulnerable
//! server, fails against the fixed twin, fails against the vulnerable server behind
//! `belay gateway serve` running the guards `belay up` runs, and the audit log records the
//! attempt.

use belay_gateway::spec::GuardSpec;
use belay_labs::LabName;
use serde_json::json;

use crate::support::*;

/// `[gateway.guard]` as `belay up` runs it ([`GuardSpec::recommended`]); a test below keeps
/// the two equal.
pub(crate) const RECOMMENDED: &str = r#"metadata = "hide"
pin = true
arguments = "block"
injection = "annotate"
secrets = "redact"
secrets_in_arguments = "flag"
secret_kinds = ["private_key", "bearer", "jwt", "api_key", "iban", "card", "ssn"]
links = "flag"
"#;

/// What a lab's defence needs beyond belay up's guards, as its README says: the gateway
/// cannot know per-tool scopes unless a policy names them.
fn defence_config(lab: LabName) -> &'static str {
    match lab {
        LabName::PrivilegeEscalation => {
            r#"[gateway.policy]
default = "allow"
[[gateway.policy.rules]]
id = "note-writers"
scopes = ["notes:write"]
names = ["delete_*"]
[[gateway.policy.rules]]
id = "writes-need-the-write-scope"
effect = "deny"
description = "deleting notes needs the notes:write scope"
names = ["delete_*"]
"#
        }
        _ => "",
    }
}

#[test]
fn the_guard_table_here_is_what_belay_up_runs() -> anyhow::Result<()> {
    let parsed: GuardSpec = figment::Figment::from(
        <figment::providers::Toml as figment::providers::Format>::string(RECOMMENDED),
    )
    .extract()?;
    assert_eq!(parsed, GuardSpec::recommended());
    Ok(())
}

/// `belay lab exploit ARGS --json`: the exit code and the report.
fn exploit(args: &[&str]) -> anyhow::Result<(Option<i32>, Value)> {
    let out = belay()
        .args(["lab", "exploit"])
        .args(args)
        .arg("--json")
        .output()?;
    let report = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!(
            "no report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((out.status.code(), report))
}

#[test]
fn lab_list_names_every_lab_with_its_owasp_risks() -> anyhow::Result<()> {
    let out = belay().args(["lab", "list", "--json"]).output()?;
    assert!(out.status.success());
    let labs: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    assert_eq!(labs.len(), LabName::ALL.len());
    for (lab, name) in labs.iter().zip(LabName::ALL) {
        assert_eq!(lab["name"], name.as_str());
        let risks = lab["risks"].as_array().map_or(0, Vec::len);
        assert!(risks > 0, "{lab}");
        assert!(
            lab["risks"][0]
                .as_str()
                .is_some_and(|r| r.starts_with("MCP"))
        );
    }
    let table = belay().args(["lab", "list"]).output()?;
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("tool-poisoning") && table.contains("MCP03"),
        "{table}"
    );
    Ok(())
}

#[test]
fn every_exploit_succeeds_bare_and_fails_against_the_fixed_twin() -> anyhow::Result<()> {
    for lab in LabName::ALL {
        let (code, report) = exploit(&[lab.as_str()])?;
        assert_eq!(code, Some(1), "{lab} vulnerable: {report:#}");
        assert_eq!(report["succeeded"], true, "{report:#}");
        let (code, report) = exploit(&[lab.as_str(), "--fixed"])?;
        assert_eq!(code, Some(0), "{lab} fixed: {report:#}");
        assert_eq!(report["succeeded"], false, "{report:#}");
    }
    Ok(())
}

#[test]
fn an_unreachable_target_is_exit_2_with_the_reason() -> anyhow::Result<()> {
    let out = belay()
        .args([
            "lab",
            "exploit",
            "tool-poisoning",
            "--target",
            "http://127.0.0.1:9/mcp",
        ])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect") && stderr.contains("127.0.0.1:9"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn every_exploit_fails_behind_the_gateway_and_is_audited() -> anyhow::Result<()> {
    // Labs served over HTTP only (their attacks live in HTTP) have their own test below.
    let over_stdio = LabName::ALL
        .iter()
        .filter(|l| l.lab().transports.contains(&belay_mcp::Transport::Stdio));
    for lab in over_stdio {
        let dir = fresh_dir(&format!("lab-gw-{lab}"))?;
        let config = dir.join("belay.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\n{}[gateway.guard]\n{RECOMMENDED}\n{}\n[audit]\nsinks = [\"store\"]\n",
                upstreams(*lab),
                defence_config(*lab),
            ),
        )?;
        let data = dir.join("data");
        let (mut gateway, url) = gateway_with_upstreams_up(&config, &data)?;
        let (code, report) = exploit(&[lab.as_str(), "--target", &url])?;
        assert_eq!(code, Some(0), "{lab} behind the gateway: {report:#}");
        assert!(report["stopped_by"].is_string(), "{report:#}");

        let out = belay()
            .arg("--config")
            .arg(&config)
            .args(["audit", "query", "--json", "--data-dir"])
            .arg(&data)
            .env_remove("BELAY_CONFIG")
            .output()?;
        let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        let flagged = records.iter().any(|r| {
            r["guard"].as_array().is_some_and(|g| !g.is_empty()) || r["decision"] == "deny"
        });
        assert!(
            flagged,
            "{lab}: no audit record of the attempt: {records:#?}"
        );
        terminate(&gateway.0);
        let _ = wait_with_timeout(&mut gateway.0, Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// `[[gateway.upstream]]` tables for `lab`: one stdio upstream `lab`, or for a lab of several
/// servers one per server, named as the lab names it (`mail`, `facts`), so the gateway
/// namespaces each one's tools.
fn upstreams(lab: LabName) -> String {
    let servers: Vec<(&str, Vec<&str>)> = match lab.servers() {
        [] => vec![("lab", vec![])],
        names => names.iter().map(|n| (*n, vec!["--server", n])).collect(),
    };
    servers
        .into_iter()
        .map(|(name, extra)| {
            let args: Vec<String> = ["lab", "run", lab.as_str()]
                .into_iter()
                .chain(extra)
                .map(|a| format!("\"{a}\""))
                .collect();
            format!(
                "[[gateway.upstream]]\nname = \"{name}\"\n\
                 transport = {{ type = \"stdio\", command = \"{}\", args = [{}] }}\n",
                env!("CARGO_BIN_EXE_belay"),
                args.join(", ")
            )
        })
        .collect()
}

/// Starts `belay gateway serve` on a free port and waits until every upstream is connected
/// (`belay_gateway_upstream_up` is 1 on /metrics): a lab whose tools the gateway hides must
/// be hidden, not missing because it was still starting.
pub(crate) fn gateway_with_upstreams_up(
    config: &std::path::Path,
    data: &std::path::Path,
) -> anyhow::Result<(Reaper, String)> {
    let mut child = Reaper(
        belay()
            .arg("--config")
            .arg(config)
            .args(["gateway", "serve", "--port", "0", "--data-dir"])
            .arg(data)
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let url = stdout_line(&mut child.0, "gateway")?;
    let metrics = url.replace("/mcp", "/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = http_exchange(&metrics, "GET", "")?;
        let down = body
            .lines()
            .filter(|l| l.starts_with("belay_gateway_upstream_up{"))
            .any(|l| l.ends_with(" 0"));
        let listed = body.contains("belay_gateway_upstream_up{");
        if status == 200 && listed && !down {
            return Ok((child, url));
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the gateway's upstreams did not come up: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `lab`'s exploit against a fresh gateway in front of its servers with `guard` as
/// `[gateway.guard]`: the exit code and the report.
fn exploit_behind_gateway(lab: LabName, guard: &str) -> anyhow::Result<(Option<i32>, Value)> {
    let dir = fresh_dir(&format!("lab-gw-once-{lab}"))?;
    let config = dir.join("belay.toml");
    std::fs::write(
        &config,
        format!("[gateway]\n{}[gateway.guard]\n{guard}", upstreams(lab)),
    )?;
    let (mut gateway, url) = gateway_with_upstreams_up(&config, &dir.join("data"))?;
    let outcome = exploit(&[lab.as_str(), "--target", &url]);
    terminate(&gateway.0);
    let _ = wait_with_timeout(&mut gateway.0, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Pinning alone stops a rug pull: with the metadata guard off, the changed definition is
/// still held back until approved, and the exploit names the pinning guard.
#[tokio::test]
async fn pinning_alone_holds_back_the_rug_pull() -> anyhow::Result<()> {
    let (code, report) =
        exploit_behind_gateway(LabName::RugPull, "metadata = \"off\"\npin = true\n")?;
    assert_eq!(code, Some(0), "{report:#}");
    // The approved definition answered; the changed one was held back by its pin.
    assert_eq!(
        report["steps"][0]["answer"]["kind"], "answered",
        "{report:#}"
    );
    assert!(
        report["stopped_by"]
            .as_str()
            .is_some_and(|s| s.contains("pinning.changed")),
        "{report:#}"
    );
    Ok(())
}

/// Behind the gateway the trusted mail server still works: the mail goes to Alice, by the
/// namespaced `mail__send_email`, while the shadowing server's tool is hidden.
#[tokio::test]
async fn behind_the_gateway_alices_mail_still_goes_to_alice() -> anyhow::Result<()> {
    let (code, report) = exploit_behind_gateway(LabName::ToolShadowing, RECOMMENDED)?;
    assert_eq!(code, Some(0), "{report:#}");
    let step = &report["steps"][0];
    assert_eq!(step["arguments"]["to"], "alice@example.com", "{report:#}");
    assert_eq!(step["answer"]["kind"], "answered", "{report:#}");
    assert!(
        report["stopped_by"]
            .as_str()
            .is_some_and(|s| s.contains("hid the facts tool")),
        "{report:#}"
    );
    Ok(())
}

#[test]
fn lab_run_refuses_a_server_the_lab_does_not_have() -> anyhow::Result<()> {
    for (lab, server, expected) in [
        ("tool-shadowing", "nope", "use --server facts or mail"),
        ("tool-poisoning", "mail", "leave out --server"),
    ] {
        let out = belay()
            .args(["lab", "run", lab, "--server", server])
            .stdin(Stdio::null())
            .output()?;
        assert!(!out.status.success(), "{lab} --server {server}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
    Ok(())
}

/// Starts `belay lab run ARGS --transport http --port 0`; returns it and its URL.
pub(crate) fn lab_over_http(args: &[&str]) -> anyhow::Result<(Reaper, String)> {
    let mut child = Reaper(
        belay()
            .args(["lab", "run"])
            .args(args)
            .args(["--transport", "http", "--port", "0"])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    // "lab NAME (VARIANT) at URL"
    let line = stdout_line(&mut child.0, "lab ")?;
    let url = line
        .rsplit_once(" at ")
        .map(|(_, url)| url.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no URL in `{line}`"))?;
    Ok((child, url))
}

/// `token-mismanagement` is HTTP only and its defence is a sign-in, so it runs behind
/// `belay up` (whose gateway requires one) as an extra upstream, rather than behind
/// `belay gateway serve` without auth. Its fixed twin is checked with `belay up`'s issuer:
/// a real token for it works, a token for another audience, a forged one, none, or one in
/// the URL do not.
#[tokio::test]
async fn token_mismanagement_fails_behind_belay_up_and_its_fixed_twin_takes_only_real_tokens()
-> anyhow::Result<()> {
    let lab = LabName::TokenMismanagement.as_str();
    let dir = fresh_dir("lab-token")?;
    let (mut vulnerable, lab_url) = lab_over_http(&[lab])?;
    // The bare server falls to every way in (so the checks below can fail).
    let (code, report) = exploit(&[lab, "--target", &lab_url])?;
    assert_eq!(code, Some(1), "bare: {report:#}");

    let config = dir.join("belay.toml");
    std::fs::write(
        &config,
        format!(
            "[[gateway.upstream]]\nname = \"payroll\"\n\
             transport = {{ type = \"http\", url = \"{lab_url}\" }}\n"
        ),
    )?;
    let data = dir.join("data").to_string_lossy().into_owned();
    let mut up = Reaper(
        belay()
            .arg("--config")
            .arg(&config)
            .args(["up", "--port", "0", "--json", "--data-dir", &data])
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let info = first_json_line(&mut up.0)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let (gateway, issuer, password) = (
        text(&info["gateway"]["url"]),
        text(&info["issuer"]),
        text(&info["user"]["password"]),
    );
    anyhow::ensure!(
        !gateway.is_empty() && !issuer.is_empty() && !password.is_empty(),
        "{info}"
    );

    let (code, report) = exploit(&[lab, "--target", &gateway])?;
    assert_eq!(code, Some(0), "behind belay up: {report:#}");
    assert!(
        report["stopped_by"]
            .as_str()
            .is_some_and(|s| s.contains("resource-server check")),
        "{report:#}"
    );
    // A signed-in user reaches the same upstream through the gateway, and the gateway does
    // not pass their token on: the upstream saw no caller token at all.
    let through = call_as_demo(&gateway, &password, "payroll__get_payroll", json!({})).await?;
    let through = format!("{:?}", through.content);
    assert!(through.contains("the server's own key"), "{through}");

    // The fixed twin with belay up's issuer.
    let (mut fixed, fixed_url) = lab_over_http(&[lab, "--fixed", "--issuer", &issuer])?;
    let (code, report) = exploit(&[lab, "--target", &fixed_url])?;
    assert_eq!(code, Some(0), "fixed: {report:#}");
    let own = call_as_demo(&fixed_url, &password, "get_payroll", json!({})).await?;
    assert_ne!(own.is_error, Some(true), "{own:?}");
    let own = format!("{:?}", own.content);
    assert!(own.contains("No payroll record for demo"), "{own}");
    // A real token, but issued for the gateway: the audience check refuses it here.
    let for_gateway = gateway_token(&gateway, &password).await?;
    let (code, report) = exploit(&[
        lab,
        "--target",
        &fixed_url,
        "--header",
        &format!("Authorization: Bearer {for_gateway}"),
    ])?;
    assert_eq!(code, Some(0), "another audience: {report:#}");
    let (status, _, body) = http_request(
        &fixed_url,
        "POST",
        &[("Authorization", &format!("Bearer {for_gateway}"))],
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )?;
    assert_eq!(status, 401, "{body}");

    for child in [&mut fixed, &mut up, &mut vulnerable] {
        terminate(&child.0);
        let _ = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A token `demo` gets for `url`, signed in through `belay up`'s login form.
async fn gateway_token(url: &str, password: &str) -> anyhow::Result<String> {
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    Ok(belay_client::SignIn::new(url, options)?
        .sign_in(None, None)
        .await?)
}
