//! Belay's operations console: a web dashboard at `/ui`, served beside the gateway, for
//! the people who run it. An overview of the traffic that updates live (server-sent
//! events), an audit explorer with filters and export, and a security view of pinned tools
//! where a changed tool is approved.
//!
//! Only admins get in: a person signs in at the authorization server (authorization code
//! with PKCE, the console a confidential client); the token must be for the console's own
//! resource (`<base>/ui`), carry the admin scope and name one of `[console] admins`. The browser then holds an opaque session id in an `HttpOnly; SameSite=Strict`
//! cookie ([`session`]), never a token (the server keeps it, and checks it again on every
//! request, so revoking it ends the session); every POST carries the session's CSRF token.
//! Scripts may send `Authorization: Bearer` with such a token instead (no cookie, so no
//! CSRF to fear). Pages are server-rendered with every value escaped, plus one small
//! bundled script (no CDN); admin actions are audited.
#![deny(missing_docs)]

mod access;
mod actions;
pub mod alerts;
mod assets;
mod error;
mod explorer;
mod html;
mod overview;
mod records;
mod security;
mod session;
mod signin;
mod stats;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    routing::{get, post},
};
use belay_audit::AuditLog;
use belay_auth::{ResourceSpec, Validator};
use belay_gateway::{BlockStore, Gateway, PinStore};
use belay_store::Db;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use error::Error;

/// The scope an admin's token must carry, unless `[console] scope` says otherwise.
pub const ADMIN_SCOPE: &str = "belay:admin";
/// The console's client id at the authorization server, unless configured otherwise.
pub const CONSOLE_CLIENT: &str = "belay-console";

/// `[console]` in belay.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSpec {
    /// Serve `/ui` (only ever with sign-in).
    pub enabled: bool,
    /// The scope a token needs to open the console.
    pub scope: String,
    /// User names (`preferred_username`) or subjects allowed in (with the scope); empty:
    /// nobody. `belay up` lists its demo user when this is empty.
    pub admins: Vec<String>,
    /// The console's client id at the authorization server.
    pub client_id: String,
    /// Environment variable holding that client's secret (`belay gateway serve` with an
    /// external issuer; `belay up` registers the client itself).
    pub client_secret_env: Option<String>,
    /// How long a sign-in lasts, in minutes.
    pub session_minutes: u64,
}

impl Default for ConsoleSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            scope: ADMIN_SCOPE.into(),
            admins: Vec::new(),
            client_id: CONSOLE_CLIENT.into(),
            client_secret_env: None,
            session_minutes: 8 * 60,
        }
    }
}

/// What the console reads and acts on.
#[derive(Clone)]
pub struct Sources {
    /// The running gateway (upstream health, breakers).
    pub gateway: Gateway,
    /// The audit log, to record admin actions and follow new records live.
    pub audit: Option<AuditLog>,
    /// The audit store (`sinks` with `store`), which the overview and explorer query.
    pub audit_db: Option<Db>,
    /// The audit key's file, to verify the chain.
    pub audit_key: Option<PathBuf>,
    /// Tool pins, when an upstream pins.
    pub pins: Option<PinStore>,
    /// The operator blocks the gateway enforces (the same store `belay gateway block`
    /// writes), for the block and unblock actions.
    pub blocks: Option<BlockStore>,
    /// Reloads the configuration as the server does on SIGHUP, for the reload action.
    pub reload: Option<Reload>,
    /// The open alert incidents ([`alerts::notify::spawn`]), when rules run.
    pub alerts: Option<alerts::notify::OpenIncidents>,
    /// What `[gateway] registry` said of each upstream at the last start or reload.
    pub registry: Option<RegistryStatus>,
    /// Cancelled when the server stops: live streams end then, so they cannot hold it up.
    pub shutdown: CancellationToken,
}

/// The registry's verdict on each upstream, kept current by whoever applies
/// `[gateway] registry` (the gateway's start and each reload).
pub type RegistryStatus = Arc<std::sync::RwLock<RegistryView>>;

/// What the registry said at the last (re)load.
#[derive(Debug, Clone, Default)]
pub struct RegistryView {
    /// The registry read (a URL or a data folder).
    pub location: String,
    /// One line per configured upstream, in configuration order.
    pub upstreams: Vec<RegistryLine>,
}

/// The registry's verdict on one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLine {
    /// The upstream, as in `[[gateway.upstream]]`.
    pub upstream: String,
    /// Connected (approved, or served by Belay itself and not looked up).
    pub admitted: bool,
    /// Why, in words (`approved as NAME@VERSION`, `blocked: …`, `served by Belay`).
    pub reason: String,
}

/// Reloads the configuration from its file: what was applied, or why nothing was.
pub type Reload =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// Where the console is and whom it trusts.
#[derive(Debug, Clone)]
pub struct Place {
    /// The public base URL the browser uses, e.g. `http://127.0.0.1:8000`.
    pub base_url: String,
    /// `[resource]`: the issuer and how its tokens are checked.
    pub resource: ResourceSpec,
    /// The console client's secret at the issuer.
    pub client_secret: String,
}

pub(crate) struct Inner {
    pub(crate) spec: ConsoleSpec,
    pub(crate) base: String,
    pub(crate) issuer: String,
    pub(crate) client_secret: String,
    pub(crate) http: reqwest::Client,
    pub(crate) validator: Validator,
    pub(crate) sessions: session::Sessions,
    pub(crate) sources: Sources,
}

impl Inner {
    /// The console's resource: the audience its tokens must carry.
    pub(crate) fn resource(&self) -> String {
        format!("{}/ui", self.base)
    }

    /// Cookies are `Secure` when the console is served over https.
    pub(crate) fn secure(&self) -> bool {
        self.base.starts_with("https://")
    }
}

/// The console; clone it freely.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

impl Console {
    /// A console at `place` over `sources`. Fetches nothing yet: the issuer is asked on
    /// the first sign-in.
    pub fn new(spec: &ConsoleSpec, place: Place, sources: Sources) -> Result<Self, Error> {
        let base = place.base_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let resource = format!("{base}/ui");
        let token_spec = ResourceSpec {
            resource: Some(resource.clone()),
            ..place.resource.clone()
        };
        let validator = Validator::new(&token_spec, &resource, http.clone())?;
        Ok(Self(Arc::new(Inner {
            spec: spec.clone(),
            base,
            issuer: place.resource.issuer.clone(),
            client_secret: place.client_secret,
            http,
            validator,
            sessions: session::Sessions::new(Duration::from_secs(spec.session_minutes.max(1) * 60)),
            sources,
        })))
    }

    /// Where the authorization server sends the browser back: register it for the client.
    pub fn redirect_uri(base_url: &str) -> String {
        format!("{}/ui/callback", base_url.trim_end_matches('/'))
    }

    /// `/ui` and everything under it.
    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/ui", get(overview::page))
            .route("/ui/", get(overview::page))
            .route("/ui/events", get(overview::events))
            .route("/ui/audit", get(explorer::page))
            .route("/ui/audit/export", get(explorer::export))
            .route("/ui/security", get(security::page))
            .route("/ui/security/approve", post(security::approve))
            .route("/ui/security/block", post(actions::block))
            .route("/ui/security/unblock", post(actions::unblock))
            .route("/ui/reload", post(actions::reload))
            .route("/ui/login", get(signin::login))
            .route("/ui/callback", get(signin::callback))
            .route("/ui/logout", post(signin::logout))
            .route("/ui/assets/{file}", get(assets::serve));
        routes.with_state(self.0.clone())
    }
}
