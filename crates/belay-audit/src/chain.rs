//! The chain: how a record is sealed into one JSON line and how a line is checked.
//!
//! A line is `{"seq":N,<event fields>,["dropped":D,]["cut":[…],]"prev":"<hex>","key":"<id>",
//! "mac":"<hex>"}`. The MAC is HMAC-SHA256, under the [`AuditKey`], over the exact bytes of
//! the line with its `,"mac":"…"` member removed, so no re-serialisation (key order, float
//! formatting) can make a clean record look edited, and no one without the key can re-seal
//! an edited one. `prev` is the previous record's seal ([`GENESIS`] for the first), and `seq`
//! counts from 1, so removing, reordering or editing any record breaks a seal, a link or the
//! count.
//!
//! Lines written before keys existed ("legacy") end `"prev":"<hex>","hash":"<hex>"}` with a
//! plain SHA-256 of the rest. They are accepted only at the start of a log: the first keyed
//! record's `prev` is the last legacy hash, so its MAC seals them too.

use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{AuditEvent, AuditKey};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const MAC_KEY: &str = ",\"mac\":\"";
const HASH_KEY: &str = ",\"hash\":\"";

/// One sealed audit record: the (redacted, capped) event, its place in the chain and its seal.
///
/// Serialised as its line is: `key` and `mac` for a keyed record, `hash` for a legacy one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Fields")]
pub struct Record {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// What happened.
    pub event: AuditEvent,
    /// Events dropped (queue full, `when_full = "drop"`) between the previous record and this.
    pub dropped: u64,
    /// JSON pointers (into this record) of the text cut to `max_field_bytes` or
    /// `max_record_bytes`. A `…[cut: …]` marker is the log's own only if its field is listed
    /// here: a caller may send text that looks like one.
    pub cut: Vec<String>,
    /// Seal of the previous record.
    pub prev: String,
    /// Id of the key that sealed it ([`AuditKey::id`]); `None` for a legacy record.
    pub key: Option<String>,
    /// This record's seal, lowercase hex: HMAC-SHA256 under the key (SHA-256 for a legacy
    /// record) of its line without the seal member. The next record's `prev`.
    pub hash: String,
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keyed = self.key.is_some();
        Wire {
            seq: self.seq,
            event: &self.event,
            dropped: self.dropped,
            cut: &self.cut,
            prev: &self.prev,
            key: self.key.as_deref(),
            mac: keyed.then_some(self.hash.as_str()),
            hash: (!keyed).then_some(self.hash.as_str()),
        }
        .serialize(s)
    }
}

/// A record's members in the order its line has them.
#[derive(Serialize)]
struct Wire<'a> {
    seq: u64,
    #[serde(flatten)]
    event: &'a AuditEvent,
    #[serde(skip_serializing_if = "is_zero")]
    dropped: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    cut: &'a [String],
    prev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<&'a str>,
}

/// A line's members, as parsed.
#[derive(Deserialize)]
struct Fields {
    seq: u64,
    #[serde(flatten)]
    event: AuditEvent,
    #[serde(default)]
    dropped: u64,
    #[serde(default)]
    cut: Vec<String>,
    prev: String,
    key: Option<String>,
    mac: Option<String>,
    hash: Option<String>,
}

impl TryFrom<Fields> for Record {
    type Error = String;

    fn try_from(f: Fields) -> Result<Self, String> {
        let (key, hash) = match (f.key, f.mac, f.hash) {
            (Some(key), Some(mac), None) => (Some(key), mac),
            (None, None, Some(hash)) => (None, hash),
            _ => return Err("a record carries either \"key\" and \"mac\", or \"hash\"".into()),
        };
        Ok(Self {
            seq: f.seq,
            event: f.event,
            dropped: f.dropped,
            cut: f.cut,
            prev: f.prev,
            key,
            hash,
        })
    }
}

/// The end of a chain: the last record's number and seal. A new record continues from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Last sequence number (0 for an empty log).
    pub seq: u64,
    /// Last seal ([`GENESIS`] for an empty log).
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

    /// The point `record` continues from (genesis for record 1, whatever its `prev` says).
    pub(crate) fn before(record: &Record) -> Self {
        if record.seq <= 1 {
            return Self::genesis();
        }
        Self {
            seq: record.seq - 1,
            hash: record.prev.clone(),
        }
    }

    /// The point after `record`.
    pub(crate) fn of(record: &Record) -> Self {
        Self {
            seq: record.seq,
            hash: record.hash.clone(),
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
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    cut: &'a [String],
    prev: &'a str,
    key: &'a str,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A record together with the exact line it was written as.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    pub(crate) record: Record,
    pub(crate) line: String,
}

/// Seals `event` as the record after `head`, under `key`.
pub(crate) fn seal(
    head: &Head,
    mut event: AuditEvent,
    dropped: u64,
    cut: Vec<String>,
    key: &AuditKey,
) -> Result<Sealed, serde_json::Error> {
    // Lines carry microseconds: keep the in-memory record equal to what is written.
    event.time = chrono::SubsecRound::trunc_subsecs(event.time, 6);
    let seq = head.seq + 1;
    let body = serde_json::to_string(&Body {
        seq,
        event: &event,
        dropped,
        cut: &cut,
        prev: &head.hash,
        key: key.id(),
    })?;
    let mac = key.mac(body.as_bytes());
    // The body is a JSON object, so it ends with `}`; the MAC goes in as its last member.
    let mut line = body;
    line.pop();
    line.push_str(MAC_KEY);
    line.push_str(&mac);
    line.push_str("\"}");
    Ok(Sealed {
        record: Record {
            seq,
            event,
            dropped,
            cut,
            prev: head.hash.clone(),
            key: Some(key.id().to_owned()),
            hash: mac,
        },
        line,
    })
}

/// Why a line is not a sound record on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Not a record at all (not JSON, no seal member, missing fields).
    Malformed(String),
    /// Parsed, but the seal does not match its content.
    BadSeal { seq: u64 },
    /// Sealed with another key than the one given.
    OtherKey { seq: u64, key: String },
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => f.write_str(why),
            Self::BadSeal { seq } => write!(f, "record {seq} does not match its seal"),
            Self::OtherKey { seq, key } => {
                write!(f, "record {seq} was sealed with another key ({key})")
            }
        }
    }
}

/// Parses a line and checks its own seal (not its links to neighbours). A legacy line's
/// hash is always checked; a keyed line's MAC only when `key` is given (without it, only
/// its form).
pub(crate) fn open(line: &str, key: Option<&AuditKey>) -> Result<Record, LineError> {
    let record: Record = serde_json::from_str(line)
        .map_err(|e| LineError::Malformed(format!("not an audit record: {e}")))?;
    let (member, keyed) = match record.key {
        Some(_) => (MAC_KEY, true),
        None => (HASH_KEY, false),
    };
    let (body, seal) = split_seal(line, member).ok_or_else(|| {
        LineError::Malformed(format!(
            "the line does not end with its {:?} member",
            member.trim_matches([',', ':', '"'])
        ))
    })?;
    if seal != record.hash {
        return Err(LineError::BadSeal { seq: record.seq });
    }
    let sound = match (keyed, key) {
        (false, _) => sha256_hex(body.as_bytes()) == record.hash,
        (true, None) => true,
        (true, Some(key)) => {
            if record.key.as_deref() != Some(key.id()) {
                return Err(LineError::OtherKey {
                    seq: record.seq,
                    key: record.key.unwrap_or_default(),
                });
            }
            key.checks(body.as_bytes(), &record.hash)
        }
    };
    if !sound {
        return Err(LineError::BadSeal { seq: record.seq });
    }
    Ok(record)
}

/// The bytes the seal covers (the line without its trailing seal member) and the seal.
fn split_seal<'a>(line: &'a str, member: &str) -> Option<(String, &'a str)> {
    let cut = line.len().checked_sub(member.len() + 64 + 2)?;
    let (head, tail) = (line.get(..cut)?, line.get(cut..)?);
    let hex = tail.strip_prefix(member)?.strip_suffix("\"}")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((format!("{head}}}"), hex))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_opens_and_any_edit_shows() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let key = AuditKey::load_or_create(&dir.path().join("k/audit.key"))?;
        let sealed = seal(
            &Head::genesis(),
            AuditEvent::new("tools/call"),
            0,
            vec![],
            &key,
        )?;
        assert_eq!(open(&sealed.line, Some(&key)), Ok(sealed.record.clone()));
        assert_eq!(sealed.record.prev, GENESIS);
        let edited = sealed.line.replace("tools/call", "tools/list");
        assert_eq!(
            open(&edited, Some(&key)),
            Err(LineError::BadSeal { seq: 1 })
        );
        let other = AuditKey::load_or_create(&dir.path().join("k/other.key"))?;
        assert!(matches!(
            open(&sealed.line, Some(&other)),
            Err(LineError::OtherKey { seq: 1, .. })
        ));
        assert!(matches!(open("{}", None), Err(LineError::Malformed(_))));
        assert!(matches!(open("", None), Err(LineError::Malformed(_))));
        // Written as its line is.
        assert_eq!(serde_json::to_string(&sealed.record)?, sealed.line);
        Ok(())
    }
}
