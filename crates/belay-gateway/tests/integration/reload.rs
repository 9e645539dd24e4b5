//! Configuration reload while clients are connected: new policy rules and rate limits
//! apply to the next call of the same session; a configuration that does not compile
//! changes nothing and says why.

use std::sync::Arc;

use belay_gateway::{GatewaySpec, chain::DENIED};
use belay_policy::SystemClock;
use serde_json::json;

use belay_servers::ServerName;

use crate::{
    policy::{RULES, call, stock_gateway},
    support::http_upstream,
};

fn spec_text(upstream_url: &str, extra: &str) -> String {
    format!(
        "[[upstream]]\nname = \"stock\"\ntransport = {{ type = \"http\", url = \"{upstream_url}\" }}\n{extra}"
    )
}

fn spec(upstream_url: &str, extra: &str) -> anyhow::Result<GatewaySpec> {
    belay_gateway::check(&spec_text(upstream_url, extra)).map_err(|e| anyhow::anyhow!("{e}"))
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

    // Rate limits: one call a minute, then refused.
    let limited = format!("{RULES}[rate_limits]\nper_user = {{ per_minute = 1, burst = 1 }}\n");
    let report = gw.gateway.reload(&spec(&url, &limited)?)?;
    assert!(report.rate_limits && !report.policy, "{report}");
    assert!(!report.upstreams_changed(), "{report}");
    call(&client, "stock__get_stock_price", json!({"symbol": "AAPL"})).await?;
    let refused = call(&client, "stock__get_stock_price", json!({"symbol": "AAPL"})).await;
    // An HTTP 429 (the default `rate_limit_status`): rmcp's client reports the status.
    let refused = refused.err().map(|e| e.message.to_string());
    assert!(
        refused.as_deref().is_some_and(|m| m.contains("429")),
        "{refused:?}"
    );

    // What only a restart can change is named, not applied.
    let slower = format!(
        "reload_poll_ms = 5000
{}",
        spec_text(&url, &limited)
    );
    let report = gw
        .gateway
        .reload(&belay_gateway::check(&slower).map_err(|e| anyhow::anyhow!("{e}"))?)?;
    assert_eq!(report.needs_restart, ["reload_poll_ms"], "{report}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_reload_adds_replaces_and_removes_upstreams_while_sessions_go_on() -> anyhow::Result<()> {
    let (gw, _upstream) = stock_gateway("", Arc::new(SystemClock), None).await?;
    let (weather, _, _weather_server) = http_upstream(ServerName::Weather).await?;
    let stock = match &gw.gateway.upstreams()[0].spec().transport {
        belay_gateway::TransportSpec::Http { url, .. } => url.clone(),
        other => anyhow::bail!("unexpected transport {other:?}"),
    };
    let client = gw.plain("/mcp").await?;
    let before = client.list_all_tools().await?.len();

    // Added: started, listed and routed, on the session already open and at its own URL.
    let added = format!(
        "[[upstream]]\nname = \"weather\"\ntransport = {{ type = \"http\", url = \"{weather}\" }}\n"
    );
    let report = gw.gateway.reload(&spec(&stock, &added)?)?;
    assert_eq!(report.upstreams_added, ["weather"], "{report}");
    gw.up("weather").await?;
    let tools = client.list_all_tools().await?;
    assert!(tools.len() > before, "the new upstream's tools are listed");
    let forecast = call(&client, "weather__get_weather", json!({"city": "Paris"})).await?;
    assert!(forecast.contains("Paris"), "{forecast}");
    let direct = gw.plain("/servers/weather/mcp").await?;
    let forecast = call(&direct, "get_weather", json!({"city": "Oslo"})).await?;
    assert!(forecast.contains("Oslo"), "{forecast}");
    direct.cancel().await?;

    // Replaced (a new prefix): the old names go, the new ones work, same session.
    let renamed = added.replace("name = \"weather\"", "name = \"weather\"\nprefix = \"w_\"");
    let report = gw.gateway.reload(&spec(&stock, &renamed)?)?;
    assert_eq!(report.upstreams_replaced, ["weather"], "{report}");
    gw.up("weather").await?;
    let names: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.iter().any(|n| n == "w_get_weather"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("weather__")),
        "{names:?}"
    );
    let forecast = call(&client, "w_get_weather", json!({"city": "Rome"})).await?;
    assert!(forecast.contains("Rome"), "{forecast}");

    // Removed: gone from lists and routes; stock on the same session is untouched.
    let report = gw.gateway.reload(&spec(&stock, "")?)?;
    assert_eq!(report.upstreams_removed, ["weather"], "{report}");
    assert_eq!(client.list_all_tools().await?.len(), before);
    let gone = call(&client, "w_get_weather", json!({"city": "Rome"})).await;
    assert!(gone.is_err(), "{gone:?}");
    call(&client, "stock__get_stock_price", json!({"symbol": "AAPL"})).await?;
    let answer = reqwest::Client::new()
        .post(format!("{}/servers/weather/mcp", gw.base))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await?;
    assert_eq!(answer.status(), 404);
    assert!(answer.text().await?.contains("no upstream `weather`"));

    // A secret that cannot be read: nothing changes.
    let broken = format!(
        "{added}credentials = {{ type = \"bearer\", secret = {{ env = \"BELAY_TEST_NO_SUCH_VARIABLE\" }} }}\n"
    );
    let error = gw.gateway.reload(&spec(&stock, &broken)?).err();
    assert!(error.is_some_and(|e| e.to_string().contains("BELAY_TEST_NO_SUCH_VARIABLE")));
    assert!(gw.gateway.upstream("weather").is_none());
    client.cancel().await?;
    Ok(())
}
