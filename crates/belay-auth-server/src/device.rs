//! RFC 8628 device authorization grant: a device without a browser gets a device code to
//! poll with and a short user code that a person types at `/device` on another screen,
//! where they sign in and consent exactly as at `/authorize`.
//!
//! Device codes are 256-bit random and stored hashed like every other opaque token; user
//! codes are 8 letters from a 20-consonant alphabet (no vowels, so no words, and no
//! look-alikes), about 34 bits, which the 10-minute lifetime keeps out of guessing range.
//! Polling state lives in the store, so `slow_down` survives restarts and a code can only
//! be exchanged once: the switch from approved to issued happens in one transaction.

mod verify;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use belay_store::rusqlite::{self, OptionalExtension, params};
use rand::Rng;
use serde_json::json;

use crate::{
    AuthServer, OAuthError,
    authorize::{check_resource, grant_scopes},
    clients::Client,
    grants::{self, Grant},
    params::Params,
    secret,
    token::Issued,
};

pub(crate) use verify::{page, submit};

/// The grant type polled at the token endpoint.
pub(crate) const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Seconds a device code lives.
const EXPIRES_IN: i64 = 600;
/// Seconds a device must wait between polls at first.
const INTERVAL: i64 = 5;
/// Seconds added to the interval each time a device polls too fast (RFC 8628 §3.5).
const SLOW_DOWN_STEP: i64 = 5;
/// Expired codes are kept this long so late polls hear `expired_token`, not "unknown".
const KEEP_EXPIRED: i64 = 3600;
/// RFC 8628 §6.1: base-20 consonants, nothing that reads as a word or looks like a digit.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// Where a device code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Approved,
    Denied,
    Issued,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Issued => "issued",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            // Anything unexpected is treated as spent: it can never yield tokens.
            _ => Self::Issued,
        }
    }
}

/// One row of `as_device_codes`.
#[derive(Debug, Clone)]
struct DeviceCode {
    user_code: String,
    client_id: String,
    scope: String,
    resource: String,
    user_id: Option<String>,
    status: Status,
    interval: i64,
    last_polled_at: Option<i64>,
    expires_at: i64,
    csrf: String,
}

const COLUMNS: &str = "user_code, client_id, scope, resource, user_id, status, interval_secs, \
                       last_polled_at, expires_at, csrf";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceCode> {
    let status: String = r.get(5)?;
    Ok(DeviceCode {
        user_code: r.get(0)?,
        client_id: r.get(1)?,
        scope: r.get(2)?,
        resource: r.get(3)?,
        user_id: r.get(4)?,
        status: Status::parse(&status),
        interval: r.get(6)?,
        last_polled_at: r.get(7)?,
        expires_at: r.get(8)?,
        csrf: r.get(9)?,
    })
}

fn random_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..USER_CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The user code as stored: upper case, dashes and spaces dropped; `None` if it cannot be
/// one of ours (wrong length or letters outside the alphabet).
pub(crate) fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// `BCDFGHJK` shown as `BCDF-GHJK`.
pub(crate) fn display_user_code(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// POST /device_authorization (RFC 8628 §3.1): `client_id`, `scope`, `resource`.
pub(crate) async fn authorization(
    State(server): State<AuthServer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OAuthError> {
    let p = Params::form(&headers, &body)?;
    // §3.1: confidential clients authenticate here as at the token endpoint.
    let client = server
        .authenticate_client(&headers, p.get("client_id"), p.get("client_secret"))
        .await?;
    if !client.allows(DEVICE_CODE) {
        return Err(OAuthError::unauthorized_client(format!(
            "client `{}` is not registered for the device grant ({DEVICE_CODE})",
            client.client_id
        )));
    }
    let scope = grant_scopes(&server, &client, p.get("scope"))?;
    let resource = match p.get("resource") {
        Some(r) => r.to_owned(),
        None => server.settings().default_resource.clone().ok_or_else(|| {
            OAuthError::invalid_target(
                "resource is required (RFC 8707): the URL of the MCP server the token is for",
            )
        })?,
    };
    check_resource(&resource)?;
    let device_code = secret::random_token();
    let user_code = store_new(&server, &client, &device_code, &scope, &resource).await?;
    let issuer = server.issuer();
    let shown = display_user_code(&user_code);
    let body = json!({
        "device_code": device_code,
        "user_code": shown,
        "verification_uri": format!("{issuer}/device"),
        "verification_uri_complete": format!("{issuer}/device?user_code={shown}"),
        "expires_in": EXPIRES_IN,
        "interval": INTERVAL,
    });
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Stores a new device code under a fresh user code; returns the user code.
async fn store_new(
    server: &AuthServer,
    client: &Client,
    device_code: &str,
    scope: &str,
    resource: &str,
) -> Result<String, OAuthError> {
    let now = server.now();
    let args = (
        secret::hash(device_code),
        client.client_id.clone(),
        scope.to_owned(),
        resource.to_owned(),
        secret::random_token(),
    );
    server
        .db()
        .call(move |c| {
            c.execute(
                "DELETE FROM as_device_codes WHERE expires_at <= ?1",
                [now - KEEP_EXPIRED],
            )?;
            // A clash with a live user code is rare (1 in 2.5e10 per live code); retry.
            let mut attempt = 0;
            loop {
                let user_code = random_user_code();
                let inserted = c.execute(
                    "INSERT INTO as_device_codes (device_code_hash, user_code, client_id, scope,
                         resource, status, interval_secs, expires_at, csrf)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8)
                     ON CONFLICT (user_code) DO NOTHING",
                    params![
                        args.0,
                        user_code,
                        args.1,
                        args.2,
                        args.3,
                        INTERVAL,
                        now + EXPIRES_IN,
                        args.4
                    ],
                )?;
                attempt += 1;
                if inserted == 1 || attempt >= 8 {
                    return Ok((inserted == 1).then_some(user_code));
                }
            }
        })
        .await?
        .ok_or_else(|| OAuthError::server("no free user code after 8 attempts"))
}

/// What one poll found.
enum Poll {
    Unknown,
    OtherClient,
    Expired,
    Denied,
    Spent,
    Pending,
    SlowDown(i64),
    Approved(DeviceCode),
}

/// The answer to a poll of `row` at `now` by `client_id`; a pure function so the rules
/// read in one place.
fn decide(row: DeviceCode, client_id: &str, now: i64) -> Poll {
    if row.client_id != client_id {
        return Poll::OtherClient;
    }
    match row.status {
        Status::Issued => Poll::Spent,
        Status::Denied => Poll::Denied,
        _ if row.expires_at <= now => Poll::Expired,
        Status::Approved => Poll::Approved(row),
        Status::Pending => match row.last_polled_at {
            Some(last) if now - last < row.interval => {
                Poll::SlowDown(row.interval + SLOW_DOWN_STEP)
            }
            _ => Poll::Pending,
        },
    }
}

fn device_error(code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, code, description)
}

/// The token endpoint's `urn:ietf:params:oauth:grant-type:device_code` grant (§3.4, §3.5).
pub(crate) async fn grant(
    server: &AuthServer,
    client: &Client,
    p: &Params,
) -> Result<Issued, OAuthError> {
    let hash = secret::hash(p.required("device_code")?);
    let client_id = client.client_id.clone();
    let now = server.now();
    let poll = server
        .db()
        .call(move |c| {
            let tx = belay_store::write_transaction(c)?;
            let row = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM as_device_codes WHERE device_code_hash = ?1"),
                    [&hash],
                    from_row,
                )
                .optional()?;
            let poll = row.map_or(Poll::Unknown, |row| decide(row, &client_id, now));
            match &poll {
                Poll::Pending => {
                    tx.execute(
                        "UPDATE as_device_codes SET last_polled_at = ?1 WHERE device_code_hash = ?2",
                        params![now, hash],
                    )?;
                }
                Poll::SlowDown(interval) => {
                    tx.execute(
                        "UPDATE as_device_codes SET last_polled_at = ?1, interval_secs = ?2
                         WHERE device_code_hash = ?3",
                        params![now, interval, hash],
                    )?;
                }
                Poll::Approved(_) => {
                    tx.execute(
                        "UPDATE as_device_codes SET status = ?1 WHERE device_code_hash = ?2",
                        params![Status::Issued.as_str(), hash],
                    )?;
                }
                _ => {}
            }
            tx.commit()?;
            Ok(poll)
        })
        .await?;
    let row = match poll {
        Poll::Unknown => return Err(OAuthError::invalid_grant("unknown device_code")),
        Poll::OtherClient => {
            return Err(OAuthError::invalid_grant(
                "this device_code was issued to another client",
            ));
        }
        Poll::Spent => {
            return Err(OAuthError::invalid_grant(
                "this device_code was already exchanged for tokens",
            ));
        }
        Poll::Expired => {
            return Err(device_error(
                "expired_token",
                format!(
                    "the device_code expired (codes last {EXPIRES_IN} s); start again at \
                     /device_authorization"
                ),
            ));
        }
        Poll::Denied => {
            return Err(device_error("access_denied", "the user denied the request"));
        }
        Poll::Pending => {
            return Err(device_error(
                "authorization_pending",
                "the user has not finished signing in yet; poll again after the interval",
            ));
        }
        Poll::SlowDown(interval) => {
            return Err(device_error(
                "slow_down",
                format!("polling too fast; wait at least {interval} s between requests"),
            ));
        }
        Poll::Approved(row) => row,
    };
    let user_id = row
        .user_id
        .as_deref()
        .ok_or_else(|| OAuthError::server("approved device code without a user"))?;
    let user = grants::user(server, user_id).await?;
    let family = uuid::Uuid::new_v4().to_string();
    let grant = Grant {
        family: &family,
        scope: &row.scope,
        resource: &row.resource,
        nonce: None,
    };
    grants::start(server, client, &user, grant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalize() {
        let code = random_user_code();
        assert_eq!(code.len(), 8);
        let shown = display_user_code(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize_user_code(&shown), Some(code.clone()));
        assert_eq!(normalize_user_code(&shown.to_ascii_lowercase()), Some(code));
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels are not in the alphabet"
        );
    }

    fn row(status: Status, last: Option<i64>) -> DeviceCode {
        DeviceCode {
            user_code: "BCDFGHJK".into(),
            client_id: "c".into(),
            scope: String::new(),
            resource: String::new(),
            user_id: None,
            status,
            interval: 5,
            last_polled_at: last,
            expires_at: 1000,
            csrf: String::new(),
        }
    }

    #[test]
    fn polling_rules() {
        assert!(matches!(
            decide(row(Status::Pending, None), "c", 10),
            Poll::Pending
        ));
        assert!(matches!(
            decide(row(Status::Pending, Some(8)), "c", 10),
            Poll::SlowDown(10)
        ));
        assert!(matches!(
            decide(row(Status::Pending, Some(5)), "c", 10),
            Poll::Pending
        ));
        assert!(matches!(
            decide(row(Status::Pending, None), "c", 1000),
            Poll::Expired
        ));
        assert!(matches!(
            decide(row(Status::Pending, None), "d", 10),
            Poll::OtherClient
        ));
        assert!(matches!(
            decide(row(Status::Denied, None), "c", 10),
            Poll::Denied
        ));
        assert!(matches!(
            decide(row(Status::Issued, None), "c", 10),
            Poll::Spent
        ));
        assert!(matches!(
            decide(row(Status::Approved, None), "c", 10),
            Poll::Approved(_)
        ));
    }
}
