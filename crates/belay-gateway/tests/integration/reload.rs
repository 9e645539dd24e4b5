//! Configuration reload while clients are connected: new policy rules and rate limits
//! apply to the next call of the same session; a configuration that does not compile
//! changes nothing and says why.

use std::sync::Arc;

use belay_gateway::{GatewaySpec, chain::DENIED};
use belay_policy::SystemClock;
use serde_json::json;

use crate::policy::{RULES, call, stock_gateway};

fn spec(upstream_url: &str, extra: &str) -> anyhow::Result<GatewaySpec> {
    let toml = format!(
        "[[upstream]]\nname = \"stock\"\ntransport = {{ type = \"http\", url = \"{upstream_url}\" }}\n{extra}"
    );
    belay_gateway::check(&toml).map_err(|e| anyhow::anyhow!("{e}"))
}

#[tokio::test]
async fn a_reload_applies_to_the_next_call_of_an_open_session() -> anyhow::Result<()> {
    let (gw, _upstream) = stock_gateway("", Arc::new(SystemClock), None).await?;
    let url = match &gw.gateway.upstreams()[0].spec().transport {
        belay_gateway::TransportSpec::Http { url, .. } => url.clone(),
        other => anyhow::bail!("unexpected transport {other:?}"),
    };
    let client = gw.plain("/mcp").await?;
    let args = json!({"symbol1": "AAPL", "symbol2": "MSFT"});
    call(&client, "stock__compare_stock_prices", args.clone()).await?;

    // Deny comparisons: the same session is refused, naming the new rule.
    let report = gw.gateway.reload(&spec(&url, RULES)?)?;
    assert!(report.policy && !report.rate_limits, "{report}");
    assert!(report.needs_restart.is_empty(), "{report}");
    let denied = call(&client, "stock__compare_stock_prices", args.clone()).await;
    let denied = denied.err().map(|e| (e.code.0, e.message.to_string()));
    assert!(
        matches!(&denied, Some((DENIED, m)) if m.contains("no-compare")),
        "{denied:?}"
    );

    // A broken rule (parsed, not checked): refused, and the running policy stays.
    let broken = format!(
        "[[upstream]]\nname = \"stock\"\ntransport = {{ type = \"http\", url = \"{url}\" }}\n\
         [policy]\n[[policy.rules]]\nid = \"bad-regex\"\nnames = [\"get_stock_history\"]\n\
         arguments.period = {{ pattern = \"(\" }}\n"
    );
    let broken: GatewaySpec = toml::from_str(&broken)?;
    let error = gw.gateway.reload(&broken).err().map(|e| e.to_string());
    assert!(
        error.as_deref().is_some_and(|e| e.contains("bad-regex")),
        "the broken rule is named: {error:?}"
    );
    let still = call(&client, "stock__compare_stock_prices", args.clone()).await;
    assert_eq!(still.err().map(|e| e.code.0), Some(DENIED));

    // Rate limits: one call a minute, then refused; upstream changes wait for a restart.
    let limited = format!(
        "{RULES}[rate_limits]\nper_user = {{ per_minute = 1, burst = 1 }}\n[[upstream]]\nname = \"more\"\ntransport = {{ type = \"http\", url = \"{url}\" }}\n"
    );
    let report = gw.gateway.reload(&spec(&url, &limited)?)?;
    assert!(report.rate_limits && !report.policy, "{report}");
    assert_eq!(report.needs_restart, ["upstream"], "{report}");
    call(&client, "stock__get_stock_price", json!({"symbol": "AAPL"})).await?;
    let refused = call(&client, "stock__get_stock_price", json!({"symbol": "AAPL"})).await;
    // An HTTP 429 (the default `rate_limit_status`): rmcp's client reports the status.
    let refused = refused.err().map(|e| e.message.to_string());
    assert!(
        refused.as_deref().is_some_and(|m| m.contains("429")),
        "{refused:?}"
    );
    client.cancel().await?;
    Ok(())
}
