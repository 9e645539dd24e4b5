//! An in-test authorization server: RFC 8414 metadata, a JWK Set it can rotate, and
//! introspection that knows which tokens were revoked. Plus a protected echo router.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use axum::{
    Extension, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_auth::{Caller, Protection, ResourceSpec};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use rsa::{
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey},
    traits::PublicKeyParts,
};
use serde_json::{Value, json};

pub const RS_CLIENT: &str = "resource-server";
pub const RS_SECRET: &str = "rs-secret";

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    pub fn es256(kid: &str) -> anyhow::Result<Self> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret.to_pkcs8_der().context("pkcs8")?;
        let mut jwk = serde_json::to_value(secret.public_key().to_jwk())?;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
        })
    }

    /// RSA keys come from a fixture: generating one in a debug build takes seconds.
    pub fn rs256(kid: &str) -> anyhow::Result<Self> {
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(include_str!("test-rsa-key.pem"))?;
        let der = key.to_pkcs1_der()?;
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        });
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        })
    }

    /// A token with these claims, `typ: at+jwt`.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(self.alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// A token with a hand-made header and no check on it at all (for `none`, HS256…).
pub fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(header),
        part(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[derive(Default)]
pub struct IssuerState {
    pub url: Mutex<String>,
    pub keys: Mutex<Vec<Value>>,
    pub jwks_fetches: AtomicUsize,
    pub revoked: Mutex<HashSet<String>>,
    pub introspections: AtomicUsize,
}

/// The running issuer.
pub struct Issuer {
    pub url: String,
    pub state: Arc<IssuerState>,
}

impl Issuer {
    pub async fn start(keys: &[&SigningKey]) -> anyhow::Result<Self> {
        let state = Arc::new(IssuerState::default());
        state.set_keys(keys);
        let router = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks.json", get(jwks))
            .route("/introspect", post(introspect))
            .with_state(Arc::clone(&state));
        let url = spawn(router).await?;
        *state.url.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = url.clone();
        Ok(Self { url, state })
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims for a user token for `resource`, valid now, with `scope`.
    pub fn claims(&self, resource: &str, scope: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url, "sub": "user-42", "aud": resource, "client_id": "vscode",
            "scope": scope, "iat": now, "nbf": now, "exp": now + 900,
            "jti": format!("jti-{now}-{}", rand::random::<u32>()),
            "preferred_username": "alice", "name": "Alice Example",
        })
    }
}

impl IssuerState {
    pub fn set_keys(&self, keys: &[&SigningKey]) {
        if let Ok(mut set) = self.keys.lock() {
            *set = keys.iter().map(|k| k.jwk.clone()).collect();
        }
    }

    pub fn revoke(&self, token: &str) {
        if let Ok(mut revoked) = self.revoked.lock() {
            revoked.insert(token.to_owned());
        }
    }
}

async fn metadata(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    let url = state.url.lock().map(|u| u.clone()).unwrap_or_default();
    Json(json!({
        "issuer": url,
        "jwks_uri": format!("{url}/jwks.json"),
        "token_endpoint": format!("{url}/token"),
        "introspection_endpoint": format!("{url}/introspect"),
    }))
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = state.keys.lock().map(|k| k.clone()).unwrap_or_default();
    Json(json!({ "keys": keys }))
}

async fn introspect(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, StatusCode> {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{RS_CLIENT}:{RS_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    state.introspections.fetch_add(1, Ordering::SeqCst);
    let token = form.get("token").cloned().unwrap_or_default();
    let revoked = state
        .revoked
        .lock()
        .map(|r| r.contains(&token))
        .unwrap_or(true);
    Ok(Json(json!({ "active": !revoked })))
}

pub async fn spawn(router: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(format!("http://{addr}"))
}

/// What the protected echo route answers: who the layer said called.
async fn echo(Extension(caller): Extension<Arc<Caller>>) -> Json<Value> {
    Json(json!({
        "sub": caller.sub, "client_id": caller.client_id, "scopes": caller.scopes,
        "username": caller.username,
    }))
}

/// A protected router at `/mcp`, its resource URI, and the protection itself.
pub struct Protected {
    pub url: String,
    pub base: String,
    pub protection: Protection,
}

pub fn spec(issuer: &Issuer) -> ResourceSpec {
    let mut spec = ResourceSpec {
        issuer: issuer.url.clone(),
        // Long, so the rate limit on unknown-kid refetches is observable.
        jwks_refetch_interval_secs: 3600,
        ..ResourceSpec::default()
    };
    spec.tool_scopes
        .insert("get_forecast".into(), vec!["weather:read".into()]);
    spec
}

pub async fn protect(spec: ResourceSpec) -> anyhow::Result<Protected> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let url = format!("{base}/mcp");
    let protection = Protection::new(&spec, &url)?;
    let router = protection.protect(Router::new().route("/mcp", post(echo).get(echo)));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Protected {
        url,
        base,
        protection,
    })
}

/// One answer of the protected server.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub challenge: String,
    pub body: Value,
}

impl Answer {
    /// The value of auth-param `name` in WWW-Authenticate.
    pub fn param(&self, name: &str) -> Option<String> {
        let start = self.challenge.find(&format!("{name}=\""))? + name.len() + 2;
        let rest = &self.challenge[start..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

pub async fn call(url: &str, authorization: Option<&str>, body: &Value) -> anyhow::Result<Answer> {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok(Answer {
        status,
        challenge,
        body,
    })
}

/// [`call`] with `token` as the bearer credentials.
pub async fn call_bearer(url: &str, token: &str, body: &Value) -> anyhow::Result<Answer> {
    call(url, Some(&format!("Bearer {token}")), body).await
}

/// An issuer publishing `key`, and a server protected by it with the default [`spec`].
pub async fn protected_by(key: &SigningKey) -> anyhow::Result<(Issuer, Protected)> {
    let issuer = Issuer::start(&[key]).await?;
    let protected = protect(spec(&issuer)).await?;
    Ok((issuer, protected))
}

pub fn tools_call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

pub fn ping() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
}
