//! `[gateway.audit]` in belay.toml.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::RedactSpec;

/// The audit log's configuration (`[gateway.audit]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSpec {
    /// Whether requests are audited at all.
    pub enabled: bool,
    /// Where records are written: `file` (JSON lines), `store` (SQLite table `audit_records`),
    /// or both. `tail`/`verify` work on either; `query` needs `store`.
    pub sinks: Vec<Sink>,
    /// JSON-lines file; a relative path is taken from the data folder.
    pub file: PathBuf,
    /// When the file is flushed to disk: `batch` (after every batch written) or `never`
    /// (left to the OS: faster, but a power cut loses the last records).
    pub fsync: Fsync,
    /// Events that may wait for the writer; requests past that wait or drop (`when_full`).
    pub channel_capacity: usize,
    /// Most events written in one batch (one file write, one SQLite transaction).
    pub batch_size: usize,
    /// What a full queue does: `block` (requests wait: nothing is lost; the default) or
    /// `drop` (requests go on, the event is counted and the next record says how many).
    pub when_full: WhenFull,
    /// Extra redaction rules.
    pub redact: RedactSpec,
}

impl Default for AuditSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            sinks: vec![Sink::File, Sink::Store],
            file: PathBuf::from("audit.jsonl"),
            fsync: Fsync::Batch,
            channel_capacity: 4096,
            batch_size: 256,
            when_full: WhenFull::Block,
            redact: RedactSpec::default(),
        }
    }
}

impl AuditSpec {
    /// The file path, with a relative one resolved against `data_dir`.
    pub fn file_in(&self, data_dir: &Path) -> PathBuf {
        if self.file.is_absolute() {
            self.file.clone()
        } else {
            data_dir.join(&self.file)
        }
    }

    /// Whether `sink` is enabled.
    pub fn has(&self, sink: Sink) -> bool {
        self.sinks.contains(&sink)
    }
}

/// A place records are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sink {
    /// The JSON-lines file.
    File,
    /// The SQLite store.
    Store,
}

/// When the audit file is synced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// After every batch.
    Batch,
    /// Never explicitly.
    Never,
}

/// What happens when the queue to the writer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// The caller waits for room: no event is ever lost (back-pressure on requests).
    Block,
    /// The event is dropped and counted; the next record carries the count in `dropped`.
    Drop,
}
