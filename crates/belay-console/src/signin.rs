//! Sign-in: the console is an OAuth client of the issuer (authorization code with PKCE,
//! RFC 7636, and a resource indicator for `<base>/ui`, RFC 8707). `/ui/login` sends the
//! browser to the issuer's sign-in page; `/ui/callback` trades the code for a token,
//! checks the token is an admin's and opens a session, which keeps the token on the server
//! only, to check it again on each request. Every sign-in,
//! and every refusal, is audited.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Query, State},
    response::{Html, IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use belay_audit::{AuditEvent, Decision, Outcome};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    Inner, access, html,
    session::{self, LOGIN_COOKIE, SESSION_COOKIE},
};

/// The issuer's endpoints the console uses.
struct Endpoints {
    authorize: String,
    token: String,
}

async fn endpoints(inner: &Inner) -> Result<Endpoints, String> {
    let urls = belay_auth::discovery::metadata_urls(&inner.issuer).map_err(|e| e.to_string())?;
    for url in urls {
        let Ok(response) = inner.http.get(&url).send().await else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        let metadata: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        let field = |name: &str| {
            metadata
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        if field("issuer").as_deref() != Some(inner.issuer.as_str()) {
            return Err(format!("{url} names another issuer"));
        }
        return match (field("authorization_endpoint"), field("token_endpoint")) {
            (Some(authorize), Some(token)) => Ok(Endpoints { authorize, token }),
            _ => Err(format!("{url} names no authorization or token endpoint")),
        };
    }
    Err(format!("the issuer {} did not answer", inner.issuer))
}

fn unavailable(why: &str) -> Response {
    tracing::warn!(error = %why, "console: cannot reach the authorization server");
    html::message(
        StatusCode::BAD_GATEWAY,
        "Sign-in unavailable",
        "The authorization server could not be reached; try again shortly.",
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /ui/login`: off to the issuer's sign-in page.
pub(crate) async fn login(State(inner): State<Arc<Inner>>) -> Response {
    let endpoints = match endpoints(&inner).await {
        Ok(e) => e,
        Err(why) => return unavailable(&why),
    };
    let Ok((id, pending)) = inner.sessions.begin_login() else {
        return html::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins",
            "Too many sign-ins are in progress; try again in a few minutes.",
        );
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
    let Ok(mut url) = url::Url::parse(&endpoints.authorize) else {
        return unavailable("the authorization endpoint is not a URL");
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &inner.spec.client_id)
        .append_pair("redirect_uri", &crate::Console::redirect_uri(&inner.base))
        .append_pair("scope", &inner.spec.scope)
        .append_pair("resource", &inner.resource())
        .append_pair("state", &pending.state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    // Lax, not Strict: the issuer (maybe another site) sends the browser back here.
    let cookie = session::set_cookie(LOGIN_COOKIE, &id, "Lax", inner.secure(), 600);
    with_cookie(
        html::secured(Redirect::to(url.as_str()).into_response()),
        &cookie,
    )
}

/// The issuer's answer on `/ui/callback`.
#[derive(Debug, Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// `GET /ui/callback`: the code for a token, the token for a session.
pub(crate) async fn callback(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let clear = session::set_cookie(LOGIN_COOKIE, "", "Lax", inner.secure(), 0);
    let pending = session::cookie(&headers, LOGIN_COOKIE).and_then(|id| {
        inner
            .sessions
            .finish_login(id, answer.state.as_deref().unwrap_or_default())
    });
    let refuse =
        |status, why: &str| with_cookie(html::message(status, "Sign-in failed", why), &clear);
    let Some(pending) = pending else {
        audit_sign_in(
            &inner,
            None,
            Decision::Unauthenticated,
            "unknown or stale sign-in",
        )
        .await;
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here or has expired.",
        );
    };
    let Some(code) = answer.code.filter(|_| answer.error.is_none()) else {
        audit_sign_in(&inner, None, Decision::Unauthenticated, "sign-in declined").await;
        return refuse(StatusCode::FORBIDDEN, "The sign-in was declined.");
    };
    let token = match trade(&inner, &code, &pending.verifier).await {
        Ok(token) => token,
        Err(why) => {
            tracing::warn!(error = %why, "console: code exchange failed");
            audit_sign_in(
                &inner,
                None,
                Decision::Unauthenticated,
                "code exchange failed",
            )
            .await;
            return refuse(
                StatusCode::BAD_GATEWAY,
                "The sign-in could not be completed.",
            );
        }
    };
    let caller = match inner.validator.validate(&token).await {
        Ok(caller) => caller,
        Err(e) => {
            tracing::warn!(error = %e, "console: the issued token was refused");
            audit_sign_in(&inner, None, Decision::Unauthenticated, "token refused").await;
            return refuse(StatusCode::UNAUTHORIZED, "The token was refused.");
        }
    };
    let name = caller
        .username
        .clone()
        .unwrap_or_else(|| caller.sub.clone());
    if let Some(why) = access::refusal(&inner.spec, &caller) {
        audit_sign_in(&inner, Some(&caller.sub), Decision::Deny, &why).await;
        return with_cookie(access::forbidden(&why), &clear);
    }
    let token = belay_auth::AccessToken::new(token);
    let Ok((id, _)) = inner.sessions.open(caller.sub.clone(), name, token) else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sessions are open.",
        );
    };
    audit_sign_in(&inner, Some(&caller.sub), Decision::Allow, "").await;
    let minutes = inner.spec.session_minutes.max(1);
    let cookie = session::set_cookie(SESSION_COOKIE, &id, "Strict", inner.secure(), minutes * 60);
    // A page, not a redirect: a Strict cookie set at the end of a redirect chain that
    // began at another site is not sent on that chain's next hop, but is on a navigation
    // this page starts.
    let page = Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"0;url=/ui\"><title>Signed in · Belay console</title>\
</head><body><p>Signed in. <a href=\"/ui\">Open the console</a>.</p></body></html>",
    );
    let response = with_cookie(html::secured(page.into_response()), &clear);
    with_cookie(response, &cookie)
}

/// Trades `code` at the token endpoint as the console's client.
async fn trade(inner: &Inner, code: &str, verifier: &str) -> Result<String, String> {
    let endpoints = endpoints(inner).await?;
    let redirect = crate::Console::redirect_uri(&inner.base);
    let resource = inner.resource();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier),
        ("resource", resource.as_str()),
    ];
    let response = inner
        .http
        .post(&endpoints.token)
        .basic_auth(&inner.spec.client_id, Some(&inner.client_secret))
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the token endpoint answered {}", response.status()));
    }
    let answer: TokenAnswer = response.json().await.map_err(|e| e.to_string())?;
    Ok(answer.access_token)
}

/// Records a sign-in (or its refusal) in the audit log.
async fn audit_sign_in(inner: &Inner, user: Option<&str>, decision: Decision, why: &str) {
    let event = AuditEvent {
        user: user.map(str::to_owned),
        client: Some(inner.spec.client_id.clone()),
        decision,
        outcome: if decision == Decision::Allow {
            Outcome::Ok
        } else {
            Outcome::Error {
                code: None,
                message: why.to_owned(),
            }
        },
        ..AuditEvent::new("console/sign_in")
    };
    record(inner, event).await;
}

/// Writes `event` to the audit log, if there is one.
pub(crate) async fn record(inner: &Inner, event: AuditEvent) {
    if let Some(log) = &inner.sources.audit
        && let Err(e) = log.record(event).await
    {
        tracing::error!(error = %e, "console: cannot audit an action");
    }
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub(crate) struct SignOut {
    csrf: Option<String>,
}

/// `POST /ui/logout`: ends the session.
pub(crate) async fn logout(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    if let Err(response) = access::admin_post(&inner, &headers, form.csrf.as_deref()).await {
        return response;
    }
    if let Some(id) = session::cookie(&headers, SESSION_COOKIE) {
        inner.sessions.close(id);
    }
    let clear = session::set_cookie(SESSION_COOKIE, "", "Strict", inner.secure(), 0);
    with_cookie(
        html::message(StatusCode::OK, "Signed out", "You are signed out."),
        &clear,
    )
}
