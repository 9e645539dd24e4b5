//! Access tokens revoked before they expire, as a resource server in the same process as
//! its authorization server learns of them: a lookup by `jti` on every request, with no
//! round trip (introspection over HTTP is the way across processes).
//!
//! A trait, so the in-process list of `belay up` can later be one shared by replicas
//! (Redis) without touching the checks that consult it.

use std::sync::Arc;

/// Tells whether a token id was revoked.
pub trait Revocations: Send + Sync + 'static {
    /// Whether the token with this `jti` was revoked (and has not expired yet).
    fn is_revoked(&self, jti: &str) -> bool;
}

/// Any `Fn(jti) -> bool` is a revocation source.
impl<F> Revocations for F
where
    F: Fn(&str) -> bool + Send + Sync + 'static,
{
    fn is_revoked(&self, jti: &str) -> bool {
        self(jti)
    }
}

/// A shared [`Revocations`], as [`crate::ResourceSpec::revocations`] holds it: compared by
/// identity, never printed.
#[derive(Clone)]
pub struct RevocationList(pub Arc<dyn Revocations>);

impl RevocationList {
    /// Wraps a revocation source.
    pub fn new(revocations: Arc<dyn Revocations>) -> Self {
        Self(revocations)
    }

    /// Whether `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.0.is_revoked(jti)
    }
}

impl std::fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationList")
    }
}

impl PartialEq for RevocationList {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
