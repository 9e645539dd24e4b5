//! `[auth_server]` in belay.toml, and the runtime [`Settings`] it becomes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, cimd::CimdSpec, keys::Alg};

/// Scopes the embedded server knows unless configured otherwise.
pub const DEFAULT_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "mcp:tools",
    "mcp:resources",
    "mcp:prompts",
];

/// The embedded authorization server (`[auth_server]` in belay.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSpec {
    /// Public base URL, no trailing slash; default `http://{host}:{port}`.
    pub issuer: Option<String>,
    /// Interface `belay auth serve` listens on.
    pub host: String,
    /// Port `belay auth serve` listens on.
    pub port: u16,
    /// SQLite file; default `belay.db` in the data folder.
    pub database: Option<PathBuf>,
    /// Algorithm of the first signing key: `ES256` or `RS256`.
    pub signing_alg: Alg,
    /// Access-token lifetime in seconds.
    pub access_token_lifetime: u64,
    /// Refresh-token lifetime in seconds (each rotation starts a new one).
    pub refresh_token_lifetime: u64,
    /// Scopes clients may request.
    pub scopes: Vec<String>,
    /// Scopes granted when an authorization request names none.
    pub default_scopes: Vec<String>,
    /// Resource (token audience) used when an authorization request has no `resource`;
    /// unset means such requests are refused with `invalid_target`.
    pub default_resource: Option<String>,
    /// Dynamic registrations one client IP may make in a burst.
    pub registration_burst: u32,
    /// Dynamic registrations one client IP may make per minute once the burst is spent.
    pub registration_per_minute: u32,
    /// Host names accepted besides loopback (DNS rebinding guard).
    pub allowed_hosts: Vec<String>,
    /// Pre-registered clients.
    pub clients: Vec<ClientSpec>,
    /// Client ID Metadata Documents (`[auth_server.cimd]`).
    pub cimd: CimdSpec,
    /// Password checks that may run at once (argon2id, 19 MiB each); 0: one per core.
    pub max_password_checks: usize,
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            issuer: None,
            host: "127.0.0.1".into(),
            port: 9000,
            database: None,
            signing_alg: Alg::Es256,
            access_token_lifetime: 900,
            refresh_token_lifetime: 30 * 24 * 3600,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            default_scopes: ["mcp:tools", "mcp:resources", "mcp:prompts"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            default_resource: None,
            registration_burst: 10,
            registration_per_minute: 10,
            allowed_hosts: Vec::new(),
            clients: Vec::new(),
            cimd: CimdSpec::default(),
            max_password_checks: 0,
        }
    }
}

/// A pre-registered client (`[[auth_server.clients]]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSpec {
    /// The client's identifier.
    pub client_id: String,
    /// Its secret; omit all three secret fields for a public client.
    pub client_secret: Option<String>,
    /// Environment variable holding the secret.
    pub client_secret_env: Option<String>,
    /// File holding the secret (trailing newline ignored).
    pub client_secret_file: Option<PathBuf>,
    /// Exact redirect URIs (loopback ones match any port).
    pub redirect_uris: Vec<String>,
    /// Grants allowed; default `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    /// Scopes it may request; empty means every scope the server knows.
    pub scopes: Vec<String>,
    /// Name shown on the consent page.
    pub name: Option<String>,
    /// What it may trade by token exchange (RFC 8693); setting it grants the
    /// token-exchange grant.
    pub token_exchange: Option<ExchangeSpec>,
}

/// Which tokens a client may exchange, and for which audiences (`token_exchange` of a
/// client). Both lists are needed: an exchange takes a token a caller sent this client and
/// mints one for a service behind it, so a client can neither launder a token minted for
/// someone else nor reach services it does not front. An entry ending in `/*` matches every
/// URL under that path (`https://gw.example/servers/*`); any other entry matches exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeSpec {
    /// Audiences of the subject tokens it may exchange: its own resources, e.g.
    /// `["https://gw.example/mcp"]`.
    pub from: Vec<String>,
    /// Audiences it may ask for, e.g. `["https://internal.example/*"]`.
    pub to: Vec<String>,
}

impl ExchangeSpec {
    /// Checks every entry: an absolute http(s) URL, `*` only as a trailing `/*`.
    pub fn check(&self) -> Result<(), String> {
        for (list, entries) in [("from", &self.from), ("to", &self.to)] {
            if entries.is_empty() {
                return Err(format!("token_exchange.{list} lists no audience"));
            }
            for entry in entries {
                let url = entry.strip_suffix('*').unwrap_or(entry);
                if url.contains('*') || (url.len() < entry.len() && !url.ends_with('/')) {
                    return Err(format!(
                        "token_exchange.{list}: `{entry}` may only end in `/*`, meaning \
                         every URL under that path"
                    ));
                }
                let parsed = url::Url::parse(url).map_err(|e| {
                    format!("token_exchange.{list}: `{entry}` is not an absolute URL: {e}")
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
                    return Err(format!(
                        "token_exchange.{list}: `{entry}` must be an http(s) URL without a \
                         fragment"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether a subject token for `audience` may be exchanged.
    pub fn accepts_subject(&self, audience: &str) -> bool {
        self.from.iter().any(|p| audience_matches(p, audience))
    }

    /// Whether a token for `audience` may be asked for.
    pub fn reaches(&self, audience: &str) -> bool {
        self.to.iter().any(|p| audience_matches(p, audience))
    }
}

fn audience_matches(pattern: &str, audience: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            audience.len() > prefix.len() && audience.starts_with(prefix) && canonical(audience)
        }
        None => pattern == audience,
    }
}

/// Whether `audience` is a URL in the form a parser leaves alone, without dot segments or
/// encoded dots and slashes: under a `/*` pattern, `…/servers/../userinfo` or
/// `…/servers/%2e%2e/userinfo` must not pass as "under `/servers/`".
fn canonical(audience: &str) -> bool {
    let lower = audience.to_ascii_lowercase();
    url::Url::parse(audience).is_ok_and(|url| url.as_str() == audience)
        && !["%2e", "%2f", "%5c", "/./", "/../"]
            .iter()
            .any(|bad| lower.contains(bad))
}

impl ClientSpec {
    /// The secret from whichever source is set, if any.
    pub fn secret(&self) -> Result<Option<String>, Error> {
        if let Some(s) = &self.client_secret {
            return Ok(Some(s.clone()));
        }
        if let Some(var) = &self.client_secret_env {
            return std::env::var(var).map(Some).map_err(|_| {
                Error::Config(format!(
                    "client {}: environment variable {var} is not set",
                    self.client_id
                ))
            });
        }
        if let Some(path) = &self.client_secret_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!(
                    "client {}: cannot read {}: {e}",
                    self.client_id,
                    path.display()
                ))
            })?;
            return Ok(Some(text.trim_end().to_owned()));
        }
        Ok(None)
    }
}

/// What the server runs with, checked and derived from a [`ServerSpec`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Issuer identifier, no trailing slash.
    pub issuer: String,
    /// Algorithm of the first signing key.
    pub signing_alg: Alg,
    /// Access-token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Refresh-token lifetime, seconds.
    pub refresh_token_ttl: i64,
    /// Authorization-code lifetime, seconds.
    pub code_ttl: i64,
    /// Clock skew tolerated on `nbf` and kept on key retirement, seconds.
    pub skew: i64,
    /// Known scopes.
    pub scopes: Vec<String>,
    /// Scopes granted when none are requested.
    pub default_scopes: Vec<String>,
    /// Audience when an authorization request has no `resource`.
    pub default_resource: Option<String>,
    /// Registration bucket size per IP.
    pub registration_burst: u32,
    /// Registration refill per minute per IP.
    pub registration_per_minute: u32,
    /// Pre-registered clients.
    pub clients: Vec<ClientSpec>,
    /// How client metadata documents are fetched and cached.
    pub cimd: CimdSpec,
    /// Password checks that may run at once.
    pub max_password_checks: usize,
}

impl ServerSpec {
    /// The issuer this spec implies.
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            let host = if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            };
            format!("http://{host}:{}", self.port)
        })
    }
}

impl TryFrom<&ServerSpec> for Settings {
    type Error = Error;

    fn try_from(spec: &ServerSpec) -> Result<Self, Error> {
        let issuer = spec.issuer().trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&issuer)
            .map_err(|e| Error::Config(format!("issuer `{issuer}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(Error::Config(format!(
                "issuer `{issuer}` must be an http(s) URL without query or fragment"
            )));
        }
        let secs = |v: u64, what: &str| {
            i64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
                Error::Config(format!("{what} must be a positive number of seconds"))
            })
        };
        for s in &spec.default_scopes {
            if !spec.scopes.contains(s) {
                return Err(Error::Config(format!(
                    "default scope `{s}` is not in auth_server.scopes"
                )));
            }
        }
        Ok(Self {
            issuer,
            signing_alg: spec.signing_alg,
            access_token_ttl: secs(spec.access_token_lifetime, "access_token_lifetime")?,
            refresh_token_ttl: secs(spec.refresh_token_lifetime, "refresh_token_lifetime")?,
            code_ttl: 60,
            skew: 60,
            scopes: spec.scopes.clone(),
            default_scopes: spec.default_scopes.clone(),
            default_resource: spec.default_resource.clone(),
            registration_burst: spec.registration_burst.max(1),
            registration_per_minute: spec.registration_per_minute.max(1),
            clients: spec.clients.clone(),
            cimd: spec.cimd.clone(),
            max_password_checks: match spec.max_password_checks {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            },
        })
    }
}

impl Settings {
    /// Defaults for an issuer, e.g. `Settings::for_issuer("http://127.0.0.1:9000")`.
    pub fn for_issuer(issuer: &str) -> Result<Self, Error> {
        Self::try_from(&ServerSpec {
            issuer: Some(issuer.to_owned()),
            ..ServerSpec::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(from: &[&str], to: &[&str]) -> ExchangeSpec {
        ExchangeSpec {
            from: from.iter().map(|s| (*s).to_owned()).collect(),
            to: to.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn audiences_match_exactly_or_under_a_path() {
        let s = spec(
            &["https://gw.example/mcp", "https://gw.example/servers/*"],
            &["http://127.0.0.1:9/servers/*"],
        );
        assert!(s.check().is_ok());
        assert!(s.accepts_subject("https://gw.example/mcp"));
        assert!(s.accepts_subject("https://gw.example/servers/stock/mcp"));
        assert!(!s.accepts_subject("https://gw.example/mcp/extra"));
        assert!(!s.accepts_subject("https://gw.example/servers/"));
        assert!(!s.accepts_subject("https://gw.example.evil/mcp"));
        assert!(!s.accepts_subject("https://evil.example/mcp"));
        for sneaky in [
            "https://gw.example/servers/../userinfo",
            "https://gw.example/servers/%2e%2e/userinfo",
            "https://gw.example/servers/x%2F..%2Fy",
            "https://gw.example/servers/./mcp",
        ] {
            assert!(!s.accepts_subject(sneaky), "{sneaky}");
        }
        assert!(s.reaches("http://127.0.0.1:9/servers/whoami/mcp"));
        assert!(!s.reaches("http://127.0.0.1:9/userinfo"));
    }

    #[test]
    fn wildcards_only_end_a_path() {
        for bad in [
            "https://gw.example*",
            "https://*.example/mcp",
            "https://gw.example/a*",
            "not a url",
            "ftp://gw.example/x",
        ] {
            assert!(
                spec(&[bad], &["https://a.example/x"]).check().is_err(),
                "{bad}"
            );
        }
        assert!(spec(&[], &["https://a.example/x"]).check().is_err());
    }
}
