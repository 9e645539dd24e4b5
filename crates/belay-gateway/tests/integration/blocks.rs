//! Operator blocks against a running gateway and a real upstream: a block written by
//! another process (`belay gateway block` on the same store) refuses the tool within the
//! poll interval and hides it, a reload keeps it, and unblocking lets the call through
//! again; a block made in the gateway's own process applies to the very next call.

use std::{sync::Arc, time::Duration};

use belay_gateway::{
    BlockStore, Chain,
    blocks::{BLOCKED_RULE, Target},
    chain::DENIED,
};
use belay_policy::SystemClock;
use belay_servers::ServerName;
use serde_json::json;

use crate::{
    policy::{RULES, call},
    support::{gateway_with_blocks, http_toml, http_upstream, spec, tool_names},
};

/// Calls `tool` until `refused(outcome)` holds, for at most five seconds.
async fn until(
    client: &belay_mcp::testkit::Client,
    tool: &str,
    refused: bool,
) -> anyhow::Result<Result<String, rmcp::ErrorData>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let outcome = call(client, tool, json!({"symbol": "AAPL"})).await;
        if outcome.is_err() == refused || tokio::time::Instant::now() > deadline {
            return Ok(outcome);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_block_from_another_process_refuses_the_tool_until_unblocked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.db");
    let blocks = BlockStore::open(belay_store::Db::open(&path)?)?;
    let cli = BlockStore::open(belay_store::Db::open(&path)?)?;
    let (stock, _, _upstream) = http_upstream(ServerName::Stock).await?;
    let spec_text = http_toml("stock", &stock);
    let gateway_spec = spec(&spec_text)?;
    let chain = Chain::from_spec(&gateway_spec, Arc::new(SystemClock), None)?;
    let gw = gateway_with_blocks(gateway_spec, chain, Some(blocks.clone()), |r| r).await?;
    gw.up("stock").await?;
    let client = gw.plain("/mcp").await?;
    let tool = "stock__get_stock_price";
    call(&client, tool, json!({"symbol": "AAPL"})).await?;

    let target = Target::Tool {
        upstream: "stock".into(),
        tool: "get_stock_price".into(),
    };
    cli.block(&target, "cli:ops", "incident 7")?;
    let refused = until(&client, tool, true).await?;
    let refused = refused.err().map(|e| (e.code.0, e.message.to_string()));
    assert!(
        matches!(&refused, Some((DENIED, m)) if m.contains(BLOCKED_RULE) && m.contains("get_stock_price")),
        "{refused:?}"
    );
    let names = tool_names(&client).await?;
    assert!(!names.contains(&tool.to_owned()), "hidden: {names:?}");
    assert!(names.contains(&"stock__compare_stock_prices".to_owned()));

    // A reload replaces the policy behind the blocks, not the blocks.
    let report = gw.gateway.reload(&spec(&format!("{spec_text}{RULES}"))?)?;
    assert!(report.policy, "{report}");
    let still = call(&client, tool, json!({"symbol": "AAPL"})).await;
    assert_eq!(still.err().map(|e| e.code.0), Some(DENIED));

    assert!(cli.unblock(&target)?);
    let back = until(&client, tool, false).await?;
    assert!(back.is_ok(), "{back:?}");

    // Blocked in the gateway's own process (the console): the very next call is refused.
    blocks.block(&target, "ada", "")?;
    let next = call(&client, tool, json!({"symbol": "AAPL"})).await;
    assert_eq!(next.err().map(|e| e.code.0), Some(DENIED));
    Ok(())
}
