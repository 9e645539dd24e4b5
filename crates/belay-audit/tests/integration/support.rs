use std::path::{Path, PathBuf};

use belay_audit::{AuditEvent, AuditLog, AuditSpec, Decision, Sink};
use belay_store::Db;
use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: Db,
    pub spec: AuditSpec,
}

impl Env {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
            db: Db::in_memory()?,
            spec: AuditSpec::default(),
        })
    }

    pub fn file(&self) -> PathBuf {
        self.spec.file_in(self.dir.path())
    }

    pub fn open(&self) -> Result<AuditLog, belay_audit::Error> {
        AuditLog::open(&self.spec, self.dir.path(), Some(self.db.clone()))
    }

    pub fn file_only(mut self) -> Self {
        self.spec.sinks = vec![Sink::File];
        self
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Event `n`: users alternate, upstreams cycle over three, every fifth is denied.
pub fn event(n: i64) -> AuditEvent {
    AuditEvent {
        time: t0() + chrono::Duration::seconds(n),
        user: Some(format!("user-{}", n % 2)),
        client: Some("vscode".into()),
        upstream: Some(["stock", "weather", "news"][usize::try_from(n % 3).unwrap_or(0)].into()),
        name: Some(format!("tool-{}", n % 4)),
        arguments: Some(serde_json::json!({ "n": n })),
        decision: if n % 5 == 0 {
            Decision::Deny
        } else {
            Decision::Allow
        },
        latency_us: Some(120),
        ..AuditEvent::new("tools/call")
    }
}

/// Opens a log, records events `from..to`, flushes and drops it.
pub async fn write(env: &Env, from: i64, to: i64) -> anyhow::Result<()> {
    let log = env.open()?;
    for n in from..to {
        log.record(event(n)).await?;
    }
    log.flush().await?;
    Ok(())
}

pub fn lines(path: &Path) -> anyhow::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::to_owned)
        .collect())
}

pub fn write_lines(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text)?;
    Ok(())
}

/// Recomputes a line's hash after an edit, as a forger who knows the format would.
pub fn reseal(line: &str) -> String {
    let cut = line.len() - (",\"hash\":\"".len() + 64 + 2);
    let body = format!("{}}}", &line[..cut]);
    let hex: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{},\"hash\":\"{hex}\"}}", &line[..cut])
}
