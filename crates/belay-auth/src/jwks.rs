//! The issuer's signing keys, cached, with each key pinned to the one algorithm it allows.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm},
};
use tokio::{sync::Mutex, time::Instant};

use sha2::Digest;

use crate::{Error, discovery};

/// A verification key and the only algorithm a token signed with it may use.
#[derive(Clone)]
pub struct VerifyKey {
    /// The key.
    pub key: DecodingKey,
    /// ES256 for EC P-256 keys, RS256 for RSA keys: never chosen by the token.
    pub alg: Algorithm,
    /// SHA-256 of the JWK as published: tells a key from another under the same `kid`.
    pub fingerprint: [u8; 32],
}

/// The usable keys of one JWK Set, by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    by_kid: HashMap<String, VerifyKey>,
    without_kid: Vec<VerifyKey>,
}

impl KeySet {
    /// Keeps the signature keys we can pin (EC P-256, RSA); others are skipped, not fatal,
    /// so one exotic key does not take every token down.
    pub fn from_jwks(set: &JwkSet) -> Self {
        let mut keys = Self::default();
        for jwk in &set.keys {
            match pin(jwk) {
                Ok(key) => match &jwk.common.key_id {
                    Some(kid) => {
                        keys.by_kid.insert(kid.clone(), key);
                    }
                    None => keys.without_kid.push(key),
                },
                Err(why) => tracing::debug!(kid = ?jwk.common.key_id, %why, "JWK skipped"),
            }
        }
        keys
    }

    /// The key for `kid`; a token without `kid` may use the set's only kid-less key.
    pub fn get(&self, kid: Option<&str>) -> Option<&VerifyKey> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None if self.without_kid.len() == 1 && self.by_kid.is_empty() => {
                self.without_kid.first()
            }
            None => None,
        }
    }
}

/// The algorithm a JWK allows, from its key type (and `alg`, if it states one that fits).
fn pin(jwk: &Jwk) -> Result<VerifyKey, String> {
    let alg = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return Err("only EC P-256 and RSA keys are accepted".into()),
    };
    match jwk.common.key_algorithm {
        None => {}
        Some(KeyAlgorithm::ES256) if alg == Algorithm::ES256 => {}
        Some(KeyAlgorithm::RS256) if alg == Algorithm::RS256 => {}
        Some(other) => return Err(format!("alg {other:?} is not accepted for this key")),
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return Err("not a signature key (`use` is not `sig`)".into());
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let published = serde_json::to_vec(jwk).map_err(|e| e.to_string())?;
    let fingerprint = sha2::Sha256::digest(&published).into();
    Ok(VerifyKey {
        key,
        alg,
        fingerprint,
    })
}

struct State {
    jwks_uri: Option<String>,
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    last_unknown_kid_fetch: Option<Instant>,
}

/// The signing keys of one issuer: discovered through its metadata, cached for `ttl`,
/// fetched again early when a token names an unknown `kid`, at most once per
/// `refetch_interval`.
pub struct JwksCache {
    http: reqwest::Client,
    issuer: String,
    ttl: Duration,
    refetch_interval: Duration,
    state: Mutex<State>,
    fetches: AtomicU64,
}

impl JwksCache {
    /// A cache for `issuer`'s keys; nothing is fetched until the first token.
    pub fn new(
        http: reqwest::Client,
        issuer: &str,
        ttl: Duration,
        refetch_interval: Duration,
    ) -> Self {
        Self {
            http,
            issuer: issuer.to_owned(),
            ttl,
            refetch_interval,
            state: Mutex::new(State {
                jwks_uri: None,
                keys: None,
                fetched_at: None,
                last_unknown_kid_fetch: None,
            }),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the JWK Set was fetched (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The key a token with header `kid` must verify against.
    pub async fn key(&self, kid: Option<&str>) -> Result<VerifyKey, Error> {
        // One lock across the fetch: concurrent misses share one request.
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|at| at.elapsed() >= self.ttl);
        let mut fresh = false;
        if stale {
            match self.fetch(&mut state).await {
                Ok(()) => fresh = true,
                // Keep serving known keys through a short outage of the issuer.
                Err(e) if state.keys.is_some() => {
                    tracing::warn!(error = %e, "cannot refresh signing keys; using cached ones")
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(key) = state.keys.as_ref().and_then(|keys| keys.get(kid)) {
            return Ok(key.clone());
        }
        let may_refetch = !fresh
            && state
                .last_unknown_kid_fetch
                .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if may_refetch {
            // The issuer may have rotated its keys since we last looked.
            state.last_unknown_kid_fetch = Some(Instant::now());
            self.fetch(&mut state).await?;
            if let Some(key) = state.keys.as_ref().and_then(|keys| keys.get(kid)) {
                return Ok(key.clone());
            }
        }
        Err(Error::InvalidToken(match kid {
            Some(kid) => format!("no signing key `{kid}` at the issuer `{}`", self.issuer),
            None => "the token has no `kid` and the issuer has several keys".into(),
        }))
    }

    async fn fetch(&self, state: &mut State) -> Result<(), Error> {
        let uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let metadata = discovery::discover(&self.http, &self.issuer).await?;
                let uri = metadata.jwks_uri.ok_or_else(|| {
                    Error::BadServer(format!("the metadata of `{}` has no jwks_uri", self.issuer))
                })?;
                state.jwks_uri = Some(uri.clone());
                uri
            }
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .get(&uri)
            .send()
            .await
            .map_err(|e| Error::unavailable(&format!("GET {uri}"), e))?;
        if !response.status().is_success() {
            return Err(Error::Unavailable(format!(
                "GET {uri} answered {}",
                response.status()
            )));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| Error::BadServer(format!("{uri} is not a JWK Set: {e}")))?;
        state.keys = Some(Arc::new(KeySet::from_jwks(&set)));
        state.fetched_at = Some(Instant::now());
        Ok(())
    }
}
