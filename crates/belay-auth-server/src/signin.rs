//! What `/authorize` and `/device` share once the consent page is up: the CSRF double
//! submit (the token in the form and in a cookie named for the request, both matching the
//! stored one) and checking the typed user name and password.

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode, header};

use crate::{AuthServer, OAuthError, params::Params, secret, users::User};

/// The `Set-Cookie` value carrying CSRF `token` in cookie `name` for `max_age` seconds.
pub(crate) fn csrf_cookie(name: &str, token: &str, max_age: i64) -> String {
    format!("{name}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict")
}

/// Whether the form's `csrf` field and the cookie `cookie_name` both hold `expected`.
pub(crate) fn csrf_matches(
    form: &Params,
    headers: &HeaderMap,
    cookie_name: &str,
    expected: &str,
) -> bool {
    form.get("csrf").is_some_and(|f| secret::same(f, expected))
        && cookie_value(headers, cookie_name).is_some_and(|c| secret::same(c, expected))
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Why the form's name and password did not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Wrong; `next_wait` seconds must pass before the next attempt (0: none).
    Wrong { next_wait: u64 },
    /// Too many failures: no password was checked; try again in this many seconds.
    Wait(u64),
}

impl Refused {
    /// What the page tells the person.
    pub(crate) fn message(self) -> String {
        match self {
            Self::Wrong { next_wait: 0 } => "Wrong user name or password.".into(),
            Self::Wrong { next_wait } => format!(
                "Wrong user name or password. After repeated failures sign-in pauses: wait {} \
                 before the next try.",
                seconds(next_wait)
            ),
            Self::Wait(wait) => format!(
                "Too many failed sign-ins for this account or from this address. Try again in \
                 {}.",
                seconds(wait)
            ),
        }
    }

    /// The page's status: 401 for a wrong password, 429 (with `Retry-After`) while waiting.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::Wrong { .. } => StatusCode::UNAUTHORIZED,
            Self::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Seconds for `Retry-After`, while waiting.
    pub(crate) fn retry_after(self) -> Option<u64> {
        match self {
            Self::Wait(wait) => Some(wait),
            Self::Wrong { .. } => None,
        }
    }
}

fn seconds(n: u64) -> String {
    match n {
        1 => "1 second".into(),
        n if n < 120 => format!("{n} seconds"),
        n => format!("{} minutes", n.div_ceil(60)),
    }
}

/// The user whose name and password the form carries, or why not. Throttled per account
/// and per address (see `throttle`), and at most one password check per core runs at once:
/// each costs 19 MiB of argon2 memory by design, so a burst of sign-ins must queue, not
/// multiply the memory.
pub(crate) async fn verify_password(
    server: &AuthServer,
    form: &Params,
    ip: Option<IpAddr>,
) -> Result<Result<User, Refused>, OAuthError> {
    let username = form.get("username").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let throttle = &server.inner.throttle;
    let wait = throttle.wait(&username, ip, server.now());
    if wait > 0 {
        return Ok(Err(Refused::Wait(wait)));
    }
    let permit = server
        .inner
        .password_checks
        .clone()
        .acquire_owned()
        .await
        .map_err(OAuthError::server)?;
    // Failures recorded while this request queued count too.
    let wait = throttle.wait(&username, ip, server.now());
    if wait > 0 {
        return Ok(Err(Refused::Wait(wait)));
    }
    // The check and its accounting run to the end even if the client hangs up: the permit
    // and the failure count live in the blocking task, not in this (droppable) future, so
    // closing the connection mid-check neither frees a slot early nor skips the count.
    let server = server.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let found = server.users().verify(&username, &password)?;
        let throttle = &server.inner.throttle;
        Ok::<_, crate::Error>(match found {
            Some(user) => {
                throttle.succeeded(&username, ip);
                Ok(user)
            }
            None => Err(Refused::Wrong {
                next_wait: throttle.failed(&username, ip, server.now()),
            }),
        })
    })
    .await
    .map_err(OAuthError::server)??;
    Ok(outcome)
}
