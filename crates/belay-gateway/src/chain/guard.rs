//! The chain's guard step: what a guard reports ([`Verdict`]), how it stops a request
//! ([`Stop`]), the [`Guard`] trait, and each upstream's own guard ([`UpstreamGuards`]).

use std::{collections::HashMap, sync::Arc};

use rmcp::model::ErrorCode;
use serde_json::Value;

use super::{BLOCKED, CallContext};

/// What a guard did about something it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuardAction {
    /// Recorded only; the request or result went on unchanged.
    Flagged,
    /// Passed on, spotlighted as untrusted data.
    Annotated,
    /// Passed on with the finding removed.
    Redacted,
    /// Stopped: the request never reached the upstream, or the result never reached the
    /// caller.
    Blocked,
    /// Kept out of the lists the caller sees (and its calls refused).
    Hidden,
}

impl GuardAction {
    /// The name in audit records and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flagged => "flagged",
            Self::Annotated => "annotated",
            Self::Redacted => "redacted",
            Self::Blocked => "blocked",
            Self::Hidden => "hidden",
        }
    }
}

/// One thing a guard found and what it did about it, for the audit record and metrics.
/// Never the matched text itself: it may be the secret the guard redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Which guard: `metadata`, `pinning`, `arguments`, `injection`, `secrets`, `links`.
    pub guard: &'static str,
    /// The rule that matched (`poisoning.read_secret`, `pii.card`, `pinning.changed`, …).
    pub rule: String,
    /// What kind of finding it is (`prompt_injection`, `secret`, …).
    pub kind: &'static str,
    /// `info`, `low`, `medium`, `high` or `critical`.
    pub severity: &'static str,
    /// What the guard did.
    pub action: GuardAction,
    /// Where: an argument's JSON pointer, a result's content index, a tool's field.
    pub field: Option<String>,
}

/// Why a guard stopped a request or withheld a result: the caller gets JSON-RPC error
/// `code` (-32003 [`BLOCKED`] unless the guard says otherwise) with `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// The JSON-RPC error code.
    pub code: ErrorCode,
    /// What the caller is told.
    pub message: String,
}

impl Stop {
    /// A request for something the upstream does not offer (-32602, as an upstream
    /// answers an unknown tool).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::INVALID_PARAMS,
            message: message.into(),
        }
    }
}

/// A reason becomes a [`BLOCKED`] stop.
impl From<String> for Stop {
    fn from(reason: String) -> Self {
        Self {
            code: ErrorCode(BLOCKED),
            message: reason,
        }
    }
}

/// Inspection of what goes in and out (poisoning, arguments, injection, secrets, links).
/// Each finding is pushed to `verdicts` (audited and counted whatever happens next);
/// `Err` stops the request or withholds the result.
pub trait Guard: Send + Sync {
    /// Looks at (and may rewrite) the request.
    fn inspect_request(
        &self,
        _ctx: &mut CallContext,
        _verdicts: &mut Vec<Verdict>,
    ) -> Result<(), Stop> {
        Ok(())
    }

    /// Whether [`Guard::inspect_result`] wants to read `ctx`'s result: the chain turns a
    /// result into JSON only for a guard that reads it.
    fn reads_result(&self, _ctx: &CallContext) -> bool {
        true
    }

    /// Looks at (and may rewrite) the result as JSON.
    fn inspect_result(
        &self,
        _ctx: &CallContext,
        _result: &mut Value,
        _verdicts: &mut Vec<Verdict>,
    ) -> Result<(), Stop> {
        Ok(())
    }
}

/// Each upstream's own guards, by upstream name. The gateway keeps it current as a reload
/// adds, replaces or removes upstreams; a guard only ever sees its own upstream's requests.
#[derive(Clone, Default)]
pub struct UpstreamGuards(Arc<std::sync::RwLock<HashMap<String, Arc<dyn Guard>>>>);

impl UpstreamGuards {
    /// Puts `guard` in front of `upstream` (replacing its previous one).
    pub fn set(&self, upstream: &str, guard: Arc<dyn Guard>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.insert(upstream.to_owned(), guard);
    }

    /// Takes `upstream`'s guard away.
    pub fn remove(&self, upstream: &str) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.remove(upstream);
    }

    /// `upstream`'s guard, if it has one.
    pub fn get(&self, upstream: &str) -> Option<Arc<dyn Guard>> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(upstream).cloned()
    }
}
