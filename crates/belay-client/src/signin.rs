//! Signing in to one MCP server: discovery, client identity, the grant, step-up, refresh.
//!
//! rmcp's [`AuthorizationManager`] does the protocol work (RFC 9728 protected resource
//! metadata from the challenge or the well-known paths, RFC 8414 / OpenID discovery with the
//! 2025-03-26 fallbacks, PKCE S256, RFC 8707 `resource`, RFC 9207 `iss` checks, refresh).
//! [`SignIn`] decides what to do when: which client identity to use (pre-registered, Client
//! ID Metadata Document, a cached registration for the same issuer, else Dynamic Client
//! Registration), which grant (authorization code through a [`UserAgent`], or the device
//! grant), how often to step up scope, and where tokens live ([`TokenStore`]).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use rmcp::transport::auth::{
    AuthError, AuthorizationCallback, AuthorizationManager, AuthorizationMetadata,
    AuthorizationRequest, AuthorizationSession, CredentialStore, OAuthClientConfig,
    WWWAuthenticateParams,
};
use tokio::sync::Mutex;
use url::Url;

use crate::{
    agent::{BrowserAgent, LoopbackRedirect, UserAgent},
    cache::{ClientRecord, TokenCache, TokenStore},
    device,
    error::{Error, Result},
};

/// Which OAuth grant signs the user in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// Authorization code with PKCE, redirected to a loopback listener.
    #[default]
    AuthorizationCode,
    /// Device authorization grant (RFC 8628): the user enters a code on another device.
    DeviceCode,
}

/// How to sign in. `Default` gives a browser sign-in with Dynamic Client Registration and
/// an in-memory token store.
#[derive(Clone)]
pub struct SignInOptions {
    /// A client id registered out of band; takes priority over everything else.
    pub client_id: Option<String>,
    /// The secret of the pre-registered client (confidential clients).
    pub client_secret: Option<String>,
    /// HTTPS URL of our Client ID Metadata Document, used as client_id when the
    /// authorization server advertises `client_id_metadata_document_supported`.
    pub client_metadata_url: Option<String>,
    /// `client_name` for Dynamic Client Registration.
    pub client_name: String,
    /// Scopes to request; empty means the spec's choice (the challenge's `scope`, else the
    /// resource's `scopes_supported`, else none).
    pub scopes: Vec<String>,
    /// The grant.
    pub grant: Grant,
    /// Where tokens are cached; `None` keeps them in memory.
    pub cache: Option<TokenCache>,
    /// Who takes the user through the authorization URL.
    pub user_agent: Arc<dyn UserAgent>,
    /// Scope step-ups allowed for one request before giving up (each is a new authorization).
    pub max_step_ups: u32,
    /// Let discovered metadata point at private-network addresses (an in-house IdP).
    pub allow_private_addresses: bool,
}

impl Default for SignInOptions {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            client_metadata_url: None,
            client_name: "Belay".to_owned(),
            scopes: Vec::new(),
            grant: Grant::AuthorizationCode,
            cache: None,
            user_agent: Arc::new(BrowserAgent::default()),
            max_step_ups: 2,
            allow_private_addresses: false,
        }
    }
}

impl std::fmt::Debug for SignInOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInOptions")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("client_metadata_url", &self.client_metadata_url)
            .field("scopes", &self.scopes)
            .field("grant", &self.grant)
            .field("cache", &self.cache)
            .field("max_step_ups", &self.max_step_ups)
            .finish_non_exhaustive()
    }
}

struct State {
    /// The manager of the current sign-in; `None` before the first one.
    manager: Option<AuthorizationManager>,
    /// Scopes requested so far, so a step-up asks for the union (SEP-2350).
    requested: Vec<String>,
}

/// The sign-in state for one MCP server. Cheap to share behind an [`Arc`]; concurrent
/// requests that hit a 401 together cause a single sign-in.
pub struct SignIn {
    server: Url,
    options: SignInOptions,
    store: TokenStore,
    state: Mutex<State>,
    step_ups: AtomicU32,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("server", &self.server.as_str())
            .finish_non_exhaustive()
    }
}

/// The server URL as an absolute http(s) URL without fragment (the RFC 8707 resource).
pub fn canonical_server_url(server_url: &str) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidServerUrl {
        url: server_url.to_owned(),
        reason,
    };
    let mut url = Url::parse(server_url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("not an http(s) URL with a host".into()));
    }
    url.set_fragment(None);
    Ok(url)
}

impl SignIn {
    /// Sign-in state for the MCP server at `server_url`.
    pub fn new(server_url: &str, options: SignInOptions) -> Result<Self> {
        let server = canonical_server_url(server_url)?;
        if options.client_secret.is_some() && options.client_id.is_none() {
            return Err(Error::InvalidOptions(
                "a client secret needs its client id: set client_id too".into(),
            ));
        }
        if let Some(url) = &options.client_metadata_url {
            let ok = Url::parse(url).is_ok_and(|u| u.scheme() == "https" && u.path() != "/");
            if !ok {
                return Err(Error::InvalidOptions(format!(
                    "client_metadata_url `{url}` must be an https URL with a path"
                )));
            }
        }
        let store = match &options.cache {
            Some(cache) => cache.store_for(&server),
            None => TokenStore::in_memory(&server),
        };
        Ok(Self {
            server,
            options,
            store,
            state: Mutex::new(State {
                manager: None,
                requested: Vec::new(),
            }),
            step_ups: AtomicU32::new(0),
        })
    }

    /// The MCP server this sign-in is for.
    pub fn server(&self) -> &Url {
        &self.server
    }

    /// Where the tokens are kept.
    pub fn store(&self) -> &TokenStore {
        &self.store
    }

    /// A usable access token without user interaction: the current one, refreshed when it is
    /// about to expire, or one restored from the cache. `None` means a sign-in is needed.
    pub async fn access_token(&self) -> Result<Option<String>> {
        let mut state = self.state.lock().await;
        if state.manager.is_none() {
            if self
                .store
                .load()
                .await?
                .is_none_or(|c| c.token_response.is_none())
            {
                return Ok(None);
            }
            state.manager = self.restore().await?;
        }
        let Some(manager) = &state.manager else {
            return Ok(None);
        };
        match manager.get_access_token().await {
            Ok(token) => Ok(Some(token)),
            Err(AuthError::AuthorizationRequired) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Refreshes the token the server just rejected. `None` when there is nothing to
    /// refresh with or the authorization server refused: a sign-in is needed.
    pub async fn refresh(&self, rejected: &str) -> Result<Option<String>> {
        let state = self.state.lock().await;
        let Some(manager) = &state.manager else {
            return Ok(None);
        };
        // Another request may have replaced the token meanwhile.
        if let Ok(current) = manager.get_access_token().await
            && current != rejected
        {
            return Ok(Some(current));
        }
        match manager.refresh_token().await {
            Ok(response) => Ok(Some(oauth_secret(&response))),
            Err(
                AuthError::AuthorizationRequired
                | AuthError::TokenRefreshRejected(_)
                | AuthError::TokenRefreshFailed(_)
                | AuthError::InternalError(_),
            ) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Signs in from scratch: discovery (seeded by the 401's `WWW-Authenticate` value when
    /// there is one), client identity, then the grant. `rejected` is the token the server
    /// refused, if any: when another request already replaced it, that token is returned.
    pub async fn sign_in(&self, challenge: Option<&str>, rejected: Option<&str>) -> Result<String> {
        let mut state = self.state.lock().await;
        if let Some(token) = self.replaced_token(&state, rejected).await {
            return Ok(token);
        }
        let scopes = self.options.scopes.clone();
        let (manager, requested) = self.authorize(challenge, scopes, true).await?;
        state.requested = requested;
        let token = manager.get_access_token().await?;
        state.manager = Some(manager);
        Ok(token)
    }

    /// Answers a 403 `insufficient_scope`: authorizes again for the union of the scopes asked
    /// so far and the challenged ones, at most [`SignInOptions::max_step_ups`] times in a row
    /// (a success resets the count, see [`SignIn::request_succeeded`]).
    pub async fn step_up(&self, challenge: &str, rejected: Option<&str>) -> Result<String> {
        let params = WWWAuthenticateParams::parse(challenge, &self.server);
        let required = params.scope.clone().unwrap_or_default();
        let attempts = self.step_ups.fetch_add(1, Ordering::SeqCst) + 1;
        if attempts > self.options.max_step_ups {
            return Err(Error::StepUpLimit {
                required,
                attempts: attempts - 1,
            });
        }
        let mut state = self.state.lock().await;
        if let Some(token) = self.replaced_token(&state, rejected).await {
            return Ok(token);
        }
        let mut scopes = state.requested.clone();
        for scope in required.split_whitespace() {
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        tracing::info!(scopes = %scopes.join(" "), attempt = attempts, "stepping up scope");
        let (manager, requested) = self.authorize(Some(challenge), scopes, false).await?;
        state.requested = requested;
        let token = manager.get_access_token().await?;
        state.manager = Some(manager);
        Ok(token)
    }

    /// Records that a request went through, which resets the step-up count.
    pub fn request_succeeded(&self) {
        self.step_ups.store(0, Ordering::SeqCst);
    }

    /// Forgets the tokens and the registration (here and in the cache file).
    pub async fn sign_out(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        state.manager = None;
        state.requested.clear();
        self.store.remove().await
    }

    async fn replaced_token(&self, state: &State, rejected: Option<&str>) -> Option<String> {
        let manager = state.manager.as_ref()?;
        let current = manager.get_access_token().await.ok()?;
        (Some(current.as_str()) != rejected).then_some(current)
    }

    async fn new_manager(&self) -> Result<AuthorizationManager> {
        let mut manager = if self.options.allow_private_addresses {
            AuthorizationManager::new_allowing_private_addresses(self.server.clone()).await?
        } else {
            AuthorizationManager::new(self.server.clone()).await?
        };
        manager.set_credential_store(self.store.clone());
        Ok(manager)
    }

    /// Rebuilds a manager from cached credentials (this re-runs discovery, which also tells
    /// whether the authorization server changed since: then the cache is dropped).
    async fn restore(&self) -> Result<Option<AuthorizationManager>> {
        let mut manager = self.new_manager().await?;
        if !manager.initialize_from_store().await? {
            return Ok(None);
        }
        let stored = self.store.load().await?;
        let client_id = stored.map(|c| c.client_id).unwrap_or_default();
        // initialize_from_store configures the client id only; add the secret back.
        if let Some(record) = self.store.client().await?
            && record.client_id == client_id
            && record.client_secret.is_some()
        {
            let mut config = OAuthClientConfig::new(client_id, self.server.as_str());
            config.client_secret = record.client_secret;
            manager.configure_client(config)?;
        }
        Ok(Some(manager))
    }

    /// One authorization: discovery, client identity, grant. Returns the manager holding the
    /// new token and the scopes requested.
    async fn authorize(
        &self,
        challenge: Option<&str>,
        scopes: Vec<String>,
        initial: bool,
    ) -> Result<(AuthorizationManager, Vec<String>)> {
        let mut manager = self.new_manager().await?;
        let resolution = manager.resolve_metadata_from_challenge(challenge).await?;
        let metadata = resolution.metadata;
        tracing::debug!(source = ?resolution.source, issuer = ?metadata.issuer, "authorization server found");
        manager.set_metadata(metadata.clone());

        let redirect = match self.options.grant {
            Grant::AuthorizationCode => Some(LoopbackRedirect::bind().await?),
            Grant::DeviceCode => None,
        };
        let redirect_uri = redirect.as_ref().map_or_else(
            || "http://127.0.0.1/callback".to_owned(),
            |r| r.redirect_uri().to_owned(),
        );
        let client = self
            .client_identity(&mut manager, &metadata, &redirect_uri)
            .await?;

        let mut request = AuthorizationRequest::new(redirect_uri.clone())
            .with_preregistered_client(client.client_id.clone());
        if let Some(secret) = &client.client_secret {
            request = request.with_client_secret(secret.clone());
        }
        request = if scopes.is_empty() && initial {
            request.with_initial_scope_selection()
        } else {
            request.with_scopes(scopes.clone())
        };

        let Some(redirect) = redirect else {
            // Device grant: rmcp has no device flow; ours shares its metadata and store.
            let chosen = if scopes.is_empty() {
                manager.select_initial_scopes(&[]).await
            } else {
                scopes
            };
            let mut config = OAuthClientConfig::new(client.client_id.clone(), redirect_uri);
            config.client_secret = client.client_secret.clone();
            manager.configure_client(config)?;
            device::sign_in(
                &self.server,
                &metadata,
                &client,
                &chosen,
                self.options.user_agent.as_ref(),
                &self.store,
            )
            .await?;
            return Ok((manager, chosen));
        };

        let session = AuthorizationSession::new(manager, request)
            .await
            .map_err(|(_, e)| e)?;
        let requested = scope_param(session.get_authorization_url());
        let callback_url = self
            .options
            .user_agent
            .authorize(session.get_authorization_url(), redirect)
            .await?;
        let callback = parse_callback(&callback_url)?;
        session
            .handle_callback_with_issuer(
                &callback.code,
                &callback.csrf_token,
                callback.issuer.as_deref(),
            )
            .await?;
        Ok((session.auth_manager, requested))
    }

    /// Picks the client identity, in the spec's order: pre-registered, Client ID Metadata
    /// Document, a registration cached for this same issuer, Dynamic Client Registration.
    async fn client_identity(
        &self,
        manager: &mut AuthorizationManager,
        metadata: &AuthorizationMetadata,
        redirect_uri: &str,
    ) -> Result<ClientRecord> {
        let issuer = metadata.issuer.clone();
        if let Some(client_id) = &self.options.client_id {
            return Ok(ClientRecord {
                issuer,
                client_id: client_id.clone(),
                client_secret: self.options.client_secret.clone(),
            });
        }
        let cimd = metadata
            .additional_fields
            .get("client_id_metadata_document_supported")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        if cimd && let Some(url) = &self.options.client_metadata_url {
            return Ok(ClientRecord {
                issuer,
                client_id: url.clone(),
                client_secret: None,
            });
        }
        // A registration is only valid at the authorization server that made it (SEP-2352).
        if let Some(record) = self.store.client().await?
            && record.issuer == issuer
            && !(self.options.grant == Grant::DeviceCode && record.issuer.is_none())
        {
            return Ok(record);
        }
        let record = match self.options.grant {
            Grant::AuthorizationCode => {
                let config = manager
                    .register_client(&self.options.client_name, redirect_uri, &[])
                    .await?;
                ClientRecord {
                    issuer,
                    client_id: config.client_id,
                    client_secret: config.client_secret,
                }
            }
            Grant::DeviceCode => device::register(metadata, &self.options.client_name).await?,
        };
        self.store.set_client(Some(record.clone())).await?;
        Ok(record)
    }
}

fn oauth_secret(response: &rmcp::transport::auth::OAuthTokenResponse) -> String {
    use oauth2::TokenResponse as _;
    response.access_token().secret().to_string()
}

/// The scopes an authorization URL asks for.
fn scope_param(authorization_url: &str) -> Vec<String> {
    Url::parse(authorization_url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "scope")
                .map(|(_, v)| v.into_owned())
        })
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Reads the redirect: an `error` from the authorization server becomes a clear message.
fn parse_callback(callback_url: &str) -> Result<AuthorizationCallback> {
    if let Ok(url) = Url::parse(callback_url)
        && let Some((_, error)) = url.query_pairs().find(|(k, _)| k == "error")
    {
        let description = url
            .query_pairs()
            .find(|(k, _)| k == "error_description")
            .map(|(_, v)| format!(": {v}"))
            .unwrap_or_default();
        return Err(Error::AuthorizationDenied(format!("{error}{description}")));
    }
    Ok(AuthorizationCallback::from_redirect_url(callback_url)?)
}

/// How long the device flow and other waits may take at most.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(900);
