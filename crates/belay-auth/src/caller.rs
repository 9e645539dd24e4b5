//! Who is calling: the validated token's claims, and the raw token kept apart.

use std::{collections::BTreeSet, fmt, sync::Arc};

use serde_json::{Map, Value};

use crate::Error;

/// A bearer token. Its `Debug` and `Display` never show it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for an `Authorization` header or a token exchange. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(***, {} bytes)", self.0.len())
    }
}

/// The authenticated caller of a request, put in the request's extensions (as an
/// `Arc<Caller>`, so passing it along costs no copy) by [`crate::Protection`]. A tool reads
/// it from rmcp's request context with [`Caller::from_rmcp_parts`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// Subject: the user id, or the client id for client_credentials tokens.
    pub sub: String,
    /// The OAuth client the caller used (`client_id`, else `azp` or Entra's `appid`).
    pub client_id: Option<String>,
    /// Granted scopes: `scope` (space separated), Entra's `scp` and `roles`.
    pub scopes: BTreeSet<String>,
    /// `preferred_username` (or Entra's `upn`).
    pub username: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `iss`.
    pub issuer: String,
    /// `aud`, as a list.
    pub audience: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
    /// The token as presented, for token exchange only (never forward it downstream).
    pub token: AccessToken,
}

impl Caller {
    /// Builds a caller from the claims of a token already verified, so it trusts them.
    /// Fails if `sub`, `iss` or `exp` is missing.
    pub fn from_claims(claims: Map<String, Value>, token: AccessToken) -> Result<Self, Error> {
        let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let missing = |name: &str| Error::InvalidToken(format!("the `{name}` claim is missing"));
        let audience = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            sub: string("sub").ok_or_else(|| missing("sub"))?,
            client_id: string("client_id")
                .or_else(|| string("azp"))
                .or_else(|| string("appid")),
            scopes: scopes_of(&claims),
            username: string("preferred_username").or_else(|| string("upn")),
            name: string("name"),
            issuer: string("iss").ok_or_else(|| missing("iss"))?,
            audience,
            expires_at: claims
                .get("exp")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("exp"))?,
            claims,
            token,
        })
    }

    /// Whether the token names no user: a client acting for itself (client credentials).
    /// RFC 9068 §2.2 gives such tokens the client's id as `sub` (Belay's issuer does); Entra
    /// ID marks app-only tokens with `idtyp: app` (an optional claim to turn on for the API);
    /// Auth0 with `gty: client-credentials`; Keycloak names a client's service account
    /// `service-account-<client>` (and the token's `azp` is that client).
    pub fn is_service(&self) -> bool {
        let claim = |name: &str| self.claims.get(name).and_then(Value::as_str);
        claim("idtyp") == Some("app")
            || claim("gty") == Some("client-credentials")
            || self.client_id.as_deref() == Some(self.sub.as_str())
            || self.username.as_deref().is_some_and(|u| {
                self.client_id
                    .as_deref()
                    .is_some_and(|c| u.strip_prefix("service-account-") == Some(c))
            })
    }

    /// The token's `jti`, its handle for revocation.
    pub fn token_id(&self) -> Option<&str> {
        self.claims.get("jti").and_then(Value::as_str)
    }

    /// Whether the caller was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// The scopes as one space-separated string, in a stable order.
    pub fn scope_string(&self) -> String {
        self.scopes.iter().cloned().collect::<Vec<_>>().join(" ")
    }

    /// The principal the caller's MCP sessions are bound to: issuer, subject and client.
    pub fn principal(&self) -> belay_core::Principal {
        belay_core::Principal {
            issuer: self.issuer.clone(),
            subject: self.sub.clone(),
            client_id: self.client_id.clone(),
        }
    }

    /// The caller of the HTTP request whose parts rmcp put in a handler's context
    /// (`ctx.extensions.get::<http::request::Parts>()`), if the server is protected.
    pub fn from_rmcp_parts(parts: Option<&http::request::Parts>) -> Option<&Caller> {
        Self::shared_from_rmcp_parts(parts).map(Arc::as_ref)
    }

    /// Like [`Self::from_rmcp_parts`], shared: to keep the caller beyond the request.
    pub fn shared_from_rmcp_parts(parts: Option<&http::request::Parts>) -> Option<&Arc<Caller>> {
        parts.and_then(|parts| parts.extensions.get::<Arc<Caller>>())
    }
}

/// Every scope a token grants, whichever claim the issuer used.
fn scopes_of(claims: &Map<String, Value>) -> BTreeSet<String> {
    let mut scopes = BTreeSet::new();
    for name in ["scope", "scp", "roles"] {
        match claims.get(name) {
            Some(Value::String(list)) => {
                scopes.extend(list.split_ascii_whitespace().map(str::to_owned));
            }
            Some(Value::Array(items)) => {
                scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_come_from_scope_scp_and_roles() {
        let claims = json!({
            "sub": "u", "iss": "i", "exp": 1, "aud": ["a", "b"],
            "scope": "mcp:tools openid", "scp": "files.read", "roles": ["Admin"],
        });
        let Value::Object(claims) = claims else {
            panic!("object literal")
        };
        let caller = Caller::from_claims(claims, AccessToken::new("t")).expect("valid claims");
        assert_eq!(
            caller.scope_string(),
            "Admin files.read mcp:tools openid".to_owned()
        );
        assert_eq!(caller.audience, ["a", "b"]);
        assert!(!format!("{caller:?}").contains("\"t\""));
    }
}
