//! Registry changes into Belay's audit log, the same sealed, hash-chained log the gateway
//! writes.
//!
//! A change is first recorded in the registry's history, in the transaction that makes it,
//! so none is lost; [`seal_pending`] then writes the changes not yet audited to the log
//! and marks them. The process that owns the log (`belay registry serve`, `belay gateway
//! serve`, `belay up`) runs it at start and every few seconds, so a change made by a CLI
//! command is sealed by the running server: two processes appending to one chain would
//! fork it, so only the owner writes.

use belay_audit::{AuditEvent, AuditLog};
use serde_json::json;

use crate::{Error, RegistryStore, store::Event};

/// How many changes one [`seal_pending`] pass writes at most.
const BATCH: usize = 500;

/// The audit record of one registry change: method `registry/<action>` (`publish`,
/// `approve`, `override`, `deprecate`, `block`, `owners`, `tags`), the actor as the user,
/// `NAME@VERSION` as the name, and the statuses and reason as arguments.
pub fn audit_event(event: &Event) -> AuditEvent {
    let name = if event.version.is_empty() {
        event.name.clone()
    } else {
        format!("{}@{}", event.name, event.version)
    };
    let mut arguments = json!({ "server": event.name });
    if !event.version.is_empty() {
        arguments["version"] = json!(event.version);
    }
    if !event.status.is_empty() {
        arguments["status"] = json!(event.status);
    }
    if let Some(previous) = &event.previous {
        arguments["previous"] = json!(previous);
    }
    if let Some(reason) = &event.reason {
        arguments["reason"] = json!(reason);
    }
    let client = event.actor.strip_prefix("client:").map(str::to_owned);
    AuditEvent {
        time: chrono::DateTime::from_timestamp_micros(event.at).unwrap_or_default(),
        user: Some(event.actor.clone()),
        client,
        name: Some(name),
        arguments: Some(arguments),
        ..AuditEvent::new(format!("registry/{}", event.action))
    }
}

/// Writes every registry change not yet audited to `log` (oldest first), waits until they
/// are written, and marks them; returns how many. A failed write leaves them for the next
/// pass.
pub async fn seal_pending(store: &RegistryStore, log: &AuditLog) -> Result<usize, Error> {
    let mut sealed = 0;
    loop {
        let batch = store.unaudited(BATCH).await?;
        if batch.is_empty() {
            return Ok(sealed);
        }
        let mut ids = Vec::with_capacity(batch.len());
        for change in &batch {
            log.record(audit_event(&change.event))
                .await
                .map_err(|e| Error::Store(format!("cannot write the audit log: {e}")))?;
            ids.push(change.id);
        }
        log.flush()
            .await
            .map_err(|e| Error::Store(format!("cannot write the audit log: {e}")))?;
        sealed += ids.len();
        store.mark_audited(ids).await?;
        if batch.len() < BATCH {
            return Ok(sealed);
        }
    }
}

#[cfg(test)]
mod tests {
    use belay_audit::{AuditSpec, Query, Sink};
    use belay_store::Db;
    use serde_json::Value;

    use super::*;
    use crate::{Review, Status, Submission};

    #[tokio::test]
    async fn each_change_is_sealed_once_into_the_chain() -> anyhow::Result<()> {
        let (dir, keys) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let db = Db::in_memory()?;
        let store = RegistryStore::open(db.clone())?;
        let spec = AuditSpec {
            sinks: vec![Sink::File, Sink::Store],
            key_file: Some(keys.path().join("audit.key")),
            ..AuditSpec::default()
        };
        let log = AuditLog::open(&spec, dir.path(), Some(db.clone()))?;
        let guard = belay_guard::MetadataGuard::new()?;
        let document = json!({ "name": "com.example/w", "description": "W.", "version": "1.0.0" });
        store
            .publish(Submission {
                scan: crate::scan_document(&guard, &document),
                document,
                publisher: "client:ci".into(),
                provenance: None,
            })
            .await?;
        store
            .set_status(
                "com.example/w",
                "1.0.0",
                Status::Blocked,
                &Review {
                    actor: "cli:admin".into(),
                    override_reason: None,
                },
            )
            .await?;
        assert_eq!(seal_pending(&store, &log).await?, 2);
        assert_eq!(seal_pending(&store, &log).await?, 0, "sealed once");
        let page = belay_audit::query(&db, &Query::default()).await?;
        let mut records = page.records;
        records.sort_by_key(|r| r.seq);
        let events: Vec<&AuditEvent> = records.iter().map(|r| &r.event).collect();
        let methods: Vec<&str> = events.iter().map(|e| e.method.as_str()).collect();
        assert_eq!(
            methods,
            ["registry/publish", "registry/block"],
            "{events:#?}"
        );
        let block = events[1];
        assert_eq!(block.user.as_deref(), Some("cli:admin"));
        assert_eq!(block.name.as_deref(), Some("com.example/w@1.0.0"));
        let arguments = block.arguments.clone().unwrap_or(Value::Null);
        assert_eq!(arguments["previous"], "pending", "{arguments}");
        assert_eq!(events[0].client.as_deref(), Some("ci"));
        let report = belay_audit::verify_configured(&spec, dir.path(), Some(&db)).await?;
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.records, 2);
        Ok(())
    }
}
