//! The API tests' world: an in-test issuer (ES256 keys, RFC 8414 metadata and a JWKS on a
//! loopback port) signing publish tokens, and the registry's router driven with `oneshot`,
//! every answer checked against the official OpenAPI document ([`super::contract`]).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    http::{Request, StatusCode, header},
    routing::get,
};
use belay_registry::{
    RegistrySpec, RegistryStore, Status,
    api::{Registry, router},
};
use belay_store::Db;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const REGISTRY_URL: &str = "http://registry.test";

pub struct Issuer {
    pub url: String,
    pub key: EncodingKey,
}

impl Issuer {
    /// Serves RFC 8414 metadata and the JWKS of a fresh ES256 key on 127.0.0.1.
    pub async fn start() -> anyhow::Result<Self> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret.to_pkcs8_der()?;
        let mut jwk = serde_json::to_value(secret.public_key().to_jwk())?;
        jwk["kid"] = json!("k1");
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let metadata = json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") });
        let jwks = json!({ "keys": [jwk] });
        let app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move { Json(metadata) }),
            )
            .route("/jwks", get(move || async move { Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url,
            key: EncodingKey::from_ec_der(der.as_bytes()),
        })
    }

    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    /// A user token for `audience` with `scope`.
    pub fn user_token(&self, user: &str, audience: &str, scope: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        self.sign(&json!({
            "iss": self.url, "sub": format!("id-{user}"), "aud": audience,
            "client_id": "mcp-publisher", "scope": scope, "iat": now, "exp": now + 600,
            "jti": format!("{user}-{}", rand::random::<u64>()), "preferred_username": user,
        }))
    }

    /// A client-credentials token of `client` (no user).
    pub fn service_token(&self, client: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        self.sign(&json!({
            "iss": self.url, "sub": client, "aud": REGISTRY_URL, "client_id": client,
            "scope": "registry:publish", "iat": now, "exp": now + 600,
        }))
    }
}

pub struct Harness {
    pub app: Router,
    pub store: RegistryStore,
    pub issuer: Issuer,
}

pub async fn harness() -> anyhow::Result<Harness> {
    let issuer = Issuer::start().await?;
    let mut spec = RegistrySpec::default();
    spec.auth.issuer = issuer.url.clone();
    spec.auth.service_clients = vec!["ci".into()];
    spec.namespaces
        .insert("alice".into(), vec!["com.example".into()]);
    spec.namespaces
        .insert("bob".into(), vec!["org.other.*".into()]);
    spec.namespaces
        .insert("client:ci".into(), vec!["io.acme".into()]);
    // Carol shares alice's namespace: she may start servers there, not take over alice's.
    spec.namespaces
        .insert("carol".into(), vec!["com.example".into()]);
    spec.max_body_bytes = 16 * 1024;
    spec.body_timeout_secs = 1;
    spec.max_limit = 5;
    let store = RegistryStore::open(Db::in_memory()?)?;
    let registry = Registry::new(store.clone(), spec, REGISTRY_URL)?;
    Ok(Harness {
        app: router(registry),
        store,
        issuer,
    })
}

pub fn server(name: &str, version: &str) -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name, "description": "Weather for tests.", "version": version,
        "remotes": [{ "type": "streamable-http", "url": "https://mcp.example.com/mcp" }],
    })
}

impl Harness {
    /// Sends `request` and checks the answer against the official OpenAPI document.
    pub async fn send(
        &self,
        request: Request<Body>,
    ) -> anyhow::Result<(StatusCode, Value, String)> {
        let (method, uri) = (request.method().clone(), request.uri().to_string());
        let response = self.app.clone().oneshot(request).await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = to_bytes(response.into_body(), 1 << 20).await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(contract) = super::contract::Contract::get() {
            contract.check(method.as_str(), &uri, status.as_u16(), &body);
        }
        Ok((status, body, challenge))
    }

    pub async fn get(&self, uri: &str) -> anyhow::Result<(StatusCode, Value)> {
        let (status, body, _) = self.send(Request::get(uri).body(Body::empty())?).await?;
        Ok((status, body))
    }

    pub async fn publish(
        &self,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value, String)> {
        let mut request =
            Request::post("/v0.1/publish").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string()))?).await
    }

    pub fn alice(&self) -> anyhow::Result<String> {
        self.issuer
            .user_token("alice", REGISTRY_URL, "openid registry:publish")
    }

    pub async fn approve(&self, name: &str, version: &str) -> anyhow::Result<()> {
        self.store
            .set_status(
                name,
                version,
                Status::Approved,
                &belay_registry::Review {
                    actor: "cli:test".into(),
                    override_reason: None,
                },
            )
            .await?;
        Ok(())
    }
}

pub fn official(entry: &Value) -> &Value {
    &entry["_meta"]["io.modelcontextprotocol.registry/official"]
}
