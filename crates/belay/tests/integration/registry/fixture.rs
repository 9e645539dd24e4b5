//! The registry's test world: `belay auth serve` and `belay registry serve` on one data
//! folder with a service client allowed to publish, and small helpers for its answers.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::*;

/// A belay.toml in `dir` whose issuer grants `registry:publish` and whose registry lets the
/// service client `robot` publish in `com.example`; its path.
pub(super) fn write_config(dir: &std::path::Path) -> anyhow::Result<String> {
    let config = dir.join("belay.toml");
    std::fs::write(
        &config,
        "[auth_server]\nscopes = [\"openid\", \"profile\", \"email\", \"offline_access\", \
         \"mcp:tools\", \"mcp:resources\", \"mcp:prompts\", \"registry:publish\"]\n\
         [registry.namespaces]\n\"client:robot\" = [\"com.example\"]\n\
         [registry.auth]\nservice_clients = [\"robot\"]\n",
    )?;
    Ok(config.to_string_lossy().into_owned())
}

/// `belay auth serve` and `belay registry serve` on one data folder, with a service client
/// `robot` allowed to publish in `com.example`, and its token.
pub(super) struct Fixture {
    pub(super) dir: std::path::PathBuf,
    pub(super) data: String,
    pub(super) config: String,
    pub(super) base: String,
    pub(super) token: String,
    pub(super) _auth: Reaper,
    pub(super) registry: Reaper,
}

impl Fixture {
    pub(super) async fn start(name: &str) -> anyhow::Result<Self> {
        let dir = fresh_dir(name)?;
        let data = dir.join("data").to_string_lossy().into_owned();
        let config = write_config(&dir)?;
        let mut auth = Reaper(
            belay()
                .args([
                    "auth",
                    "serve",
                    "--port",
                    "0",
                    "--data-dir",
                    &data,
                    "--config",
                    &config,
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let issuer = stdout_line(&mut auth.0, "issuer")?;
        let mut registry = Reaper(
            belay()
                .args([
                    "registry",
                    "serve",
                    "--port",
                    "0",
                    "--data-dir",
                    &data,
                    "--config",
                    &config,
                ])
                // The issuer's port is known only now: the environment overrides the file.
                .env("BELAY_REGISTRY__AUTH__ISSUER", &issuer)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let listed = stdout_line(&mut registry.0, "registry")?;
        let base = listed.trim_end_matches("/v0.1/servers").to_owned();
        let mut fixture = Self {
            dir,
            data,
            config,
            base,
            token: String::new(),
            _auth: auth,
            registry,
        };
        let added = fixture.cli(&["auth", "client", "add", "robot", "--json"])?;
        anyhow::ensure!(added.status.success(), "{added:?}");
        let robot: Value = serde_json::from_slice(&added.stdout)?;
        let secret = robot["client_secret"].as_str().unwrap_or_default();
        let token: Value = reqwest::Client::new()
            .post(format!("{issuer}/token"))
            .basic_auth("robot", Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", fixture.base.as_str()),
                ("scope", "registry:publish"),
            ])
            .send()
            .await?
            .json()
            .await?;
        fixture.token = token["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(!fixture.token.is_empty(), "{token}");
        Ok(fixture)
    }

    /// `belay ARGS --data-dir DATA --config CONFIG`.
    pub(super) fn cli(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        belay()
            .args(args)
            .args(["--data-dir", &self.data, "--config", &self.config])
            .output()
    }

    /// Publishes `document` with the robot's token; the status and the body.
    pub(super) async fn publish(&self, document: &Value) -> anyhow::Result<(u16, Value)> {
        let response = reqwest::Client::new()
            .post(format!("{}/v0.1/publish", self.base))
            .bearer_auth(&self.token)
            .json(document)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }
}

/// The `(a, b)` text pairs of the objects in the array `list`.
pub(super) fn pairs(list: &Value, a: &str, b: &str) -> Vec<(String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    list.as_array()
        .into_iter()
        .flatten()
        .map(|item| (text(&item[a]), text(&item[b])))
        .collect()
}

/// A stdio server's server.json: a package, no remotes.
pub(super) fn stdio_server(name: &str, version: &str) -> Value {
    json!({
        "name": name, "description": "Stock prices.", "version": version,
        "packages": [{
            "registryType": "npm", "identifier": "@example/stock", "version": version,
            "transport": { "type": "stdio" }
        }],
    })
}

/// An MCP `initialize` at `url`: the HTTP status and the body.
pub(super) fn initialize(url: &str) -> anyhow::Result<(u16, String)> {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "registry-test", "version": "1" } }
    });
    let (status, _, text) = http_exchange(url, "POST", &body.to_string())?;
    Ok((status, text))
}

/// Polls `initialize` at `url` until its status is `want` (20 s at most); the last answer.
pub(super) async fn until_status(url: &str, want: u16) -> anyhow::Result<(u16, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let answer = initialize(url)?;
        if answer.0 == want || std::time::Instant::now() > deadline {
            return Ok(answer);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub(super) fn hang_up(child: &std::process::Child) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -HUP failed");
    Ok(())
}
