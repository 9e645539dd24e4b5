//! The hash chain: how a record is sealed into one JSON line and how a line is checked.
//!
//! A line is `{"seq":N,<event fields>,["dropped":D,]"prev":"<hex>","hash":"<hex>"}`. The hash
//! is SHA-256 over the exact bytes of the line with its `,"hash":"…"` member removed, so no
//! re-serialisation (key order, float formatting) can make a clean record look edited.
//! `prev` is the previous record's hash ([`GENESIS`] for the first), and `seq` counts from 1,
//! so removing, reordering or editing any record breaks either a hash, a link or the count.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AuditEvent;

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_KEY: &str = ",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = HASH_KEY.len() + 64 + 2;

/// One sealed audit record: the (redacted) event, its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Events dropped (queue full, `when_full = "drop"`) between the previous record and this.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// Hash of the previous record.
    pub prev: String,
    /// SHA-256 of this record's line without this field, lowercase hex.
    pub hash: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The end of a chain: the last record's number and hash. A new record continues from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Last sequence number (0 for an empty log).
    pub seq: u64,
    /// Last hash ([`GENESIS`] for an empty log).
    pub hash: String,
}

impl Head {
    /// The head of an empty log.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a AuditEvent,
    #[serde(skip_serializing_if = "is_zero")]
    dropped: u64,
    prev: &'a str,
}

/// A record together with the exact line it was written as.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    pub(crate) record: Record,
    pub(crate) line: String,
}

/// Seals `event` as the record after `head`.
pub(crate) fn seal(
    head: &Head,
    mut event: AuditEvent,
    dropped: u64,
) -> Result<Sealed, serde_json::Error> {
    // Lines carry microseconds: keep the in-memory record equal to what is written.
    event.time = chrono::SubsecRound::trunc_subsecs(event.time, 6);
    let seq = head.seq + 1;
    let body = serde_json::to_string(&Body {
        seq,
        event: &event,
        dropped,
        prev: &head.hash,
    })?;
    let hash = sha256_hex(body.as_bytes());
    // The body is a JSON object, so it ends with `}`; the hash goes in as its last member.
    let mut line = body;
    line.pop();
    line.push_str(HASH_KEY);
    line.push_str(&hash);
    line.push_str("\"}");
    Ok(Sealed {
        record: Record {
            seq,
            event,
            dropped,
            prev: head.hash.clone(),
            hash,
        },
        line,
    })
}

/// Why a line is not a sound record on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Not a record at all (not JSON, no hash member, missing fields).
    Malformed(String),
    /// Parsed, but the hash does not match its content.
    BadHash { seq: u64 },
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => f.write_str(why),
            Self::BadHash { seq } => write!(f, "record {seq} does not match its hash"),
        }
    }
}

/// Parses a line and checks its own hash (not its links to neighbours).
pub(crate) fn open(line: &str) -> Result<Record, LineError> {
    let record: Record = serde_json::from_str(line)
        .map_err(|e| LineError::Malformed(format!("not an audit record: {e}")))?;
    let body = body_of(line).ok_or_else(|| {
        LineError::Malformed("the line does not end with its \"hash\" member".into())
    })?;
    if sha256_hex(body.as_bytes()) != record.hash || line_hash(line) != Some(record.hash.as_str()) {
        return Err(LineError::BadHash { seq: record.seq });
    }
    Ok(record)
}

fn line_hash(line: &str) -> Option<&str> {
    let start = line.len().checked_sub(HASH_SUFFIX_LEN)? + HASH_KEY.len();
    line.get(start..start + 64)
}

/// The bytes the hash covers: the line without its trailing hash member.
fn body_of(line: &str) -> Option<String> {
    let cut = line.len().checked_sub(HASH_SUFFIX_LEN)?;
    let (head, tail) = (line.get(..cut)?, line.get(cut..)?);
    let hex = tail.strip_prefix(HASH_KEY)?.strip_suffix("\"}")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!("{head}}}"))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_opens_and_any_edit_shows() -> Result<(), serde_json::Error> {
        let sealed = seal(&Head::genesis(), AuditEvent::new("tools/call"), 0)?;
        assert_eq!(open(&sealed.line), Ok(sealed.record.clone()));
        assert_eq!(sealed.record.prev, GENESIS);
        let edited = sealed.line.replace("tools/call", "tools/list");
        assert_eq!(open(&edited), Err(LineError::BadHash { seq: 1 }));
        assert!(matches!(open("{}"), Err(LineError::Malformed(_))));
        assert!(matches!(open(""), Err(LineError::Malformed(_))));
        Ok(())
    }
}
