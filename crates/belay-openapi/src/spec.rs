//! How an OpenAPI upstream is configured: the document, the server it calls, which
//! operations become tools, the credential and the limits. Plain data, read from belay.toml
//! (`[[gateway.upstream]] transport = { type = "openapi", … }`) or built by the CLI.

use std::path::PathBuf;

use serde::Deserialize;

/// An OpenAPI document served as tools.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSpec {
    /// The document: a file path, or an `https://` (or allowed `http://`) URL. JSON or YAML.
    pub document: String,
    /// The API's base URL, replacing the document's `servers` (which may be relative, or
    /// name a staging host). Set by whoever writes the configuration, never by a caller.
    /// Unset: the document's first server, resolved against the document's URL if relative.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Hosts that may be called although they are not public addresses (loopback, private
    /// networks), and over plain `http`; the API's host and the document's. Names as they
    /// appear in the URL (`127.0.0.1`, `api.internal`).
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Only operations with one of these tags (empty: all).
    #[serde(default)]
    pub include_tags: Vec<String>,
    /// Never operations with one of these tags.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// Only these operations, by `operationId` or tool name (empty: all).
    #[serde(default)]
    pub include_operations: Vec<String>,
    /// Never these operations, by `operationId` or tool name.
    #[serde(default)]
    pub exclude_operations: Vec<String>,
    /// What the API sees (`type = "none"`, `"api_key"`, `"bearer"`, `"client_credentials"`).
    #[serde(default)]
    pub credential: ApiCredentialSpec,
    /// Milliseconds one API call may take, answer included (default 30000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest answer read, in bytes (default 1 MiB); a larger one is an error.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_max_response_bytes() -> usize {
    1024 * 1024
}

impl OpenApiSpec {
    /// A spec for `document` with every default.
    pub fn new(document: impl Into<String>) -> Self {
        Self {
            document: document.into(),
            base_url: None,
            allow_hosts: Vec::new(),
            include_tags: Vec::new(),
            exclude_tags: Vec::new(),
            include_operations: Vec::new(),
            exclude_operations: Vec::new(),
            credential: ApiCredentialSpec::None,
            timeout_ms: default_timeout_ms(),
            max_response_bytes: default_max_response_bytes(),
        }
    }

    /// Whether `host` is allowed although private (`allow_hosts`), case-insensitively.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allow_hosts.iter().any(|allowed| {
            allowed
                .trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(host)
        })
    }
}

/// The credential the API sees. Secrets are never inline: configuration files end up in
/// repositories and logs.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiCredentialSpec {
    /// Nothing.
    #[default]
    None,
    /// An API key in a header or a query parameter.
    ApiKey {
        /// `header` or `query`.
        #[serde(rename = "in")]
        location: KeyLocation,
        /// The header or parameter name, e.g. `X-API-Key` or `api_key`.
        name: String,
        /// Where the key is.
        secret: Secret,
    },
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// Where the token is.
        secret: Secret,
    },
    /// OAuth 2 client credentials: a token from `token_url`, cached until shortly before it
    /// expires, fetched again once after a 401.
    ClientCredentials {
        /// The token endpoint (https, or an allowed host).
        token_url: String,
        /// The client id.
        client_id: String,
        /// Where the client secret is.
        client_secret: Secret,
        /// Space-separated scopes to ask for.
        #[serde(default)]
        scope: Option<String>,
        /// RFC 8707 resource indicator, when the authorization server wants one.
        #[serde(default)]
        resource: Option<String>,
    },
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
}

/// Where a secret lives: an environment variable or a file (trimmed).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file holding the secret.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl Secret {
    /// Reads the secret now. The error names where it looked, never the value.
    pub fn read(&self) -> Result<String, crate::Error> {
        let fail = |reason: String| crate::Error::Secret(reason);
        let value = match (&self.env, &self.file) {
            (Some(var), _) => {
                std::env::var(var).map_err(|e| fail(format!("environment variable {var}: {e}")))?
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?,
            (None, None) => return Err(fail("give `env` or `file`".into())),
        };
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(fail("the secret is empty".into()));
        }
        Ok(value)
    }
}
