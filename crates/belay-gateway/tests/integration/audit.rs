//! Every call is audited, allowed or refused, with the deciding rule; the chain verifies,
//! in the file and in the store, and arguments are redacted.

use std::sync::Arc;

use belay_audit::{AuditLog, AuditSpec, Decision, Outcome, Query, Sink};
use belay_policy::SystemClock;
use futures::StreamExt;
use serde_json::json;

use crate::policy::{RULES, call, stock_gateway};

#[tokio::test]
async fn allowed_and_denied_calls_are_recorded_and_the_chain_verifies() -> anyhow::Result<()> {
    let (dir, keys) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let db = belay_store::Db::in_memory()?;
    let spec = AuditSpec {
        sinks: vec![Sink::File, Sink::Store],
        key_file: Some(keys.path().join("audit.key")),
        ..AuditSpec::default()
    };
    let log = AuditLog::open(&spec, dir.path(), Some(db.clone()))?;
    let (gw, _upstream) = stock_gateway(RULES, Arc::new(SystemClock), Some(log.clone())).await?;
    let client = gw.plain("/mcp").await?;
    call(
        &client,
        "stock__get_stock_price",
        json!({"symbol": "AAPL", "api_key": "sk-should-not-be-kept"}),
    )
    .await?;
    call(&client, "stock__compare_stock_prices", json!({}))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("the denied call went through"))?;
    client.cancel().await?;
    log.flush().await?;

    let report = belay_audit::verify_configured(&spec, dir.path(), Some(&db)).await?;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 2);

    let path = belay_audit::audit_file(&spec, dir.path())
        .ok_or_else(|| anyhow::anyhow!("no audit file"))?;
    let opts = belay_audit::TailOptions {
        last: None,
        key: Some(belay_audit::AuditKey::load(&spec.key_path()?)?),
        ..Default::default()
    };
    let records: Vec<_> = belay_audit::tail_file(&path, opts)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let [allowed, denied] = records.as_slice() else {
        anyhow::bail!("expected two records, got {records:?}");
    };
    let allowed = &allowed.event;
    assert_eq!(allowed.decision, Decision::Allow);
    assert_eq!(allowed.outcome, Outcome::Ok);
    assert_eq!(allowed.upstream.as_deref(), Some("stock"));
    assert_eq!(allowed.name.as_deref(), Some("get_stock_price"));
    assert_eq!(allowed.method, "tools/call");
    // Issue 18: no result is serialized only to count its bytes for the audit record.
    assert_eq!(allowed.result_bytes, None, "{allowed:?}");
    assert!(allowed.latency_us.is_some());
    let args = allowed.arguments.clone().unwrap_or_default();
    assert_eq!(args["symbol"], "AAPL");
    assert!(
        !args.to_string().contains("sk-should-not-be-kept"),
        "redacted: {args}"
    );

    let denied = &denied.event;
    assert_eq!(denied.decision, Decision::Deny);
    assert_eq!(denied.rule.as_deref(), Some("no-compare"));
    assert!(
        matches!(&denied.outcome, Outcome::Error { code: Some(-32001), message } if message.contains("no-compare")),
        "{:?}",
        denied.outcome
    );

    let page = belay_audit::query(
        &db,
        &Query {
            decision: Some(Decision::Deny),
            ..Query::default()
        },
    )
    .await?;
    assert_eq!(page.records.len(), 1);
    assert_eq!(
        page.records[0].event.name.as_deref(),
        Some("compare_stock_prices")
    );
    Ok(())
}
