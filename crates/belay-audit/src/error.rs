//! What can go wrong, each variant saying what to fix.

use std::path::PathBuf;

/// Errors of the audit log. Tampering is not an error: [`crate::verify_file`] and friends
/// return it as a [`crate::Problem`] in their report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQLite store failed.
    #[error(transparent)]
    Store(#[from] belay_store::Error),
    /// The audit file could not be opened, read or written.
    #[error("audit file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The audit key file does not exist (reading a log never creates one).
    #[error(
        "no audit key at {}: the key that sealed the log is needed to check it; if it is \
         elsewhere, point [audit] key_file (or BELAY_AUDIT__KEY_FILE) at it",
        path.display()
    )]
    KeyMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The audit key could be read or replaced by other users: refused, not repaired, so
    /// the owner learns it may have leaked.
    #[error("audit key {} {why}", path.display())]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// What is open, and the command that closes it.
        why: String,
    },
    /// The key file holds no usable key.
    #[error("audit key {} is unusable: {why}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Another process is writing this log: two writers would fork the chain.
    #[error(
        "the audit log {} is being written by another Belay ({holder}): one process writes a \
         log; stop it, or give this one its own data folder (--data-dir) or [audit] file",
        path.display()
    )]
    InUse {
        /// The log.
        path: PathBuf,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// The `[audit]` configuration is unusable.
    #[error("invalid audit configuration: {0}")]
    Config(String),
    /// On start the existing log could not be resumed; nothing was written.
    #[error("cannot resume the audit chain: {0}")]
    Resume(String),
    /// The writer stopped after a failed write; the message says which.
    #[error("the audit writer stopped: {0}")]
    WriterFailed(String),
    /// The event was not recorded because the queue was full and the policy is `drop`.
    #[error("audit queue full: event dropped (when_full = \"drop\")")]
    Dropped,
    /// A record read back is damaged or unreadable (run `verify` for the full picture).
    #[error("bad audit record: {0}")]
    BadRecord(String),
    /// A record could not be encoded.
    #[error("cannot encode an audit record: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
