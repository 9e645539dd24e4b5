//! The console's test world: a real authorization server with an admin and a robot client,
//! a real audit log, pin and block stores, a gateway and the console on loopback; and a
//! browser's moves (sign-in through the issuer's form, GETs and form POSTs with a cookie).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, ensure};
use belay_audit::{AuditLog, AuditSpec, Sink};
use belay_auth::{ResourceSpec, RevocationList, exchange::ClientCredentials};
use belay_auth_server::{ClientSpec, spawn_ephemeral};
use belay_console::{ADMIN_SCOPE, CONSOLE_CLIENT, Console, ConsoleSpec, Place, Reload, Sources};
use belay_gateway::{BlockStore, Chain, Gateway, GatewaySpec, PinStore};
use reqwest::{StatusCode, header};
use tokio_util::sync::CancellationToken;

pub(super) const SECRET: &str = "console-secret-for-tests";
pub(super) const ROBOT: &str = "robot";
pub(super) const ROBOT_SECRET: &str = "robot-secret-for-tests";

pub(super) struct World {
    pub(super) base: String,
    pub(super) issuer: String,
    pub(super) http: reqwest::Client,
    pub(super) audit: AuditLog,
    pub(super) pins: PinStore,
    pub(super) blocks: BlockStore,
    /// The configuration text the reload action reads.
    pub(super) config: Arc<Mutex<String>>,
    pub(super) server: belay_auth_server::AuthServer,
    pub(super) db: belay_store::Db,
    /// What `[gateway] registry` said of each upstream, as the gateway's start sets it.
    pub(super) registry: belay_console::RegistryStatus,
    pub(super) _dir: tempfile::TempDir,
    pub(super) stop: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub(super) async fn world() -> anyhow::Result<World> {
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let redirect = Console::redirect_uri(&base);
    let (issuer, server) = spawn_ephemeral(
        |spec| {
            spec.scopes.push(ADMIN_SCOPE.into());
            spec.clients.push(ClientSpec {
                client_id: CONSOLE_CLIENT.into(),
                client_secret: Some(SECRET.into()),
                redirect_uris: vec![redirect],
                grant_types: vec!["authorization_code".into()],
                ..ClientSpec::default()
            });
            spec.clients.push(ClientSpec {
                client_id: ROBOT.into(),
                client_secret: Some(ROBOT_SECRET.into()),
                grant_types: vec!["client_credentials".into()],
                ..ClientSpec::default()
            });
        },
        |router| router,
        stop.clone(),
    )
    .await?;
    let users = server.users();
    tokio::task::spawn_blocking(move || {
        users.add("ada", "ada-password", Some("Ada"), None)?;
        users.add("bob", "bob-password", Some("Bob"), None)?;
        anyhow::Ok(())
    })
    .await??;
    let dir = tempfile::tempdir()?;
    let db = belay_store::Db::in_memory()?;
    let audit_spec = AuditSpec {
        sinks: vec![Sink::Store],
        key_file: Some(dir.path().join("audit.key")),
        ..AuditSpec::default()
    };
    let audit = AuditLog::open(&audit_spec, dir.path(), Some(db.clone()))?;
    let gateway_spec = GatewaySpec::default();
    let chain = Chain::from_spec(
        &gateway_spec,
        Arc::new(belay_policy::SystemClock),
        Some(audit.clone()),
    )?;
    let blocks = BlockStore::open(belay_store::Db::in_memory()?)?;
    let gateway = Gateway::start_with_stores(
        gateway_spec,
        chain,
        None,
        Some(blocks.clone()),
        stop.clone(),
    )?;
    let pins = PinStore::open(belay_store::Db::in_memory()?)?;
    // The reload action as the CLI wires it: read the configuration, check it, reload.
    let config = Arc::new(Mutex::new(String::new()));
    let reload: Reload = {
        let (gateway, config) = (gateway.clone(), config.clone());
        Arc::new(move || {
            let text = config.lock().map(|t| t.clone()).unwrap_or_default();
            let gateway = gateway.clone();
            Box::pin(async move {
                let spec = belay_gateway::check(&text).map_err(|e| e.to_string())?;
                gateway
                    .reload(&spec)
                    .map(|r| r.to_string())
                    .map_err(|e| e.to_string())
            })
        })
    };
    let spec = ConsoleSpec {
        admins: vec!["ada".into()],
        ..ConsoleSpec::default()
    };
    let place = Place {
        base_url: base.clone(),
        resource: ResourceSpec {
            issuer: issuer.clone(),
            // The robot's client-credentials tokens are accepted as tokens (so that what
            // the console makes of their scopes and subject can be tested).
            service_clients: vec![ROBOT.into()],
            // Revocations as `belay up` wires them: the issuer's own list, no round trip.
            revocations: Some(RevocationList::new(Arc::new({
                let server = server.clone();
                move |jti: &str| server.is_revoked_now(jti)
            }))),
            ..ResourceSpec::default()
        },
        client_secret: SECRET.into(),
    };
    let registry = belay_console::RegistryStatus::default();
    let sources = Sources {
        gateway,
        audit: Some(audit.clone()),
        audit_db: Some(db.clone()),
        audit_key: audit_spec.key_file,
        pins: Some(pins.clone()),
        blocks: Some(blocks.clone()),
        reload: Some(reload),
        alerts: None,
        registry: Some(registry.clone()),
        shutdown: stop.clone(),
    };
    let console = Console::new(&spec, place, sources)?;
    let router = console.router();
    let serving = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { serving.cancelled().await })
            .await
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()?;
    Ok(World {
        base,
        issuer,
        http,
        audit,
        pins,
        blocks,
        config,
        server,
        db,
        registry,
        _dir: dir,
        stop,
    })
}

/// `name=value` of the `Set-Cookie` for `name`, and the whole header.
pub(super) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let pair = v.split(';').next().unwrap_or_default().to_owned();
            (pair, v.to_owned())
        })
}

impl World {
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in through the issuer's form as a browser would; the callback's answer and
    /// the session cookie it set (if any).
    pub(super) async fn sign_in(
        &self,
        user: &str,
        password: &str,
    ) -> anyhow::Result<(reqwest::Response, Option<String>)> {
        let login = self.http.get(self.url("/ui/login")).send().await?;
        ensure!(
            login.status() == StatusCode::SEE_OTHER,
            "{}",
            login.status()
        );
        let (login_cookie, _) =
            set_cookie(&login, "belay_console_login").context("no login cookie")?;
        let authorize = login
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("no redirect to the issuer")?
            .to_owned();
        ensure!(authorize.starts_with(&self.issuer), "{authorize}");
        let back = belay_client::FormAgent::new(user, password)?
            .submit(&authorize)
            .await?;
        ensure!(back.starts_with(&self.url("/ui/callback?")), "{back}");
        let answer = self
            .http
            .get(&back)
            .header(header::COOKIE, login_cookie)
            .send()
            .await?;
        let session = set_cookie(&answer, "belay_console").map(|(pair, whole)| {
            assert!(
                whole.contains("HttpOnly") && whole.contains("SameSite=Strict"),
                "{whole}"
            );
            pair
        });
        Ok((answer, session))
    }

    pub(super) async fn get(
        &self,
        path: &str,
        cookie: &str,
    ) -> anyhow::Result<(StatusCode, String)> {
        let response = self
            .http
            .get(self.url(path))
            .header(header::COOKIE, cookie)
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }

    pub(super) async fn robot_token(&self, scope: &str) -> anyhow::Result<String> {
        let token_endpoint = format!("{}/token", self.issuer);
        let answer = belay_auth::exchange::client_credentials(
            &self.http,
            &token_endpoint,
            &ClientCredentials::new(ROBOT, ROBOT_SECRET),
            Some(scope),
            Some(&self.url("/ui")),
        )
        .await?;
        Ok(answer.access_token.secret().to_owned())
    }
}

/// The CSRF token in a page's forms.
pub(super) fn csrf_of(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_owned())
}

impl World {
    /// POSTs `form` as the signed-in browser with `cookie` (and `origin`, if given).
    pub(super) async fn post(
        &self,
        path: &str,
        cookie: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut request = self
            .http
            .post(self.url(path))
            .header(header::COOKIE, cookie)
            .form(form);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let response = request.send().await?;
        Ok((response.status(), response.text().await?))
    }

    /// The audit records of `method`.
    pub(super) async fn actions(
        &self,
        method: &str,
    ) -> anyhow::Result<Vec<belay_audit::AuditEvent>> {
        self.audit.flush().await?;
        let page = belay_audit::query(
            &self.db,
            &belay_audit::Query {
                method: Some(method.into()),
                ..Default::default()
            },
        )
        .await?;
        Ok(page.records.into_iter().map(|r| r.event).collect())
    }
}

pub(super) fn tool_call(upstream: &str, tool: &str) -> belay_gateway::CallContext {
    belay_gateway::CallContext {
        caller: None,
        session: None,
        upstream: upstream.into(),
        method: "tools/call",
        target: Some(tool.into()),
        arguments: None,
    }
}
