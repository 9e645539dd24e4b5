//! Access tokens (RFC 9068 JWTs) and ID tokens: minting, and checking our own.

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{AuthServer, Error};

/// The claims of an access token, as in the shared contract.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// User id, or the client id for `client_credentials`.
    pub sub: String,
    /// The one resource the token is for (RFC 8707).
    pub aud: String,
    /// Client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Unique id, the handle for revocation.
    pub jti: String,
    /// The user's login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The party that obtained this token by token exchange (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// On an exchanged token, the client the user signed in with (`client_id` is the one
    /// that exchanged): who the person used, kept through every hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_client_id: Option<String>,
}

/// An `act` claim: who acts, and who acted before (nested).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    /// The acting client's id.
    pub sub: String,
    /// The previous actor, for chained exchanges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// How an exchanged token descends from the token it was exchanged for.
pub(crate) struct Delegation {
    /// Who acts now (the exchanging client), and who acted before.
    pub(crate) act: Actor,
    /// The client the user signed in with.
    pub(crate) origin_client_id: String,
    /// The subject token's `exp`: no exchanged token outlives it.
    pub(crate) not_after: i64,
}

/// Who a token is for: a user, or a client acting for itself.
pub(crate) struct Subject {
    pub(crate) sub: String,
    pub(crate) username: Option<String>,
    pub(crate) name: Option<String>,
}

impl AuthServer {
    fn keep_keys_for(&self) -> i64 {
        self.settings().access_token_ttl + self.settings().skew
    }

    pub(crate) async fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, Error> {
        let now = self.now();
        let key = self
            .inner
            .keys
            .signing(self.db(), now, self.keep_keys_for())
            .await?;
        let mut header = Header::new(key.alg.jwt());
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|e| Error::Key(e.to_string()))
    }

    /// Builds and signs an access token; returns it with its claims.
    pub(crate) async fn mint_access(
        &self,
        subject: &Subject,
        client_id: &str,
        scope: &str,
        resource: &str,
        delegation: Option<Delegation>,
    ) -> Result<(String, AccessClaims), Error> {
        let now = self.now();
        let mut exp = now + self.settings().access_token_ttl;
        let (act, origin_client_id) = match delegation {
            Some(d) => {
                exp = exp.min(d.not_after);
                (Some(d.act), Some(d.origin_client_id))
            }
            None => (None, None),
        };
        let claims = AccessClaims {
            iss: self.issuer().to_owned(),
            sub: subject.sub.clone(),
            aud: resource.to_owned(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            iat: now,
            nbf: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
            preferred_username: subject.username.clone(),
            name: subject.name.clone(),
            act,
            origin_client_id,
        };
        Ok((self.sign("at+jwt", &claims).await?, claims))
    }

    /// Checks one of our access tokens: signature by a published key, `typ`, issuer,
    /// time window and the revocation list. `Err` says why it is not acceptable.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err("not an access token (typ is not at+jwt)".into());
        }
        let now = self.now();
        let keys = self
            .inner
            .keys
            .published(self.db(), now, self.keep_keys_for())
            .await
            .map_err(|e| e.to_string())?;
        let key = keys
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
            .ok_or("signed by an unknown or retired key")?;
        let mut validation = Validation::new(key.alg.jwt());
        // Time and audience are checked below against our clock and contract.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|e| format!("invalid token: {e}"))?
            .claims;
        if claims.iss != self.issuer() {
            return Err("issued by another server".into());
        }
        if claims.exp <= now {
            return Err("token expired".into());
        }
        if claims.nbf > now + self.settings().skew {
            return Err("token not yet valid".into());
        }
        if self
            .is_revoked(&claims.jti)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err("token revoked".into());
        }
        Ok(claims)
    }
}
