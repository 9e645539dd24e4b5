//! Token introspection (RFC 7662): whether the authorization server still deems a token
//! active, so a revoked JWT stops working before it expires.

use std::{collections::HashMap, time::Duration};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::{
    sync::{Mutex, OnceCell},
    time::Instant,
};

use crate::{Error, IntrospectionSpec, exchange::ClientCredentials};

/// Most "active" answers remembered; past it, expired ones are dropped first.
const CACHE_LIMIT: usize = 10_000;

/// Asks the introspection endpoint, remembering "active" answers for a short while.
pub struct Introspector {
    http: reqwest::Client,
    issuer: String,
    configured_endpoint: Option<String>,
    endpoint: OnceCell<String>,
    credentials: ClientCredentials,
    cache_for: Duration,
    // Keyed by the token's SHA-256, so no token sits in memory longer than its request.
    active: Mutex<HashMap<[u8; 32], Instant>>,
}

#[derive(Deserialize)]
struct Answer {
    active: bool,
}

impl Introspector {
    /// An introspector authenticating with the credentials in `spec`.
    pub fn new(
        issuer: &str,
        spec: &IntrospectionSpec,
        http: reqwest::Client,
    ) -> Result<Self, Error> {
        let (Some(client_id), Some(client_secret)) = (&spec.client_id, &spec.client_secret) else {
            return Err(Error::Config(
                "introspection.enabled needs introspection.client_id and introspection.client_secret".into(),
            ));
        };
        Ok(Self {
            http,
            issuer: issuer.to_owned(),
            configured_endpoint: spec.endpoint.clone(),
            endpoint: OnceCell::new(),
            credentials: ClientCredentials::new(client_id.clone(), client_secret.clone()),
            cache_for: Duration::from_secs(spec.cache_secs),
            active: Mutex::new(HashMap::new()),
        })
    }

    /// Ok if `token` is active; [`Error::InvalidToken`] if the server says it is not.
    pub async fn check(&self, token: &str) -> Result<(), Error> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if !self.cache_for.is_zero()
            && let Some(until) = self.active.lock().await.get(&digest)
            && Instant::now() < *until
        {
            return Ok(());
        }
        let endpoint = self.endpoint().await?;
        let response = self
            .credentials
            .authenticate(self.http.post(endpoint))
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| Error::unavailable("introspection", e))?;
        if !response.status().is_success() {
            return Err(Error::Unavailable(format!(
                "introspection endpoint answered {} (check introspection.client_id/client_secret)",
                response.status()
            )));
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| Error::BadServer(format!("introspection answer: {e}")))?;
        if !answer.active {
            return Err(Error::InvalidToken(
                "the token is no longer active (revoked or expired at the issuer)".into(),
            ));
        }
        if !self.cache_for.is_zero() {
            let mut active = self.active.lock().await;
            let now = Instant::now();
            if active.len() >= CACHE_LIMIT {
                active.retain(|_, until| *until > now);
            }
            if active.len() < CACHE_LIMIT {
                active.insert(digest, now + self.cache_for);
            }
        }
        Ok(())
    }

    async fn endpoint(&self) -> Result<&String, Error> {
        self.endpoint
            .get_or_try_init(|| async {
                if let Some(endpoint) = &self.configured_endpoint {
                    return Ok(endpoint.clone());
                }
                crate::discovery::discover(&self.http, &self.issuer)
                    .await?
                    .introspection_endpoint
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "`{}` advertises no introspection_endpoint: set introspection.endpoint",
                            self.issuer
                        ))
                    })
            })
            .await
    }
}
