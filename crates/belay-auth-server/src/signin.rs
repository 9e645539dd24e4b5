//! What `/authorize` and `/device` share once the consent page is up: the CSRF double
//! submit (the token in the form and in a cookie named for the request, both matching the
//! stored one) and checking the typed user name and password.

use axum::http::{HeaderMap, header};

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

/// The user whose name and password the form carries, or `None` when they are wrong.
pub(crate) async fn verify_password(
    server: &AuthServer,
    form: &Params,
) -> Result<Option<User>, OAuthError> {
    let username = form.get("username").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let users = server.users();
    Ok(
        tokio::task::spawn_blocking(move || users.verify(&username, &password))
            .await
            .map_err(OAuthError::server)??,
    )
}
