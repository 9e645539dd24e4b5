//! Who may see and act: an admin signed in with a session cookie, or a script presenting an
//! admin's token. Everyone else is sent to sign in (pages) or refused (401, 403).

use axum::response::{IntoResponse, Redirect, Response};
use belay_auth::Caller;
use http::{HeaderMap, StatusCode, header};

use crate::{
    ConsoleSpec, Inner, html,
    session::{self, SESSION_COOKIE},
};

/// A person let in.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    /// The token's subject.
    pub(crate) subject: String,
    /// What the page calls them.
    pub(crate) name: String,
    /// The session's CSRF token; `None` for a bearer token, which a browser never sends on
    /// its own, so a forged request cannot carry it.
    pub(crate) csrf: Option<String>,
}

impl Admin {
    pub(crate) fn viewer(&self) -> html::Viewer<'_> {
        html::Viewer {
            name: &self.name,
            csrf: self.csrf.as_deref().unwrap_or_default(),
        }
    }
}

/// Why `caller` may not open the console, if it may not.
pub(crate) fn refusal(spec: &ConsoleSpec, caller: &Caller) -> Option<String> {
    if !caller.has_scope(&spec.scope) {
        return Some(format!("the token lacks the `{}` scope", spec.scope));
    }
    // Nobody listed lets nobody in: a scope alone does not make an admin, since a client
    // may ask the authorization server for any scope it advertises.
    if spec.admins.is_empty() {
        return Some("no console admins are configured: name them in [console] admins".to_owned());
    }
    let named = |who: &str| spec.admins.iter().any(|a| a == who);
    let listed = named(&caller.sub) || caller.username.as_deref().is_some_and(named);
    (!listed).then(|| "this user is not a console admin ([console] admins)".to_owned())
}

/// The admin behind the request, or the answer for someone else: pages send a person
/// without a session to sign in; a bad token gets 401, a token of someone who is not an
/// admin 403.
pub(crate) async fn admin(inner: &Inner, headers: &HeaderMap) -> Result<Admin, Response> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let caller = match inner.validator.validate(token).await {
            Ok(caller) => caller,
            Err(e) => {
                tracing::info!(error = %e, "console: token refused");
                let mut refused = html::message(
                    StatusCode::UNAUTHORIZED,
                    "Not signed in",
                    "The token was refused.",
                );
                refused.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                return Err(refused);
            }
        };
        if let Some(why) = refusal(&inner.spec, &caller) {
            return Err(forbidden(&why));
        }
        return Ok(Admin {
            subject: caller.sub.clone(),
            name: caller
                .username
                .clone()
                .unwrap_or_else(|| caller.sub.clone()),
            csrf: None,
        });
    }
    let Some(id) = session::cookie(headers, SESSION_COOKIE) else {
        return Err(to_sign_in());
    };
    let Some(s) = inner.sessions.get(id) else {
        return Err(to_sign_in());
    };
    // The token is checked again on every request (signature, expiry, and revocation:
    // the issuer's revocation list in-process, introspection otherwise), so a revoked
    // admin is out at their next click, not when the session would have ended.
    match inner.validator.validate(s.token.secret()).await {
        Ok(caller) if refusal(&inner.spec, &caller).is_none() => Ok(Admin {
            subject: s.subject,
            name: s.display,
            csrf: Some(s.csrf),
        }),
        Ok(_) | Err(belay_auth::Error::InvalidToken(_)) => {
            tracing::info!(user = %s.subject, "console: session ended, its token is no longer valid");
            inner.sessions.close(id);
            Err(to_sign_in())
        }
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot check a session's token");
            Err(html::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot check your sign-in",
                "The authorization server could not be asked; try again shortly.",
            ))
        }
    }
}

/// The answer that sends a browser to sign in.
fn to_sign_in() -> Response {
    html::secured(Redirect::to("/ui/login").into_response())
}

/// The admin behind a POST whose form carried `form_csrf`, or the answer for a request
/// that is not one ([`admin`], [`refuse_post`]).
pub(crate) async fn admin_post(
    inner: &Inner,
    headers: &HeaderMap,
    form_csrf: Option<&str>,
) -> Result<Admin, Response> {
    let admin = admin(inner, headers).await?;
    match refuse_post(inner, &admin, headers, form_csrf) {
        Some(refused) => Err(refused),
        None => Ok(admin),
    }
}

/// 403 with `why`.
pub(crate) fn forbidden(why: &str) -> Response {
    html::message(StatusCode::FORBIDDEN, "Not allowed", why)
}

/// The refusal of a POST of `admin`, if it is refused: a session's must carry its CSRF
/// token and, when the browser names an origin, come from the console's own.
fn refuse_post(
    inner: &Inner,
    admin: &Admin,
    headers: &HeaderMap,
    form_csrf: Option<&str>,
) -> Option<Response> {
    let Some(expected) = &admin.csrf else {
        return None;
    };
    if let Some(origin) = headers.get(header::ORIGIN)
        && origin.to_str().ok() != Some(base_origin(&inner.base).as_str())
    {
        return Some(forbidden("the form was sent from another site"));
    }
    match form_csrf {
        Some(given) if session::same(given, expected) => None,
        _ => Some(forbidden(
            "the form's CSRF token is missing or stale: reload the page",
        )),
    }
}

/// `scheme://host[:port]` of `base`.
fn base_origin(base: &str) -> String {
    url::Url::parse(base)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(sub: &str, username: Option<&str>, scope: &str) -> Caller {
        let claims = serde_json::json!({
            "sub": sub, "preferred_username": username, "scope": scope,
            "iss": "https://issuer", "exp": 4_000_000_000u64,
        });
        Caller::from_claims(
            claims.as_object().cloned().unwrap_or_default(),
            belay_auth::AccessToken::new("t"),
        )
        .unwrap_or_else(|e| panic!("test claims: {e}"))
    }

    #[test]
    fn only_listed_people_with_the_scope_get_in_and_an_empty_list_lets_nobody_in() {
        let mut spec = ConsoleSpec::default();
        let ada = caller("u1", Some("ada"), &spec.scope);
        assert!(refusal(&spec, &ada).is_some_and(|why| why.contains("[console] admins")));
        spec.admins = vec!["ada".into()];
        assert_eq!(refusal(&spec, &ada), None);
        spec.admins = vec!["u1".into()];
        assert_eq!(refusal(&spec, &ada), None);
        let bob = caller("u2", Some("bob"), &spec.scope);
        assert!(refusal(&spec, &bob).is_some());
        let scopeless = caller("u1", Some("ada"), "mcp");
        assert!(refusal(&spec, &scopeless).is_some_and(|why| why.contains("scope")));
    }
}
