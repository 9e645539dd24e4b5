//! Validation of a [`GatewaySpec`], and `belay gateway check`: the same, with positions.
//!
//! Routing by prefix is only unambiguous if no prefix is a prefix of another (`a_` and
//! `a_b_` would both claim `a_b_tool`), so that is refused here rather than guessed at
//! run time.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use crate::{
    error::ConfigError,
    spec::{CredentialSpec, GatewaySpec, SecretSpec, TransportSpec, UpstreamSpec},
};

/// The part of an upstream a problem is about, to point at it in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Prefix,
    Whole,
}

/// One problem: which upstream (index), which field, what to say.
struct Problem {
    upstream: usize,
    field: Field,
    message: String,
}

impl GatewaySpec {
    /// Checks what serde cannot: names and prefixes unique and routable, URLs and
    /// secrets well formed. Reports the first problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match problems(self).into_iter().next() {
            Some(p) => Err(ConfigError::new(p.message)),
            None => self.policy_problem(None).map_or(Ok(()), Err),
        }
    }
}

/// Parses a belay.toml (its `[gateway]` table) or a standalone gateway file (upstreams at
/// the root) and validates it; errors carry the line and column of the offending value.
///
/// ```
/// let text = "[[upstream]]\nname = \"a\"\nprefix = \"bad prefix\"\n\
///             transport = { type = \"stdio\", command = \"belay\" }\n";
/// let error = belay_gateway::check(text).unwrap_err();
/// assert_eq!((error.line, error.column), (Some(3), Some(10)));
/// assert!(error.to_string().starts_with("line 3, column 10: upstream `a`: prefix"));
/// ```
pub fn check(text: &str) -> Result<GatewaySpec, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let nested = table.contains_key("gateway");
    let spec = if nested {
        #[derive(Deserialize)]
        struct Root {
            gateway: GatewaySpec,
        }
        toml::from_str::<Root>(text)
            .map_err(|e| toml_error(text, &e))?
            .gateway
    } else {
        toml::from_str::<GatewaySpec>(text).map_err(|e| toml_error(text, &e))?
    };
    let Some(problem) = problems(&spec).into_iter().next() else {
        return spec.policy_problem(Some(text)).map_or(Ok(spec), Err);
    };
    let error = ConfigError::new(problem.message.clone());
    Err(match locate(text, nested, &problem) {
        Some(offset) => error.at(text, offset),
        None => error,
    })
}

fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let error = ConfigError::new(e.message().trim_end().to_owned());
    match e.span() {
        Some(span) => error.at(text, span.start),
        None => error,
    }
}

/// Byte offset of the problem's field, found by reading the text again with spans.
fn locate(text: &str, nested: bool, problem: &Problem) -> Option<usize> {
    #[derive(Deserialize)]
    struct Upstream {
        name: Spanned<String>,
        prefix: Option<Spanned<String>>,
    }
    #[derive(Deserialize)]
    struct Gateway {
        #[serde(default)]
        upstream: Vec<Spanned<Upstream>>,
    }
    #[derive(Deserialize)]
    struct Root {
        gateway: Gateway,
    }
    let gateway = if nested {
        toml::from_str::<Root>(text).ok()?.gateway
    } else {
        toml::from_str::<Gateway>(text).ok()?
    };
    let upstream = gateway.upstream.get(problem.upstream)?;
    let inner = upstream.get_ref();
    let span = match (problem.field, &inner.prefix) {
        (Field::Prefix, Some(prefix)) => prefix.span(),
        (Field::Name | Field::Prefix, _) => inner.name.span(),
        (Field::Whole, _) => upstream.span(),
    };
    Some(span.start)
}

fn problems(spec: &GatewaySpec) -> Vec<Problem> {
    let mut out = Vec::new();
    if spec.page_size == 0 {
        out.push(Problem {
            upstream: 0,
            field: Field::Whole,
            message: "page_size must be at least 1".into(),
        });
    }
    if spec.reload_poll_ms < 100 {
        out.push(Problem {
            upstream: 0,
            field: Field::Whole,
            message: format!(
                "reload_poll_ms is {}; it must be at least 100 (a tighter loop gains nothing)",
                spec.reload_poll_ms
            ),
        });
    }
    if let Some(Err(message)) = spec.guard.as_ref().map(|g| g.validate("[gateway.guard]")) {
        out.push(Problem {
            upstream: 0,
            field: Field::Whole,
            message,
        });
    }
    for (i, upstream) in spec.upstreams.iter().enumerate() {
        let table = format!("upstream `{}`: guard", upstream.name);
        if let Some(Err(message)) = upstream.guard.as_ref().map(|g| g.validate(&table)) {
            out.push(Problem {
                upstream: i,
                field: Field::Whole,
                message,
            });
        }
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let prefixes: Vec<String> = spec
        .upstreams
        .iter()
        .map(UpstreamSpec::effective_prefix)
        .collect();
    for (i, upstream) in spec.upstreams.iter().enumerate() {
        let problem = |field, message: String| Problem {
            upstream: i,
            field,
            message: format!("upstream `{}`: {message}", upstream.name),
        };
        if !valid_identifier(&upstream.name) {
            out.push(problem(
                Field::Name,
                "the name must be non-empty and use only letters, digits, `_`, `.` and `-` \
                 (it becomes part of URLs and tool names)"
                    .into(),
            ));
        }
        if let Some(first) = names.insert(&upstream.name, i) {
            out.push(problem(
                Field::Name,
                format!(
                    "duplicate name (also upstream number {}); names must be unique",
                    first + 1
                ),
            ));
        }
        let prefix = &prefixes[i];
        if !valid_identifier(prefix) {
            out.push(problem(
                Field::Prefix,
                format!(
                    "prefix `{prefix}` is not valid in tool names: use only letters, \
                     digits, `_`, `.` and `-`"
                ),
            ));
        }
        for (j, other) in prefixes.iter().enumerate() {
            if j == i {
                continue;
            }
            if other == prefix && j < i {
                out.push(problem(
                    Field::Prefix,
                    format!(
                        "prefix `{prefix}` is already used by upstream `{}`; give one of \
                         them another `prefix`",
                        spec.upstreams[j].name
                    ),
                ));
            } else if other != prefix && other.starts_with(prefix.as_str()) {
                out.push(problem(
                    Field::Prefix,
                    format!(
                        "prefix `{prefix}` is a prefix of upstream `{}`'s prefix `{other}`, \
                         so routing a tool name would be ambiguous; make neither a prefix \
                         of the other",
                        spec.upstreams[j].name
                    ),
                ));
            }
        }
        out.extend(
            transport_problem(&upstream.transport)
                .into_iter()
                .map(|m| problem(Field::Whole, m)),
        );
        out.extend(
            credential_problem(&upstream.credentials)
                .or_else(|| exchange_problem(spec, upstream))
                .into_iter()
                .map(|m| problem(Field::Whole, m)),
        );
        if matches!(upstream.transport, TransportSpec::Openapi(_))
            && upstream.credentials != CredentialSpec::None
        {
            out.push(problem(
                Field::Whole,
                "an openapi upstream takes the API's credential in `transport.credential` \
                 (none, api_key, bearer, client_credentials), not in `credentials`"
                    .into(),
            ));
        }
        if upstream.timeouts.connect_ms == 0 || upstream.timeouts.call_ms == 0 {
            out.push(problem(
                Field::Whole,
                "timeouts must be at least 1 millisecond".into(),
            ));
        }
    }
    out
}

/// `^[A-Za-z0-9_.-]+$`: what tool names allow.
pub(crate) fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn transport_problem(transport: &TransportSpec) -> Option<String> {
    match transport {
        TransportSpec::Stdio { command, .. } if command.trim().is_empty() => {
            Some("transport.command is empty; name the program to run".into())
        }
        TransportSpec::Http { url, headers } => http_url_problem(url).or_else(|| {
            headers
                .keys()
                .find(|k| {
                    k.eq_ignore_ascii_case("authorization")
                        || http::HeaderName::from_bytes(k.as_bytes()).is_err()
                })
                .map(|k| {
                    format!(
                        "header `{k}` cannot be set here: it is not a valid header name, \
                         or it is `Authorization` (use `credentials` so it stays secret)"
                    )
                })
        }),
        TransportSpec::Sse { url } => http_url_problem(url),
        TransportSpec::Openapi(api) => openapi_problem(api),
        TransportSpec::Stdio { .. } => None,
    }
}

/// What can be told about an OpenAPI upstream without reading its document or secrets.
fn openapi_problem(api: &belay_openapi::OpenApiSpec) -> Option<String> {
    use belay_openapi::ApiCredentialSpec;
    if api.document.trim().is_empty() {
        return Some("transport.document is empty; give a file path or an https:// URL".into());
    }
    if let Some(problem) = api.base_url.as_deref().and_then(http_url_problem) {
        return Some(problem.replace("transport.url", "transport.base_url"));
    }
    if api.timeout_ms == 0 || api.max_response_bytes == 0 {
        return Some(
            "transport.timeout_ms and transport.max_response_bytes must be at least 1".into(),
        );
    }
    let secret = |what: &str, s: &belay_openapi::Secret| match (&s.env, &s.file) {
        (None, None) => Some(format!("{what} needs `env` or `file`")),
        _ => None,
    };
    match &api.credential {
        ApiCredentialSpec::None => None,
        ApiCredentialSpec::ApiKey {
            name, secret: s, ..
        } => {
            if name.trim().is_empty() {
                return Some("transport.credential.name is empty".into());
            }
            secret("transport.credential.secret", s)
        }
        ApiCredentialSpec::Bearer { secret: s } => secret("transport.credential.secret", s),
        ApiCredentialSpec::ClientCredentials {
            token_url,
            client_secret,
            ..
        } => http_url_problem(token_url)
            .map(|p| p.replace("transport.url", "transport.credential.token_url"))
            .or_else(|| secret("transport.credential.client_secret", client_secret)),
    }
}

fn http_url_problem(url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => None,
        Ok(_) => Some(format!(
            "transport.url `{url}` must be an absolute http:// or https:// URL"
        )),
        Err(e) => Some(format!("transport.url `{url}` is not a URL: {e}")),
    }
}

fn credential_problem(credentials: &CredentialSpec) -> Option<String> {
    match credentials {
        CredentialSpec::None => None,
        CredentialSpec::Bearer { secret } => secret_problem("credentials.secret", secret),
        CredentialSpec::ClientCredentials(client) | CredentialSpec::TokenExchange(client) => {
            let grant = match credentials {
                CredentialSpec::TokenExchange(_) => "token_exchange",
                _ => "client_credentials",
            };
            if client.token_url.is_none() && client.issuer.is_none() {
                return Some(format!(
                    "{grant} needs `token_url` or `issuer` (to discover it)"
                ));
            }
            if client.client_id.is_empty() {
                return Some("credentials.client_id is empty".into());
            }
            if let Some(problem) = client.token_url.as_deref().and_then(http_url_problem) {
                return Some(problem.replace("transport.url", "credentials.token_url"));
            }
            secret_problem("credentials.client_secret", &client.client_secret)
        }
    }
}

/// Token exchange acts for the signed-in caller, so there must be one, and it sends an
/// `Authorization` header, so the upstream must speak HTTP.
fn exchange_problem(spec: &GatewaySpec, upstream: &UpstreamSpec) -> Option<String> {
    if !matches!(upstream.credentials, CredentialSpec::TokenExchange(_)) {
        return None;
    }
    if matches!(upstream.transport, TransportSpec::Stdio { .. }) {
        return Some(
            "token_exchange credentials need an http or sse transport (a stdio process \
             receives no Authorization header)"
                .into(),
        );
    }
    (!spec.auth).then(|| {
        "token_exchange credentials act for the signed-in caller: set `auth = true` in \
         [gateway]"
            .into()
    })
}

fn secret_problem(key: &str, secret: &SecretSpec) -> Option<String> {
    match (&secret.env, &secret.file) {
        (Some(_), None) | (None, Some(_)) => None,
        _ => Some(format!(
            "{key} needs exactly one of `env = \"VAR\"` or `file = \"/path\"` (secrets are \
             never written inline)"
        )),
    }
}
