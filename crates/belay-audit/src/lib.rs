//! Belay's tamper-evident audit log: every gateway request and decision, with secrets and
//! personal data redacted ([`Redactor`]), sealed into a SHA-256 hash chain ([`Record`]) and
//! written as JSON lines and to SQLite (through `belay_store`).
//!
//! [`AuditLog`] is the handle the gateway records [`AuditEvent`]s through: a bounded queue to
//! one batching writer task, blocking when full by default so no record is lost.
//! [`verify_file`]/[`verify_store`]/[`verify_both`] report the first broken record, [`tail_file`]
//! and [`tail_store`] stream records (optionally following), and [`query`] filters and pages.
//! The hash covers each line's exact bytes, so no re-serialisation can disagree with it.
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
mod error;
mod event;
mod file;
mod log;
mod redact;
mod spec;
mod store;
mod tail;
mod verify;

pub use chain::{GENESIS, Head, Record};
pub use error::Error;
pub use event::{AuditEvent, Decision, Outcome, format_time};
pub use log::{AuditLog, audit_file};
pub use redact::{PatternSpec, RedactSpec, Redactor, SECRET_COMPOUNDS, SECRET_WORDS};
pub use spec::{AuditSpec, Fsync, Sink, WhenFull};
pub use store::{MAX_PAGE, Page, Query, migrate, query};
pub use tail::{TailOptions, tail_file, tail_store};
pub use verify::{
    Problem, ProblemKind, Report, verify_both, verify_configured, verify_file, verify_store,
};
