//! `[gateway.rate_limits]`: a refused call says when to retry, and goes through once the
//! bucket has refilled (a manual clock, no sleeping); a concurrency slot is held for the
//! whole upstream call.

use std::{sync::Arc, time::Duration};

use belay_gateway::{
    CallContext, Chain,
    chain::{DENIED, RATE_LIMITED},
};
use belay_policy::{ManualClock, SystemClock};
use serde_json::json;

use crate::{
    policy::{call, stock_gateway},
    support::{refusal, spec},
};

#[tokio::test]
async fn a_rate_limited_call_says_when_to_retry_and_recovers() -> anyhow::Result<()> {
    let clock = Arc::new(ManualClock::new());
    // The JSON-RPC refusal (`http_limits.rs` tests the HTTP 429 one).
    let limits = "[http]\nrate_limit_status = \"jsonrpc\"\n\
                  [rate_limits]\nper_user = { per_minute = 6, burst = 2 }\n\
                  [policy]\n[[policy.rules]]\nid = \"no-compare\"\neffect = \"deny\"\n\
                  names = [\"compare_*\"]\n";
    let (gw, _upstream) = stock_gateway(limits, clock.clone(), None).await?;
    let client = gw.plain("/mcp").await?;
    let price = json!({"symbol": "AAPL"});

    // A denied call costs nothing: policy runs before the limiter.
    let denied = call(&client, "stock__compare_stock_prices", json!({}))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("went through"))?;
    assert_eq!(denied.code.0, DENIED);

    call(&client, "stock__get_stock_price", price.clone()).await?;
    call(&client, "stock__get_stock_price", price.clone()).await?;
    let limited = call(&client, "stock__get_stock_price", price.clone())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a third call within the burst went through"))?;
    assert_eq!(limited.code.0, RATE_LIMITED);
    // 6 a minute: one token every 10 s.
    assert_eq!(limited.data, Some(json!({"retryAfter": 10})));
    assert!(
        limited.message.contains("retry after 10 s"),
        "{}",
        limited.message
    );

    clock.advance(Duration::from_secs(9));
    assert!(
        call(&client, "stock__get_stock_price", price.clone())
            .await
            .is_err(),
        "not refilled yet"
    );
    clock.advance(Duration::from_secs(1));
    let text = call(&client, "stock__get_stock_price", price).await?;
    assert!(text.parse::<f64>().is_ok(), "{text}");
    client.cancel().await?;
    Ok(())
}

fn context() -> CallContext {
    CallContext {
        caller: None,
        session: None,
        upstream: "stock".into(),
        method: "tools/call",
        target: Some("get_stock_price".into()),
        arguments: None,
    }
}

#[tokio::test]
async fn a_concurrency_slot_is_held_until_the_upstream_call_returns() -> anyhow::Result<()> {
    let spec = spec("[rate_limits]\nmax_concurrent = 1\n")?;
    let chain = Chain::from_spec(&spec, Arc::new(SystemClock), None)?;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let slow_chain = chain.clone();
    let slow = tokio::spawn(async move {
        slow_chain
            .apply(context(), |_| async move {
                let _ = started_tx.send(());
                let _ = released.await;
                Ok::<_, rmcp::ErrorData>(json!("slow"))
            })
            .await
    });
    started.await?;
    let refused = chain
        .apply(context(), |_| async { Ok(json!("fast")) })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a second call got the only slot"))?;
    assert_eq!(refused.code.0, RATE_LIMITED);
    assert!(refused.message.contains("in flight"), "{}", refused.message);

    let _ = release.send(());
    assert_eq!(slow.await??, json!("slow"));
    let fast = chain
        .apply(context(), |_| async { Ok(json!("fast")) })
        .await?;
    assert_eq!(fast, json!("fast"));
    Ok(())
}

#[test]
fn an_impossible_limit_is_reported_by_check() {
    let error = refusal("[rate_limits]\nper_user = { per_minute = 0 }\n");
    assert!(error.contains("per_user"), "{error}");
    assert!(error.starts_with("line 2"), "{error}");
}
