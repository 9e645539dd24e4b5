//! `[resource]` in belay.toml: how a protected server checks the tokens it is given.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The issuer of the embedded authorization server on its default port.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:9000";

/// Token checks of a protected server (`[resource]` in belay.toml).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceSpec {
    /// Issuer of the authorization server whose tokens are accepted, exactly as tokens
    /// carry it in `iss` (no trailing slash for the embedded one). Its RFC 8414 / OpenID
    /// metadata is fetched from there to find the JWKS.
    pub issuer: String,
    /// Canonical URI of this server (RFC 8707 resource indicator), e.g.
    /// `https://mcp.example.com/mcp`. Unset: the URL the server is bound to.
    pub resource: Option<String>,
    /// Audience tokens must carry if the authorization server does not use the resource
    /// URI (Entra ID: the API's application ID or `api://…`). Unset: the resource URI.
    pub audience: Option<String>,
    /// Human-readable name in the protected resource metadata. Unset: "Belay MCP server".
    pub resource_name: Option<String>,
    /// Seconds the signing keys are cached before they are fetched again.
    pub jwks_ttl_secs: u64,
    /// Least seconds between two key fetches caused by an unknown `kid`, so tokens with
    /// junk key ids cannot make us hammer the authorization server.
    pub jwks_refetch_interval_secs: u64,
    /// Seconds of clock difference tolerated on `exp` and `nbf`.
    pub clock_skew_secs: u64,
    /// Accept tokens whose header `typ` is not `at+jwt` (RFC 9068). Entra ID and Keycloak
    /// issue `typ: JWT` access tokens and need this; the audience check still keeps ID
    /// tokens out.
    pub accept_plain_jwt: bool,
    /// Scopes required per MCP capability; everything else (initialize, ping, …) only
    /// needs a valid token.
    pub scopes: CapabilityScopes,
    /// Scopes per tool, replacing `scopes.tools` for that tool, e.g.
    /// `get_forecast = ["weather:read"]`.
    pub tool_scopes: BTreeMap<String, Vec<String>>,
    /// Prefix the authorization server wants on requested scopes but leaves out of the
    /// token (Entra ID: `api://<app id>/`). Advertised scopes carry it; token scopes are
    /// compared without it.
    pub scope_prefix: Option<String>,
    /// Ask the authorization server whether each token is still active (RFC 7662).
    pub introspection: IntrospectionSpec,
    /// Largest request body the check reads (for the scopes of the methods inside); a larger
    /// one is 413, refused on `Content-Length` before it is read. The gateway sets its own
    /// `[gateway.http] max_body_bytes` here.
    pub max_body_bytes: usize,
    /// Clients whose own tokens (client credentials: no user, `sub` = the client) are
    /// accepted, e.g. `["belay-gateway"]`; `["*"]` accepts any. Empty (the default):
    /// only tokens that name a user, so a service token, which nobody consented to,
    /// opens nothing unless this server says so.
    pub service_clients: Vec<String>,
    /// Only tokens issued to these clients (`client_id`, `azp` or `appid`) are accepted, e.g.
    /// a server only a gateway may reach, whose tokens the gateway obtains by exchange.
    /// Empty (the default): any client.
    pub allowed_clients: Vec<String>,
    /// Revoked token ids to refuse, when the authorization server runs in the same process
    /// (`belay up`); set in code, not in belay.toml.
    #[serde(skip)]
    pub revocations: Option<crate::RevocationList>,
}

impl Default for ResourceSpec {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.into(),
            resource: None,
            audience: None,
            resource_name: None,
            jwks_ttl_secs: 600,
            jwks_refetch_interval_secs: 10,
            clock_skew_secs: 60,
            accept_plain_jwt: false,
            scopes: CapabilityScopes::default(),
            tool_scopes: BTreeMap::new(),
            scope_prefix: None,
            introspection: IntrospectionSpec::default(),
            max_body_bytes: 4 * 1024 * 1024,
            service_clients: Vec::new(),
            allowed_clients: Vec::new(),
            revocations: None,
        }
    }
}

/// Scopes each MCP capability requires (`[resource.scopes]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapabilityScopes {
    /// For `tools/*`.
    pub tools: Vec<String>,
    /// For `resources/*`.
    pub resources: Vec<String>,
    /// For `prompts/*`.
    pub prompts: Vec<String>,
}

impl Default for CapabilityScopes {
    fn default() -> Self {
        Self {
            tools: vec!["mcp:tools".into()],
            resources: vec!["mcp:resources".into()],
            prompts: vec!["mcp:prompts".into()],
        }
    }
}

/// Token introspection (`[resource.introspection]`).
///
/// Off by default: access tokens live 15 minutes, and asking on every request costs a
/// round trip and a client credential. Turn it on when a revoked token must stop
/// working within `cache_secs` rather than at its expiry.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntrospectionSpec {
    /// Ask the introspection endpoint after the local JWT checks pass.
    pub enabled: bool,
    /// Endpoint URL. Unset: `introspection_endpoint` from the issuer's metadata.
    pub endpoint: Option<String>,
    /// Client id this server authenticates with (HTTP Basic).
    pub client_id: Option<String>,
    /// Its secret (prefer `BELAY_RESOURCE__INTROSPECTION__CLIENT_SECRET`).
    pub client_secret: Option<String>,
    /// Seconds an "active" answer is reused for the same token; 0 asks every time.
    pub cache_secs: u64,
}

impl Default for IntrospectionSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: None,
            client_id: None,
            client_secret: None,
            cache_secs: 30,
        }
    }
}

impl std::fmt::Debug for IntrospectionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionSpec")
            .field("enabled", &self.enabled)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("cache_secs", &self.cache_secs)
            .finish()
    }
}
