//! Belay's embedded OAuth 2.1 authorization server: authorization code + PKCE, refresh
//! rotation, client credentials, token exchange, dynamic registration, revocation,
//! introspection and userinfo, issuing RFC 9068 JWT access tokens bound to one resource.
//!
//! [`AuthServer`] holds the state ([`belay_store::Db`] for everything persistent, the
//! issuer, a [`Clock`]); [`AuthServer::router`] serves every endpoint; [`Users`] manages
//! logins. One module per endpoint; all state lives in the store, so a restart loses
//! nothing and `belay auth` commands can run beside a live server.
#![deny(missing_docs)]

mod authorize;
mod cimd;
pub mod client_admin;
mod client_ip;
mod clients;
mod device;
mod error;
mod exchange;
mod families;
mod grants;
mod introspect;
mod jwt;
pub mod keys;
mod metadata;
mod page;
mod params;
mod ratelimit;
mod register;
mod revoke;
mod revoked;
mod schema;
mod secret;
mod signin;
mod spec;
mod throttle;
mod token;
mod userinfo;
pub mod users;

use std::sync::Arc;

use axum::{
    Router,
    routing::{get, post},
};
use belay_mcp::http::HttpServerOptions;
use belay_store::Db;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The workspace's clock, re-exported because [`AuthServer::new`] takes one.
pub use belay_core::clock::{Clock, ManualClock, SystemClock};
pub use cimd::{CimdError, CimdSpec};
pub use client_admin::{ClientInfo, Clients, NewClient};
pub use clients::{AuthMethod, Client, check_redirect_uri};
pub use error::{Error, OAuthError};
pub use jwt::{AccessClaims, Actor};
pub use keys::Alg;
pub use schema::migrate;
pub use spec::{ClientSpec, DEFAULT_SCOPES, ExchangeSpec, ServerSpec, Settings};
pub use users::{User, Users};

/// The embedded authorization server; cheap to clone.
#[derive(Clone)]
pub struct AuthServer {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    settings: Settings,
    clock: Arc<dyn Clock>,
    keys: keys::KeyRing,
    limiter: ratelimit::RateLimiter,
    /// User-code lookups at `/device`, per address.
    code_lookups: ratelimit::RateLimiter,
    cimd: cimd::Resolver,
    /// Revoked access tokens, for resource servers in this process.
    revoked: Arc<revoked::RevokedIds>,
    /// Failed sign-ins per account and address.
    throttle: throttle::SignInThrottle,
    /// Password checks that may run at once.
    password_checks: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.inner.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthServer {
    /// Opens the server on `db`: creates its tables, stores the pre-registered clients
    /// and makes a signing key if there is none. Blocking (key generation).
    pub fn new(db: Db, settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        migrate(&db)?;
        let now = clock.unix_seconds();
        let configured = settings
            .clients
            .iter()
            .map(clients::from_spec)
            .collect::<Result<Vec<_>, _>>()?;
        db.call_blocking(|c| {
            for client in &configured {
                clients::store(c, client, "config", now)?;
            }
            Ok(())
        })?;
        keys::ensure(&db, settings.signing_alg, now)?;
        let limit = |what: &str, burst, per_minute| {
            ratelimit::RateLimiter::new(burst, per_minute, clock.monotonic_now())
                .map_err(|e| Error::Config(format!("the {what} rate limit: {e}")))
        };
        let limiter = limit(
            "registration",
            settings.registration_burst,
            settings.registration_per_minute,
        )?;
        let code_lookups = limit("user-code lookup", 10, 10)?;
        let cimd = cimd::Resolver::new(&settings.cimd)?;
        let revoked = Arc::new(revoked::RevokedIds::load(&db, now)?);
        let password_checks = Arc::new(tokio::sync::Semaphore::new(settings.max_password_checks));
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                settings,
                clock,
                keys: keys::KeyRing::default(),
                limiter,
                code_lookups,
                cimd,
                revoked,
                throttle: throttle::SignInThrottle::default(),
                password_checks,
            }),
        })
    }

    /// Every endpoint, at the root (mount it where the issuer's path says).
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(metadata::oauth),
            )
            .route("/.well-known/openid-configuration", get(metadata::openid))
            .route("/jwks.json", get(metadata::jwks))
            .route("/authorize", get(authorize::show).post(authorize::submit))
            .route("/token", post(token::token))
            .route("/register", post(register::register))
            .route("/revoke", post(revoke::revoke))
            .route("/introspect", post(introspect::introspect))
            .route(
                "/userinfo",
                get(userinfo::userinfo).post(userinfo::userinfo),
            )
            .route("/device_authorization", post(device::authorization))
            .route("/device", get(device::page).post(device::submit))
            .with_state(self.clone())
    }

    /// The issuer identifier (base URL without trailing slash).
    pub fn issuer(&self) -> &str {
        &self.inner.settings.issuer
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The store.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The user table.
    pub fn users(&self) -> Users {
        Users::new(self.inner.db.clone())
    }

    /// Current wall-clock time on the server's clock, in Unix seconds: what tokens, codes
    /// and stored rows are stamped and checked with.
    pub fn now(&self) -> i64 {
        self.inner.clock.unix_seconds()
    }

    /// Current monotonic time on the server's clock: what the per-address buckets refill by.
    pub(crate) fn monotonic_now(&self) -> std::time::Instant {
        self.inner.clock.monotonic_now()
    }

    /// Whether the access token with this `jti` was revoked: an in-memory lookup kept
    /// current by every revocation this server makes, for a resource server running in the
    /// same process (`belay_auth::ResourceSpec::revocations`), e.g.
    /// `RevocationList::new(Arc::new(move |jti: &str| server.is_revoked_now(jti)))`.
    pub fn is_revoked_now(&self, jti: &str) -> bool {
        self.inner.revoked.contains(jti)
    }

    /// Reads the revocation table into the in-memory list: revocations other processes made
    /// (`belay auth user remove`, `belay auth client remove` beside a running server) reach
    /// [`Self::is_revoked_now`] this way. [`Self::watch_revocations`] calls it periodically.
    pub async fn sync_revocations(&self) -> Result<(), Error> {
        let db = self.inner.db.clone();
        let now = self.now();
        let table = tokio::task::spawn_blocking(move || revoked::read_table(&db, now))
            .await
            .map_err(|e| Error::Config(format!("the revocation reader failed: {e}")))??;
        self.inner.revoked.add(table, now);
        Ok(())
    }

    /// Reads the revocation table every `every` until `shutdown`, for a server whose
    /// in-process resource servers rely on [`Self::is_revoked_now`] (`belay up`).
    pub fn watch_revocations(&self, every: std::time::Duration, shutdown: CancellationToken) {
        let server = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                if let Err(e) = server.sync_revocations().await {
                    tracing::warn!(error = %e, "cannot read the revocation table");
                }
            }
        });
    }

    /// Makes a new current signing key of `alg`; older keys stay published until every
    /// token they signed has expired. Returns the new `kid`.
    pub async fn rotate(&self, alg: Alg) -> Result<String, Error> {
        let db = self.inner.db.clone();
        let now = self.now();
        tokio::task::spawn_blocking(move || keys::rotate(&db, alg, now))
            .await
            .map_err(|e| Error::Key(e.to_string()))?
    }
}

/// Starts an authorization server on a free loopback port with an in-memory store, until
/// `shutdown`: for tests, benchmarks and demos. `tune` adjusts the spec (its issuer is the
/// port's URL), `wrap` the router (e.g. to count requests). Returns the issuer and the
/// server (to add users, rotate keys).
pub async fn spawn_ephemeral(
    tune: impl FnOnce(&mut ServerSpec),
    wrap: impl FnOnce(Router) -> Router,
    shutdown: CancellationToken,
) -> Result<(String, AuthServer), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let mut spec = ServerSpec {
        issuer: Some(issuer.clone()),
        ..ServerSpec::default()
    };
    tune(&mut spec);
    let settings = Settings::try_from(&spec)?;
    let server = tokio::task::spawn_blocking(move || {
        AuthServer::new(
            belay_store::Db::in_memory()?,
            settings,
            Arc::new(SystemClock),
        )
    })
    .await
    .map_err(|e| Error::Config(format!("the start-up task failed: {e}")))??;
    tokio::spawn(serve(listener, wrap(server.router()), shutdown));
    Ok((issuer, server))
}

/// Serves `router` on `listener` until `shutdown` with the server loop's default limits
/// (see [`serve_with`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, HttpServerOptions::default()).await
}

/// Serves `router` on `listener` until `shutdown`, on Belay's server loop with `options`:
/// slow request heads and bodies are cut off (408 for a body), connections per client
/// address capped, and each request carries its client's address, the TCP peer's or the
/// one a trusted proxy names, for the limits kept per address.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    options: HttpServerOptions,
) -> std::io::Result<()> {
    belay_mcp::http::run_with(listener, router, shutdown, options)
        .await
        .map_err(|e| match e {
            belay_mcp::Error::Io(e) => e,
            other => std::io::Error::other(other),
        })
}
