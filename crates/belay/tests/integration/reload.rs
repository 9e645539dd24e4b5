//! `belay gateway serve` reloads its configuration while a client stays connected: when the
//! file changes, and on SIGHUP; a broken file leaves the running configuration in place.

use belay_mcp::testkit::Client;

use crate::support::*;

/// How often the gateway under test checks its file (`[gateway] reload_poll_ms`).
const POLL_MS: u64 = 200;

/// Long enough for several checks of the file, even on a loaded machine.
fn a_few_polls() -> Duration {
    Duration::from_millis(POLL_MS * 8)
}

/// The gateway's belay.toml: one stdio stock upstream and `rules` (TOML) for its policy.
fn config_text(rules: &str) -> String {
    format!(
        "[gateway]\nreload_poll_ms = {POLL_MS}\n[[gateway.upstream]]\nname = \"stock\"\n\
         transport = {{ type = \"stdio\", command = \"{}\", args = [\"serve\", \"stock\"] }}\n{rules}",
        env!("CARGO_BIN_EXE_belay")
    )
}

const DENY_COMPARE: &str =
    "[[gateway.policy.rules]]\nid = \"no-compare\"\neffect = \"deny\"\nnames = [\"compare_*\"]\n";
/// The same length as DENY_COMPARE, matching nothing.
const DENY_NOTHING: &str =
    "[[gateway.policy.rules]]\nid = \"no-compare\"\neffect = \"deny\"\nnames = [\"comparX_*\"]\n";
const BROKEN: &str = "[[gateway.policy.rules]]\nid = \"broken\"\nnames = [\"get_*\"]\n\
                      arguments.symbol = { pattern = \"(\" }\n";

/// Whether comparing two tickers is denied by policy right now (other errors are errors).
async fn compare_denied(client: &Client) -> anyhow::Result<bool> {
    let args = object(serde_json::json!({"symbol1": "AAPL", "symbol2": "MSFT"}));
    match client
        .call_tool(CallToolRequestParams::new("stock__compare_stock_prices").with_arguments(args))
        .await
    {
        Ok(_) => Ok(false),
        Err(e) if format!("{e:?}").contains("no-compare") => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Polls until `compare_denied` is `want` or `limit` passes; returns the last answer.
async fn until_denied(client: &Client, want: bool, limit: Duration) -> anyhow::Result<bool> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let denied = compare_denied(client).await?;
        if denied == want || std::time::Instant::now() > deadline {
            return Ok(denied);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn gateway_serve_reloads_on_file_change_and_sighup_keeping_sessions() -> anyhow::Result<()> {
    let dir = fresh_dir("gw-reload")?;
    let config = dir.join("belay.toml");
    std::fs::write(&config, config_text(""))?;
    let (mut child, client) =
        gateway_serve(&config, &dir.join("data"), "stock__compare_stock_prices").await?;
    assert!(!compare_denied(&client).await?, "allowed before any rule");

    // The file changes: the same session is refused within the poll interval.
    std::fs::write(&config, config_text(DENY_COMPARE))?;
    assert!(
        until_denied(&client, true, Duration::from_secs(10)).await?,
        "the new rule applied"
    );

    // A broken file: the running policy stays.
    std::fs::write(&config, config_text(BROKEN))?;
    tokio::time::sleep(a_few_polls()).await;
    assert!(compare_denied(&client).await?, "the old policy still holds");

    // Same length, same modification time: only SIGHUP can notice the change.
    std::fs::write(&config, config_text(DENY_COMPARE))?;
    tokio::time::sleep(a_few_polls()).await;
    let stamp = std::fs::metadata(&config)?.modified()?;
    std::fs::write(&config, config_text(DENY_NOTHING))?;
    std::fs::File::options()
        .write(true)
        .open(&config)?
        .set_modified(stamp)?;
    tokio::time::sleep(a_few_polls()).await;
    assert!(
        compare_denied(&client).await?,
        "no reload without a change it can see"
    );
    let _ = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status();
    assert!(
        !until_denied(&client, false, Duration::from_secs(10)).await?,
        "SIGHUP reloaded the file"
    );

    client.cancel().await?;
    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10));
    assert_eq!(status.map(|s| s.success()), Some(true));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
