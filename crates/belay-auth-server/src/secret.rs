//! Opaque random tokens (codes, refresh tokens, client secrets) and how they are stored.
//!
//! Every such token carries 256 random bits, so a plain SHA-256 is a safe storage hash:
//! there is nothing to brute-force, and lookups stay a single indexed query.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes, base64url without padding (43 characters).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of an opaque token: hex SHA-256.
pub(crate) fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// base64url(SHA-256(input)), the PKCE S256 transform and the JWK thumbprint encoding.
pub(crate) fn s256(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(input))
}

/// Compares two secrets without leaking where they differ through timing.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}
