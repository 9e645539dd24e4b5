use std::path::{Path, PathBuf};

use belay_audit::{AuditEvent, AuditKey, AuditLog, AuditSpec, Decision, Sink};
use belay_store::Db;
use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};

/// A data folder, a store, and a config folder for the key (outside the data folder, as
/// by default).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: tempfile::TempDir,
    pub db: Db,
    pub spec: AuditSpec,
}

impl Env {
    pub fn new() -> anyhow::Result<Self> {
        let config = tempfile::tempdir()?;
        Ok(Self {
            dir: tempfile::tempdir()?,
            spec: AuditSpec {
                key_file: Some(config.path().join("belay").join("audit.key")),
                ..AuditSpec::default()
            },
            config,
            db: Db::in_memory()?,
        })
    }

    /// The key the log was sealed with (created by the first `open`).
    pub fn key(&self) -> anyhow::Result<AuditKey> {
        Ok(AuditKey::load(&self.spec.key_path()?)?)
    }

    /// The head file the writer keeps for this log.
    pub fn head_file(&self) -> anyhow::Result<PathBuf> {
        let dir = self.config.path().join("belay").join("audit-heads");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        anyhow::ensure!(files.len() == 1, "head files: {files:?}");
        Ok(files.remove(0))
    }

    pub fn file(&self) -> PathBuf {
        self.spec.file_in(self.dir.path())
    }

    pub fn open(&self) -> Result<AuditLog, belay_audit::Error> {
        AuditLog::open(&self.spec, self.dir.path(), Some(self.db.clone()))
    }

    pub fn file_only_spec(&self) -> AuditSpec {
        AuditSpec {
            sinks: vec![Sink::File],
            ..self.spec.clone()
        }
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

/// Opens a log, records events `from..to`, and closes it.
pub async fn write(env: &Env, from: i64, to: i64) -> anyhow::Result<()> {
    let log = env.open()?;
    for n in from..to {
        log.record(event(n)).await?;
    }
    log.close().await?;
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

/// What a forger who knows the format but not the key does: applies `edit` to line `from`
/// and re-seals it and every later line with plain SHA-256 (the unkeyed format), fixing each
/// `prev` so the links hold.
pub fn forge_from(lines: &[String], from: usize, edit: impl Fn(&str) -> String) -> Vec<String> {
    let mut out: Vec<String> = lines[..from].to_vec();
    let mut prev: Option<String> = None;
    for (i, line) in lines.iter().enumerate().skip(from) {
        let line = if i == from { edit(line) } else { line.clone() };
        // The body ends where the seal members start.
        let cut = line
            .find(",\"key\":\"")
            .or_else(|| line.rfind(",\"hash\":\""))
            .unwrap_or(line.len() - 1);
        let mut body = format!("{}}}", &line[..cut]);
        if let Some(prev) = &prev {
            let at = body.rfind(",\"prev\":\"").unwrap_or(0) + ",\"prev\":\"".len();
            body.replace_range(at..at + 64, prev);
        }
        let hex: String = Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        body.pop();
        out.push(format!("{body},\"hash\":\"{hex}\"}}"));
        prev = Some(hex);
    }
    out
}
