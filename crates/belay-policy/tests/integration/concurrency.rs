//! Concurrency caps per upstream: permits come back on drop, waits time out on a paused
//! clock, and a capped-out call spends no tokens.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use belay_policy::{
    BucketSpec, ConcurrencyLimits, LimitKind, ManualClock, Principal, RateLimitSpec, Throttle,
};

fn caps() -> anyhow::Result<ConcurrencyLimits> {
    let mut per_upstream = BTreeMap::new();
    per_upstream.insert("stock".to_owned(), 1);
    Ok(ConcurrencyLimits::new(Some(2), per_upstream)?)
}

#[test]
fn permits_are_capped_per_upstream_and_released_on_drop() -> anyhow::Result<()> {
    let caps = caps()?;
    let first = caps.try_acquire("news");
    let second = caps.try_acquire("news");
    assert!(first.is_ok() && second.is_ok());
    assert_eq!(caps.in_flight("news"), 2);
    let refusal = caps.try_acquire("news").err();
    assert_eq!(
        refusal.as_ref().map(|r| (r.kind, r.retry_after_secs)),
        Some((LimitKind::Concurrency, 1))
    );
    assert!(
        refusal.is_some_and(|r| r.reason
            == "upstream `news` already has 2 calls in flight, its limit; retry in 1 s")
    );
    // Upstreams do not share slots; the override applies to `stock`.
    let stock = caps.try_acquire("stock")?;
    assert!(caps.try_acquire("stock").is_err());
    drop(first);
    assert_eq!(caps.in_flight("news"), 1);
    assert!(caps.try_acquire("news").is_ok());
    drop(stock);
    assert!(caps.try_acquire("stock").is_ok());
    Ok(())
}

#[test]
fn uncapped_upstreams_always_admit() -> anyhow::Result<()> {
    let caps = ConcurrencyLimits::unlimited();
    let permits: Vec<_> = (0..1000)
        .map(|_| caps.try_acquire("any"))
        .collect::<Result<_, _>>()?;
    assert_eq!(permits.len(), 1000);
    assert_eq!(caps.in_flight("any"), 0);
    assert_eq!(caps.cap("any"), None);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_for_a_slot_then_gives_up() -> anyhow::Result<()> {
    let caps = Arc::new(caps()?);
    let held = caps.try_acquire("stock")?;
    // Nobody releases: the wait ends in a refusal after exactly the time given.
    let start = tokio::time::Instant::now();
    let refusal = caps.acquire("stock", Duration::from_secs(5)).await.err();
    assert_eq!(refusal.map(|r| r.kind), Some(LimitKind::Concurrency));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    // A slot freed during the wait is taken.
    let waiter = tokio::spawn({
        let caps = caps.clone();
        async move { caps.acquire("stock", Duration::from_secs(5)).await.is_ok() }
    });
    tokio::time::advance(Duration::from_secs(1)).await;
    drop(held);
    assert!(waiter.await?);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_gives_its_slot_back() -> anyhow::Result<()> {
    let caps = Arc::new(caps()?);
    let call = tokio::spawn({
        let caps = caps.clone();
        async move {
            let _permit = caps.try_acquire("stock");
            std::future::pending::<()>().await;
        }
    });
    tokio::task::yield_now().await;
    assert_eq!(caps.in_flight("stock"), 1);
    call.abort();
    assert!(call.await.is_err_and(|e| e.is_cancelled()));
    assert_eq!(caps.in_flight("stock"), 0);
    Ok(())
}

#[tokio::test]
async fn a_call_refused_by_the_cap_spends_no_tokens() -> anyhow::Result<()> {
    let throttle = Throttle::new(
        &RateLimitSpec {
            per_user: Some(BucketSpec {
                per_minute: 1.0,
                burst: Some(2),
            }),
            max_concurrent: Some(1),
            ..Default::default()
        },
        Arc::new(ManualClock::new()),
    )?;
    let alice = Principal::new("alice");
    let permit = throttle.admit(&alice, "stock", None).await?;
    for _ in 0..5 {
        let refusal = throttle.admit(&alice, "stock", None).await.err();
        assert_eq!(refusal.map(|r| r.kind), Some(LimitKind::Concurrency));
    }
    drop(permit);
    // One token left despite the five refused attempts; then the bucket refuses.
    let second = throttle.admit(&alice, "stock", None).await?;
    drop(second);
    let refusal = throttle.admit(&alice, "stock", None).await.err();
    assert_eq!(refusal.map(|r| r.kind), Some(LimitKind::User));
    assert_eq!(
        throttle.concurrency().in_flight("stock"),
        0,
        "refused permit dropped"
    );
    Ok(())
}

#[tokio::test]
async fn a_reload_keeps_buckets_and_unchanged_caps() -> anyhow::Result<()> {
    let mut spec = RateLimitSpec {
        per_user: Some(BucketSpec {
            per_minute: 1.0,
            burst: Some(1),
        }),
        max_concurrent: Some(1),
        ..Default::default()
    };
    spec.upstream_max_concurrent.insert("news".into(), 1);
    let throttle = Throttle::new(&spec, Arc::new(ManualClock::new()))?;
    let (ann, bob) = (Principal::new("ann"), Principal::new("bob"));
    let stock = throttle.admit(&ann, "stock", None).await?;
    let news = throttle.admit(&bob, "news", None).await?;
    // `news` gets a bigger cap; `stock` keeps its cap, hence its slot in use.
    spec.upstream_max_concurrent.insert("news".into(), 2);
    let reloaded = throttle.reconfigured(&spec)?;
    assert_eq!(reloaded.concurrency().in_flight("stock"), 1);
    assert_eq!(reloaded.concurrency().in_flight("news"), 0);
    let refusal = reloaded
        .admit(&Principal::new("cy"), "stock", None)
        .await
        .err();
    assert_eq!(refusal.map(|r| r.kind), Some(LimitKind::Concurrency));
    // Ann's bucket is the same one: still empty after the reload.
    drop(stock);
    let refusal = reloaded.admit(&ann, "stock", None).await.err();
    assert_eq!(refusal.map(|r| r.kind), Some(LimitKind::User));
    drop(news);
    Ok(())
}
