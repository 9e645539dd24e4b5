//! `belay gateway` and `belay audit` as processes.

use crate::support::*;

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
    let (mut child, client) = gateway_serve(&config, &data, "stock__get_stock_price").await?;
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

#[test]
fn gateway_block_unblock_and_blocks_share_the_store_and_refuse_bad_input() -> anyhow::Result<()> {
    let dir = fresh_dir("gateway-blocks")?;
    let data = dir.join("data").to_string_lossy().into_owned();
    let cli = |args: &[&str]| {
        belay()
            .args(["gateway"])
            .args(args)
            .args(["--data-dir", &data])
            .output()
    };
    let blocked = cli(&[
        "block",
        "--upstream",
        "files",
        "--tool",
        "delete_file",
        "--reason",
        "incident 7",
    ])?;
    assert!(blocked.status.success(), "{blocked:?}");
    let blocked = cli(&["block", "--user", "mallory"])?;
    assert!(blocked.status.success(), "{blocked:?}");
    let listed = cli(&["blocks", "--json"])?;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    let kinds: Vec<&str> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["tool", "user"], "{listed:#}");
    assert_eq!(listed[0]["reason"], "incident 7");
    assert_eq!(listed[0]["tool"], "delete_file");
    // A tool needs its upstream; a name must be printable; nothing named is an error.
    for bad in [
        &["block", "--tool", "x"][..],
        &["block", "--user", "a\u{1b}[31mb"],
        &["block"],
        &["block", "--upstream", "files", "--tool", "t", "--user", "u"],
    ] {
        let refused = cli(bad)?;
        assert!(!refused.status.success(), "{bad:?} was accepted");
    }
    let lifted = cli(&["unblock", "--upstream", "files", "--tool", "delete_file"])?;
    assert!(lifted.status.success(), "{lifted:?}");
    let again = cli(&["unblock", "--upstream", "files", "--tool", "delete_file"])?;
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not blocked"),
        "{again:?}"
    );
    let listed = cli(&["blocks", "--json"])?;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    Ok(())
}
