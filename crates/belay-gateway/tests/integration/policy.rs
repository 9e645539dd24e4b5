//! `[gateway.policy]` through the whole gateway: denied tools are hidden from lists and
//! refused by name of the rule; argument constraints refuse calls that break them.

use std::sync::Arc;

use belay_audit::AuditLog;
use belay_gateway::{Chain, chain::DENIED};
use belay_mcp::testkit::{Client, object, text_of};
use belay_policy::{Clock, SystemClock};
use belay_servers::ServerName;
use rmcp::{ErrorData, ServiceError, model::CallToolRequestParams};
use serde_json::{Value, json};
use tokio_util::sync::DropGuard;

use crate::support::{Running, gateway_with, http_toml, http_upstream, refusal, spec, tool_names};

/// Rules used by the policy and audit tests: comparisons denied, history periods limited.
pub(crate) const RULES: &str = r#"
[policy]
default = "allow"
[[policy.rules]]
id = "no-compare"
effect = "deny"
names = ["compare_*"]
description = "comparisons are for analysts"
[[policy.rules]]
id = "short-history"
names = ["get_stock_history"]
arguments.period = { enum = ["1mo", "3mo"] }
"#;

/// A gateway in front of the stock server, configured by `extra` (TOML appended to the
/// upstream), with buckets timed by `clock` and records sent to `audit`.
pub(crate) async fn stock_gateway(
    extra: &str,
    clock: Arc<dyn Clock>,
    audit: Option<AuditLog>,
) -> anyhow::Result<(Running, DropGuard)> {
    let (stock, _, upstream) = http_upstream(ServerName::Stock).await?;
    let spec = spec(&format!("{}{extra}", http_toml("stock", &stock)))?;
    let chain = Chain::from_spec(&spec, clock, audit)?;
    let gw = gateway_with(spec, chain, |r| r).await?;
    gw.up("stock").await?;
    Ok((gw, upstream))
}

/// Calls `tool` with `args`; the JSON-RPC error if the gateway refused it.
pub(crate) async fn call(client: &Client, tool: &str, args: Value) -> Result<String, ErrorData> {
    match client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(object(args)))
        .await
    {
        Ok(result) => Ok(text_of(&result)),
        Err(ServiceError::McpError(e)) => Err(e),
        Err(other) => Err(ErrorData::internal_error(other.to_string(), None)),
    }
}

#[tokio::test]
async fn a_denied_tool_is_hidden_and_refused_naming_the_rule() -> anyhow::Result<()> {
    let (gw, _upstream) = stock_gateway(RULES, Arc::new(SystemClock), None).await?;
    for (path, prefix) in [("/mcp", "stock__"), ("/servers/stock/mcp", "")] {
        let client = gw.plain(path).await?;
        let names = tool_names(&client).await?;
        assert!(
            names.contains(&format!("{prefix}get_stock_price")),
            "{names:?}"
        );
        // Constrained, not denied: some periods pass, so it stays listed.
        assert!(
            names.contains(&format!("{prefix}get_stock_history")),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.contains("compare_")),
            "hidden: {names:?}"
        );

        let refused = call(
            &client,
            &format!("{prefix}compare_stock_prices"),
            json!({"symbol1": "AAPL", "symbol2": "MSFT"}),
        )
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("the call went through"))?;
        assert_eq!(refused.code.0, DENIED);
        assert!(
            refused.message.contains("no-compare"),
            "{}",
            refused.message
        );
        assert!(
            refused.message.contains("comparisons are for analysts"),
            "{}",
            refused.message
        );
        assert_eq!(refused.data, Some(json!({"rule": "no-compare"})));

        let allowed = call(
            &client,
            &format!("{prefix}get_stock_price"),
            json!({"symbol": "AAPL"}),
        )
        .await?;
        assert!(allowed.parse::<f64>().is_ok(), "{allowed}");
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_argument_outside_its_constraint_is_refused_naming_rule_and_argument()
-> anyhow::Result<()> {
    let (gw, _upstream) = stock_gateway(RULES, Arc::new(SystemClock), None).await?;
    let client = gw.plain("/mcp").await?;
    let refused = call(
        &client,
        "stock__get_stock_history",
        json!({"symbol": "AAPL", "period": "1y"}),
    )
    .await
    .err()
    .ok_or_else(|| anyhow::anyhow!("a 1y history went through"))?;
    assert_eq!(refused.code.0, DENIED);
    assert!(
        refused.message.contains("short-history"),
        "{}",
        refused.message
    );
    assert!(refused.message.contains("period"), "{}", refused.message);

    let csv = call(
        &client,
        "stock__get_stock_history",
        json!({"symbol": "AAPL", "period": "1mo"}),
    )
    .await?;
    assert!(csv.starts_with("Date,Open"), "{csv}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn default_deny_hides_everything_no_rule_allows() -> anyhow::Result<()> {
    let rules = r#"
[policy]
default = "deny"
[[policy.rules]]
id = "prices-only"
names = ["get_stock_price"]
"#;
    let (gw, _upstream) = stock_gateway(rules, Arc::new(SystemClock), None).await?;
    let client = gw.plain("/mcp").await?;
    let names = tool_names(&client).await?;
    assert_eq!(names, vec!["stock__get_stock_price".to_owned()]);
    let refused = call(&client, "stock__get_ticker_info", json!({"symbol": "AAPL"}))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("went through"))?;
    assert_eq!(refused.code.0, DENIED);
    assert!(
        refused.message.contains("default is deny"),
        "{}",
        refused.message
    );
    client.cancel().await?;
    Ok(())
}

#[test]
fn a_rule_that_cannot_work_is_reported_by_check_at_its_id() {
    let text = "[policy]\n[[policy.rules]]\nid = \"bad\"\neffect = \"deny\"\n\
                arguments.period = { enum = [\"1d\"] }\n";
    let error = refusal(text);
    assert!(
        error.starts_with("line 3, column 6: invalid policy rule `bad`"),
        "{error}"
    );
    assert!(error.contains("allow"), "{error}");
}
