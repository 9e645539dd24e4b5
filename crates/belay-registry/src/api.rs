//! The official MCP Registry REST API as an axum router ([`router`]), under `/v0.1` and
//! `/v0`: reads are open to everyone; `POST …/publish` needs a bearer token that
//! `belay_auth` accepts for this registry, with the publish scope, for a namespace
//! `[registry] namespaces` grants the caller. Errors are `{"error": "…"}` with the status
//! the official API documents (400, 401, 403, 404), plus 408, 409, 413 and 415 where it
//! says nothing; an invalid document also lists each `problems` entry by field.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::to_bytes,
    extract::{Path, Query, Request, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use belay_auth::Caller;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    DocumentValidator, Error, RegistrySpec, RegistryStore, ServerName,
    spec::publisher,
    store::{ListQuery, parse_rfc3339},
};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct Registry(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: RegistryStore,
    documents: DocumentValidator,
    guard: belay_guard::MetadataGuard,
    tokens: belay_auth::Validator,
    spec: RegistrySpec,
}

impl Registry {
    /// The registry over `store`, configured by `spec`, reached at `url` (the audience
    /// publish tokens must carry unless `[registry.auth] audience` or `resource` names
    /// another). Nothing is fetched from the issuer until the first publish.
    pub fn new(store: RegistryStore, spec: RegistrySpec, url: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(format!("cannot build an HTTP client: {e}")))?;
        let resource = spec.auth.resource.clone().unwrap_or_else(|| url.to_owned());
        let tokens = belay_auth::Validator::new(&spec.auth, &resource, http)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self(Arc::new(Inner {
            store,
            documents: DocumentValidator::new()?,
            guard: belay_guard::MetadataGuard::new()
                .map_err(|e| Error::Config(format!("the scan's rules: {e}")))?,
            tokens,
            spec,
        })))
    }

    /// The audience publish tokens must carry.
    pub fn audience(&self) -> &str {
        self.0.tokens.audience()
    }
}

/// The registry's routes, under `/v0.1` and `/v0`; anything else is a JSON 404.
pub fn router(registry: Registry) -> Router {
    let mut router = Router::new();
    for prefix in ["/v0.1", "/v0"] {
        router = router
            .route(&format!("{prefix}/servers"), get(list))
            .route(
                &format!("{prefix}/servers/{{serverName}}/versions"),
                get(versions),
            )
            .route(
                &format!("{prefix}/servers/{{serverName}}/versions/{{version}}"),
                get(version),
            )
            .route(&format!("{prefix}/publish"), post(publish));
    }
    router
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(registry)
}

/// `{"error": message}` with `status`.
fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::Invalid(_) | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Duplicate { .. } | Error::Conflict(_) => StatusCode::CONFLICT,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Store(_) | Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "registry request failed");
            return failure(status, "the registry failed; see its log");
        }
        let mut body = json!({ "error": self.to_string() });
        if let Error::Invalid(problems) = &self {
            body["problems"] = json!(problems);
        }
        (status, Json(body)).into_response()
    }
}

/// Query parameters of the read endpoints, all as text so every bad value gets our error.
#[derive(Debug, Default, Deserialize)]
struct Params {
    cursor: Option<String>,
    limit: Option<String>,
    search: Option<String>,
    version: Option<String>,
    updated_since: Option<String>,
    include_unlisted: Option<String>,
    owner: Option<String>,
    tag: Option<String>,
}

fn params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, Error> {
    query
        .map(|Query(p)| p)
        .map_err(|e| Error::BadRequest(format!("invalid query string: {}", e.body_text())))
}

fn flag(value: Option<&str>, name: &str) -> Result<bool, Error> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::BadRequest(format!(
            "{name} must be true or false, not `{other}`"
        ))),
    }
}

fn list_page(servers: Vec<Value>, next_cursor: Option<String>) -> Json<Value> {
    let mut metadata = json!({ "count": servers.len() });
    if let Some(cursor) = next_cursor {
        metadata["nextCursor"] = cursor.into();
    }
    Json(json!({ "servers": servers, "metadata": metadata }))
}

async fn list(
    State(registry): State<Registry>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let p = params(query)?;
    let spec = &registry.0.spec;
    let limit = match p.limit.as_deref() {
        None => spec.default_limit,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(spec.max_limit),
            _ => {
                return Err(Error::BadRequest(format!(
                    "limit must be a whole number from 1 to {}, not `{text}`",
                    spec.max_limit
                )));
            }
        },
    };
    let query = ListQuery {
        cursor: p.cursor.filter(|c| !c.is_empty()),
        limit,
        search: p.search.filter(|s| !s.is_empty()),
        version: p.version.filter(|v| !v.is_empty()),
        updated_since: p.updated_since.as_deref().map(parse_rfc3339).transpose()?,
        include_unlisted: flag(p.include_unlisted.as_deref(), "include_unlisted")?,
        // Belay's own filters beside the official ones: servers by owner or tag.
        owner: p.owner.filter(|o| !o.is_empty()),
        tag: p.tag.filter(|t| !t.is_empty()),
    };
    let page = registry.0.store.list(query).await?;
    let servers = page.entries.iter().map(crate::Entry::response).collect();
    Ok(list_page(servers, page.next_cursor))
}

async fn versions(
    State(registry): State<Registry>,
    Path(name): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let include_unlisted = flag(
        params(query)?.include_unlisted.as_deref(),
        "include_unlisted",
    )?;
    let entries = registry
        .0
        .store
        .versions(&name, include_unlisted)
        .await?
        .ok_or_else(|| Error::NotFound("Server not found".into()))?;
    Ok(list_page(
        entries.iter().map(crate::Entry::response).collect(),
        None,
    ))
}

async fn version(
    State(registry): State<Registry>,
    Path((name, version)): Path<(String, String)>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let include_unlisted = flag(
        params(query)?.include_unlisted.as_deref(),
        "include_unlisted",
    )?;
    let entry = registry
        .0
        .store
        .get(&name, &version, include_unlisted)
        .await?
        .ok_or_else(|| Error::NotFound("Server not found".into()))?;
    Ok(Json(entry.response()))
}

/// 401 or 403 with an RFC 6750 challenge naming the scope to ask for.
fn refused(status: StatusCode, code: Option<&str>, scope: &str, message: String) -> Response {
    let mut challenge = format!("Bearer realm=\"belay-registry\", scope=\"{scope}\"");
    if let Some(code) = code {
        challenge.push_str(&format!(", error=\"{code}\""));
    }
    let mut response = failure(status, message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The caller of a publish request, or the refusal to send.
async fn authenticate(registry: &Registry, headers: &HeaderMap) -> Result<Arc<Caller>, Response> {
    let scope = registry.0.spec.scope.as_str();
    let unauthorized =
        |code, message: &str| refused(StatusCode::UNAUTHORIZED, code, scope, message.to_owned());
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(unauthorized(
            None,
            "publishing needs a bearer token: send `Authorization: Bearer <token>`",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c))
        });
    let Some(token) = token else {
        return Err(unauthorized(
            Some("invalid_request"),
            "expected `Authorization: Bearer <token>` with one token",
        ));
    };
    match registry.0.tokens.validate(token).await {
        Ok(caller) => Ok(caller),
        Err(belay_auth::Error::InvalidToken(why)) => Err(unauthorized(
            Some("invalid_token"),
            &format!("invalid token: {why}"),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check a publish token");
            Err(failure(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot check the token now: {e}"),
            ))
        }
    }
}

async fn publish(State(registry): State<Registry>, request: Request) -> Response {
    match publish_inner(&registry, request).await {
        Ok(response) | Err(response) => response,
    }
}

/// Checks in order of cost: the token before the body is read, the body's size before it
/// is parsed, the document before the namespace, so a stranger cannot make the registry
/// read or parse anything large.
async fn publish_inner(registry: &Registry, request: Request) -> Result<Response, Response> {
    let spec = &registry.0.spec;
    let (parts, body) = request.into_parts();
    let caller = authenticate(registry, &parts.headers).await?;
    if !caller.has_scope(&spec.scope) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            &spec.scope,
            format!(
                "the token lacks the `{}` scope needed to publish",
                spec.scope
            ),
        ));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type.is_some_and(|t| !t.to_ascii_lowercase().starts_with("application/json")) {
        return Err(failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the server.json with `Content-Type: application/json`",
        ));
    }
    let max = spec.max_body_bytes;
    let too_large = || {
        failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the server.json is over {max} bytes, the limit ([registry] max_body_bytes)"),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|size| size > max as u64) {
        return Err(too_large());
    }
    let timeout = Duration::from_secs(spec.body_timeout_secs);
    let bytes = match tokio::time::timeout(timeout, to_bytes(body, max)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(too_large()),
        Err(_) => {
            return Err(failure(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the server.json did not arrive within {} s",
                    spec.body_timeout_secs
                ),
            ));
        }
    };
    let document: Value = serde_json::from_slice(&bytes).map_err(|e| {
        failure(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    registry
        .0
        .documents
        .check(&document)
        .map_err(IntoResponse::into_response)?;
    let name = document
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = ServerName::parse(name).map_err(IntoResponse::into_response)?;
    let who = publisher(&caller);
    if !spec.may_publish(&who, name.namespace()) {
        let grants = spec.grants_of(&who);
        let granted = if grants.is_empty() {
            "no namespace".to_owned()
        } else {
            grants.join(", ")
        };
        return Err(failure(
            StatusCode::FORBIDDEN,
            format!(
                "You do not have permission to publish this server: `{who}` may publish in \
                 {granted}, not in `{}` ([registry] namespaces)",
                name.namespace()
            ),
        ));
    }
    let scan = crate::scan_document(&registry.0.guard, &document);
    let entry = registry
        .0
        .store
        .publish(crate::Submission {
            document,
            publisher: who.clone(),
            scan,
            provenance: None,
        })
        .await
        .map_err(IntoResponse::into_response)?;
    let scan = entry
        .scan
        .as_ref()
        .map(crate::ScanReport::summary)
        .unwrap_or_default();
    tracing::info!(server = %entry.name, version = %entry.version, publisher = %who, %scan, "published, pending review");
    Ok(Json(entry.response()).into_response())
}
