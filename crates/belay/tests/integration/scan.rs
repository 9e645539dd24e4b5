//! `belay scan` end to end: real servers as child processes (a poisoned one written with the
//! official Python SDK, `tests/fixtures/scan_server.py`; `belay serve stock`), exit
//! statuses 0, 1 and 2, JSON that parses, SARIF validated against the official SARIF 2.1.0
//! schema, shadowing across an mcp.json's servers, and pins that catch a rug pull.
//!
//! The Python SDK comes from `.tools/` (`scripts/setup`) or `BELAY_PYTHON`; without it the
//! tests that need it say so and pass.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use crate::support::{Value, belay, fresh_dir};

/// The Python with the SDK in it, or `None` (and a note) when there is none.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("BELAY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/python")
        });
    if python.exists() {
        return Some(python);
    }
    eprintln!(
        "skipping: no Python SDK at {} (set BELAY_PYTHON or run scripts/setup)",
        python.display()
    );
    None
}

fn fixture() -> String {
    format!(
        "{}/tests/fixtures/scan_server.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `belay scan ARGS…` run to its end.
fn scan(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Output> {
    let mut command = belay();
    command.arg("scan").args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    Ok(command.output()?)
}

/// `belay scan … -- python scan_server.py MODE`.
fn scan_fixture(
    python: &Path,
    mode: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<Output> {
    let python = python.display().to_string();
    let fixture = fixture();
    let mut args = flags.to_vec();
    args.extend(["--", &python, &fixture, mode]);
    scan(&args, env)
}

fn json(output: &Output) -> anyhow::Result<Value> {
    serde_json::from_slice(&output.stdout).map_err(|e| {
        anyhow::anyhow!(
            "stdout is no JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// An mcp.json holding `servers` in a fresh folder (removed when the test is done with it).
fn mcp_json(name: &str, servers: Value) -> anyhow::Result<(PathBuf, String)> {
    let dir = fresh_dir(name)?;
    let config = dir.join("mcp.json");
    std::fs::write(&config, servers.to_string())?;
    Ok((dir, config.display().to_string()))
}

fn findings(report: &Value) -> Vec<Value> {
    report["findings"].as_array().cloned().unwrap_or_default()
}

fn status(output: &Output) -> Option<i32> {
    output.status.code()
}

fn sarif_errors(log: &Value) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/sarif/sarif-schema-2.1.0.json"
    ))?;
    let schema: Value = serde_json::from_str(&text)?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| anyhow::anyhow!("the SARIF schema does not compile: {e}"))?;
    Ok(validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect())
}

#[test]
fn a_poisoned_python_sdk_server_fails_the_scan_and_is_named() -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let output = scan_fixture(&python, "poisoned", &["--json"], &[])?;
    assert_eq!(status(&output), Some(1), "{output:?}");
    let report = json(&output)?;
    assert_eq!(report["outcome"], "findings");
    let found = findings(&report);
    let serious: Vec<&Value> = found
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("high" | "critical")))
        .collect();
    assert!(!serious.is_empty(), "{report:#}");
    assert!(
        serious.iter().all(|f| f["name"] == "get_forecast"),
        "{report:#}"
    );
    assert!(
        found.iter().any(|f| f["rule"] == "poisoning.read_secret"
            && f["span"]["excerpt"]
                .as_str()
                .is_some_and(|e| e.contains("~/.ssh/id_rsa"))),
        "{report:#}"
    );
    // The plain tool, prompt and resource beside it raise nothing.
    assert!(
        found.iter().all(|f| f["name"] == "get_forecast"),
        "{report:#}"
    );
    assert_eq!(report["servers"][0]["tools"], 2);
    assert_eq!(report["servers"][0]["prompts"], 1);
    assert_eq!(report["servers"][0]["resources"], 1);

    // The table names it too; with --fail-on critical the scan still fails (a combined
    // finding is critical), with the same findings.
    let table = scan_fixture(&python, "poisoned", &["--fail-on", "critical"], &[])?;
    assert_eq!(status(&table), Some(1), "{table:?}");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("get_forecast") && text.contains("poisoning.read_secret"),
        "{text}"
    );
    assert!(text.contains("failed: 1 at or above critical"), "{text}");
    Ok(())
}

#[test]
fn the_stock_reference_server_passes() -> anyhow::Result<()> {
    let exe = env!("CARGO_BIN_EXE_belay");
    let output = scan(&["--json", "--", exe, "serve", "stock"], &[])?;
    assert_eq!(status(&output), Some(0), "{output:?}");
    let report = json(&output)?;
    assert_eq!(report["outcome"], "clean");
    assert_eq!(report["servers"][0]["name"], "stock");
    assert!(
        report["servers"][0]["tools"].as_u64() > Some(0),
        "{report:#}"
    );
    // By its built-in name, as SARIF: a valid log with no results.
    let sarif = scan(&["--sarif", "stock"], &[])?;
    assert_eq!(status(&sarif), Some(0), "{sarif:?}");
    let log = json(&sarif)?;
    assert_eq!(sarif_errors(&log)?, Vec::<String>::new());
    assert_eq!(log["runs"][0]["results"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
    Ok(())
}

#[test]
fn sarif_of_a_poisoned_server_is_valid_and_locates_the_tool() -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let output = scan_fixture(&python, "poisoned", &["--sarif"], &[])?;
    assert_eq!(status(&output), Some(1), "{output:?}");
    let log = json(&output)?;
    assert_eq!(sarif_errors(&log)?, Vec::<String>::new(), "{log:#}");
    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(rules.contains(&"poisoning.read_secret"), "{rules:?}");
    let results = run["results"].as_array().cloned().unwrap_or_default();
    let secret = results
        .iter()
        .find(|r| r["ruleId"] == "poisoning.read_secret")
        .ok_or_else(|| anyhow::anyhow!("no read_secret result: {log:#}"))?;
    assert_eq!(secret["level"], "error");
    let logical = &secret["locations"][0]["logicalLocations"];
    assert_eq!(logical[0]["fullyQualifiedName"], "python/get_forecast");
    assert_eq!(
        logical[1]["fullyQualifiedName"],
        "python/get_forecast/description"
    );
    Ok(())
}

#[test]
fn servers_of_an_mcp_json_that_shadow_each_other() -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let entry = |mode: &str| serde_json::json!({"command": python, "args": [fixture(), mode]});
    // VS Code's format: `servers`.
    let (dir, config) = mcp_json(
        "scan-shadow",
        serde_json::json!({"servers": {"weather": entry("poisoned"), "audit": entry("shadow")}}),
    )?;
    let output = scan(&["--json", &config], &[])?;
    assert_eq!(status(&output), Some(1), "{output:?}");
    let report = json(&output)?;
    let found = findings(&report);
    let same_name: Vec<&str> = found
        .iter()
        .filter(|f| f["rule"] == "shadowing.same_name" && f["name"] == "add")
        .filter_map(|f| f["server"].as_str())
        .collect();
    assert!(
        same_name.contains(&"weather") && same_name.contains(&"audit"),
        "{report:#}"
    );
    // `audit_log` tells the model how to use the weather server's `get_forecast`.
    let named = found
        .iter()
        .find(|f| f["rule"] == "shadowing.names_other_server_tool")
        .ok_or_else(|| anyhow::anyhow!("no cross-server finding: {report:#}"))?;
    assert_eq!(named["server"], "audit");
    assert_eq!(named["name"], "audit_log");
    assert_eq!(named["severity"], "high");
    assert_eq!(named["span"]["excerpt"], "get_forecast");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn a_scan_that_cannot_look_exits_2_not_1() -> anyhow::Result<()> {
    // A command that does not exist.
    let missing = scan(&["--", "/nonexistent/belay-scan-server"], &[])?;
    assert_eq!(status(&missing), Some(2), "{missing:?}");
    let said = String::from_utf8_lossy(&missing.stdout);
    assert!(
        said.contains("cannot start `/nonexistent/belay-scan-server`"),
        "{said}"
    );

    // A URL nothing listens on (a port just closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let unreachable = scan(&["--json", &url], &[])?;
    assert_eq!(status(&unreachable), Some(2), "{unreachable:?}");
    let report = json(&unreachable)?;
    assert_eq!(report["outcome"], "failed");
    assert!(
        report["failures"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&url))
    );
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("error: 127.0.0.1"));

    // A process that never answers: a timeout, not a finding.
    let started = std::time::Instant::now();
    let silent = scan(&["--timeout", "1", "--json", "--", "sleep", "30"], &[])?;
    assert_eq!(status(&silent), Some(2), "{silent:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let report = json(&silent)?;
    assert_eq!(findings(&report).len(), 0);
    assert!(
        report["failures"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("within 1 s")),
        "{report:#}"
    );

    // Bad input is refused before anything starts.
    let unknown = scan(&["no-such-server"], &[])?;
    assert_eq!(status(&unknown), Some(2), "{unknown:?}");
    let bad = scan(&["--fail-on", "severe", "stock"], &[])?;
    assert_eq!(status(&bad), Some(2), "{bad:?}");
    Ok(())
}

#[test]
fn a_failed_server_beside_a_poisoned_one_still_exits_2() -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let (dir, config) = mcp_json(
        "scan-mixed",
        serde_json::json!({"mcpServers": {
            "weather": {"command": python, "args": [fixture(), "poisoned"]},
            "gone": {"command": "/nonexistent/belay-scan-server"},
        }}),
    )?;
    let output = scan(&["--json", &config], &[])?;
    assert_eq!(status(&output), Some(2), "{output:?}");
    let report = json(&output)?;
    // What could be scanned is still reported.
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["name"] == "get_forecast")
    );
    assert_eq!(report["failures"][0]["server"], "gone");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn pins_catch_a_changed_tool_until_updated() -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let dir = fresh_dir("scan-pins")?;
    let pins = dir.join("pins.json");
    let pin = pins.display().to_string();
    let first = scan_fixture(&python, "plain", &["--json", "--pin", &pin], &[])?;
    assert_eq!(status(&first), Some(0), "{first:?}");
    assert_eq!(json(&first)?["pins"]["pinned"], 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pins)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(&pins)?)?;
    assert!(
        recorded["servers"]["python"]["add"]["fingerprint"].is_string(),
        "{recorded:#}"
    );

    // The same server, now with `add` redefined.
    let rug_pull = [("SCAN_FIXTURE_RUG_PULL", "1")];
    for _ in 0..2 {
        // Reported on every run until accepted.
        let changed = scan_fixture(&python, "plain", &["--json", "--pin", &pin], &rug_pull)?;
        assert_eq!(status(&changed), Some(1), "{changed:?}");
        let report = json(&changed)?;
        let found = findings(&report);
        assert_eq!(found.len(), 1, "{report:#}");
        assert_eq!(found[0]["rule"], "pinning.changed");
        assert_eq!(found[0]["name"], "add");
        let diff = found[0]["diff"].as_str().unwrap_or_default();
        assert!(
            diff.contains("+") && diff.contains("rounded to the nearest ten"),
            "{diff}"
        );
    }
    // The table shows the diff.
    let table = scan_fixture(&python, "plain", &["--pin", &pin], &rug_pull)?;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("pinning.changed") && text.contains("nearest ten"),
        "{text}"
    );

    let accept = scan_fixture(
        &python,
        "plain",
        &["--pin", &pin, "--update-pins"],
        &rug_pull,
    )?;
    assert_eq!(status(&accept), Some(1), "{accept:?}");
    let after = scan_fixture(&python, "plain", &["--json", "--pin", &pin], &rug_pull)?;
    assert_eq!(status(&after), Some(0), "{after:?}");

    // A pin file that is not one is refused (exit 2), and left alone.
    std::fs::write(&pins, "not json")?;
    let broken = scan_fixture(&python, "plain", &["--pin", &pin], &[])?;
    assert_eq!(status(&broken), Some(2), "{broken:?}");
    assert!(String::from_utf8_lossy(&broken.stderr).contains("not a belay scan pin file"));
    assert_eq!(std::fs::read_to_string(&pins)?, "not json");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
