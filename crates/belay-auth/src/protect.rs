//! The resource server in front of an MCP router: bearer checks, per-method scopes, the
//! RFC 6750 challenges, and the RFC 9728 metadata that tells clients where to log in.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use url::Url;

use crate::{Caller, Error, ResourceSpec, ScopePolicy, Validator};

/// A boxed future that can cross threads.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where RFC 9728 puts protected resource metadata.
pub const PRM_PATH: &str = "/.well-known/oauth-protected-resource";

/// Protects an MCP router ([`Protection::protect`]) or, as a tower [`Layer`](tower::Layer),
/// any HTTP service (a plain rmcp `StreamableHttpService`, say; serve the metadata with
/// [`Protection::metadata_router`] beside it). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Protection(Arc<Inner>);

/// A request the bearer check refused with a token that did not pass: one that is forged,
/// expired, revoked, for another resource, malformed, moved into the URL, or short of a
/// scope. Given to [`Protection::on_refusal`] so a gateway can audit token failures.
///
/// A request with no credentials at all is not a refusal in this sense: it is the first step
/// of every sign-in (the 401 that points to the metadata), and an anonymous flood could
/// otherwise write the audit log full for free.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    /// The HTTP status answered: 400, 401 or 403.
    pub status: u16,
    /// The RFC 6750 error code: `invalid_request`, `invalid_token` or `insufficient_scope`.
    pub error: &'a str,
    /// Why, as the challenge says it (never the token).
    pub reason: &'a str,
    /// The resource the token was presented to.
    pub resource: &'a str,
    /// The refused request's head (its extensions hold the client address).
    pub request: &'a http::request::Parts,
}

/// What [`Protection::on_refusal`] calls.
pub type RefusalHook = Arc<dyn Fn(&Refusal<'_>) + Send + Sync>;

/// The hook slot: set once, after construction, before the protection serves requests.
#[derive(Default)]
struct Hook(std::sync::OnceLock<RefusalHook>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Hook(set)"
        } else {
            "Hook(none)"
        })
    }
}

#[derive(Debug)]
struct Inner {
    validator: Validator,
    policy: ScopePolicy,
    resource: String,
    metadata_url: String,
    metadata_paths: Vec<String>,
    metadata: Value,
    all_scopes: String,
    max_body_bytes: usize,
    on_refusal: Hook,
}

impl Protection {
    /// Protection per `spec` for the server at `bound_url` (its resource URI unless
    /// `spec.resource` names one). Nothing is fetched until the first token arrives.
    pub fn new(spec: &ResourceSpec, bound_url: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(format!("cannot build an HTTP client: {e}")))?;
        Self::with_http(spec, bound_url, http)
    }

    /// As [`Protection::new`], with the HTTP client used to reach the issuer.
    pub fn with_http(
        spec: &ResourceSpec,
        bound_url: &str,
        http: reqwest::Client,
    ) -> Result<Self, Error> {
        let resource = spec.resource.as_deref().unwrap_or(bound_url);
        let url = Url::parse(resource)
            .map_err(|e| Error::Config(format!("resource `{resource}` is not a URL: {e}")))?;
        if url.fragment().is_some() || !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "resource `{resource}` must be an http(s) URL without a fragment (RFC 8707)"
            )));
        }
        let path = url.path().trim_end_matches('/');
        let mut metadata_paths = vec![PRM_PATH.to_owned()];
        if !path.is_empty() {
            metadata_paths.push(format!("{PRM_PATH}{path}"));
        }
        let metadata_url = format!(
            "{}{}",
            url.origin().ascii_serialization(),
            metadata_paths
                .last()
                .map(String::as_str)
                .unwrap_or(PRM_PATH)
        );
        let policy = ScopePolicy::from_spec(spec);
        let advertised: Vec<String> = policy.all().iter().map(|s| policy.advertised(s)).collect();
        let metadata = json!({
            "resource": resource,
            "authorization_servers": [spec.issuer],
            "scopes_supported": advertised,
            "bearer_methods_supported": ["header"],
            "resource_name": spec.resource_name.as_deref().unwrap_or("Belay MCP server"),
        });
        Ok(Self(Arc::new(Inner {
            validator: Validator::new(spec, resource, http)?,
            all_scopes: advertised.join(" "),
            policy,
            resource: resource.to_owned(),
            metadata_url,
            metadata_paths,
            metadata,
            max_body_bytes: spec.max_body_bytes,
            on_refusal: Hook::default(),
        })))
    }

    /// Calls `hook` for every [`Refusal`] (a token that did not pass) from now on; the first
    /// hook set stays (this protection and its clones share it).
    pub fn on_refusal(self, hook: RefusalHook) -> Self {
        if self.0.on_refusal.0.set(hook).is_err() {
            tracing::warn!(resource = %self.0.resource, "a refusal hook was already set; the first one stays");
        }
        self
    }

    /// Tells the hook, if any, about a refusal.
    fn refused(
        &self,
        request: &http::request::Parts,
        status: StatusCode,
        error: &str,
        reason: &str,
    ) {
        if let Some(hook) = self.0.on_refusal.0.get() {
            hook(&Refusal {
                status: status.as_u16(),
                error,
                reason,
                resource: &self.0.resource,
                request,
            });
        }
    }

    /// The canonical resource URI tokens must be minted for.
    pub fn resource(&self) -> &str {
        &self.0.resource
    }

    /// The URL of this server's protected resource metadata (the path-suffixed form).
    pub fn metadata_url(&self) -> &str {
        &self.0.metadata_url
    }

    /// The protected resource metadata document.
    pub fn metadata(&self) -> &Value {
        &self.0.metadata
    }

    /// The token validator (e.g. to count key fetches).
    pub fn validator(&self) -> &Validator {
        &self.0.validator
    }

    /// `router` with every route behind the bearer check, plus the metadata routes
    /// (open to all) at `/.well-known/oauth-protected-resource` and its path-suffixed
    /// form. Handlers find the [`Caller`] in the request extensions.
    pub fn protect(&self, router: Router) -> Router {
        router.layer(self.clone()).merge(self.metadata_router())
    }

    /// Like [`protect`](Self::protect), for one of several servers sharing an origin (as
    /// under `belay up`): only the path-suffixed metadata route is added, since the root
    /// one can describe a single resource.
    pub fn protect_shared_origin(&self, router: Router) -> Router {
        router
            .layer(self.clone())
            .merge(self.shared_origin_metadata_router())
    }

    /// The metadata routes of [`protect_shared_origin`](Self::protect_shared_origin): only
    /// the path-suffixed one.
    pub fn shared_origin_metadata_router(&self) -> Router {
        // The root path comes first; a server at the origin's root has only that one.
        let skip = usize::from(self.0.metadata_paths.len() > 1);
        self.routes(&self.0.metadata_paths[skip..])
    }

    /// Just the metadata routes.
    pub fn metadata_router(&self) -> Router {
        self.routes(&self.0.metadata_paths)
    }

    fn routes(&self, paths: &[String]) -> Router {
        let metadata = self.0.metadata.clone();
        let mut router = Router::new();
        for path in paths {
            let metadata = metadata.clone();
            router = router.route(path, get(move || async move { Json(metadata) }));
        }
        router
    }

    /// The RFC 6750 challenge; `error` is `(code, description)`, `scope` overrides the
    /// scopes a client is told to ask for.
    fn challenge(
        &self,
        status: StatusCode,
        error: Option<(&str, &str)>,
        scope: Option<&str>,
    ) -> Response {
        let mut value = String::from("Bearer ");
        if let Some((code, description)) = error {
            value.push_str(&format!(
                "error=\"{code}\", error_description=\"{}\", ",
                quote(description)
            ));
        }
        value.push_str(&format!(
            "resource_metadata=\"{}\"",
            quote(&self.0.metadata_url)
        ));
        let scope = scope.unwrap_or(&self.0.all_scopes);
        if !scope.is_empty() {
            value.push_str(&format!(", scope=\"{}\"", quote(scope)));
        }
        let (code, description) = error.unwrap_or((
            "unauthorized",
            "this MCP server needs an OAuth access token: see the resource_metadata URL in WWW-Authenticate",
        ));
        let mut response = (
            status,
            Json(json!({ "error": code, "error_description": description })),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// 413 with a JSON-RPC error (the body is an MCP message the server did not read), closing
/// the connection since the rest of the body was left unread.
fn too_large(message: String) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32600, "message": message },
    });
    let mut response = (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Makes `text` safe inside an auth-param quoted string.
fn quote(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .collect()
}

/// The bearer token of `request`: `Ok(None)` without credentials, `Err` for a header we
/// cannot read (RFC 6750 `invalid_request`).
fn bearer(request: &Request) -> Result<Option<&str>, &'static str> {
    if request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token=")))
    {
        return Err("tokens in the URL are refused: send `Authorization: Bearer <token>`");
    }
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send exactly one Authorization header");
    }
    let value = value
        .to_str()
        .map_err(|_| "the Authorization header is not visible ASCII")?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err("expected `Authorization: Bearer <token>`");
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(token68) {
        return Err("expected `Authorization: Bearer <token>` with one token and nothing else");
    }
    Ok(Some(token))
}

/// Every `(method, tools/call name)` in a JSON-RPC body, batches included so a batch
/// cannot carry a call past the scope check. Bodies that are not JSON yield nothing and
/// are left to the MCP router to refuse.
fn methods(body: &[u8]) -> Vec<(String, Option<String>)> {
    let one = |message: &Value| {
        let method = message.get("method")?.as_str()?.to_owned();
        let tool = message
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some((method, tool))
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch.iter().filter_map(one).collect(),
        Ok(message) => one(&message).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

/// [`check`] as a function pointer, so that the layer's service type can be named.
type Check = fn(State<Protection>, Request, Next) -> BoxFuture<'static, Response>;

fn boxed_check(
    protection: State<Protection>,
    request: Request,
    next: Next,
) -> BoxFuture<'static, Response> {
    Box::pin(check(protection, request, next))
}

/// The bearer check in front of `inner`: a request without a valid token for this resource
/// gets the RFC 6750 challenge and never reaches it; one with a token reaches it with the
/// [`Caller`] in its extensions.
impl<S> tower::Layer<S> for Protection {
    type Service = middleware::FromFn<Check, Protection, S, (State<Protection>, Request)>;

    fn layer(&self, inner: S) -> Self::Service {
        middleware::from_fn_with_state(self.clone(), boxed_check as Check).layer(inner)
    }
}

async fn check(State(protection): State<Protection>, request: Request, next: Next) -> Response {
    // CORS preflights carry no credentials by design.
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let token = match bearer(&request) {
        Ok(Some(token)) => token.to_owned(),
        Ok(None) => return protection.challenge(StatusCode::UNAUTHORIZED, None, None),
        Err(why) => {
            let (parts, _) = request.into_parts();
            protection.refused(&parts, StatusCode::BAD_REQUEST, "invalid_request", why);
            return protection.challenge(
                StatusCode::BAD_REQUEST,
                Some(("invalid_request", why)),
                None,
            );
        }
    };
    let caller = match protection.0.validator.validate(&token).await {
        Ok(caller) => caller,
        Err(Error::InvalidToken(why)) => {
            tracing::debug!(%why, "token refused");
            let (parts, _) = request.into_parts();
            protection.refused(&parts, StatusCode::UNAUTHORIZED, "invalid_token", &why);
            return protection.challenge(
                StatusCode::UNAUTHORIZED,
                Some(("invalid_token", &why)),
                None,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot check a token");
            let body =
                json!({ "error": "temporarily_unavailable", "error_description": e.to_string() });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    };
    // The scope check reads the body: never more than the limit, and a body announced
    // larger is refused before a byte of it is read.
    let max = protection.0.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared.filter(|&size| size > max as u64) {
        return too_large(format!(
            "the request body is {size} bytes; the limit is {max}"
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, max).await {
        Ok(bytes) => bytes,
        Err(_) if parts.method == Method::POST => {
            return too_large(format!(
                "the request body is over {max} bytes, the limit (max_body_bytes)"
            ));
        }
        Err(_) => Default::default(),
    };
    let policy = &protection.0.policy;
    let mut missing: Vec<&str> = Vec::new();
    for (method, tool) in methods(&bytes) {
        for scope in policy.missing(&caller, &method, tool.as_deref()) {
            if !missing.contains(&scope) {
                missing.push(scope);
            }
        }
    }
    if !missing.is_empty() {
        // Ask for what the caller has plus what it lacks, so re-authorizing with this
        // scope does not drop the scopes it already uses.
        let mut step_up: Vec<String> = caller.scopes.iter().map(|s| policy.advertised(s)).collect();
        step_up.extend(missing.iter().map(|s| policy.advertised(s)));
        let why = format!("this request needs scope {}", missing.join(" "));
        protection.refused(&parts, StatusCode::FORBIDDEN, "insufficient_scope", &why);
        return protection.challenge(
            StatusCode::FORBIDDEN,
            Some(("insufficient_scope", &why)),
            Some(&step_up.join(" ")),
        );
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    // The MCP harness binds the sessions this request opens to its principal.
    request.extensions_mut().insert(caller.principal());
    request.extensions_mut().insert::<Arc<Caller>>(caller);
    next.run(request).await
}
