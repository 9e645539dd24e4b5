//! The authorization endpoint: GET validates the request and shows the sign-in and
//! consent page; POST checks the password and answers the client with a code or an error.
//!
//! Until the client and redirect URI are known good, errors are an HTML page, never a
//! redirect (RFC 6749 §4.1.2.1). The validated request is kept server-side under a random
//! id (the page carries only that id and a CSRF token, so nothing can be tampered with);
//! the CSRF token is also set as a cookie and both must match on POST.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use belay_store::rusqlite::{OptionalExtension, params};
use url::Url;

use crate::{
    AuthServer, OAuthError,
    clients::Client,
    page::{self, Consent, Showing},
    params::Params,
    secret, signin,
};

/// Pending requests (between GET and POST) live this long.
const PENDING_TTL: i64 = 600;

/// A validated authorization request.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) id: String,
    pub(crate) csrf: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_given: bool,
    pub(crate) scope: String,
    pub(crate) resource: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
}

enum Refusal {
    /// Shown to the user: the redirect URI is not trustworthy.
    Page(StatusCode, String),
    /// Sent back to the client.
    Redirect(String, Option<String>, OAuthError),
}

impl From<OAuthError> for Refusal {
    fn from(e: OAuthError) -> Self {
        // Only our own failures are 500; a client's bad metadata document is its fault.
        let status = if e.code() == "server_error" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        Self::Page(status, e.description().to_owned())
    }
}

fn unsupported_response_type(d: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "unsupported_response_type", d)
}

/// `uri` with the response parameters (and `iss`, RFC 9207) appended to its query.
pub(crate) fn redirect_to(
    server: &AuthServer,
    uri: &str,
    state: Option<&str>,
    fields: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = Url::parse(uri) else {
        return page::error(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in fields {
            q.append_pair(k, v);
        }
        if let Some(state) = state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", server.issuer());
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refuse(server: &AuthServer, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(status, message) => page::error(status, &message),
        Refusal::Redirect(uri, state, e) => redirect_to(
            server,
            &uri,
            state.as_deref(),
            &[("error", e.code()), ("error_description", e.description())],
        ),
    }
}

/// Checks `resource` (RFC 8707): one absolute URI without a fragment.
pub(crate) fn check_resource(resource: &str) -> Result<(), OAuthError> {
    let url = Url::parse(resource).map_err(|_| {
        OAuthError::invalid_target(format!("resource `{resource}` must be an absolute URI"))
    })?;
    if url.fragment().is_some() {
        return Err(OAuthError::invalid_target(
            "resource must not contain a fragment",
        ));
    }
    Ok(())
}

/// The scopes granted for `requested` (or the defaults), checked against the server's
/// and the client's lists.
pub(crate) fn grant_scopes(
    server: &AuthServer,
    client: &Client,
    requested: Option<&str>,
) -> Result<String, OAuthError> {
    let allowed = |s: &str| {
        server.settings().scopes.iter().any(|k| k == s)
            && (client.scopes.is_empty() || client.scopes.iter().any(|k| k == s))
    };
    let Some(requested) = requested else {
        let defaults: Vec<&str> = server
            .settings()
            .default_scopes
            .iter()
            .map(String::as_str)
            .filter(|s| allowed(s))
            .collect();
        return Ok(defaults.join(" "));
    };
    let mut scopes: Vec<&str> = Vec::new();
    for s in requested.split_whitespace() {
        if !allowed(s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{s}` is not available to this client; allowed: {}",
                if client.scopes.is_empty() {
                    server.settings().scopes.join(" ")
                } else {
                    client.scopes.join(" ")
                }
            )));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    Ok(scopes.join(" "))
}

async fn validate(server: &AuthServer, p: &Params) -> Result<(Client, Pending), Refusal> {
    let page = |m: &str| Refusal::Page(StatusCode::BAD_REQUEST, m.to_owned());
    let client_id = p
        .get("client_id")
        .ok_or_else(|| page("client_id is missing from the authorization request"))?;
    let client = server
        .client(client_id)
        .await
        .map_err(OAuthError::from)?
        .ok_or_else(|| page(&format!("unknown client `{client_id}`")))?;
    let (redirect_uri, redirect_given) = match p.get("redirect_uri") {
        Some(uri) if client.redirect_matches(uri) => (uri.to_owned(), true),
        Some(uri) => {
            return Err(page(&format!(
                "redirect_uri `{uri}` is not registered for this client"
            )));
        }
        None => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => return Err(page("redirect_uri is required: this client has several")),
        },
    };
    let state = p.get("state").map(str::to_owned);
    let back = |e: OAuthError| Refusal::Redirect(redirect_uri.clone(), state.clone(), e);
    match p.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(back(unsupported_response_type(&format!(
                "response_type `{other}` is not supported; use `code`"
            ))));
        }
        None => {
            return Err(back(OAuthError::invalid_request(
                "response_type is required",
            )));
        }
    }
    let challenge = p.get("code_challenge").ok_or_else(|| {
        back(OAuthError::invalid_request(
            "code_challenge is required: PKCE with code_challenge_method=S256",
        ))
    })?;
    if p.get("code_challenge_method") != Some("S256") {
        return Err(back(OAuthError::invalid_request(
            "code_challenge_method must be S256 (plain is not accepted)",
        )));
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(back(OAuthError::invalid_request(
            "code_challenge must be BASE64URL(SHA-256(code_verifier)): 43 characters",
        )));
    }
    if !client.allows("authorization_code") {
        return Err(back(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "this client is not registered for the authorization_code grant",
        )));
    }
    let scope = grant_scopes(server, &client, p.get("scope")).map_err(back)?;
    let resource = match p.get("resource") {
        Some(r) => r.to_owned(),
        None => server.settings().default_resource.clone().ok_or_else(|| {
            back(OAuthError::invalid_target(
                "resource is required (RFC 8707): the URL of the MCP server the token is for",
            ))
        })?,
    };
    check_resource(&resource).map_err(back)?;
    Ok((
        client.clone(),
        Pending {
            id: secret::random_token(),
            csrf: secret::random_token(),
            client_id: client.client_id,
            redirect_uri,
            redirect_given,
            scope,
            resource,
            state,
            nonce: p.get("nonce").map(str::to_owned),
            code_challenge: challenge.to_owned(),
        },
    ))
}

fn cookie_name(request_id: &str) -> String {
    format!("belay_csrf_{}", request_id.get(..16).unwrap_or(request_id))
}

fn render(client: &Client, pending: &Pending, showing: Showing<'_>) -> Response {
    let host = Url::parse(&pending.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| pending.redirect_uri.clone());
    page::consent(
        &Consent {
            action: "authorize",
            client,
            redirect_host: &host,
            scopes: &pending.scope,
            resource: &pending.resource,
            request_id: &pending.id,
            csrf: &pending.csrf,
        },
        showing,
    )
}

/// GET /authorize.
pub(crate) async fn show(State(server): State<AuthServer>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return page::error(StatusCode::BAD_REQUEST, e.description()),
    };
    let (client, pending) = match validate(&server, &params).await {
        Ok(v) => v,
        Err(refusal) => return refuse(&server, refusal),
    };
    if let Err(e) = save(&server, &pending).await {
        return refuse(&server, e.into());
    }
    let cookie = signin::csrf_cookie(&cookie_name(&pending.id), &pending.csrf, PENDING_TTL);
    render(&client, &pending, Showing::First { cookie })
}

async fn save(server: &AuthServer, p: &Pending) -> Result<(), OAuthError> {
    let p = p.clone();
    let now = server.now();
    server
        .db()
        .call(move |c| {
            c.execute("DELETE FROM as_pending WHERE expires_at <= ?1", [now])?;
            c.execute(
                "INSERT INTO as_pending (id, csrf, client_id, redirect_uri, redirect_given, scope,
                     resource, state, nonce, code_challenge, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    p.id,
                    p.csrf,
                    p.client_id,
                    p.redirect_uri,
                    p.redirect_given,
                    p.scope,
                    p.resource,
                    p.state,
                    p.nonce,
                    p.code_challenge,
                    now + PENDING_TTL
                ],
            )
        })
        .await?;
    Ok(())
}

async fn load(server: &AuthServer, id: &str) -> Result<Option<Pending>, OAuthError> {
    let id = id.to_owned();
    let now = server.now();
    Ok(server
        .db()
        .call(move |c| {
            c.query_row(
                "SELECT id, csrf, client_id, redirect_uri, redirect_given, scope, resource, state,
                        nonce, code_challenge
                 FROM as_pending WHERE id = ?1 AND expires_at > ?2",
                params![id, now],
                |r| {
                    Ok(Pending {
                        id: r.get(0)?,
                        csrf: r.get(1)?,
                        client_id: r.get(2)?,
                        redirect_uri: r.get(3)?,
                        redirect_given: r.get(4)?,
                        scope: r.get(5)?,
                        resource: r.get(6)?,
                        state: r.get(7)?,
                        nonce: r.get(8)?,
                        code_challenge: r.get(9)?,
                    })
                },
            )
            .optional()
        })
        .await?)
}

/// POST /authorize.
pub(crate) async fn submit(
    State(server): State<AuthServer>,
    request: axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Response {
    let ip = crate::client_ip::client_ip(&request.extensions);
    match submit_inner(&server, &request.headers, &body, ip).await {
        Ok(r) => r,
        Err(refusal) => refuse(&server, refusal),
    }
}

async fn submit_inner(
    server: &AuthServer,
    headers: &HeaderMap,
    body: &[u8],
    ip: Option<std::net::IpAddr>,
) -> Result<Response, Refusal> {
    let form = Params::form(headers, body)
        .map_err(|e| Refusal::Page(StatusCode::BAD_REQUEST, e.description().to_owned()))?;
    let gone = || {
        Refusal::Page(
            StatusCode::BAD_REQUEST,
            "this sign-in request is unknown or expired (requests last 10 minutes)".into(),
        )
    };
    let id = form.get("request_id").ok_or_else(gone)?;
    let pending = load(server, id).await?.ok_or_else(gone)?;
    if !signin::csrf_matches(&form, headers, &cookie_name(&pending.id), &pending.csrf) {
        return Err(Refusal::Page(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or does not match its cookie; \
             open the sign-in page again"
                .into(),
        ));
    }
    let client = server
        .client(&pending.client_id)
        .await
        .map_err(OAuthError::from)?
        .ok_or_else(gone)?;
    let state = pending.state.as_deref();
    match form.get("consent") {
        Some("deny") => {
            forget(server, &pending.id).await?;
            Ok(redirect_to(
                server,
                &pending.redirect_uri,
                state,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the user denied the request"),
                ],
            ))
        }
        Some("approve") => {
            let user = match signin::verify_password(server, &form, ip).await? {
                Ok(user) => user,
                Err(refused) => {
                    let username = form.get("username").unwrap_or_default();
                    return Ok(render(
                        &client,
                        &pending,
                        Showing::Refused { username, refused },
                    ));
                }
            };
            forget(server, &pending.id).await?;
            let code = issue_code(server, &pending, &user.id).await?;
            Ok(redirect_to(
                server,
                &pending.redirect_uri,
                state,
                &[("code", &code)],
            ))
        }
        _ => Err(Refusal::Page(
            StatusCode::BAD_REQUEST,
            "consent must be `approve` or `deny`".into(),
        )),
    }
}

async fn forget(server: &AuthServer, id: &str) -> Result<(), OAuthError> {
    let id = id.to_owned();
    server
        .db()
        .call(move |c| c.execute("DELETE FROM as_pending WHERE id = ?1", [id]))
        .await?;
    Ok(())
}

async fn issue_code(server: &AuthServer, p: &Pending, user_id: &str) -> Result<String, OAuthError> {
    let code = secret::random_token();
    let hash = secret::hash(&code);
    let p = p.clone();
    let user = user_id.to_owned();
    let expires = server.now() + server.settings().code_ttl;
    server
        .db()
        .call(move |c| {
            c.execute(
                "INSERT INTO as_codes (hash, client_id, redirect_uri, redirect_given, code_challenge,
                     scope, resource, user_id, nonce, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    hash, p.client_id, p.redirect_uri, p.redirect_given, p.code_challenge,
                    p.scope, p.resource, user, p.nonce, expires
                ],
            )
        })
        .await?;
    Ok(code)
}
