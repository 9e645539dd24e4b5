//! A running server, a user, clients, and helpers that drive the HTML form like a browser.

use std::{path::Path, sync::Arc};

use anyhow::{Context, anyhow, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_auth_server::{AuthServer, ClientSpec, ExchangeSpec, ManualClock, Settings};
use belay_store::Db;
use reqwest::{StatusCode, header};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";
pub const RESOURCE: &str = "http://127.0.0.1:8001/mcp";
pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";
/// A pre-registered confidential client (introspection, client credentials, exchange).
pub const RS_ID: &str = "resource-server";
pub const RS_SECRET: &str = "rs-secret-0123456789";

pub struct Harness {
    pub server: AuthServer,
    pub clock: ManualClock,
    pub base: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct Registered {
    pub id: String,
    pub secret: Option<String>,
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// The hidden fields and cookie of the consent page.
pub struct Form {
    pub request_id: String,
    pub csrf: String,
    pub cookie: String,
}

fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .context(format!("no hidden field {name}"))?
        + marker.len();
    let end = html[start..].find('"').context("unterminated value")?;
    Ok(html[start..start + end].to_owned())
}

/// Query parameters of a redirect's `Location`.
pub fn location_params(resp: &reqwest::Response) -> anyhow::Result<Vec<(String, String)>> {
    let location = resp
        .headers()
        .get(header::LOCATION)
        .context("no Location header")?
        .to_str()?;
    let url = url::Url::parse(location)?;
    Ok(url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Db::in_memory()?, ManualClock::new(), |_| {}).await
    }

    pub async fn start_on_file(path: &Path, clock: ManualClock) -> anyhow::Result<Self> {
        Self::start_with(Db::open(path)?, clock, |_| {}).await
    }

    pub async fn start_with(
        db: Db,
        clock: ManualClock,
        tweak: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut settings = Settings::for_issuer(&base)?;
        settings.clients.push(ClientSpec {
            client_id: RS_ID.into(),
            client_secret: Some(RS_SECRET.into()),
            grant_types: vec![
                "client_credentials".into(),
                "urn:ietf:params:oauth:grant-type:token-exchange".into(),
            ],
            name: Some("Resource server".into()),
            // It fronts RESOURCE and calls userinfo on its callers' behalf.
            token_exchange: Some(ExchangeSpec {
                from: vec![RESOURCE.into()],
                to: vec![format!("{base}/userinfo")],
            }),
            ..ClientSpec::default()
        });
        tweak(&mut settings);
        let server = AuthServer::new(db, settings, Arc::new(clock.clone()))?;
        let users = server.users();
        if users.list()?.iter().all(|u| u.username != USER) {
            users.add(
                USER,
                PASSWORD,
                Some("Alice Liddell"),
                Some("alice@example.com"),
            )?;
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(belay_auth_server::serve(
            listener,
            server.router(),
            shutdown.clone(),
        ));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            server,
            clock,
            base,
            http,
            shutdown,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a client through DCR (`auth` = token_endpoint_auth_method).
    pub async fn register(&self, auth: &str) -> anyhow::Result<Registered> {
        let body = self
            .registered(serde_json::json!({
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": auth,
                "client_name": "Test <App>",
            }))
            .await?;
        Ok(Registered {
            id: body["client_id"].as_str().context("client_id")?.to_owned(),
            secret: body["client_secret"].as_str().map(str::to_owned),
        })
    }

    async fn post_register(&self, metadata: &Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.url("/register"))
            .json(metadata)
            .send()
            .await
    }

    /// POST /register with `metadata`: the status and the JSON answer.
    pub async fn register_with(&self, metadata: Value) -> anyhow::Result<(StatusCode, Value)> {
        let resp = self.post_register(&metadata).await?;
        Ok((resp.status(), resp.json().await?))
    }

    /// POST /register with `metadata`, which must succeed; the JSON answer.
    pub async fn registered(&self, metadata: Value) -> anyhow::Result<Value> {
        let resp = self.post_register(&metadata).await?;
        if resp.status() != StatusCode::CREATED {
            bail!(
                "registration failed: {} {}",
                resp.status(),
                resp.text().await?
            );
        }
        Ok(resp.json().await?)
    }

    /// GET /authorize with the usual parameters plus `extra` (which may override them;
    /// an empty value removes one).
    pub async fn authorize(
        &self,
        client: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<reqwest::Response> {
        let mut query: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("scope", "mcp:tools offline_access"),
            ("resource", RESOURCE),
            ("state", "xyz"),
        ];
        for (k, v) in extra {
            query.retain(|(q, _)| q != k);
            if !v.is_empty() {
                query.push((k, v));
            }
        }
        Ok(self
            .http
            .get(self.url("/authorize"))
            .query(&query)
            .send()
            .await?)
    }

    /// Reads the consent page's hidden fields and CSRF cookie.
    pub async fn form(resp: reqwest::Response) -> anyhow::Result<Form> {
        if resp.status() != StatusCode::OK {
            bail!("authorize page: {} {}", resp.status(), resp.text().await?);
        }
        let cookie = resp
            .headers()
            .get(header::SET_COOKIE)
            .context("no CSRF cookie")?
            .to_str()?
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        let html = resp.text().await?;
        Ok(Form {
            request_id: hidden(&html, "request_id")?,
            csrf: hidden(&html, "csrf")?,
            cookie,
        })
    }

    /// POSTs the consent form of `/authorize`.
    pub async fn submit(
        &self,
        form: &Form,
        password: &str,
        consent: &str,
    ) -> anyhow::Result<reqwest::Response> {
        self.post_consent("/authorize", form, password, consent)
            .await
    }

    /// POSTs a consent form (`/authorize` or `/device`) as alice with `password`.
    pub async fn post_consent(
        &self,
        path: &str,
        form: &Form,
        password: &str,
        consent: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .post(self.url(path))
            .header(header::COOKIE, &form.cookie)
            .form(&[
                ("request_id", form.request_id.as_str()),
                ("csrf", form.csrf.as_str()),
                ("username", USER),
                ("password", password),
                ("consent", consent),
            ])
            .send()
            .await?)
    }

    /// The whole browser part: page, sign-in, approval; returns the code.
    pub async fn code(
        &self,
        client: &str,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        let form = Self::form(self.authorize(client, &pkce.challenge, extra).await?).await?;
        let resp = self.submit(&form, PASSWORD, "approve").await?;
        if resp.status() != StatusCode::SEE_OTHER {
            bail!("approval: {} {}", resp.status(), resp.text().await?);
        }
        let params = location_params(&resp)?;
        if param(&params, "iss") != Some(self.base.as_str())
            || param(&params, "state") != Some("xyz")
        {
            bail!("bad iss or state in {params:?}");
        }
        param(&params, "code")
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no code in {params:?}"))
    }

    /// POST /token; `basic` authenticates with HTTP Basic.
    pub async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self.http.post(self.url("/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await?;
        Ok((resp.status(), resp.json().await?))
    }

    /// Redeems a code for a public client.
    pub async fn redeem(
        &self,
        client: &str,
        code: &str,
        verifier: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
            None,
        )
        .await
    }

    /// A public client, its tokens from a full code flow.
    pub async fn signed_in(&self) -> anyhow::Result<(Registered, Value)> {
        let client = self.register("none").await?;
        let pkce = pkce();
        let code = self.code(&client.id, &pkce, &[]).await?;
        let (status, body) = self.redeem(&client.id, &code, &pkce.verifier).await?;
        if status != StatusCode::OK {
            bail!("token: {status} {body}");
        }
        Ok((client, body))
    }

    pub async fn refresh(&self, client: &str, token: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("client_id", client),
                ("refresh_token", token),
            ],
            None,
        )
        .await
    }

    /// RFC 7662 as the resource server.
    pub async fn introspect(&self, token: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(self.url("/introspect"))
            .basic_auth(RS_ID, Some(RS_SECRET))
            .form(&[("token", token)])
            .send()
            .await?;
        if resp.status() != StatusCode::OK {
            bail!("introspect: {}", resp.status());
        }
        Ok(resp.json().await?)
    }

    /// Verifies a JWT against the published JWKS, as a resource server would.
    pub async fn verify_with_jwks(&self, token: &str) -> anyhow::Result<Value> {
        let header = jsonwebtoken::decode_header(token)?;
        let jwks: jsonwebtoken::jwk::JwkSet = self
            .http
            .get(self.url("/jwks.json"))
            .send()
            .await?
            .json()
            .await?;
        let kid = header.kid.context("no kid")?;
        let jwk = jwks.find(&kid).context("kid not in JWKS")?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk)?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.validate_aud = false;
        validation.validate_exp = false;
        Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
    }
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v[key]
        .as_str()
        .with_context(|| format!("no `{key}` in {v}"))
}

/// Asserts an OAuth error answer: 400 with `error` = `code`.
pub fn assert_refused(got: &(StatusCode, Value), code: &str) {
    assert_eq!(
        (got.0, got.1["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some(code)),
        "{}",
        got.1
    );
}
