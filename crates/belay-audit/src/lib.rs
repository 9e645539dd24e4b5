//! Belay's tamper-evident audit log: every gateway request and decision, with secrets and
//! personal data redacted ([`Redactor`]), long text cut to a marker with its size and
//! SHA-256, sealed into an HMAC-SHA256 chain ([`Record`]) under a key kept outside the data
//! folder ([`AuditKey`]), written as rotated JSON lines and to SQLite (through `belay_store`).
//!
//! [`AuditLog`] is the handle the gateway records [`AuditEvent`]s through: a bounded queue to
//! one batching writer task, blocking when full by default so no record is lost; after each
//! batch it notes the last record in a head file beside the key ([`Checkpoint`]).
//! [`verify_configured`] reports the first broken record or a cut end, [`tail_file`] and
//! [`tail_store`] stream records (optionally following), and [`query`] filters and pages.
//! Depends on no HTTP or MCP crate; the gateway maps requests to events.
//!
//! ```
//! let redactor = belay_audit::Redactor::new(&Default::default())?;
//! let args = serde_json::json!({"api_key": "k-1", "to": "bob@example.com"});
//! let clean = serde_json::json!({"api_key": "[redacted:secret]", "to": "[redacted:email]"});
//! assert_eq!(redactor.redact_value(&args), clean);
//! # Ok::<(), belay_audit::Error>(())
//! ```
#![deny(missing_docs)]

mod chain;
mod checkpoint;
mod error;
mod event;
mod file;
mod key;
mod limits;
mod log;
mod redact;
mod report;
mod spec;
mod store;
mod tail;
mod verify;
mod walk;
mod writer_lock;

pub use chain::{GENESIS, Head, Record};
pub use checkpoint::{Checkpoint, checkpoint};
pub use error::Error;
pub use event::{AuditEvent, Decision, GuardVerdict, Outcome, format_time};
pub use file::log_files;
pub use key::AuditKey;
pub use log::{AuditLog, audit_file};
pub use redact::{PatternSpec, RedactSpec, Redactor, SECRET_COMPOUNDS, SECRET_WORDS};
pub use report::{Problem, ProblemKind, Report};
pub use spec::{
    AuditSpec, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_RECORD_BYTES, DEFAULT_ROTATE_BYTES, Fsync,
    Sink, WhenFull,
};
pub use store::{MAX_PAGE, Page, Query, migrate, query};
pub use tail::{TailOptions, tail_file, tail_store};
pub use verify::{verify_both, verify_configured, verify_file, verify_store};
