//! Fixtures for tests that count audit records: the console's own (stats, records) and
//! `belay report`'s, which reads the same log (feature `testkit`).

use belay_audit::{AuditEvent, Record};

/// A record of `event` at position `seq`, as the log would seal it, without the seal: the
/// counting reads events, and whoever checks seals builds real ones with `belay_audit`.
pub fn record(seq: u64, event: AuditEvent) -> Record {
    Record {
        seq,
        event,
        dropped: 0,
        cut: Vec::new(),
        prev: String::new(),
        key: None,
        hash: String::new(),
    }
}
