//! The chain's steps with fakes: what each refusal costs, reaches and records.
use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::Value;

use super::*;

/// Denies `tools/call` of `forbidden` (rule `no-forbidden`), allows the rest (`ok`).
struct Policy;

impl Decide for Policy {
    fn decide(&self, ctx: &CallContext) -> Decision {
        match ctx.target.as_deref() {
            Some("forbidden") => Decision::Deny {
                rule: Some("no-forbidden".into()),
                reason: "not this one".into(),
            },
            _ => Decision::Allow {
                rule: Some("ok".into()),
            },
        }
    }
}

/// Counts the tokens it hands out.
#[derive(Default)]
struct Bucket(AtomicUsize);

impl Limit for Bucket {
    fn admit<'a>(&'a self, _ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Box::new(()) as Admission) })
    }
}

/// Keeps every record, or fails every write.
#[derive(Default)]
struct Records {
    kept: Mutex<Vec<(Decision, Outcome)>>,
    verdicts: Mutex<Vec<Verdict>>,
    failing: bool,
}

impl AuditSink for Records {
    fn record(&self, record: AuditRecord) -> BoxFuture<'_, Result<(), String>> {
        if let Ok(mut kept) = self.kept.lock() {
            kept.push((record.decision, record.outcome));
        }
        if let Ok(mut verdicts) = self.verdicts.lock() {
            verdicts.extend(record.verdicts);
        }
        let failing = self.failing;
        Box::pin(async move {
            if failing {
                Err("disk full".into())
            } else {
                Ok(())
            }
        })
    }
}

/// Blocks every request on the way in.
struct Wall;

impl Guard for Wall {
    fn inspect_request(
        &self,
        _ctx: &mut CallContext,
        verdicts: &mut Vec<Verdict>,
    ) -> Result<(), Stop> {
        verdicts.push(Verdict {
            guard: "wall",
            rule: "wall.everything".into(),
            kind: "test",
            severity: "high",
            action: GuardAction::Blocked,
            field: None,
        });
        Err(String::from("walled").into())
    }
}

fn call(target: &str) -> CallContext {
    CallContext {
        caller: None,
        session: None,
        upstream: "up".into(),
        method: "tools/call",
        target: Some(target.into()),
        arguments: None,
    }
}

fn chain(bucket: Arc<Bucket>, records: Arc<Records>) -> Chain {
    Chain {
        decide: Arc::new(Policy),
        limit: bucket,
        audit: records,
        ..Chain::default()
    }
}

/// An upstream that counts its calls and answers `"answer"`.
async fn upstream(calls: &AtomicUsize) -> Result<Value, ErrorData> {
    calls.fetch_add(1, Ordering::SeqCst);
    Ok(Value::from("answer"))
}

#[tokio::test]
async fn a_denial_costs_no_tokens_reaches_no_upstream_and_is_audited_with_its_rule() {
    let (bucket, records) = (Arc::new(Bucket::default()), Arc::new(Records::default()));
    let calls = AtomicUsize::new(0);
    let chain = chain(bucket.clone(), records.clone());
    let refused = chain
        .apply(call("forbidden"), |_| upstream(&calls))
        .await
        .expect_err("denied");
    assert_eq!(refused.code, ErrorCode(DENIED));
    assert!(
        refused.message.contains("no-forbidden"),
        "{}",
        refused.message
    );
    assert_eq!(bucket.0.load(Ordering::SeqCst), 0, "no token taken");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no upstream call");
    let kept = records.kept.lock().map(|k| k.clone()).unwrap_or_default();
    assert_eq!(kept.len(), 1);
    assert!(
        matches!(&kept[0], (Decision::Deny { rule: Some(rule), .. }, Outcome::Denied) if rule == "no-forbidden"),
        "{kept:?}"
    );
}

#[tokio::test]
async fn an_answer_is_audited_with_the_rule_that_allowed_it() {
    let (bucket, records) = (Arc::new(Bucket::default()), Arc::new(Records::default()));
    let calls = AtomicUsize::new(0);
    let answer = chain(bucket.clone(), records.clone())
        .apply(call("fine"), |_| upstream(&calls))
        .await
        .expect("answered");
    assert_eq!(answer, Value::from("answer"));
    assert_eq!(bucket.0.load(Ordering::SeqCst), 1, "one token");
    let kept = records.kept.lock().map(|k| k.clone()).unwrap_or_default();
    assert_eq!(
        kept,
        vec![(
            Decision::Allow {
                rule: Some("ok".into())
            },
            Outcome::Answered
        )]
    );
}

#[tokio::test]
async fn a_failed_audit_write_withholds_the_result() {
    let records = Arc::new(Records {
        failing: true,
        ..Records::default()
    });
    let calls = AtomicUsize::new(0);
    let withheld = chain(Arc::default(), records)
        .apply(call("fine"), |_| upstream(&calls))
        .await
        .expect_err("withheld");
    assert!(
        withheld.message.contains("audit log is unavailable"),
        "{}",
        withheld.message
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the upstream answered");
}

#[tokio::test]
async fn a_guard_that_blocks_stops_the_upstream_call() {
    let records = Arc::new(Records::default());
    let calls = AtomicUsize::new(0);
    let chain = Chain {
        guards: vec![Arc::new(Wall)],
        ..chain(Arc::default(), records.clone())
    };
    let blocked = chain
        .apply(call("fine"), |_| upstream(&calls))
        .await
        .expect_err("blocked");
    assert!(blocked.message.contains("walled"), "{}", blocked.message);
    assert_eq!(blocked.code, ErrorCode(BLOCKED));
    assert_eq!(
        blocked.data,
        Some(serde_json::json!({ "guard": "wall", "rule": "wall.everything" }))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "never sent upstream");
    let kept = records.kept.lock().map(|k| k.clone()).unwrap_or_default();
    assert!(
        matches!(kept.as_slice(), [(_, Outcome::Blocked(_))]),
        "{kept:?}"
    );
    let verdicts = records
        .verdicts
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    assert_eq!(
        verdicts.len(),
        1,
        "the audit record holds the guard's verdict"
    );
    assert_eq!(verdicts[0].action, GuardAction::Blocked);
}

/// Rewrites every string result to `"[redacted]"`, and says so.
struct Redactor;

impl Guard for Redactor {
    fn inspect_result(
        &self,
        _ctx: &CallContext,
        result: &mut Value,
        verdicts: &mut Vec<Verdict>,
    ) -> Result<(), Stop> {
        *result = Value::from("[redacted]");
        verdicts.push(Verdict {
            guard: "secrets",
            rule: "pii.card".into(),
            kind: "secret",
            severity: "high",
            action: GuardAction::Redacted,
            field: Some("/".into()),
        });
        Ok(())
    }
}

#[tokio::test]
async fn an_upstream_guard_rewrites_only_its_own_upstreams_results_and_the_audit_says_so() {
    let records = Arc::new(Records::default());
    let calls = AtomicUsize::new(0);
    let chain = chain(Arc::default(), records.clone());
    chain.upstream_guards.set("up", Arc::new(Redactor));
    let mine: Value = chain
        .apply(call("fine"), |_| upstream(&calls))
        .await
        .expect("answered");
    assert_eq!(mine, Value::from("[redacted]"));
    let other = CallContext {
        upstream: "other".into(),
        ..call("fine")
    };
    let theirs: Value = chain
        .apply(other, |_| upstream(&calls))
        .await
        .expect("answered");
    assert_eq!(
        theirs,
        Value::from("answer"),
        "another upstream's guard never runs"
    );
    let verdicts = records
        .verdicts
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].action, GuardAction::Redacted);
    chain.upstream_guards.remove("up");
    let after: Value = chain
        .apply(call("fine"), |_| upstream(&calls))
        .await
        .expect("answered");
    assert_eq!(
        after,
        Value::from("answer"),
        "a removed guard no longer runs"
    );
}

#[tokio::test]
async fn an_admitted_request_keeps_its_slot_until_every_copy_is_done() {
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    struct OneAtATime(Arc<tokio::sync::Semaphore>);
    impl Limit for OneAtATime {
        fn admit<'a>(&'a self, _ctx: &'a CallContext) -> BoxFuture<'a, Result<Admission, Refused>> {
            let slot = self.0.clone().try_acquire_owned();
            Box::pin(async move {
                slot.map(|s| Box::new(s) as Admission).map_err(|_| Refused {
                    retry_after: Duration::from_secs(1),
                    reason: "one at a time".into(),
                })
            })
        }
    }
    let chain = Chain {
        limit: Arc::new(OneAtATime(slots.clone())),
        ..Chain::default()
    };
    let admitted = chain.admit(call("fine")).await.expect("admitted");
    let copy = admitted.clone();
    let refused = chain
        .admit(call("fine"))
        .await
        .expect_err("the slot is held");
    assert_eq!(refused.retry_after_secs, Some(1));
    assert_eq!(refused.error.code, ErrorCode(RATE_LIMITED));
    drop(admitted);
    assert_eq!(slots.available_permits(), 0, "a copy still holds it");
    drop(copy);
    assert_eq!(slots.available_permits(), 1);
}
