//! `[gateway] registry`: the gateway connects only to upstreams whose server is approved in
//! a private registry (`belay registry`), and `belay scan --registry` reports the servers
//! of an mcp.json that are not (shadow servers, OWASP MCP09).
//!
//! The registry is read where it is: its store (a folder or database file) or its HTTP API
//! (a URL, `include_unlisted=true` so the reason for a refusal can be named). A server is
//! found by its registry name, else by its remote URL; it passes when it has an approved
//! (or deprecated: still vetted, still listed) version, and an HTTP upstream's URL must be
//! one of that version's remotes when it lists any. A registry that cannot be read is an
//! error, not a pass: the gateway does not start, a reload keeps the running (last
//! approved) configuration.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context;
use axum::{
    Router,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::Response,
};
use belay_gateway::{GatewaySpec, TransportSpec, UpstreamSpec};
use belay_registry::{RegistryStore, Status};
use serde_json::Value;

/// Most list pages read from a registry over HTTP when looking a URL up (100 per page).
const MAX_PAGES: usize = 100;

/// One version the registry knows, as far as a verdict needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    pub name: String,
    pub version: String,
    /// `pending`, `approved`, `deprecated` or `blocked`.
    pub status: String,
    /// The `remotes[].url` of its server.json.
    pub remotes: Vec<String>,
    /// The `packages[].identifier` of its server.json (`@example/weather-mcp`).
    pub packages: Vec<String>,
}

/// What the registry says about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Approved: the version that makes it so.
    Approved { name: String, version: String },
    /// The registry does not know it.
    Unknown(String),
    /// Known, not approved (pending, blocked, or approved for other URLs).
    NotApproved(String),
}

impl Verdict {
    pub(crate) fn is_approved(&self) -> bool {
        matches!(self, Self::Approved { .. })
    }

    /// The reason in words.
    pub(crate) fn reason(&self) -> String {
        match self {
            Self::Approved { name, version } => format!("approved as {name}@{version}"),
            Self::Unknown(why) | Self::NotApproved(why) => why.clone(),
        }
    }
}

/// A URL for comparison: scheme and host lowercased (by the URL parser), no trailing `/`.
fn normal(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| url.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// The verdict on a server looked up by `name` (when given) or by `url`, from what the
/// registry returned for that lookup.
pub(crate) fn judge(name: Option<&str>, url: Option<&str>, known: &[Known]) -> Verdict {
    let url = url.map(normal);
    let what = match (name, &url) {
        (Some(name), _) => format!("`{name}`"),
        (None, Some(url)) => format!("a server with remote {url}"),
        (None, None) => {
            return Verdict::Unknown(
                "it has no registry name and no URL to look up: set `registry_name`".into(),
            );
        }
    };
    let candidates: Vec<&Known> = known
        .iter()
        .filter(|k| name.is_none_or(|n| k.name == n))
        .filter(|k| {
            name.is_some()
                || url
                    .as_ref()
                    .is_some_and(|u| k.remotes.iter().any(|r| normal(r) == *u))
        })
        .collect();
    if candidates.is_empty() {
        return Verdict::Unknown(format!("{what} is not in the registry"));
    }
    let vetted = |k: &&Known| k.status == "approved" || k.status == "deprecated";
    let url_fits = |k: &&Known| {
        k.remotes.is_empty()
            || url
                .as_ref()
                .is_none_or(|u| k.remotes.iter().any(|r| normal(r) == *u))
    };
    if let Some(k) = candidates.iter().copied().filter(vetted).find(url_fits) {
        return Verdict::Approved {
            name: k.name.clone(),
            version: k.version.clone(),
        };
    }
    let states: Vec<String> = candidates
        .iter()
        .map(|k| format!("{}@{} {}", k.name, k.version, k.status))
        .collect();
    let why = if candidates.iter().any(vetted) {
        format!(
            "{what} is approved only for other URLs ({}), not {}",
            candidates
                .iter()
                .filter(|k| vetted(k))
                .flat_map(|k| k.remotes.iter().cloned())
                .collect::<Vec<_>>()
                .join(", "),
            url.unwrap_or_default()
        )
    } else {
        format!("{what} has no approved version ({})", states.join(", "))
    };
    Verdict::NotApproved(why)
}

/// The package identifiers a command line may name: each word as given and without a
/// version (`@scope/pkg@1.2.0` → `@scope/pkg`, `pkg==1.0` → `pkg`, `ghcr.io/o/i:1.0` →
/// `ghcr.io/o/i`).
fn named_packages(command: &str, args: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for word in std::iter::once(command).chain(args.iter().map(String::as_str)) {
        if word.starts_with('-') || word.is_empty() {
            continue;
        }
        names.insert(word.to_owned());
        if let Some(at) = word.rfind('@').filter(|&at| at > 0) {
            names.insert(word[..at].to_owned());
        }
        if let Some((name, _)) = word.split_once("==") {
            names.insert(name.to_owned());
        }
        // An image tag: a `:` after the last `/` (not a registry's `host:port/`).
        if let Some(colon) = word
            .rfind(':')
            .filter(|&c| word[..c].contains('/') && !word[c..].contains('/'))
        {
            names.insert(word[..colon].to_owned());
        }
    }
    names
}

/// The verdict on a stdio server started as `command args`: the registry's servers whose
/// package it names.
pub(crate) fn judge_command(command: &str, args: &[String], known: &[Known]) -> Verdict {
    let named = named_packages(command, args);
    let candidates: Vec<Known> = known
        .iter()
        .filter(|k| k.packages.iter().any(|p| named.contains(p)))
        .cloned()
        .collect();
    match candidates.first() {
        // Judged by name, among the versions of the server(s) whose package it runs.
        Some(first) => {
            let name = first.name.clone();
            judge(Some(&name), None, &candidates)
        }
        None => Verdict::Unknown(format!(
            "`{}` runs no package the registry lists",
            std::iter::once(command)
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    }
}

/// Where the registry is read.
#[derive(Debug, Clone)]
enum Source {
    Store(RegistryStore),
    Http { base: String, http: reqwest::Client },
}

/// The registry at `location`: an http(s) URL of its API, or the folder (or database
/// file) of its store.
#[derive(Debug, Clone)]
pub(crate) struct Registry(Source);

impl Registry {
    pub(crate) fn open(location: &str) -> anyhow::Result<Self> {
        if location.starts_with("http://") || location.starts_with("https://") {
            url::Url::parse(location)
                .with_context(|| format!("registry `{location}` is not a valid URL"))?;
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("cannot build an HTTP client")?;
            return Ok(Self(Source::Http {
                base: location.trim_end_matches('/').to_owned(),
                http,
            }));
        }
        let path = Path::new(location);
        let file = if path.is_dir() {
            path.join("belay.db")
        } else {
            path.to_owned()
        };
        anyhow::ensure!(
            file.is_file(),
            "no registry store at {}: give the folder (or belay.db) of `belay registry`, or \
             its http(s) URL",
            file.display()
        );
        let db = belay_store::Db::open(&file)
            .with_context(|| format!("cannot open the registry store {}", file.display()))?;
        let store = RegistryStore::open(db).context("cannot open the registry's tables")?;
        Ok(Self(Source::Store(store)))
    }

    /// What the registry says about `name`, or (without a name) about the server at `url`.
    pub(crate) async fn verdict(
        &self,
        name: Option<&str>,
        url: Option<&str>,
    ) -> anyhow::Result<Verdict> {
        let known = match (name, url) {
            (Some(name), _) => self.by_name(name).await?,
            (None, Some(_)) => self.everything().await?,
            (None, None) => Vec::new(),
        };
        Ok(judge(name, url, &known))
    }

    /// What the registry says about one server of an mcp.json: by its key when that is a
    /// registry name, else by its URL or the package its command runs.
    pub(crate) async fn verdict_of_target(
        &self,
        key: &str,
        transport: &belay_client::target::Transport,
    ) -> anyhow::Result<Verdict> {
        use belay_client::target::Transport;
        if key.contains('/') && belay_registry::ServerName::parse(key).is_ok() {
            let by_key = self.by_name(key).await?;
            if !by_key.is_empty() {
                let url = match transport {
                    Transport::Http { url, .. } | Transport::Sse { url, .. } => Some(url.as_str()),
                    Transport::Stdio { .. } => None,
                };
                return Ok(judge(Some(key), url, &by_key));
            }
        }
        match transport {
            Transport::Http { url, .. } | Transport::Sse { url, .. } => {
                self.verdict(None, Some(url)).await
            }
            Transport::Stdio { command, args, .. } => {
                Ok(judge_command(command, args, &self.everything().await?))
            }
        }
    }

    async fn by_name(&self, name: &str) -> anyhow::Result<Vec<Known>> {
        match &self.0 {
            Source::Store(store) => Ok(store
                .versions(name, true)
                .await?
                .unwrap_or_default()
                .iter()
                .map(known_entry)
                .collect()),
            Source::Http { base, http } => {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
                let url = format!("{base}/v0.1/servers/{encoded}/versions?include_unlisted=true");
                let response = http
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach the registry at {url}"))?;
                if response.status() == StatusCode::NOT_FOUND {
                    return Ok(Vec::new());
                }
                let page = read_page(response, &url).await?;
                Ok(known_page(&page))
            }
        }
    }

    async fn everything(&self) -> anyhow::Result<Vec<Known>> {
        match &self.0 {
            Source::Store(store) => Ok(store
                .all(None, None, None)
                .await?
                .iter()
                .map(known_entry)
                .collect()),
            Source::Http { base, http } => {
                let mut all = Vec::new();
                let mut cursor: Option<String> = None;
                for _ in 0..MAX_PAGES {
                    let mut url = format!("{base}/v0.1/servers?include_unlisted=true&limit=100");
                    if let Some(cursor) = &cursor {
                        let encoded: String =
                            url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
                        url.push_str(&format!("&cursor={encoded}"));
                    }
                    let response = http
                        .get(&url)
                        .send()
                        .await
                        .with_context(|| format!("cannot reach the registry at {url}"))?;
                    let page = read_page(response, &url).await?;
                    all.extend(known_page(&page));
                    cursor = page["metadata"]["nextCursor"].as_str().map(str::to_owned);
                    if cursor.is_none() {
                        break;
                    }
                }
                Ok(all)
            }
        }
    }
}

/// Largest registry answer read (a page of 100 server.json documents is well under it).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

async fn read_page(mut response: reqwest::Response, url: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("cannot read the registry's answer from {url}"))?
    {
        anyhow::ensure!(
            bytes.len() + chunk.len() <= MAX_ANSWER_BYTES,
            "the registry at {url} answered more than {MAX_ANSWER_BYTES} bytes"
        );
        bytes.extend_from_slice(&chunk);
    }
    let body: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("the registry at {url} did not answer JSON"))?;
    anyhow::ensure!(
        status.is_success(),
        "the registry at {url} answered {status}: {}",
        body["error"].as_str().unwrap_or("no reason given")
    );
    Ok(body)
}

fn remotes(document: &Value) -> Vec<String> {
    document["remotes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["url"].as_str().map(str::to_owned))
        .collect()
}

fn packages(document: &Value) -> Vec<String> {
    document["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["identifier"].as_str().map(str::to_owned))
        .collect()
}

fn known_entry(entry: &belay_registry::Entry) -> Known {
    Known {
        name: entry.name.clone(),
        version: entry.version.clone(),
        status: entry.status.as_str().to_owned(),
        remotes: remotes(&entry.document),
        packages: packages(&entry.document),
    }
}

/// The versions of a list response. Belay's governance status when the registry gives
/// it; another registry's (the public one) official status otherwise, where listed
/// (`active`) is what that registry vouches for.
fn known_page(page: &Value) -> Vec<Known> {
    page["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let server = &item["server"];
            let meta = &item["_meta"];
            let status = meta[belay_registry::validate::GOVERNANCE_META]["status"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    meta[belay_registry::validate::OFFICIAL_META]["status"]
                        .as_str()
                        .map(|s| match s {
                            "active" => Status::Approved.as_str().to_owned(),
                            "deprecated" => Status::Deprecated.as_str().to_owned(),
                            _ => Status::Blocked.as_str().to_owned(),
                        })
                })?;
            Some(Known {
                name: server["name"].as_str()?.to_owned(),
                version: server["version"].as_str()?.to_owned(),
                status,
                remotes: remotes(server),
                packages: packages(server),
            })
        })
        .collect()
}

/// The URL of an HTTP or SSE upstream. An OpenAPI upstream's base URL is a REST API's, not
/// an MCP remote a registry lists: it is matched by `registry_name` only.
fn upstream_url(upstream: &UpstreamSpec) -> Option<&str> {
    match &upstream.transport {
        TransportSpec::Http { url, .. } | TransportSpec::Sse { url } => Some(url),
        TransportSpec::Stdio { .. } | TransportSpec::Openapi(_) => None,
    }
}

/// Upstreams refused by the registry, by name, with the reason: answered on their own
/// endpoint with that reason instead of "no such upstream".
type Refused = Arc<RwLock<BTreeMap<String, String>>>;

/// `[gateway] registry` applied to a gateway's configuration.
#[derive(Debug, Clone)]
pub(crate) struct RegistryGate {
    registry: Registry,
    location: String,
    /// Upstreams Belay itself serves (`belay up`'s reference servers): not looked up.
    exempt: BTreeSet<String>,
    refused: Refused,
    /// Every upstream's verdict, for the console's security view.
    status: belay_console::RegistryStatus,
}

impl RegistryGate {
    /// The gate `spec` asks for, if any.
    pub(crate) fn of(spec: &GatewaySpec, exempt: &[&str]) -> anyhow::Result<Option<Self>> {
        let Some(location) = spec.registry.as_deref() else {
            return Ok(None);
        };
        Ok(Some(Self {
            registry: Registry::open(location)
                .context("cannot use [gateway] registry (BELAY_GATEWAY__REGISTRY)")?,
            location: location.to_owned(),
            exempt: exempt.iter().map(|s| (*s).to_owned()).collect(),
            refused: Refused::default(),
            status: belay_console::RegistryStatus::default(),
        }))
    }

    /// `spec` with only the upstreams the registry approves; each refusal is logged with its
    /// reason and remembered for [`Self::layer`].
    pub(crate) async fn admit(&self, mut spec: GatewaySpec) -> anyhow::Result<GatewaySpec> {
        let mut refused = BTreeMap::new();
        let mut admitted = Vec::new();
        let mut lines = Vec::new();
        for upstream in spec.upstreams {
            if self.exempt.contains(&upstream.name) {
                lines.push(belay_console::RegistryLine {
                    upstream: upstream.name.clone(),
                    admitted: true,
                    reason: "served by Belay itself (not looked up)".into(),
                });
                admitted.push(upstream);
                continue;
            }
            let verdict = self
                .registry
                .verdict(upstream.registry_name.as_deref(), upstream_url(&upstream))
                .await
                .with_context(|| {
                    format!(
                        "cannot check upstream `{}` in the registry {}",
                        upstream.name, self.location
                    )
                })?;
            lines.push(belay_console::RegistryLine {
                upstream: upstream.name.clone(),
                admitted: verdict.is_approved(),
                reason: verdict.reason(),
            });
            if verdict.is_approved() {
                tracing::info!(upstream = %upstream.name, "registry: {}", verdict.reason());
                admitted.push(upstream);
            } else {
                tracing::warn!(
                    upstream = %upstream.name, registry = %self.location,
                    "upstream REFUSED, not connected: {}", verdict.reason()
                );
                refused.insert(upstream.name.clone(), verdict.reason());
            }
        }
        spec.upstreams = admitted;
        *self.refused.write().unwrap_or_else(|e| e.into_inner()) = refused;
        *self.status.write().unwrap_or_else(|e| e.into_inner()) = belay_console::RegistryView {
            location: self.location.clone(),
            upstreams: lines,
        };
        Ok(spec)
    }

    /// Every upstream's verdict at the last [`Self::admit`], kept current.
    pub(crate) fn status(&self) -> belay_console::RegistryStatus {
        Arc::clone(&self.status)
    }

    /// `router` answering a refused upstream's endpoint (`/servers/NAME/…`) with 403 and
    /// the reason.
    pub(crate) fn layer(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&self.refused),
            refuse,
        ))
    }
}

async fn refuse(State(refused): State<Refused>, request: Request, next: Next) -> Response {
    let name = request
        .uri()
        .path()
        .strip_prefix("/servers/")
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned);
    let why = name.as_ref().and_then(|name| {
        refused
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    });
    match (name, why) {
        (Some(name), Some(why)) => belay_mcp::http::jsonrpc_error(
            StatusCode::FORBIDDEN,
            rmcp::model::ErrorCode::INVALID_REQUEST,
            &format!(
                "upstream `{name}` is not approved in the registry, so the gateway does not \
                 connect to it: {why}"
            ),
        ),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests;
