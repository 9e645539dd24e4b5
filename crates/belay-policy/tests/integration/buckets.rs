//! Token buckets on a manual clock: burst, refill, `Retry-After`, all-or-nothing, keys,
//! and bounded memory.

use std::{sync::Arc, time::Duration};

use belay_policy::{
    BucketKey, BucketSpec, LimitKind, LocalRateLimiter, ManualClock, Principal, Rate,
    RateLimitSpec, RateLimits, Refusal, SystemClock, Throttle, ToolLimitSpec,
};

fn bucket(per_minute: f64, burst: Option<u32>) -> Option<BucketSpec> {
    Some(BucketSpec { per_minute, burst })
}

/// Limits from `spec` with in-process buckets on a manual clock.
struct Fixture {
    clock: Arc<ManualClock>,
    limits: RateLimits,
    buckets: LocalRateLimiter,
}

impl Fixture {
    fn new(spec: RateLimitSpec) -> Self {
        let clock = Arc::new(ManualClock::new());
        let limits = match RateLimits::new(&spec) {
            Ok(limits) => limits,
            Err(e) => panic!("limits should load: {e}"),
        };
        let buckets = LocalRateLimiter::new(
            clock.clone(),
            spec.max_buckets,
            Duration::from_secs(spec.sweep_interval_secs),
        );
        Self {
            clock,
            limits,
            buckets,
        }
    }

    fn call(&self, principal: &Principal, tool: Option<&str>) -> Result<(), Refusal> {
        self.buckets
            .try_take(&self.limits.charges(principal, "stock", tool))
    }

    fn advance_secs(&self, secs: f64) {
        self.clock.advance(Duration::from_secs_f64(secs));
    }
}

fn per_user(per_minute: f64, burst: Option<u32>) -> Fixture {
    Fixture::new(RateLimitSpec {
        per_user: bucket(per_minute, burst),
        ..Default::default()
    })
}

#[test]
fn a_burst_passes_then_the_rate_refills() {
    let f = per_user(60.0, Some(3));
    let alice = Principal::new("alice");
    for _ in 0..3 {
        assert_eq!(f.call(&alice, None), Ok(()));
    }
    let refusal = f.call(&alice, None).err();
    assert_eq!(
        refusal,
        Some(Refusal {
            kind: LimitKind::User,
            retry_after_secs: 1,
            reason: "rate limit of user `alice` exceeded (60 per minute, burst 3); retry in 1 s"
                .into(),
        })
    );
    f.advance_secs(1.0);
    assert_eq!(f.call(&alice, None), Ok(()), "one token per second");
    assert!(f.call(&alice, None).is_err());
    // A long pause refills only up to the burst.
    f.advance_secs(3600.0);
    for _ in 0..3 {
        assert_eq!(f.call(&alice, None), Ok(()));
    }
    assert!(f.call(&alice, None).is_err());
    // Other users have their own bucket.
    assert_eq!(f.call(&Principal::new("bob"), None), Ok(()));
}

#[test]
fn burst_defaults_to_a_minutes_worth() {
    let f = per_user(2.5, None);
    let alice = Principal::new("alice");
    for _ in 0..3 {
        assert_eq!(f.call(&alice, None), Ok(()));
    }
    assert!(f.call(&alice, None).is_err());
}

fn retry_after(f: &Fixture, principal: &Principal) -> Option<u64> {
    f.call(principal, None).err().map(|r| r.retry_after_secs)
}

#[test]
fn retry_after_is_whole_seconds_rounded_up() {
    let alice = Principal::new("alice");
    // One a minute: a full minute, then whatever is left of it.
    let f = per_user(1.0, Some(1));
    assert_eq!(f.call(&alice, None), Ok(()));
    assert_eq!(retry_after(&f, &alice), Some(60));
    f.advance_secs(30.0);
    assert_eq!(retry_after(&f, &alice), Some(30));
    f.advance_secs(29.5);
    assert_eq!(retry_after(&f, &alice), Some(1), "0.5 s rounds up to 1");
    f.advance_secs(0.5);
    assert_eq!(f.call(&alice, None), Ok(()));
    // Seven a minute: 8.57 s rounds up to 9.
    let f = per_user(7.0, Some(1));
    assert_eq!(f.call(&alice, None), Ok(()));
    assert_eq!(retry_after(&f, &alice), Some(9));
    // Fast rates never say 0.
    let f = per_user(6000.0, Some(1));
    assert_eq!(f.call(&alice, None), Ok(()));
    assert_eq!(retry_after(&f, &alice), Some(1));
    // Slow rates: one every two minutes.
    let f = per_user(0.5, Some(1));
    assert_eq!(f.call(&alice, None), Ok(()));
    assert_eq!(retry_after(&f, &alice), Some(120));
}

#[test]
fn a_refusal_takes_nothing_and_names_the_longest_wait() {
    let f = Fixture::new(RateLimitSpec {
        per_user: bucket(60.0, Some(5)),
        per_tool: bucket(1.0, Some(1)),
        ..Default::default()
    });
    let alice = Principal::new("alice");
    assert_eq!(f.call(&alice, Some("get_history")), Ok(()));
    // The tool is exhausted; these refusals must not spend alice's tokens.
    for _ in 0..10 {
        let refusal = f.call(&alice, Some("get_history")).err();
        assert_eq!(refusal.as_ref().map(|r| r.kind), Some(LimitKind::Tool));
        assert!(
            refusal.is_some_and(|r| r.reason.contains("tool `get_history` of upstream `stock`")),
        );
    }
    for _ in 0..4 {
        assert_eq!(f.call(&alice, None), Ok(()), "4 tokens left");
    }
    // Both empty: the answer is the longer wait (the tool's 60 s, not the user's 1 s).
    let refusal = f.call(&alice, Some("get_history")).err();
    assert_eq!(
        refusal.map(|r| (r.kind, r.retry_after_secs)),
        Some((LimitKind::Tool, 60))
    );
}

#[test]
fn clients_and_tools_have_their_own_buckets() {
    let f = Fixture::new(RateLimitSpec {
        per_client: bucket(1.0, Some(2)),
        per_tool: bucket(1.0, Some(3)),
        tools: vec![ToolLimitSpec {
            upstream: "sto*".into(),
            name: "get_history".into(),
            per_minute: 1.0,
            burst: Some(1),
            per_user: true,
        }],
        ..Default::default()
    });
    // The client bucket is shared by its users; a caller without a client has none.
    let (ann, bob) = (
        Principal::new("ann").with_client("app"),
        Principal::new("bob").with_client("app"),
    );
    assert_eq!(f.call(&ann, None), Ok(()));
    assert_eq!(f.call(&bob, None), Ok(()));
    let refusal = f.call(&ann, None).err();
    assert_eq!(refusal.map(|r| r.kind), Some(LimitKind::Client));
    for _ in 0..5 {
        assert_eq!(f.call(&Principal::new("cli"), None), Ok(()));
    }
    // `per_tool` is shared by every caller of that tool...
    let (carl, dora) = (Principal::new("carl"), Principal::new("dora"));
    assert_eq!(f.call(&carl, Some("get_price")), Ok(()));
    assert_eq!(f.call(&dora, Some("get_price")), Ok(()));
    assert_eq!(f.call(&carl, Some("get_price")), Ok(()));
    assert!(f.call(&dora, Some("get_price")).is_err());
    assert_eq!(f.call(&dora, Some("get_news")), Ok(()), "another tool");
    // ...while a `tools` entry with `per_user` replaces it with one bucket per user.
    assert_eq!(f.call(&carl, Some("get_history")), Ok(()));
    assert_eq!(f.call(&dora, Some("get_history")), Ok(()));
    let refusal = f.call(&carl, Some("get_history")).err();
    assert!(refusal.is_some_and(|r| {
        r.reason
            .contains("tool `get_history` of upstream `stock` for user `carl`")
    }));
}

#[test]
fn charges_name_exactly_the_applicable_buckets() -> anyhow::Result<()> {
    let limits = RateLimits::new(&RateLimitSpec {
        per_user: bucket(10.0, None),
        per_tool: bucket(20.0, Some(2)),
        ..Default::default()
    })?;
    let keys: Vec<BucketKey> = limits
        .charges(&Principal::new("u").with_client("c"), "up", Some("t"))
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(
        keys,
        [
            BucketKey::User("u".into()),
            BucketKey::Tool {
                upstream: "up".into(),
                name: "t".into()
            }
        ]
    );
    assert_eq!(
        Rate::new(20.0, 2).map(|r| r.to_string()).ok().as_deref(),
        Some("20 per minute, burst 2")
    );
    Ok(())
}

#[test]
fn idle_buckets_are_swept_and_memory_is_capped() {
    let f = Fixture::new(RateLimitSpec {
        per_user: bucket(60.0, Some(2)),
        sweep_interval_secs: 10,
        max_buckets: 1_000,
        ..Default::default()
    });
    for i in 0..100 {
        assert_eq!(f.call(&Principal::new(format!("user{i}")), None), Ok(()));
    }
    assert_eq!(f.buckets.bucket_count(), 100);
    // After a second every bucket is full again: the next sweep drops all but the new one.
    f.advance_secs(10.0);
    assert_eq!(f.call(&Principal::new("fresh"), None), Ok(()));
    assert_eq!(f.buckets.bucket_count(), 1);

    // A hard cap drops the buckets idle longest, even if they are not full yet.
    let f = Fixture::new(RateLimitSpec {
        per_user: bucket(1.0, Some(5)),
        max_buckets: 10,
        sweep_interval_secs: 3600,
        ..Default::default()
    });
    for i in 0..11 {
        f.advance_secs(1.0);
        assert_eq!(f.call(&Principal::new(format!("user{i}")), None), Ok(()));
    }
    assert_eq!(f.buckets.bucket_count(), 9, "down to 90% of the cap");
    // The newest buckets survive: user10 still has 4 tokens, not 5.
    for _ in 0..4 {
        assert_eq!(f.call(&Principal::new("user10"), None), Ok(()));
    }
    assert!(f.call(&Principal::new("user10"), None).is_err());
}

#[tokio::test(start_paused = true)]
async fn throttle_on_the_system_clock_follows_tokio_paused_time() -> anyhow::Result<()> {
    let throttle = Throttle::new(
        &RateLimitSpec {
            per_user: bucket(60.0, Some(1)),
            ..Default::default()
        },
        Arc::new(SystemClock),
    )?;
    let alice = Principal::new("alice");
    assert!(throttle.admit(&alice, "stock", None).await.is_ok());
    let refusal = throttle.admit(&alice, "stock", None).await.err();
    assert_eq!(refusal.map(|r| r.retry_after_secs), Some(1));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(throttle.admit(&alice, "stock", None).await.is_ok());
    Ok(())
}
