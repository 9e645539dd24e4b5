//! `[audit]` in belay.toml.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, RedactSpec};

/// The audit log's configuration (`[audit]`).
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
    /// The key that seals the chain (HMAC-SHA256), an absolute path. Default:
    /// `$XDG_CONFIG_HOME/belay/audit.key`, else `~/.config/belay/audit.key`: outside the data
    /// folder, so whoever can write the log cannot re-seal it. Created on first use (0600 in
    /// a 0700 folder); refused if other users can read it. The file of each log's last
    /// record (its head) is kept beside it, in `audit-heads/`. Back both up with the log:
    /// without the key the log cannot be verified.
    pub key_file: Option<PathBuf>,
    /// Longest text a record keeps per field, in bytes: each string inside the arguments,
    /// the error message and each other text field. A longer one keeps its first bytes and
    /// ends with `…[cut: N bytes, sha256:HEX]` (size and hash of the whole redacted text),
    /// and its JSON pointer is listed in the record's `cut`.
    pub max_field_bytes: usize,
    /// Longest record, in bytes (about: the seal adds a little). Arguments that would make a
    /// record longer are kept as the start of their JSON text with the same marker, and
    /// `cut` lists `/arguments`.
    pub max_record_bytes: usize,
    /// Size at which the JSON-lines file is rotated: renamed to `STEM.SEQ.EXT` (`SEQ` its
    /// first record) and started anew. 0 never rotates. The chain runs on across files.
    pub rotate_bytes: u64,
    /// Rotated files kept; the oldest beyond this are deleted (the head file notes where
    /// the kept records start, so `verify` tells a rotation from a deletion).
    pub keep_files: usize,
    /// Extra redaction rules.
    pub redact: RedactSpec,
}

/// Default [`AuditSpec::max_field_bytes`]: 4 KiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 4 * 1024;
/// Default [`AuditSpec::max_record_bytes`]: 32 KiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 32 * 1024;
/// Default [`AuditSpec::rotate_bytes`]: 16 MiB.
pub const DEFAULT_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

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
            key_file: None,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            rotate_bytes: DEFAULT_ROTATE_BYTES,
            keep_files: 8,
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

    /// Where the key is: `key_file`, or the default under the user's config folder.
    pub fn key_path(&self) -> Result<PathBuf, Error> {
        match &self.key_file {
            Some(path) if path.is_absolute() => Ok(path.clone()),
            Some(path) => Err(Error::Config(format!(
                "key_file {} is relative: give an absolute path",
                path.display()
            ))),
            None => default_key_path().ok_or_else(|| {
                Error::Config(
                    "neither XDG_CONFIG_HOME nor HOME is set: set [audit] key_file (or \
                     BELAY_AUDIT__KEY_FILE) to where the audit key should live"
                        .into(),
                )
            }),
        }
    }

    /// The log's identity for its head file: the absolute file path, through symbolic links.
    pub(crate) fn log_id(&self, data_dir: &Path) -> PathBuf {
        let file = self.file_in(data_dir);
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
            return file;
        };
        match dir.canonicalize() {
            Ok(dir) => dir.join(name),
            Err(_) => std::path::absolute(&file).unwrap_or(file),
        }
    }
}

/// `$XDG_CONFIG_HOME/belay/audit.key` (when absolute), else `$HOME/.config/belay/audit.key`.
fn default_key_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let config = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|home| home.join(".config"))
    })?;
    Some(config.join("belay").join("audit.key"))
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
