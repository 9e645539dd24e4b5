//! REST APIs as tools: an OpenAPI 3.0 or 3.1 document becomes one tool per operation, and a
//! call becomes one HTTP request to the API, built so that no argument can leave it.
//!
//! Protocol-neutral: a [`Tool`] is a name, a description and JSON Schemas; a call answers a
//! [`ToolAnswer`] (text, structured JSON, error or not). The gateway serves them over MCP.
//!
//! What a call can never do, whatever its arguments say:
//! - leave the API's base URL: path parameters are percent-encoded whole (`/`, `?`, `#`,
//!   `%` included) and `.`/`..` refused, so `../admin` stays one segment; the host, port and
//!   scheme come from the configuration or the document, never from an argument; redirects
//!   are not followed (a 3xx is answered as an error naming where it pointed);
//! - reach a private address: the base URL's host is checked with belay-fetch's address
//!   rule (in the resolver, so DNS cannot swap it) unless the host is listed in
//!   `allow_hosts`, which also allows plain `http`;
//! - inject headers or parameters: header values with CR, LF or other control characters
//!   are refused, query values are form-encoded, arguments the operation does not declare
//!   are refused, and headers the client sets itself (`Host`, `Authorization`, ...) cannot
//!   be parameters;
//! - read or wait without end: answers are read up to `max_response_bytes` and calls stop
//!   after `timeout_ms`.
#![deny(missing_docs)]

mod build;
mod client;
mod credential;
mod document;
#[cfg(feature = "petstore")]
pub mod petstore;
mod request;
mod schema;
mod spec;

use std::path::Path;

use build::{build_tool, filtered_out, tool_name};

use serde::Serialize;
use serde_json::{Map, Value};

pub use document::{Location, Version};
pub use spec::{ApiCredentialSpec, KeyLocation, OpenApiSpec, Secret};
pub use url::Url;

/// Why a document could not be served, or a call failed before the API answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document cannot be read or is not a usable OpenAPI 3 document.
    #[error("OpenAPI document: {0}")]
    Document(String),
    /// The document could not be fetched.
    #[error("cannot read the OpenAPI document {source_name}: {reason}")]
    Source {
        /// The path or URL.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The API's base URL cannot be used.
    #[error("base URL: {0}")]
    BaseUrl(String),
    /// A secret cannot be read (the message names where it was looked for, not its value).
    #[error("secret: {0}")]
    Secret(String),
    /// The credential is misconfigured or a token could not be obtained.
    #[error("credential: {0}")]
    Credential(String),
    /// The HTTP client cannot be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

impl Error {
    /// The same error, saying which operation it is about.
    fn at(self, method: &str, path: &str) -> Self {
        match self {
            Self::Document(reason) => {
                Self::Document(format!("{} {path}: {reason}", method.to_ascii_uppercase()))
            }
            other => other,
        }
    }
}

/// One operation, as a tool.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    /// The tool's name: the `operationId` made safe, or one derived from method and path.
    pub name: String,
    /// The operation's summary and description.
    pub description: String,
    /// HTTP method, upper case.
    pub method: String,
    /// The path template, e.g. `/pets/{petId}`.
    pub path: String,
    /// The document's `operationId`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The operation's tags.
    pub tags: Vec<String>,
    /// Whether the document marks the operation deprecated.
    pub deprecated: bool,
    /// JSON Schema of the arguments: parameters by name, the JSON body as `body`.
    pub input_schema: Value,
    /// JSON Schema of the structured answer (an object: a non-object answer is wrapped as
    /// `{"result": …}`), when the document describes a JSON 2xx answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(skip)]
    arguments: Vec<Argument>,
    #[serde(skip)]
    body: Option<Argument>,
    #[serde(skip)]
    wrap_output: bool,
}

/// One argument of a tool and where it goes.
#[derive(Debug, Clone)]
struct Argument {
    /// The property name in the input schema.
    key: String,
    /// The parameter's name in the request (unused for the body).
    name: String,
    location: Location,
    required: bool,
}

/// An operation that is not served, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// HTTP method, upper case.
    pub method: String,
    /// The path template.
    pub path: String,
    /// The document's `operationId`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Why it is not a tool (filtered out, or something the gateway cannot send).
    pub reason: String,
}

/// A document's operations as tools, before anything is called: no network, no secrets.
#[derive(Debug, Clone, Serialize)]
pub struct Catalogue {
    /// The document's `info.title`.
    pub title: String,
    /// The OpenAPI version it declares.
    pub version: Version,
    /// The document's server URLs (variables set to their defaults).
    pub servers: Vec<String>,
    /// The tools, by path then method (get, put, post, delete, ...).
    pub tools: Vec<Tool>,
    /// Operations that are not tools, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Catalogue {
    /// Reads `text` (JSON or YAML) and builds the tools `spec` selects.
    pub fn from_text(text: &str, spec: &OpenApiSpec) -> Result<Self, Error> {
        let document = document::parse(text)?;
        let mut tools: Vec<Tool> = Vec::new();
        let mut skipped = Vec::new();
        for operation in &document.operations {
            let name = tool_name(operation);
            let skip = |reason: String| Skipped {
                method: operation.method.to_ascii_uppercase(),
                path: operation.path.clone(),
                operation_id: operation.operation_id.clone(),
                reason,
            };
            if let Some(reason) = filtered_out(spec, operation, &name) {
                skipped.push(skip(reason));
                continue;
            }
            match build_tool(&document, operation, name, spec) {
                Ok(mut tool) => {
                    // Two operations may make the same name: number the later ones.
                    let base = tool.name.clone();
                    let mut n = 2;
                    while tools.iter().any(|t| t.name == tool.name) {
                        tool.name = format!("{base}_{n}");
                        n += 1;
                    }
                    tools.push(tool);
                }
                Err(reason) => skipped.push(skip(reason)),
            }
        }
        Ok(Self {
            title: document.title,
            version: document.version,
            servers: document.servers,
            tools,
            skipped,
        })
    }

    /// The tool called `name`.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// What a call answers: text for anyone, structured JSON when the API answered JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolAnswer {
    /// Whether the call failed (refused arguments, a non-2xx status, a transport error).
    pub is_error: bool,
    /// The answer as text (the JSON body, pretty-printed, when it is JSON).
    pub text: String,
    /// The JSON answer of a successful call, as an object: wrapped as `{"result": …}` when
    /// it is not one (or when the tool's output schema wraps it). `None` for non-JSON answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured: Option<Value>,
    /// The HTTP status, when the API answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl ToolAnswer {
    fn refused(reason: impl Into<String>) -> Self {
        Self {
            is_error: true,
            text: reason.into(),
            structured: None,
            status: None,
        }
    }
}

/// A document's tools, ready to call the API.
#[derive(Debug)]
pub struct Api {
    catalogue: Catalogue,
    base: Url,
    client: client::HttpClient,
    credential: credential::Credential,
}

/// Where a document comes from: a file or a URL.
fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// Reads the document `spec` names: a file (relative to `base_dir` when given), or a URL
/// fetched with belay-fetch's checks. Returns the text and, for a URL, the URL.
pub async fn read_document(
    spec: &OpenApiSpec,
    base_dir: Option<&Path>,
) -> Result<(String, Option<Url>), Error> {
    let source = spec.document.as_str();
    let fail = |reason: String| Error::Source {
        source_name: source.to_owned(),
        reason,
    };
    if is_url(source) {
        let url = Url::parse(source).map_err(|e| fail(e.to_string()))?;
        let allowed = url.host_str().is_some_and(|h| spec.host_allowed(h));
        let fetcher = belay_fetch::SafeFetcher::new(belay_fetch::FetchPolicy {
            allow_private: allowed,
            allow_http: allowed,
            max_bytes: 8 * 1024 * 1024,
            timeout: std::time::Duration::from_secs(15),
            max_redirects: 3,
        })
        .map_err(|e| fail(e.to_string()))?;
        let body = fetcher
            .get_bytes(&url)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let text = String::from_utf8(body.to_vec()).map_err(|_| fail("not UTF-8 text".into()))?;
        Ok((text, Some(url)))
    } else {
        let path = match base_dir {
            Some(dir) if Path::new(source).is_relative() => dir.join(source),
            _ => Path::new(source).to_path_buf(),
        };
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok((text, None))
    }
}

/// The base URL calls go to: `base_url` if configured, else the document's first server
/// (resolved against the document's URL when relative). Refused: other schemes than
/// http(s), plain http or a private literal address unless the host is allowed, user
/// names or passwords, queries and fragments.
pub fn base_url(
    spec: &OpenApiSpec,
    catalogue: &Catalogue,
    document_url: Option<&Url>,
) -> Result<Url, Error> {
    let fail = |reason: String| Error::BaseUrl(reason);
    let url = match (&spec.base_url, catalogue.servers.first(), document_url) {
        (Some(configured), _, _) => {
            Url::parse(configured).map_err(|e| fail(format!("`{configured}`: {e}")))?
        }
        (None, Some(server), document_url) => match Url::parse(server) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => match document_url {
                Some(document) => document
                    .join(server)
                    .map_err(|e| fail(format!("`{server}`: {e}")))?,
                None => {
                    return Err(fail(format!(
                        "the document's server `{server}` is relative and the document is a \
                         file: set `base_url`"
                    )));
                }
            },
            Err(e) => return Err(fail(format!("the document's server `{server}`: {e}"))),
        },
        (None, None, Some(document)) => document.join("/").map_err(|e| fail(e.to_string()))?,
        (None, None, None) => {
            return Err(fail(
                "the document names no server and is a file: set `base_url`".into(),
            ));
        }
    };
    let allowed = url.host_str().is_some_and(|h| spec.host_allowed(h));
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fail(format!(
            "{}: no user name or password in the URL; use `credential`",
            url.host_str().unwrap_or_default()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(fail(format!("{url}: no query or fragment in a base URL")));
    }
    belay_fetch::check_url(&url, allowed, allowed).map_err(|e| {
        fail(format!(
            "{e} (list the host in `allow_hosts` to call it anyway)"
        ))
    })?;
    Ok(url)
}

impl Api {
    /// Reads the document, builds its tools and the client that calls the API: secrets are
    /// read and the base URL checked now, so a mistake shows at start, not on a call.
    pub async fn load(spec: &OpenApiSpec, base_dir: Option<&Path>) -> Result<Self, Error> {
        let (text, document_url) = read_document(spec, base_dir).await?;
        let catalogue = Catalogue::from_text(&text, spec)?;
        Self::new(catalogue, spec, document_url.as_ref())
    }

    /// The API behind `catalogue`.
    pub fn new(
        catalogue: Catalogue,
        spec: &OpenApiSpec,
        document_url: Option<&Url>,
    ) -> Result<Self, Error> {
        let base = base_url(spec, &catalogue, document_url)?;
        let allowed = base.host_str().is_some_and(|h| spec.host_allowed(h));
        let client = client::HttpClient::new(
            allowed,
            std::time::Duration::from_millis(spec.timeout_ms),
            spec.max_response_bytes,
        )?;
        let credential = credential::Credential::from_spec(&spec.credential, spec)?;
        Ok(Self {
            catalogue,
            base,
            client,
            credential,
        })
    }

    /// The tools.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Where calls go.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Calls the tool `name` with `arguments`. `None` when there is no such tool; refused
    /// arguments and failed calls are answers with `is_error` set.
    pub async fn call(&self, name: &str, arguments: &Map<String, Value>) -> Option<ToolAnswer> {
        let tool = self.catalogue.tool(name)?;
        let prepared = match request::prepare(&self.base, tool, arguments) {
            Ok(prepared) => prepared,
            Err(reason) => return Some(ToolAnswer::refused(reason)),
        };
        Some(match self.client.send(&prepared, &self.credential).await {
            Ok(answer) => answer.into_tool_answer(tool),
            Err(reason) => ToolAnswer::refused(reason),
        })
    }
}

#[cfg(test)]
mod tests;
