//! The head file: each log's last record, kept beside the key, outside the data folder.
//!
//! A chain shows what was edited, removed or reordered inside it, but not records cut from
//! its end (together with the store's copy, for anyone who can write the data folder). So
//! after every batch the writer notes the last sequence number and seal in
//! `<key folder>/audit-heads/<log>.json`, written whole and renamed into place, and `verify`
//! compares the log's end with it. It also notes where the file's records start once
//! rotation has deleted old files, so a deleted beginning is told apart from a rotation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    AuditKey, AuditSpec, Error, Head,
    chain::sha256_hex,
    key::{private_dir, write_private},
};

/// What the head file of a log says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log it belongs to (the absolute path of its JSON-lines file).
    pub log: PathBuf,
    /// Id of the key that sealed `head`.
    pub key: String,
    /// The last record written.
    pub head: Head,
    /// The point the oldest record kept in the files continues from: genesis until rotation
    /// deletes a file.
    pub from: Head,
}

/// Where a log's head file lives.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointFile {
    path: PathBuf,
    pub(crate) log: PathBuf,
}

impl CheckpointFile {
    /// The head file of the log `spec` writes under `data_dir`, beside `key`.
    pub(crate) fn new(spec: &AuditSpec, data_dir: &Path, key: &Path) -> Self {
        let log = spec.log_id(data_dir);
        let name = sha256_hex(log.as_os_str().as_encoded_bytes());
        let dir = key
            .parent()
            .map_or_else(|| PathBuf::from("audit-heads"), |d| d.join("audit-heads"));
        Self {
            path: dir.join(format!("{}.json", &name[..16])),
            log,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded checkpoint, `None` if this log has none yet.
    pub(crate) fn read(&self) -> Result<Option<Checkpoint>, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::BadRecord(format!(
                "the audit head file {} is damaged ({e})",
                self.path.display()
            ))
        })
    }

    /// Replaces the checkpoint: written to a temporary file (synced when `sync`), then
    /// renamed over the old one, so a reader sees the old or the new one whole.
    pub(crate) fn write(
        &self,
        key: &AuditKey,
        head: &Head,
        from: &Head,
        sync: bool,
    ) -> Result<(), Error> {
        let checkpoint = Checkpoint {
            log: self.log.clone(),
            key: key.id().to_owned(),
            head: head.clone(),
            from: from.clone(),
        };
        if let Some(dir) = self.path.parent() {
            private_dir(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, serde_json::to_string(&checkpoint)?.as_bytes(), sync)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl CheckpointFile {
    /// Moves the head file aside as `<name>.gone-<unix time>.json`, for a log that is gone
    /// entirely (its folder reset): a new chain starts, and the old head stays as evidence
    /// that [`Self::gone`] lists for `verify`. Returns where it went.
    pub(crate) fn retire(&self, now: u64) -> Result<PathBuf, Error> {
        let retired = self.path.with_extension(format!("gone-{now}.json"));
        std::fs::rename(&self.path, &retired).map_err(|e| Error::io(&self.path, e))?;
        Ok(retired)
    }

    /// The retired head files of this log, oldest first, with what each says.
    pub(crate) fn gone(&self) -> Vec<(PathBuf, Checkpoint)> {
        let (Some(dir), Some(stem)) = (
            self.path.parent(),
            self.path.file_stem().and_then(|s| s.to_str()),
        ) else {
            return Vec::new();
        };
        let prefix = format!("{stem}.gone-");
        let mut found: Vec<(PathBuf, Checkpoint)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".json"))
            })
            .filter_map(|path| {
                let text = std::fs::read_to_string(&path).ok()?;
                Some((path, serde_json::from_str(&text).ok()?))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }
}

/// The head file `spec` keeps for the log under `data_dir`, if any (for callers that want to
/// know whether a log ever existed there, without needing its key).
pub fn checkpoint(spec: &AuditSpec, data_dir: &Path) -> Result<Option<Checkpoint>, Error> {
    CheckpointFile::new(spec, data_dir, &spec.key_path()?).read()
}
