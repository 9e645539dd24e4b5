//! Browser sessions: after sign-in the browser holds only an opaque random id in an
//! `HttpOnly; SameSite=Strict` cookie; the token that proved the person an admin is dropped
//! at once and never reaches the page. Each session has its own CSRF token, which every
//! form carries and every POST must echo. Pending sign-ins (state, PKCE verifier) are kept
//! the same way until the authorization server sends the browser back.
//!
//! The session keeps the admin's access token on the server (never in a page or cookie), so
//! that each request checks it again ([`crate::access`]): revoking it at the authorization
//! server, or its expiry, ends the session.
//!
//! Ids are looked up by their SHA-256, so a lookup's timing says nothing about a live id.
//! Both tables are capped, so a flood of sign-in attempts cannot grow memory without bound.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "belay_console";
/// The cookie that binds a pending sign-in to the browser that started it.
pub(crate) const LOGIN_COOKIE: &str = "belay_console_login";
/// How long a started sign-in may take.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most sessions, and most pending sign-ins, held at once.
const MAX_ENTRIES: usize = 1000;

/// A signed-in admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The token's subject.
    pub(crate) subject: String,
    /// What the page calls them (`preferred_username`, else the subject).
    pub(crate) display: String,
    /// The token every POST of this session must carry.
    pub(crate) csrf: String,
    /// The access token that proved them an admin, checked again on each request (its
    /// `Debug` shows no secret).
    pub(crate) token: belay_auth::AccessToken,
    expires: Instant,
}

/// A sign-in between `/ui/login` and `/ui/callback`.
#[derive(Debug, Clone)]
pub(crate) struct PendingLogin {
    /// The PKCE code verifier (RFC 7636).
    pub(crate) verifier: String,
    /// The `state` sent to the authorization server.
    pub(crate) state: String,
    expires: Instant,
}

/// 32 random bytes, base64url: session ids, CSRF tokens, state, PKCE verifiers.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Equal strings, compared in time that depends only on their lengths.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The sessions and pending sign-ins of one console.
#[derive(Debug)]
pub(crate) struct Sessions {
    lifetime: Duration,
    live: Mutex<HashMap<[u8; 32], Session>>,
    logins: Mutex<HashMap<[u8; 32], PendingLogin>>,
}

/// Why a session or sign-in could not be kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full;

fn insert_capped<V>(
    map: &mut HashMap<[u8; 32], V>,
    id: [u8; 32],
    value: V,
    alive: impl Fn(&V) -> bool,
) -> Result<(), Full> {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, v| alive(v));
    }
    if map.len() >= MAX_ENTRIES {
        return Err(Full);
    }
    map.insert(id, value);
    Ok(())
}

impl Sessions {
    pub(crate) fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            live: Mutex::default(),
            logins: Mutex::default(),
        }
    }

    /// Starts a session; returns its id (for the cookie) and the session.
    pub(crate) fn open(
        &self,
        subject: String,
        display: String,
        token: belay_auth::AccessToken,
    ) -> Result<(String, Session), Full> {
        let id = random_token();
        let session = Session {
            subject,
            display,
            csrf: random_token(),
            token,
            expires: Instant::now() + self.lifetime,
        };
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        insert_capped(&mut live, key(&id), session.clone(), |s| s.expires > now)?;
        Ok((id, session))
    }

    /// The live session `id` names.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(id);
        match live.get(&k) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                live.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub(crate) fn close(&self, id: &str) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&key(id));
    }

    /// Starts a sign-in; returns the id for the login cookie and the pending sign-in.
    pub(crate) fn begin_login(&self) -> Result<(String, PendingLogin), Full> {
        let id = random_token();
        let pending = PendingLogin {
            verifier: random_token(),
            state: random_token(),
            expires: Instant::now() + LOGIN_TTL,
        };
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        insert_capped(&mut logins, key(&id), pending.clone(), |p| p.expires > now)?;
        Ok((id, pending))
    }

    /// Takes the sign-in `id` started, once, if `state` is the one it sent.
    pub(crate) fn finish_login(&self, id: &str, state: &str) -> Option<PendingLogin> {
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        let pending = logins.remove(&key(id))?;
        (pending.expires > Instant::now() && same(&pending.state, state)).then_some(pending)
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the console's paths: never readable by script, sent only to
/// `/ui`; `secure` when the console is served over https. `max_age` 0 deletes it.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    same_site: &str,
    secure: bool,
    max_age: u64,
) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/ui; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_only_and_ends_when_closed() -> Result<(), Full> {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, session) = sessions.open(
            "sub-1".into(),
            "ada".into(),
            belay_auth::AccessToken::new("t"),
        )?;
        assert_eq!(sessions.get(&id), Some(session.clone()));
        assert_eq!(sessions.get(&format!("{id}x")), None);
        assert_ne!(session.csrf, id, "the CSRF token is not the session id");
        sessions.close(&id);
        assert_eq!(sessions.get(&id), None);
        Ok(())
    }

    #[test]
    fn an_expired_session_is_gone() -> Result<(), Full> {
        let sessions = Sessions::new(Duration::ZERO);
        let (id, _) = sessions.open(
            "sub-1".into(),
            "ada".into(),
            belay_auth::AccessToken::new("t"),
        )?;
        assert_eq!(sessions.get(&id), None);
        Ok(())
    }

    #[test]
    fn a_sign_in_finishes_once_and_only_with_its_state() -> Result<(), Full> {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (id, pending) = sessions.begin_login()?;
        assert!(sessions.finish_login(&id, "forged").is_none());
        // A wrong state used the sign-in up: it cannot be retried with the right one.
        assert!(sessions.finish_login(&id, &pending.state).is_none());
        let (id, pending) = sessions.begin_login()?;
        assert!(sessions.finish_login(&id, &pending.state).is_some());
        assert!(sessions.finish_login(&id, &pending.state).is_none());
        Ok(())
    }

    #[test]
    fn a_flood_of_sign_ins_is_capped() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let started = (0..MAX_ENTRIES + 5)
            .filter(|_| sessions.begin_login().is_ok())
            .count();
        assert_eq!(started, MAX_ENTRIES);
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; belay_console=xyz"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
