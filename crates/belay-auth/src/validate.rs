//! Local JWT checks (RFC 9068): signature with a pinned algorithm, issuer, audience,
//! lifetime; then, if configured, introspection.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use crate::{AccessToken, Caller, Error, ResourceSpec, introspect::Introspector, jwks::JwksCache};

/// Checks bearer tokens for one resource.
pub struct Validator {
    issuer: String,
    audience: String,
    skew: u64,
    accept_plain_jwt: bool,
    jwks: JwksCache,
    introspector: Option<Introspector>,
    verified: Verified,
    service_clients: Vec<String>,
    allowed_clients: Vec<String>,
    revocations: Option<crate::RevocationList>,
}

/// Tokens whose signature and claims already passed, by SHA-256 of the token, until they
/// expire: a client sends the same token with every request, and checking an ES256
/// signature costs more than the rest of a gateway hop. Bounded; cleared when full.
#[derive(Default)]
struct Verified(std::sync::Mutex<std::collections::HashMap<[u8; 32], Remembered>>);

/// A token that passed: its caller, and which key signed it (by `kid` and fingerprint), so
/// it stops passing when that key leaves the issuer's key set.
#[derive(Clone)]
struct Remembered {
    caller: Arc<Caller>,
    kid: Option<String>,
    key: [u8; 32],
}

/// Most tokens remembered at once.
const VERIFIED_CAPACITY: usize = 10_000;

impl Verified {
    fn key(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// The caller of `token` if it passed before and is still within `exp` (+ `skew`).
    fn get(&self, key: &[u8; 32], skew: u64) -> Option<Remembered> {
        let now = now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(r) if now <= r.caller.expires_at.saturating_add(skew) => Some(r.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: [u8; 32], remembered: Remembered) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= VERIFIED_CAPACITY {
            let now = now();
            map.retain(|_, r| now < r.caller.expires_at);
            if map.len() >= VERIFIED_CAPACITY {
                map.clear();
            }
        }
        map.insert(key, remembered);
    }

    fn forget(&self, key: &[u8; 32]) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator for tokens meant for `resource` (the canonical URI, used as the
    /// audience unless `spec.audience` says otherwise). Fetches nothing yet.
    pub fn new(spec: &ResourceSpec, resource: &str, http: reqwest::Client) -> Result<Self, Error> {
        crate::discovery::metadata_urls(&spec.issuer)?;
        let introspector = if spec.introspection.enabled {
            Some(Introspector::new(
                &spec.issuer,
                &spec.introspection,
                http.clone(),
            )?)
        } else {
            None
        };
        Ok(Self {
            issuer: spec.issuer.clone(),
            audience: spec.audience.clone().unwrap_or_else(|| resource.to_owned()),
            skew: spec.clock_skew_secs,
            accept_plain_jwt: spec.accept_plain_jwt,
            jwks: JwksCache::new(
                http,
                &spec.issuer,
                Duration::from_secs(spec.jwks_ttl_secs),
                Duration::from_secs(spec.jwks_refetch_interval_secs),
            ),
            introspector,
            verified: Verified::default(),
            service_clients: spec.service_clients.clone(),
            allowed_clients: spec.allowed_clients.clone(),
            revocations: spec.revocations.clone(),
        })
    }

    /// The audience tokens must carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The key cache (its fetch count shows refetches).
    pub fn jwks(&self) -> &JwksCache {
        &self.jwks
    }

    /// Checks `token` and returns its caller. [`Error::InvalidToken`] says what is wrong
    /// with the token; [`Error::Unavailable`] that the issuer could not be asked.
    pub async fn validate(&self, token: &str) -> Result<Arc<Caller>, Error> {
        let digest = Verified::key(token);
        let remembered = match self.verified.get(&digest, self.skew) {
            // Still signed by a key the issuer publishes (a cheap lookup in the key cache).
            Some(r) => match self.jwks.key(r.kid.as_deref()).await {
                Ok(key) if key.fingerprint == r.key => Some(r.caller),
                _ => {
                    self.verified.forget(&digest);
                    None
                }
            },
            None => None,
        };
        let caller = match remembered {
            Some(caller) => caller,
            None => {
                let (caller, kid, key) = self.verify(token).await?;
                let caller = Arc::new(caller);
                self.verified.put(
                    digest,
                    Remembered {
                        caller: caller.clone(),
                        kid,
                        key,
                    },
                );
                caller
            }
        };
        self.admit(&caller)?;
        // Revocation is the introspector's to know, with its own cache: asked every time.
        if let Some(introspector) = &self.introspector {
            introspector.check(token).await?;
        }
        Ok(caller)
    }

    /// What a valid token must also be here, checked on every request (a remembered token
    /// too): not revoked, and naming a user unless its client may call as a service.
    fn admit(&self, caller: &Caller) -> Result<(), Error> {
        if let (Some(list), Some(jti)) = (&self.revocations, caller.token_id())
            && list.is_revoked(jti)
        {
            return Err(Error::InvalidToken(
                "the token was revoked; sign in again".into(),
            ));
        }
        if !self.allowed_clients.is_empty()
            && !caller
                .client_id
                .as_ref()
                .is_some_and(|c| self.allowed_clients.contains(c))
        {
            return Err(Error::InvalidToken(format!(
                "this server accepts tokens issued to {} only, not to client `{}`: reach it \
                 through them",
                self.allowed_clients.join(", "),
                caller.client_id.as_deref().unwrap_or("(none)")
            )));
        }
        if caller.is_service() {
            let client = caller.client_id.as_deref().unwrap_or(&caller.sub);
            let allowed = self.service_clients.iter().any(|c| c == "*" || c == client);
            if !allowed {
                return Err(Error::InvalidToken(format!(
                    "the token names no user (client `{client}` acting for itself, e.g. by \
                     client credentials); this server only accepts tokens a person signed in \
                     for, unless its [resource] service_clients lists the client"
                )));
            }
        }
        Ok(())
    }

    /// Signature, header and claims: everything a token can prove by itself. Also says
    /// which key (`kid`, fingerprint) signed it.
    async fn verify(&self, token: &str) -> Result<(Caller, Option<String>, [u8; 32]), Error> {
        let header = peek_header(token)?;
        let typ = header.get("typ").and_then(Value::as_str);
        let typ_ok = matches!(
            typ.map(str::to_ascii_lowercase).as_deref(),
            Some("at+jwt" | "application/at+jwt")
        );
        if !typ_ok && !self.accept_plain_jwt {
            return Err(Error::InvalidToken(format!(
                "header typ is {}, not `at+jwt`: not an access token (RFC 9068)",
                typ.map(|t| format!("`{t}`"))
                    .unwrap_or_else(|| "missing".into())
            )));
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") {
            return Err(Error::InvalidToken(format!(
                "alg `{alg}` is refused: tokens must be signed with the issuer's ES256 or RS256 key"
            )));
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let key = self.jwks.key(kid).await?;
        if alg != format!("{:?}", key.alg) {
            return Err(Error::InvalidToken(format!(
                "alg `{alg}` does not match the issuer's key `{}`, which signs with {:?}",
                kid.unwrap_or_default(),
                key.alg
            )));
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.skew;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| self.explain(e.kind()))?;
        let caller = Caller::from_claims(data.claims, AccessToken::new(token))?;
        Ok((caller, kid.map(str::to_owned), key.fingerprint))
    }

    fn explain(&self, kind: &ErrorKind) -> Error {
        Error::InvalidToken(match kind {
            ErrorKind::ExpiredSignature => "the token has expired".into(),
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
            ErrorKind::InvalidIssuer => format!("the token was not issued by `{}`", self.issuer),
            ErrorKind::InvalidAudience => format!(
                "the token's audience is not `{}`: request it with resource={}",
                self.audience, self.audience
            ),
            ErrorKind::InvalidSignature => "the signature does not verify".into(),
            ErrorKind::MissingRequiredClaim(claim) => format!("the `{claim}` claim is missing"),
            ErrorKind::InvalidAlgorithm => "the algorithm does not match the key".into(),
            other => format!("the token cannot be read: {other:?}"),
        })
    }
}

/// The JOSE header, read before anything is trusted, only to choose the key and to
/// refuse `none`/HMAC with a clear message.
fn peek_header(token: &str) -> Result<Map<String, Value>, Error> {
    let malformed = |why: &str| Error::InvalidToken(format!("not a JWT: {why}"));
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "expected three base64url parts separated by dots",
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("the header is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(header)) => Ok(header),
        _ => Err(malformed("the header is not a JSON object")),
    }
}
