//! The `whoami` server: who is calling, as told by a downstream API reached on the
//! caller's behalf with a token exchanged for it (never the caller's own token).
//!
//! Run with `belay serve whoami --transport http --auth`. At start it finds the issuer's
//! endpoints and, without `--client-id`/`--client-secret`, tries to register itself
//! (RFC 7591) for the token-exchange grant; Belay's own authorization server refuses that
//! (an administrator creates such clients: `belay auth client add`). Each call exchanges the caller's token for one meant for the
//! profile API and reports that API's answer: RFC 8693 for `{issuer}/userinfo` at Belay's
//! (or any RFC 8693) server, Entra ID's on-behalf-of grant for Microsoft Graph `/me`.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_auth::{
    AccessToken, Caller,
    discovery::discover,
    exchange::{
        ClientCredentials, ClientRegistration, ExchangeRequest, TOKEN_EXCHANGE_GRANT,
        TokenResponse, exchange_token, on_behalf_of, register_client,
    },
};
use belay_mcp::schema::portable_tools;
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::schema_for_output},
    model::{CallToolResult, Extensions},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::results::{structured, tool_error};

/// Where the whoami server gets its downstream tokens.
#[derive(Debug, Clone)]
pub struct WhoamiConfig {
    /// The authorization server (the same issuer that protects this server).
    pub issuer: String,
    /// This server's own client credentials; `None` registers a new client at start.
    pub credentials: Option<ClientCredentials>,
    /// The profile API and how tokens for it are obtained; `None` picks by issuer
    /// ([`ProfileApi::for_issuer`]).
    pub profile: Option<ProfileApi>,
}

/// The downstream profile API, and the grant that turns the caller's token into one for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileApi {
    /// RFC 8693 token exchange with `resource={issuer}/userinfo`, then OIDC userinfo.
    Userinfo,
    /// Entra ID's on-behalf-of grant for `scope`, then `url` (Microsoft Graph `/me`).
    OnBehalfOf {
        /// Scope of the downstream API, e.g. `https://graph.microsoft.com/User.Read`.
        scope: String,
        /// The profile endpoint, e.g. `https://graph.microsoft.com/v1.0/me`.
        url: String,
    },
}

impl ProfileApi {
    /// Microsoft Graph's `/me`, reached on behalf of the caller.
    pub fn microsoft_graph() -> Self {
        Self::OnBehalfOf {
            scope: "https://graph.microsoft.com/User.Read".into(),
            url: "https://graph.microsoft.com/v1.0/me".into(),
        }
    }

    /// Graph for Entra ID issuers (`login.microsoftonline.com`), userinfo for the rest.
    pub fn for_issuer(issuer: &str) -> Self {
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        if host.as_deref() == Some("login.microsoftonline.com") {
            Self::microsoft_graph()
        } else {
            Self::Userinfo
        }
    }
}

/// Structured result of `whoami`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct WhoAmI {
    /// Subject, as the profile API reports it.
    pub sub: String,
    /// Login name.
    pub username: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// The OAuth client the person signed in with (through a gateway too: the token's
    /// `origin_client_id` when it was exchanged).
    pub client_id: Option<String>,
    /// The intermediaries that exchanged the person's token on the way here (the `act`
    /// chain, nearest first), e.g. `["belay-gateway"]`.
    pub via: Vec<String>,
    /// Scopes of the caller's token.
    pub scopes: Vec<String>,
    /// Audience of the caller's token (this server), when the caller addressed it
    /// directly; behind a gateway it names an address only the gateway uses, so it is left
    /// out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_token_audience: Option<Vec<String>>,
    /// Audience of the token sent to the profile API: a different one, minted by exchange.
    pub downstream_token_audience: Vec<String>,
    /// The profile API that was called.
    pub downstream: String,
}

/// The endpoints and credentials used for the downstream call.
#[derive(Debug)]
struct Downstream {
    http: reqwest::Client,
    token_endpoint: String,
    /// The profile API's URL.
    api: String,
    /// `Some(scope)` for on-behalf-of; `None` for RFC 8693 with `resource = api`.
    obo_scope: Option<String>,
    credentials: ClientCredentials,
}

/// Says who the caller is, through a token exchange.
#[derive(Debug, Clone)]
pub struct WhoamiServer {
    tool_router: ToolRouter<Self>,
    downstream: Option<Arc<Downstream>>,
}

impl Default for WhoamiServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl WhoamiServer {
    /// A server without downstream access: `whoami` explains it needs `--auth`.
    pub fn new() -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
            downstream: None,
        }
    }

    /// Discovers `config.issuer`'s endpoints and registers a client if no credentials
    /// are given.
    pub async fn connect(config: WhoamiConfig) -> Result<Self, belay_auth::Error> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| belay_auth::Error::Config(format!("cannot build an HTTP client: {e}")))?;
        let metadata = discover(&http, &config.issuer).await?;
        let token_endpoint = metadata.token_endpoint.ok_or_else(|| {
            belay_auth::Error::BadServer(format!("`{}` has no token_endpoint", config.issuer))
        })?;
        let credentials = match config.credentials {
            Some(credentials) => credentials,
            None => {
                let endpoint = metadata.registration_endpoint.ok_or_else(|| {
                    belay_auth::Error::Config(format!(
                        "`{}` has no registration_endpoint: pass --client-id and --client-secret",
                        config.issuer
                    ))
                })?;
                let registration = ClientRegistration {
                    client_name: "belay whoami".into(),
                    grant_types: vec![TOKEN_EXCHANGE_GRANT.into()],
                    token_endpoint_auth_method: "client_secret_basic".into(),
                    scope: None,
                };
                let credentials = register_client(&http, &endpoint, &registration).await?;
                tracing::info!(client_id = %credentials.client_id, "whoami registered itself");
                credentials
            }
        };
        let profile = config
            .profile
            .unwrap_or_else(|| ProfileApi::for_issuer(&config.issuer));
        let (api, obo_scope) = match profile {
            ProfileApi::Userinfo => (format!("{}/userinfo", config.issuer), None),
            ProfileApi::OnBehalfOf { scope, url } => (url, Some(scope)),
        };
        Ok(Self {
            tool_router: portable_tools(Self::tool_router()),
            downstream: Some(Arc::new(Downstream {
                http,
                token_endpoint,
                api,
                obo_scope,
                credentials,
            })),
        })
    }

    /// A server that exchanges tokens at Belay's embedded authorization server `issuer`
    /// (endpoints `{issuer}/token` and `{issuer}/userinfo`) as the client `credentials`,
    /// without discovery: for `belay up`, where the issuer is served by the same process
    /// and is not answering yet when the server is built.
    pub fn for_embedded_issuer(
        issuer: &str,
        credentials: ClientCredentials,
    ) -> Result<Self, belay_auth::Error> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| belay_auth::Error::Config(format!("cannot build an HTTP client: {e}")))?;
        let issuer = issuer.trim_end_matches('/');
        Ok(Self {
            tool_router: portable_tools(Self::tool_router()),
            downstream: Some(Arc::new(Downstream {
                http,
                token_endpoint: format!("{issuer}/token"),
                api: format!("{issuer}/userinfo"),
                obo_scope: None,
                credentials,
            })),
        })
    }

    /// The client id this server exchanges tokens as, once connected.
    pub fn client_id(&self) -> Option<&str> {
        self.downstream
            .as_ref()
            .map(|d| d.credentials.client_id.as_str())
    }

    /// Who is calling.
    #[tool(
        description = "Who am I? Returns the signed-in user (subject, username, name, e-mail) \
            as the profile API reports it, the client used and the granted scopes. The profile \
            API is called with a token exchanged for it, not with yours.",
        output_schema = schema_for_output::<WhoAmI>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn whoami(&self, extensions: Extensions) -> CallToolResult {
        let caller = Caller::from_rmcp_parts(extensions.get::<http::request::Parts>());
        let (Some(caller), Some(downstream)) = (caller, &self.downstream) else {
            return tool_error(
                "whoami needs to know its caller: start it with `belay serve whoami \
                 --transport http --auth` and call it with an OAuth access token",
            );
        };
        match downstream.ask(caller).await {
            Ok(who) => {
                let via = match who.via.as_slice() {
                    [] => String::new(),
                    chain => format!(" through {}", chain.join(", ")),
                };
                let text = format!(
                    "You are {} ({}), signed in with client {}{via}; scopes: {}.",
                    who.name.as_deref().unwrap_or("(no name)"),
                    who.username.as_deref().unwrap_or(&who.sub),
                    who.client_id.as_deref().unwrap_or("(unknown)"),
                    who.scopes.join(" ")
                );
                structured(text, &who)
            }
            Err(why) => tool_error(why),
        }
    }
}

impl Downstream {
    /// Exchanges the caller's token and calls the profile API with the new one.
    async fn ask(&self, caller: &Caller) -> Result<WhoAmI, String> {
        let exchanged = self
            .exchange(caller)
            .await
            .map_err(|e| format!("the token exchange failed: {e}"))?;
        let token = exchanged.access_token;
        // Defence in depth: an exchange that hands back the same token is no exchange.
        if token == caller.token {
            return Err(
                "the token exchange returned the caller's own token; refusing to forward it".into(),
            );
        }
        let response = self
            .http
            .get(&self.api)
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.api))?;
        if !response.status().is_success() {
            let status = response.status();
            // The OAuth error body says why (e.g. the subject is a client, not a user).
            let why = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body.get("error_description")?.as_str().map(str::to_owned))
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(format!("{} answered {status}{why}", self.api));
        }
        let profile: Value = response
            .json()
            .await
            .map_err(|e| format!("{} did not answer JSON: {e}", self.api))?;
        let via = actors(caller.claims.get("act"));
        // OIDC userinfo names first, then Microsoft Graph's.
        let text = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| profile.get(*n).and_then(Value::as_str).map(str::to_owned))
        };
        Ok(WhoAmI {
            sub: text(&["sub", "id"]).unwrap_or_else(|| caller.sub.clone()),
            username: text(&["preferred_username", "userPrincipalName"]),
            name: text(&["name", "displayName"]),
            email: text(&["email", "mail"]),
            client_id: caller
                .claims
                .get("origin_client_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| caller.client_id.clone()),
            scopes: caller.scopes.iter().cloned().collect(),
            caller_token_audience: via.is_empty().then(|| caller.audience.clone()),
            via,
            downstream_token_audience: audience_of(&token)
                .unwrap_or_else(|| vec![self.api.clone()]),
            downstream: self.api.clone(),
        })
    }

    /// The grant that turns the caller's token into one for the profile API.
    async fn exchange(&self, caller: &Caller) -> Result<TokenResponse, belay_auth::Error> {
        match &self.obo_scope {
            Some(scope) => {
                on_behalf_of(
                    &self.http,
                    &self.token_endpoint,
                    &self.credentials,
                    &caller.token,
                    scope,
                )
                .await
            }
            None => {
                exchange_token(
                    &self.http,
                    &self.token_endpoint,
                    &self.credentials,
                    &ExchangeRequest {
                        subject_token: Some(&caller.token),
                        resource: Some(&self.api),
                        ..ExchangeRequest::default()
                    },
                )
                .await
            }
        }
    }
}

/// The `sub`s of an RFC 8693 `act` claim, nearest actor first.
fn actors(mut act: Option<&Value>) -> Vec<String> {
    let mut chain = Vec::new();
    // Bounded: a token is at most a few KiB, but its nesting is the issuer's to choose.
    while let Some(actor) = act.filter(|_| chain.len() < 16) {
        match actor.get("sub").and_then(Value::as_str) {
            Some(sub) => chain.push(sub.to_owned()),
            None => break,
        }
        act = actor.get("act");
    }
    chain
}

/// The `aud` of a JWT, read without verification: only to show it, the profile API
/// is the one that checks it.
fn audience_of(token: &AccessToken) -> Option<Vec<String>> {
    let payload = token.secret().split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    match claims.get("aud")? {
        Value::String(aud) => Some(vec![aud.clone()]),
        Value::Array(auds) => Some(
            auds.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "belay-whoami",
    instructions = "Call `whoami` to learn who you are signed in as. Needs an OAuth access token."
)]
impl ServerHandler for WhoamiServer {}
