//! `belay audit` where a user meets it: after `belay up`, in the folder it was started with.

use crate::support::*;

/// Reads `child`'s stdout until a line containing `needle`.
fn line_with(child: &mut Child, needle: &str) -> anyhow::Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line.contains(needle) {
            return Ok(line);
        }
    }
    anyhow::bail!("no line with {needle:?}")
}

#[tokio::test]
async fn the_banner_prints_an_audit_command_that_works() -> anyhow::Result<()> {
    let dir = fresh_dir("banner")?;
    // A space in the path: the printed command must quote it.
    let (data, config) = (dir.join("my state"), dir.join("belay.toml"));
    std::fs::write(&config, "[audit]\nfsync = \"never\"\n")?;
    let mut up = Reaper(
        belay()
            .arg("--config")
            .arg(&config)
            .args(["up", "--no-auth", "--port", "0", "--data-dir"])
            .arg(&data)
            .env_remove("BELAY_CONFIG")
            .env_remove("BELAY_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let line = line_with(&mut up.0, "belay audit tail")?;
    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    let start = line.find("belay audit").unwrap_or(0);
    let end = line[start..].find('`').map_or(line.len(), |e| start + e);
    let words = shlex::split(&line[start..end]).unwrap_or_default();
    let after = |flag: &str| {
        let at = words.iter().position(|w| w == flag)?;
        words.get(at + 1).cloned()
    };
    assert_eq!(
        after("--data-dir"),
        Some(data.display().to_string()),
        "{line}"
    );
    assert_eq!(
        after("--config"),
        Some(config.display().to_string()),
        "{line}"
    );
    // The printed command, run as printed (without --follow, so it ends).
    let tail = belay()
        .args(words.iter().skip(1).filter(|w| *w != "--follow"))
        .env_remove("BELAY_CONFIG")
        .env_remove("BELAY_DATA_DIR")
        .output()?;
    assert!(tail.status.success(), "{line}: {tail:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn audit_in_a_folder_without_a_log_says_where_it_looked() -> anyhow::Result<()> {
    let dir = fresh_dir("nolog")?;
    for command in [&["tail"][..], &["verify"], &["query"]] {
        let out = belay()
            .arg("audit")
            .args(command)
            .arg("--data-dir")
            .arg(&dir)
            .env_remove("BELAY_CONFIG")
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?}: {err}");
        assert!(
            err.contains(&format!("no audit log in {}", dir.display()))
                && err.contains("--data-dir"),
            "{command:?}: {err}"
        );
        let left: Vec<_> = std::fs::read_dir(&dir)?.collect();
        assert!(
            left.is_empty(),
            "{command:?} wrote into the folder: {left:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn audit_tail_names_users_and_clients() -> anyhow::Result<()> {
    let data = fresh_dir("names")?;
    let data = data.to_string_lossy().into_owned();
    let (mut up, info) = start_up(&data)?;
    let password = info["user"]["password"].as_str().unwrap_or_default();
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        client_name: "Names Test".into(),
        ..belay_client::SignInOptions::default()
    };
    let gateway = info["gateway"]["url"].as_str().unwrap_or_default();
    let client =
        belay_client::connect(gateway, options, (), rmcp::ClientLifecycleMode::Initialize).await?;
    client
        .call_tool(
            CallToolRequestParams::new("matheval__evaluate")
                .with_arguments(object(serde_json::json!({"expression": "6*7"}))),
        )
        .await?;
    client.cancel().await?;
    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));

    let json = belay()
        .args(["audit", "tail", "--json", "--data-dir", &data])
        .output()?;
    assert!(json.status.success(), "{json:?}");
    let text = String::from_utf8_lossy(&json.stdout);
    let record: Value = text
        .lines()
        .last()
        .map(serde_json::from_str)
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("no record: {text}"))?;
    // Ids stay as they are; names come beside them.
    assert_ne!(record["user"], "demo", "{record}");
    assert_eq!(record["user_name"], "demo", "{record}");
    assert_eq!(record["client_name"], "Names Test", "{record}");
    assert!(
        record["client"].as_str().is_some_and(|c| !c.is_empty()),
        "{record}"
    );

    let table = belay()
        .args(["audit", "tail", "--data-dir", &data])
        .output()?;
    let table = String::from_utf8_lossy(&table.stdout);
    let row = table.lines().last().unwrap_or_default();
    assert!(
        row.contains(" demo ") && row.contains("Names Test"),
        "{table}"
    );
    assert!(
        !row.contains(record["user"].as_str().unwrap_or("?")),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// Bytes of every file under `dir`.
fn folder_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        total += if meta.is_file() { meta.len() } else { 0 };
    }
    Ok(total)
}

#[tokio::test]
async fn large_arguments_through_belay_up_keep_the_data_folder_small() -> anyhow::Result<()> {
    let data = fresh_dir("large")?;
    let mut up = Reaper(
        belay()
            .args(["up", "--no-auth", "--port", "0", "--json", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let info = first_json_line(&mut up.0)?;
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client = ScriptedClient::new(Era::Handshake)
        .serve(StreamableHttpClientTransport::from_uri(gateway))
        .await?;
    let before = folder_bytes(&data)?;
    // As in the report: ten calls carrying 3.9 MB of arguments.
    let expression = "1+".repeat(195_000) + "1";
    for _ in 0..10 {
        client
            .call_tool(
                CallToolRequestParams::new("matheval__evaluate")
                    .with_arguments(object(serde_json::json!({ "expression": expression }))),
            )
            .await?;
    }
    client.cancel().await?;
    terminate(&up.0);
    let _ = wait_with_timeout(&mut up.0, Duration::from_secs(10));
    let grown = folder_bytes(&data)?.saturating_sub(before);
    assert!(grown < 1024 * 1024, "the data folder grew by {grown} bytes");
    let verified = belay()
        .args(["audit", "verify", "--json", "--data-dir"])
        .arg(&data)
        .output()?;
    assert!(verified.status.success(), "{verified:?}");
    let report: Value = serde_json::from_slice(&verified.stdout)?;
    assert_eq!(report["records"], 10, "{report}");
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
