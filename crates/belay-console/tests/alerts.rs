//! Alert rules on a real audit log, notices to a real webhook receiver on loopback: one
//! `firing` per incident per webhook however long it lasts, one `resolved` when it ends, in
//! each format.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::Path, routing::post};
use belay_audit::{AuditEvent, AuditLog, AuditSpec, Decision, Sink};
use belay_console::alerts::{AlertsSpec, Format, Group, RuleSpec, Signal, WebhookSpec, notify};
use tokio_util::sync::CancellationToken;

type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

async fn receiver() -> anyhow::Result<(String, Received)> {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/hook/{name}",
        post(
            move |Path(name): Path<String>, Json(body): Json<serde_json::Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().map(|mut r| r.push((name, body))).ok();
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, received))
}

fn count(received: &Received) -> usize {
    received.lock().map(|r| r.len()).unwrap_or_default()
}

async fn wait_for(received: &Received, n: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while count(received) < n {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} notices",
            count(received)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_incident_is_sent_once_to_each_webhook_and_resolved_once() -> anyhow::Result<()> {
    let (base, received) = receiver().await?;
    let hook = |name: &str, format| WebhookSpec {
        name: name.into(),
        url: format!("{base}/hook/{name}"),
        format,
    };
    let spec = AlertsSpec {
        rule: vec![RuleSpec {
            name: "sign-in-failures".into(),
            when: Signal::Unauthenticated,
            threshold: 2.0,
            window_secs: 5,
            per: Group::Client,
            min_requests: 1,
            webhooks: Vec::new(),
        }],
        webhook: vec![
            hook("json", Format::Json),
            hook("slack", Format::Slack),
            hook("teams", Format::Teams),
        ],
    };
    let dir = tempfile::tempdir()?;
    let audit = AuditLog::open(
        &AuditSpec {
            sinks: vec![Sink::Store],
            key_file: Some(dir.path().join("audit.key")),
            ..AuditSpec::default()
        },
        dir.path(),
        Some(belay_store::Db::in_memory()?),
    )?;
    let stop = CancellationToken::new();
    let open = notify::spawn(spec, &audit, stop.clone())?;
    let refused = || AuditEvent {
        client: Some("mallory".into()),
        decision: Decision::Unauthenticated,
        ..AuditEvent::new("tools/call")
    };
    // Two failures are not over the threshold of 2.
    for _ in 0..2 {
        audit.record(refused()).await?;
    }
    audit.flush().await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&received), 0, "at the threshold, nothing fires");
    // The third fires, once to each webhook; more failures send nothing more.
    audit.record(refused()).await?;
    audit.flush().await?;
    wait_for(&received, 3).await?;
    audit.record(refused()).await?;
    audit.flush().await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&received), 3, "one firing notice per webhook");
    assert_eq!(open.lock().map(|o| o.len()).unwrap_or_default(), 1);
    // The window slides past the first failures: one resolved notice per webhook.
    wait_for(&received, 6).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.cancel();
    let all = received.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(all.len(), 6, "{all:#?}");
    let of = |name: &str| -> Vec<serde_json::Value> {
        all.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let json = of("json");
    assert_eq!(json[0]["status"], "firing");
    assert_eq!(json[0]["group"], "mallory");
    assert_eq!(json[0]["value"], 3.0);
    assert_eq!(json[1]["status"], "resolved");
    assert_eq!(json[0]["since"], json[1]["since"], "the same incident");
    let slack = of("slack");
    assert!(
        slack[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("FIRING"))
    );
    assert!(
        slack[1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("resolved"))
    );
    let teams = of("teams");
    assert_eq!(teams[0]["@type"], "MessageCard");
    assert!(
        teams[1]["title"]
            .as_str()
            .is_some_and(|t| t.contains("resolved"))
    );
    Ok(())
}

fn state_rule(name: &str, when: Signal) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        when,
        threshold: 0.0,
        window_secs: 1,
        per: Group::All,
        min_requests: 1,
        webhooks: Vec::new(),
    }
}

#[tokio::test]
async fn a_tool_waiting_for_approval_and_a_broken_audit_chain_each_fire_once() -> anyhow::Result<()>
{
    let (base, received) = receiver().await?;
    let spec = AlertsSpec {
        rule: vec![
            state_rule("unapproved", Signal::UnapprovedTool),
            state_rule("chain", Signal::AuditChainBroken),
        ],
        webhook: vec![WebhookSpec {
            name: "json".into(),
            url: format!("{base}/hook/json"),
            format: Format::Json,
        }],
    };
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("audit.key");
    let db = belay_store::Db::in_memory()?;
    let audit = AuditLog::open(
        &AuditSpec {
            sinks: vec![Sink::Store],
            key_file: Some(key.clone()),
            ..AuditSpec::default()
        },
        dir.path(),
        Some(db.clone()),
    )?;
    for user in ["ada", "bob", "eve"] {
        audit
            .record(AuditEvent {
                user: Some(user.into()),
                ..AuditEvent::new("tools/call")
            })
            .await?;
    }
    audit.flush().await?;
    // Someone edits a record in the store behind the log's back.
    db.call_blocking(|c| {
        c.execute(
            "UPDATE audit_records SET line = replace(line, 'bob', 'eve') WHERE seq = 2",
            [],
        )
    })?;
    let pins = belay_gateway::PinStore::open(belay_store::Db::in_memory()?)?;
    pins.check("calc", "add", "f-old", r#"{"name":"add"}"#)
        .await?;
    let watched = notify::Watched {
        pins: Some(pins.clone()),
        audit_db: Some(db.clone()),
        audit_key: Some(key),
    };
    let stop = CancellationToken::new();
    let _open = notify::spawn_watching(spec, &audit, watched, stop.clone())?;
    // The chain fails verification: one notice.
    wait_for(&received, 1).await?;
    // A rug pull: the changed tool waits for approval, one notice however many ticks pass.
    pins.check("calc", "add", "f-new", r#"{"name":"add","x":1}"#)
        .await?;
    wait_for(&received, 2).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(count(&received), 2, "no repeats while it waits");
    // Approved: resolved once.
    pins.approve("calc", Some("add"))?;
    wait_for(&received, 3).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.cancel();
    let notices = received.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(notices.len(), 3, "{notices:?}");
    let summary: Vec<(String, String, String)> = notices
        .iter()
        .map(|(_, b)| {
            let field = |k: &str| b[k].as_str().unwrap_or_default().to_owned();
            (field("rule"), field("status"), field("group"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("chain".into(), "firing".into(), "*".into()),
            ("unapproved".into(), "firing".into(), "calc/add".into()),
            ("unapproved".into(), "resolved".into(), "calc/add".into()),
        ]
    );
    Ok(())
}
