//! Signing keys: generation (ES256 on P-256, RS256 on 2048-bit RSA), storage as PKCS#8 PEM
//! in the store, rotation, retirement and the public JWKS.
//!
//! The store is the source of truth, read on every use, so `belay auth rotate-keys` run in
//! another process takes effect at once; parsed keys are cached by `kid`. A superseded key
//! stays published (and accepted) for one token lifetime plus skew, then is deleted.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_store::{Db, rusqlite::params};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::{pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Error, secret::s256};

/// A JWS algorithm the server signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Alg {
    /// ECDSA on P-256 with SHA-256 (the default: small keys, fast).
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys, for verifiers without EC support.
    #[serde(rename = "RS256")]
    Rs256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Alg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            _ => Err(format!("unknown algorithm `{s}`: use ES256 or RS256")),
        }
    }
}

/// A parsed key, ready to sign and verify.
pub(crate) struct LoadedKey {
    pub(crate) kid: String,
    pub(crate) alg: Alg,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// The public JWK with `kid`, `alg` and `use`.
    pub(crate) jwk: Value,
}

/// Generates a key: its `kid` (RFC 7638 thumbprint) and PKCS#8 PEM.
fn generate(alg: Alg) -> Result<(String, String), Error> {
    let pem = match alg {
        Alg::Es256 => p256::SecretKey::random(&mut rand::rngs::OsRng)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Key(e.to_string()))?
            .to_string(),
        Alg::Rs256 => rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| Error::Key(e.to_string()))?
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Key(e.to_string()))?
            .to_string(),
    };
    let key = load(alg, "", &pem)?;
    Ok((key.kid, pem))
}

/// Parses a stored key; an empty `kid` means "compute the thumbprint".
fn load(alg: Alg, kid: &str, pem: &str) -> Result<LoadedKey, Error> {
    let bad = |e: &dyn std::fmt::Display| Error::Key(format!("stored {alg} key {kid}: {e}"));
    let (encoding, decoding, public) = match alg {
        Alg::Es256 => {
            let secret = p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| bad(&e))?;
            let der = secret.to_pkcs8_der().map_err(|e| bad(&e))?;
            let point = p256::EncodedPoint::from(secret.public_key());
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(bad(&"public point is not uncompressed"));
            };
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| bad(&e))?;
            (
                EncodingKey::from_ec_der(der.as_bytes()),
                decoding,
                json!({ "crv": "P-256", "kty": "EC", "x": x, "y": y }),
            )
        }
        Alg::Rs256 => {
            let secret = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| bad(&e))?;
            let der = secret.to_pkcs1_der().map_err(|e| bad(&e))?;
            let n = URL_SAFE_NO_PAD.encode(secret.n().to_bytes_be());
            let e = URL_SAFE_NO_PAD.encode(secret.e().to_bytes_be());
            let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|e| bad(&e))?;
            (
                EncodingKey::from_rsa_der(der.as_bytes()),
                decoding,
                json!({ "e": e, "kty": "RSA", "n": n }),
            )
        }
    };
    // serde_json sorts object keys, which is exactly RFC 7638's canonical form.
    let kid = if kid.is_empty() {
        s256(public.to_string().as_bytes())
    } else {
        kid.to_owned()
    };
    let mut jwk = public;
    if let Value::Object(map) = &mut jwk {
        map.insert("kid".into(), kid.clone().into());
        map.insert("alg".into(), alg.as_str().into());
        map.insert("use".into(), "sig".into());
    }
    Ok(LoadedKey {
        kid,
        alg,
        encoding,
        decoding,
        jwk,
    })
}

/// Makes a new current key of `alg`, superseding the others. Returns its `kid`.
/// Blocking (RSA generation takes a while): async callers use `spawn_blocking`.
pub fn rotate(db: &Db, alg: Alg, now: i64) -> Result<String, Error> {
    let (kid, pem) = generate(alg)?;
    let stored = kid.clone();
    db.call_blocking(move |c| {
        let tx = belay_store::write_transaction(c)?;
        tx.execute(
            "UPDATE as_keys SET superseded_at = ?1 WHERE superseded_at IS NULL",
            [now],
        )?;
        tx.execute(
            "INSERT INTO as_keys (kid, alg, private_pem, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![stored, alg.as_str(), pem, now],
        )?;
        tx.commit()
    })?;
    Ok(kid)
}

/// Makes a key of `alg` if there is no current key.
pub(crate) fn ensure(db: &Db, alg: Alg, now: i64) -> Result<(), Error> {
    let current: i64 = db.call_blocking(|c| {
        c.query_row(
            "SELECT count(*) FROM as_keys WHERE superseded_at IS NULL",
            [],
            |r| r.get(0),
        )
    })?;
    if current == 0 {
        rotate(db, alg, now)?;
    }
    Ok(())
}

/// Parsed keys by `kid`, refreshed from the store on each use.
#[derive(Default)]
pub(crate) struct KeyRing {
    cache: Mutex<HashMap<String, Arc<LoadedKey>>>,
}

struct Row {
    kid: String,
    alg: String,
    pem: String,
}

impl KeyRing {
    /// Keys still published: the current one and those superseded less than `keep` ago.
    /// Older ones are deleted here, so retirement needs no background task.
    pub(crate) async fn published(
        &self,
        db: &Db,
        now: i64,
        keep: i64,
    ) -> Result<Vec<Arc<LoadedKey>>, Error> {
        let rows = db
            .call(move |c| {
                c.execute(
                    "DELETE FROM as_keys WHERE superseded_at IS NOT NULL AND superseded_at + ?1 <= ?2",
                    [keep, now],
                )?;
                let mut stmt = c.prepare(
                    "SELECT kid, alg, private_pem FROM as_keys
                     ORDER BY superseded_at IS NOT NULL, created_at DESC, kid",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(Row {
                        kid: r.get(0)?,
                        alg: r.get(1)?,
                        pem: r.get(2)?,
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|kid, _| rows.iter().any(|r| &r.kid == kid));
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(key) = cache.get(&row.kid) {
                keys.push(key.clone());
                continue;
            }
            let alg = row.alg.parse::<Alg>().map_err(Error::Key)?;
            let key = Arc::new(load(alg, &row.kid, &row.pem)?);
            cache.insert(row.kid, key.clone());
            keys.push(key);
        }
        Ok(keys)
    }

    /// The key new tokens are signed with.
    pub(crate) async fn signing(
        &self,
        db: &Db,
        now: i64,
        keep: i64,
    ) -> Result<Arc<LoadedKey>, Error> {
        self.published(db, now, keep)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Key("no signing key; run `belay auth rotate-keys`".into()))
    }
}
