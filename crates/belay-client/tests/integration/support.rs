//! A tiny OAuth world: an authorization server and a protected MCP endpoint, each on its own
//! 127.0.0.1 listener, both recording what the client asked for.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use belay_client::{HeadlessAgent, SignInOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Where the authorization server publishes its metadata.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AsMetadata {
    /// RFC 8414, with the issuer path inserted after the well-known prefix.
    OAuth,
    /// OpenID Connect discovery, path appended (`{issuer}/.well-known/openid-configuration`).
    Oidc,
}

/// What the protected endpoint accepts.
#[derive(Clone, PartialEq, Eq)]
pub enum Policy {
    /// Any bearer token the AS minted.
    AnyToken,
    /// Only tokens minted after this many: earlier ones get 401 (expired or revoked).
    FromToken(u32),
    /// Every token gets 403 insufficient_scope for `mcp:admin`.
    AlwaysInsufficient,
}

#[derive(Clone)]
pub struct Setup {
    /// Path of the protected resource metadata on the resource server.
    pub prm_path: &'static str,
    /// Whether the 401 challenge names the PRM URL.
    pub challenge_names_prm: bool,
    /// Path part of the issuer (`""` or e.g. `"/tenant"`).
    pub issuer_path: &'static str,
    pub as_metadata: AsMetadata,
    pub policy: Policy,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            prm_path: "/.well-known/oauth-protected-resource/mcp",
            challenge_names_prm: true,
            issuer_path: "",
            as_metadata: AsMetadata::OAuth,
            policy: Policy::AnyToken,
        }
    }
}

#[derive(Default)]
pub struct Log {
    /// `METHOD /path` of every request either server got, in order.
    pub hits: Vec<String>,
    /// Query parameters of every authorization request.
    pub authorize: Vec<HashMap<String, String>>,
    /// Form parameters of every token request.
    pub token: Vec<HashMap<String, String>>,
    pub registrations: u32,
    minted: u32,
    codes: HashMap<String, String>, // code -> code_challenge
}

struct Shared {
    setup: Setup,
    log: Mutex<Log>,
    resource_url: String,
    issuer: String,
}

pub struct World {
    shared: Arc<Shared>,
    /// The MCP endpoint URL.
    pub server_url: String,
    pub issuer: String,
}

impl World {
    pub async fn start(setup: Setup) -> anyhow::Result<Self> {
        let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let rs_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}{}", as_listener.local_addr()?, setup.issuer_path);
        let resource_origin = format!("http://{}", rs_listener.local_addr()?);
        let shared = Arc::new(Shared {
            setup,
            log: Mutex::new(Log::default()),
            resource_url: format!("{resource_origin}/mcp"),
            issuer: issuer.clone(),
        });
        let s = shared.clone();
        let as_app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
            let s = s.clone();
            async move { authorization_server(&s, m, u, h, b) }
        });
        let s = shared.clone();
        let rs_app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap| {
            let s = s.clone();
            async move { resource_server(&s, m, u, h) }
        });
        tokio::spawn(async move { axum::serve(as_listener, as_app).await });
        tokio::spawn(async move { axum::serve(rs_listener, rs_app).await });
        Ok(Self {
            server_url: shared.resource_url.clone(),
            shared,
            issuer,
        })
    }

    pub fn log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.shared.log.lock().expect("log lock"))
    }

    /// Headless sign-in options (the test AS approves without a login page).
    pub fn options(&self) -> anyhow::Result<SignInOptions> {
        Ok(SignInOptions {
            user_agent: Arc::new(HeadlessAgent::new()?),
            ..SignInOptions::default()
        })
    }

    /// The 401 challenge the resource sends.
    pub fn challenge(&self) -> String {
        challenge(&self.shared)
    }
}

fn challenge(s: &Shared) -> String {
    let origin = s.resource_url.trim_end_matches("/mcp");
    if s.setup.challenge_names_prm {
        format!(r#"Bearer resource_metadata="{origin}{}""#, s.setup.prm_path)
    } else {
        "Bearer".to_owned()
    }
}

fn json_response(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn resource_server(s: &Shared, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let mut log = s.log.lock().expect("log lock");
    log.hits.push(format!("{method} {}", uri.path()));
    if method == Method::GET && uri.path() == s.setup.prm_path {
        return json_response(
            StatusCode::OK,
            json!({"resource": s.resource_url, "authorization_servers": [s.issuer]}),
        );
    }
    if uri.path() != "/mcp" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| t.strip_prefix("tok-"))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n <= log.minted);
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge(s))],
        )
            .into_response()
    };
    let Some(n) = token else {
        return unauthorized();
    };
    match &s.setup.policy {
        Policy::FromToken(first) if n < *first => unauthorized(),
        Policy::AlwaysInsufficient => (
            StatusCode::FORBIDDEN,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer error="insufficient_scope", scope="mcp:admin""#,
            )],
        )
            .into_response(),
        _ => json_response(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": 1, "result": {}}),
        ),
    }
}

fn metadata(s: &Shared) -> Value {
    let i = &s.issuer;
    json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "registration_endpoint": format!("{i}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "authorization_response_iss_parameter_supported": true,
        "device_authorization_endpoint": format!("{i}/device_authorization"),
    })
}

fn authorization_server(
    s: &Shared,
    method: Method,
    uri: Uri,
    _h: HeaderMap,
    body: Bytes,
) -> Response {
    let mut log = s.log.lock().expect("log lock");
    let path = uri.path().to_owned();
    log.hits.push(format!("{method} {path}"));
    let prefix = s.setup.issuer_path;
    let oauth_path = format!("/.well-known/oauth-authorization-server{prefix}");
    let oidc_path = format!("{prefix}/.well-known/openid-configuration");
    let form = |raw: &[u8]| -> HashMap<String, String> {
        url::form_urlencoded::parse(raw).into_owned().collect()
    };
    match (method, path.as_str()) {
        (Method::GET, p) if s.setup.as_metadata == AsMetadata::OAuth && p == oauth_path => {
            json_response(StatusCode::OK, metadata(s))
        }
        (Method::GET, p) if s.setup.as_metadata == AsMetadata::Oidc && p == oidc_path => {
            json_response(StatusCode::OK, metadata(s))
        }
        (Method::POST, p) if p == format!("{prefix}/register") => {
            log.registrations += 1;
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            json_response(
                StatusCode::CREATED,
                json!({"client_id": format!("client-{}", log.registrations),
                       "redirect_uris": request["redirect_uris"]}),
            )
        }
        (Method::GET, p) if p == format!("{prefix}/authorize") => {
            let query = form(uri.query().unwrap_or_default().as_bytes());
            let code = format!("code-{}", log.authorize.len() + 1);
            log.codes.insert(
                code.clone(),
                query.get("code_challenge").cloned().unwrap_or_default(),
            );
            let mut redirect =
                url::Url::parse(query.get("redirect_uri").map_or("", String::as_str))
                    .unwrap_or_else(|_| {
                        url::Url::parse("http://127.0.0.1/none").expect("static URL")
                    });
            redirect
                .query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", query.get("state").map_or("", String::as_str))
                .append_pair("iss", &s.issuer);
            log.authorize.push(query);
            (
                StatusCode::FOUND,
                [(header::LOCATION, redirect.to_string())],
            )
                .into_response()
        }
        (Method::POST, p) if p == format!("{prefix}/device_authorization") => json_response(
            StatusCode::OK,
            json!({"device_code": "dev-1", "user_code": "WDJB-MJHT",
                   "verification_uri": format!("{}/device", s.issuer),
                   "expires_in": 60, "interval": 1}),
        ),
        (Method::POST, p) if p == format!("{prefix}/token") => {
            let params = form(&body);
            log.token.push(params.clone());
            let device_polls = log
                .token
                .iter()
                .filter(|t| {
                    t.get("grant_type")
                        .is_some_and(|g| g.ends_with(":device_code"))
                })
                .count();
            let ok = match params.get("grant_type").map(String::as_str) {
                // The user approves between the first and the second poll.
                Some("urn:ietf:params:oauth:grant-type:device_code") if device_polls == 1 => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "authorization_pending"}),
                    );
                }
                Some("urn:ietf:params:oauth:grant-type:device_code") => {
                    params.get("device_code").is_some_and(|c| c == "dev-1")
                }
                Some("authorization_code") => {
                    let challenge = params.get("code").and_then(|c| log.codes.remove(c));
                    let verifier = params.get("code_verifier").cloned().unwrap_or_default();
                    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(Sha256::digest(verifier.as_bytes()));
                    challenge.is_some_and(|c| c == computed)
                }
                Some("refresh_token") => params
                    .get("refresh_token")
                    .is_some_and(|r| r.starts_with("ref-")),
                _ => false,
            };
            if !ok {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
            }
            log.minted += 1;
            let n = log.minted;
            json_response(
                StatusCode::OK,
                json!({"access_token": format!("tok-{n}"), "token_type": "Bearer",
                       "expires_in": 3600, "refresh_token": format!("ref-{n}")}),
            )
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A JSON-RPC ping as the transport would send it.
pub fn ping() -> anyhow::Result<rmcp::model::ClientJsonRpcMessage> {
    Ok(serde_json::from_value(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    )?)
}
