//! The whoami server against an in-test authorization server speaking the real wire
//! format (RFC 8414 metadata, RFC 7591 registration, RFC 8693 exchange, userinfo).
//! The caller is put in the request by a stand-in for belay-auth's layer, as it would be.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::{
    Json, Router,
    extract::{FromRequest, Request, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_auth::{AccessToken, Caller, exchange::ClientCredentials};
use belay_servers::whoami::{ProfileApi, WhoAmI, WhoamiConfig, WhoamiServer};
use rmcp::{
    ClientServiceExt, ServiceExt, model::CallToolRequestParams,
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::{Era, ScriptedClient, Session, Wire, decode, tool_error};

const CALLER_TOKEN: &str = "caller.token.for-whoami";

#[derive(Default)]
struct Seen {
    registrations: Vec<Value>,
    exchanges: Vec<Vec<(String, String)>>,
    userinfo_tokens: Vec<String>,
    minted: Vec<String>,
}

struct AuthServer {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct StubState {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

const CLIENT_ID: &str = "whoami-client";
const CLIENT_SECRET: &str = "whoami-secret";

impl StubState {
    /// Notes a grant's form and the token it minted.
    fn record_exchange(&self, form: Vec<(String, String)>, minted: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.exchanges.push(form);
            seen.minted.push(minted.to_owned());
        }
    }

    /// Notes the bearer token a downstream API got; 401 unless this stub minted it.
    fn check_bearer(&self, headers: &HeaderMap) -> Result<(), StatusCode> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        seen.userinfo_tokens.push(token.clone());
        if seen.minted.contains(&token) {
            Ok(())
        } else {
            Err(StatusCode::UNAUTHORIZED)
        }
    }
}

/// A token request's form fields, in order, from a client that authenticated as this
/// test's client with HTTP Basic; any other gets `invalid_client`.
struct ClientForm(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for ClientForm {
    type Rejection = (StatusCode, Json<Value>);

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !client_authenticated(request.headers()) {
            return Err(invalid_client());
        }
        let body = String::from_request(request, state).await.map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_request" })),
            )
        })?;
        Ok(Self(
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

fn form_field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the request authenticates as this test's client with HTTP Basic.
fn client_authenticated(headers: &HeaderMap) -> bool {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(basic.as_str())
}

fn invalid_client() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "invalid_client" })),
    )
}

/// A JWT-shaped token with `header` and `claims` and a dummy signature.
fn unsigned_jwt(header: Value, claims: Value) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", part(header), part(claims))
}

/// Serves `routes` on a loopback port with a fresh [`StubState`]; returns the base URL and
/// what the stub will see.
async fn serve_stub(routes: Router<StubState>) -> anyhow::Result<(String, Arc<Mutex<Seen>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let router = routes.with_state(StubState {
        url: url.clone(),
        seen: Arc::clone(&seen),
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, seen))
}

async fn start_auth_server() -> anyhow::Result<AuthServer> {
    let (url, seen) = serve_stub(
        Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/register", post(register))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo)),
    )
    .await?;
    Ok(AuthServer { url, seen })
}

async fn metadata(State(state): State<StubState>) -> Json<Value> {
    let url = &state.url;
    Json(json!({
        "issuer": url,
        "token_endpoint": format!("{url}/token"),
        "registration_endpoint": format!("{url}/register"),
        "jwks_uri": format!("{url}/jwks.json"),
    }))
}

async fn register(
    State(state): State<StubState>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if let Ok(mut seen) = state.seen.lock() {
        seen.registrations.push(body);
    }
    (
        StatusCode::CREATED,
        Json(json!({ "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET })),
    )
}

/// RFC 8693 at the token endpoint: checks what a real server would, mints a new token.
async fn token(
    State(state): State<StubState>,
    ClientForm(form): ClientForm,
) -> (StatusCode, Json<Value>) {
    let field = |name: &str| form_field(&form, name);
    let userinfo = format!("{}/userinfo", state.url);
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:token-exchange")
        || field("subject_token_type") != Some("urn:ietf:params:oauth:token-type:access_token")
        || field("subject_token") != Some(CALLER_TOKEN)
        || field("resource") != Some(userinfo.as_str())
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_request" })),
        );
    }
    let minted = unsigned_jwt(
        json!({"alg": "ES256", "typ": "at+jwt"}),
        json!({"sub": "user-42", "aud": userinfo, "act": {"sub": CLIENT_ID}}),
    );
    state.record_exchange(form, &minted);
    (
        StatusCode::OK,
        Json(json!({
            "access_token": minted, "token_type": "Bearer", "expires_in": 900,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        })),
    )
}

async fn userinfo(
    State(state): State<StubState>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    state.check_bearer(&headers)?;
    Ok(Json(json!({
        "sub": "user-42", "preferred_username": "alice", "name": "Alice Example",
        "email": "alice@example.com",
    })))
}

fn caller(resource: &str) -> anyhow::Result<Caller> {
    let Value::Object(claims) = json!({
        "iss": "http://issuer.invalid", "sub": "user-42", "aud": resource, "client_id": "vscode",
        "scope": "mcp:tools openid", "exp": 4_000_000_000u64,
    }) else {
        anyhow::bail!("claims literal is an object")
    };
    Ok(Caller::from_claims(claims, AccessToken::new(CALLER_TOKEN))?)
}

/// `server` on Streamable HTTP with every request carrying `caller`, as belay-auth's
/// layer leaves it. Returns the MCP URL and the server's stop token.
async fn serve_with_caller(server: WhoamiServer) -> anyhow::Result<(String, CancellationToken)> {
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    let caller = std::sync::Arc::new(caller(&url)?);
    let router = belay_mcp::http::streamable_router(server, "/mcp", false, shutdown.clone()).layer(
        middleware::from_fn(move |mut request: Request, next: Next| {
            request.extensions_mut().insert(caller.clone());
            async move { Ok::<Response, std::convert::Infallible>(next.run(request).await) }
        }),
    );
    tokio::spawn(belay_mcp::http::run(listener, router, shutdown.clone()));
    Ok((url, shutdown))
}

/// Serves `server` (see [`serve_with_caller`]) and calls `whoami` once, as one client.
async fn whoami_once(server: WhoamiServer) -> anyhow::Result<WhoAmI> {
    let (url, shutdown) = serve_with_caller(server).await?;
    let _stop = shutdown.drop_guard();
    let transport = StreamableHttpClientTransport::from_uri(url);
    let client = ScriptedClient::new(Era::Handshake).serve(transport).await?;
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await?;
    let who = decode(&result)?;
    client.cancel().await?;
    Ok(who)
}

#[tokio::test]
async fn whoami_answers_through_an_exchanged_token_never_the_callers() -> anyhow::Result<()> {
    let auth = start_auth_server().await?;
    let server = WhoamiServer::connect(WhoamiConfig {
        issuer: auth.url.clone(),
        credentials: None,
        profile: None,
    })
    .await?;
    assert_eq!(
        server.client_id(),
        Some(CLIENT_ID),
        "registered itself by DCR"
    );
    let (url, shutdown) = serve_with_caller(server).await?;
    let _stop = shutdown.drop_guard();

    for era in Era::BOTH {
        let transport = StreamableHttpClientTransport::from_uri(url.clone());
        let client = ScriptedClient::new(era)
            .serve_with_lifecycle(transport, era.lifecycle())
            .await?;
        let result = client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await?;
        let who: WhoAmI = decode(&result)?;
        assert_eq!(who.sub, "user-42", "{era:?}");
        assert_eq!(who.username.as_deref(), Some("alice"));
        assert_eq!(who.name.as_deref(), Some("Alice Example"));
        assert_eq!(who.email.as_deref(), Some("alice@example.com"));
        assert_eq!(who.client_id.as_deref(), Some("vscode"));
        assert_eq!(who.scopes, ["mcp:tools", "openid"]);
        // Called directly, not through a gateway: its own URL, and no one in between.
        assert_eq!(who.caller_token_audience, Some(vec![url.clone()]));
        assert!(who.via.is_empty());
        assert_eq!(
            who.downstream_token_audience,
            [format!("{}/userinfo", auth.url)]
        );
        client.cancel().await?;
    }

    let seen = auth.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    assert_eq!(seen.registrations.len(), 1);
    let registration = &seen.registrations[0];
    assert_eq!(
        registration["grant_types"],
        json!(["urn:ietf:params:oauth:grant-type:token-exchange"])
    );
    assert_eq!(
        registration["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(seen.exchanges.len(), 2);
    assert_eq!(seen.userinfo_tokens.len(), 2);
    for token in &seen.userinfo_tokens {
        assert_ne!(
            token, CALLER_TOKEN,
            "the caller's token reached the downstream API"
        );
        assert!(
            seen.minted.contains(token),
            "userinfo got a token the AS never minted"
        );
    }
    Ok(())
}

#[tokio::test]
async fn configured_credentials_skip_registration() -> anyhow::Result<()> {
    let auth = start_auth_server().await?;
    let server = WhoamiServer::connect(WhoamiConfig {
        issuer: auth.url.clone(),
        credentials: Some(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET)),
        profile: None,
    })
    .await?;
    whoami_once(server)
        .await
        .context("whoami with configured credentials")?;
    let seen = auth.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    assert!(seen.registrations.is_empty());
    Ok(())
}

#[tokio::test]
async fn without_auth_whoami_says_it_needs_it() -> anyhow::Result<()> {
    for wire in Wire::ALL {
        let session = Session::open(
            WhoamiServer::new(),
            wire,
            ScriptedClient::new(Era::Handshake),
        )
        .await?;
        let result = session.call("whoami", json!({})).await?;
        let text = tool_error(&result);
        assert!(text.contains("--auth"), "{}: {text}", session.label);
        session.close().await?;
    }
    Ok(())
}

/// A stand-in for Entra ID speaking its wire format: OpenID metadata under the v2.0 issuer,
/// the on-behalf-of grant at `/oauth2/v2.0/token`, and Microsoft Graph's `/v1.0/me`.
struct Entra {
    issuer: String,
    graph_me: String,
    seen: Arc<Mutex<Seen>>,
}

const GRAPH_SCOPE: &str = "https://graph.microsoft.com/User.Read";

async fn start_entra() -> anyhow::Result<Entra> {
    let routes = Router::new()
        .route(
            "/tenant-1/v2.0/.well-known/openid-configuration",
            get(|State(s): State<StubState>| async move {
                Json(json!({
                    "issuer": format!("{}/tenant-1/v2.0", s.url),
                    "token_endpoint": format!("{}/tenant-1/oauth2/v2.0/token", s.url),
                    "authorization_endpoint": format!("{}/tenant-1/oauth2/v2.0/authorize", s.url),
                    "jwks_uri": format!("{}/tenant-1/discovery/v2.0/keys", s.url),
                }))
            }),
        )
        .route("/tenant-1/oauth2/v2.0/token", post(entra_token))
        .route("/v1.0/me", get(graph_me));
    let (base, seen) = serve_stub(routes).await?;
    Ok(Entra {
        issuer: format!("{base}/tenant-1/v2.0"),
        graph_me: format!("{base}/v1.0/me"),
        seen,
    })
}

/// Entra's on-behalf-of grant (jwt-bearer with requested_token_use=on_behalf_of).
async fn entra_token(
    State(state): State<StubState>,
    ClientForm(form): ClientForm,
) -> (StatusCode, Json<Value>) {
    let field = |name: &str| form_field(&form, name);
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        || field("requested_token_use") != Some("on_behalf_of")
        || field("assertion") != Some(CALLER_TOKEN)
        || field("scope") != Some(GRAPH_SCOPE)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": "AADSTS50013" })),
        );
    }
    let minted = unsigned_jwt(
        json!({"alg": "RS256", "typ": "JWT"}),
        json!({"aud": "00000003-0000-0000-c000-000000000000", "scp": "User.Read"}),
    );
    state.record_exchange(form, &minted);
    (
        StatusCode::OK,
        Json(json!({
            "token_type": "Bearer", "scope": GRAPH_SCOPE, "expires_in": 3599,
            "ext_expires_in": 3599, "access_token": minted,
        })),
    )
}

async fn graph_me(
    State(state): State<StubState>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    state.check_bearer(&headers)?;
    Ok(Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
        "displayName": "Adele Vance",
        "userPrincipalName": "AdeleV@contoso.com",
        "mail": "AdeleV@contoso.com",
    })))
}

#[tokio::test]
async fn with_entra_whoami_uses_on_behalf_of_and_graph() -> anyhow::Result<()> {
    let entra = start_entra().await?;
    let server = WhoamiServer::connect(WhoamiConfig {
        issuer: entra.issuer.clone(),
        credentials: Some(ClientCredentials::new(CLIENT_ID, CLIENT_SECRET)),
        profile: Some(ProfileApi::OnBehalfOf {
            scope: GRAPH_SCOPE.into(),
            url: entra.graph_me.clone(),
        }),
    })
    .await?;
    let who = whoami_once(server).await?;
    assert_eq!(who.sub, "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    assert_eq!(who.username.as_deref(), Some("AdeleV@contoso.com"));
    assert_eq!(who.name.as_deref(), Some("Adele Vance"));
    assert_eq!(who.downstream, entra.graph_me);
    assert_eq!(
        who.downstream_token_audience,
        ["00000003-0000-0000-c000-000000000000"]
    );
    let seen = entra.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    assert_eq!(seen.exchanges.len(), 1);
    assert_eq!(seen.userinfo_tokens.len(), 1);
    assert_ne!(
        seen.userinfo_tokens[0], CALLER_TOKEN,
        "the caller's token reached Graph"
    );
    Ok(())
}

#[test]
fn entra_issuers_default_to_graph_on_behalf_of() {
    assert_eq!(
        ProfileApi::for_issuer("https://login.microsoftonline.com/4f6c-tenant/v2.0"),
        ProfileApi::microsoft_graph()
    );
    assert_eq!(
        ProfileApi::for_issuer("http://127.0.0.1:9000"),
        ProfileApi::Userinfo
    );
}
