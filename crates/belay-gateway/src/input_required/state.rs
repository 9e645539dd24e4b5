//! The gateway's `requestState`: sealed, bound to one caller and call, good for a while.
//!
//! It names either a parked call (id and round) or wraps the upstream's own state. The
//! seal is rmcp's `RequestStateCodec` (HMAC-SHA256) with a random per-endpoint key; the
//! binding (who, which upstream, method, target and arguments) is its associated data, so a
//! state opens only for the same caller's same call, and its TTL is the upstream's call
//! timeout. Every way opening can fail gives the client one message (rmcp's advice: the
//! detailed reason would only help someone probing the key).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use rmcp::{
    ErrorData,
    model::{RequestStateCodec, SealOptions},
};
use serde::{Deserialize, Serialize};

use crate::chain::CallContext;

/// What a retry continues.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Resume {
    /// Nothing: a first call (or one whose client sent no state).
    Fresh,
    /// The call parked as `call`, at `round`.
    Parked { call: String, round: u32 },
    /// The upstream's own round; `first` unless this state was used before.
    Upstream { state: Option<String>, first: bool },
}

impl Resume {
    /// Whether this retry continues a call the limiter admitted, for the first time.
    pub(super) fn continues(&self) -> bool {
        matches!(
            self,
            Self::Parked { .. } | Self::Upstream { first: true, .. }
        )
    }
}

/// What a sealed state holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Sealed {
    Parked {
        call: String,
        round: u32,
    },
    Upstream {
        /// Tells this state from every other, to see it used twice.
        nonce: String,
        state: Option<String>,
        ttl_ms: u64,
    },
}

/// Who and what a state is for: the associated data of its seal.
pub(super) struct Binding(Vec<u8>);

/// The binding of the call `ctx` describes, as the client sent it (before policy or a
/// guard rewrote anything, so every round of one call binds the same).
pub(super) fn binding(ctx: &CallContext) -> Binding {
    let caller = ctx.caller.as_ref().map(|c| [&c.issuer, &c.sub]);
    let what = serde_json::json!([
        caller,
        ctx.session,
        ctx.upstream,
        ctx.method,
        ctx.target,
        ctx.arguments,
    ]);
    // A `Value` always serializes; an empty binding would still be one nobody else has.
    Binding(serde_json::to_vec(&what).unwrap_or_default())
}

/// A random id nobody can guess (128 bits), as hex.
pub(super) fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The error for a state that does not open.
fn refused() -> ErrorData {
    ErrorData::invalid_params(
        "requestState is invalid, has expired, or was issued for another caller or call; \
         repeat the call without requestState and inputResponses",
        None,
    )
}

/// The error for a state that opens but whose call is gone or has moved on.
pub(super) fn stale() -> ErrorData {
    ErrorData::invalid_params(
        "the call this requestState continues was already answered, has expired or was \
         cancelled; repeat the call without requestState and inputResponses",
        None,
    )
}

/// Seals and opens one endpoint's states, and remembers which upstream states were used.
pub(super) struct Seals {
    codec: RequestStateCodec,
    /// Nonces of upstream states already used, until they expire.
    spent: Mutex<HashMap<String, Instant>>,
}

impl Seals {
    pub(super) fn new() -> Self {
        let key: [u8; 32] = rand::random();
        Self {
            // 32 bytes is RequestStateCodec::MIN_KEY_LENGTH, so the unchecked constructor
            // checks nothing that could fail.
            codec: RequestStateCodec::new_unchecked(key.to_vec()),
            spent: Mutex::default(),
        }
    }

    /// The state of a call parked as `call` at `round`.
    pub(super) fn parked(
        &self,
        call: &str,
        round: u32,
        binding: &Binding,
        ttl: Duration,
    ) -> Result<String, ErrorData> {
        self.seal(
            &Sealed::Parked {
                call: call.to_owned(),
                round,
            },
            binding,
            ttl,
        )
    }

    /// The state wrapping the upstream's own (`None` when it sent none).
    pub(super) fn upstream(
        &self,
        state: Option<String>,
        binding: &Binding,
        ttl: Duration,
    ) -> Result<String, ErrorData> {
        let sealed = Sealed::Upstream {
            nonce: random_id(),
            state,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        };
        self.seal(&sealed, binding, ttl)
    }

    fn seal(&self, sealed: &Sealed, binding: &Binding, ttl: Duration) -> Result<String, ErrorData> {
        let options = SealOptions::new().associated_data(&binding.0).ttl(ttl);
        self.codec
            .seal_json_with(sealed, &options)
            .map_err(|e| ErrorData::internal_error(format!("cannot seal requestState: {e}"), None))
    }

    /// What `sealed` continues, if it opens for `binding`.
    pub(super) fn open(&self, sealed: &str, binding: &Binding) -> Result<Resume, ErrorData> {
        let opened: Sealed = self.codec.open_json_with(sealed, &binding.0).map_err(|e| {
            tracing::debug!(error = %e, "requestState refused");
            refused()
        })?;
        Ok(match opened {
            Sealed::Parked { call, round } => Resume::Parked { call, round },
            Sealed::Upstream {
                nonce,
                state,
                ttl_ms,
            } => Resume::Upstream {
                first: self.spend(nonce, Duration::from_millis(ttl_ms)),
                state,
            },
        })
    }

    /// Records `nonce` as used; true the first time.
    fn spend(&self, nonce: String, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        spent.retain(|_, until| *until > now);
        match spent.entry(nonce) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now + ttl);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(sub: Option<&str>, arguments: serde_json::Value) -> CallContext {
        let claims =
            serde_json::json!({"sub": sub, "iss": "https://issuer", "exp": 4_000_000_000u64});
        CallContext {
            caller: sub.and_then(|_| {
                let claims = claims.as_object().cloned().unwrap_or_default();
                belay_auth::Caller::from_claims(claims, belay_auth::AccessToken::new("t"))
                    .ok()
                    .map(std::sync::Arc::new)
            }),
            session: None,
            upstream: "stock".into(),
            method: "tools/call",
            target: Some("get_ticker_info".into()),
            arguments: arguments.as_object().cloned(),
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn a_state_opens_only_for_its_caller_and_call() -> Result<(), ErrorData> {
        let seals = Seals::new();
        let alice = binding(&ctx(Some("alice"), serde_json::json!({"symbol": "AAPL"})));
        let sealed = seals.parked("c1", 1, &alice, TTL)?;
        assert_eq!(
            seals.open(&sealed, &alice)?,
            Resume::Parked {
                call: "c1".into(),
                round: 1
            }
        );
        let bob = binding(&ctx(Some("bob"), serde_json::json!({"symbol": "AAPL"})));
        let other_call = binding(&ctx(Some("alice"), serde_json::json!({"symbol": "MSFT"})));
        let anonymous = binding(&ctx(None, serde_json::json!({"symbol": "AAPL"})));
        for wrong in [bob, other_call, anonymous] {
            assert!(seals.open(&sealed, &wrong).is_err());
        }
        assert!(seals.open(&format!("{sealed}-TAMPERED"), &alice).is_err());
        // Another endpoint (another key) cannot open it either.
        assert!(Seals::new().open(&sealed, &alice).is_err());
        Ok(())
    }

    #[test]
    fn an_upstream_state_is_a_free_continuation_once() -> Result<(), ErrorData> {
        let seals = Seals::new();
        let who = binding(&ctx(None, serde_json::json!({})));
        let sealed = seals.upstream(Some("theirs".into()), &who, TTL)?;
        let first = seals.open(&sealed, &who)?;
        assert!(first.continues());
        assert_eq!(
            first,
            Resume::Upstream {
                state: Some("theirs".into()),
                first: true
            }
        );
        let again = seals.open(&sealed, &who)?;
        assert!(!again.continues(), "a replayed state pays again: {again:?}");
        Ok(())
    }

    #[test]
    fn an_expired_state_is_refused() -> Result<(), ErrorData> {
        let seals = Seals::new();
        let who = binding(&ctx(None, serde_json::json!({})));
        let sealed = seals.parked("c1", 1, &who, Duration::from_millis(1))?;
        std::thread::sleep(Duration::from_millis(20));
        assert!(seals.open(&sealed, &who).is_err());
        Ok(())
    }
}
