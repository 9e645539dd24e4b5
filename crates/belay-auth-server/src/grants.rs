//! The user grants: authorization code (with PKCE) and refresh token (rotated).

use belay_store::rusqlite::{OptionalExtension, params};
use serde_json::json;

use crate::{
    AuthServer, OAuthError,
    clients::Client,
    families::{RefreshLookup, RevokeReason},
    jwt::Subject,
    params::Params,
    secret,
    token::Issued,
    users::User,
};

struct Code {
    client_id: String,
    redirect_uri: String,
    redirect_given: bool,
    code_challenge: String,
    scope: String,
    resource: String,
    user_id: String,
    nonce: Option<String>,
    expires_at: i64,
    used: bool,
    family_id: Option<String>,
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether this grant gets a refresh token: only when the client may use the
/// refresh_token grant (asking for `offline_access` does not make a client that may not
/// refresh able to).
fn wants_refresh(client: &Client) -> bool {
    client.allows("refresh_token")
}

pub(crate) async fn user(server: &AuthServer, id: &str) -> Result<User, OAuthError> {
    let users = server.users();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || users.get(&id))
        .await
        .map_err(OAuthError::server)??
        .ok_or_else(|| OAuthError::invalid_grant("the user of this grant no longer exists"))
}

fn subject(user: &User) -> Subject {
    Subject {
        sub: user.id.clone(),
        username: Some(user.username.clone()),
        name: user.name.clone(),
    }
}

/// A user grant being issued tokens: its family id and what it is for.
pub(crate) struct Grant<'a> {
    pub(crate) family: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) resource: &'a str,
    /// The OpenID request's nonce, for the ID token.
    pub(crate) nonce: Option<&'a str>,
}

/// Access token (and refresh and ID tokens as due) for `user`'s `grant`.
async fn issue(
    server: &AuthServer,
    client: &Client,
    user: &User,
    grant: &Grant<'_>,
) -> Result<Issued, OAuthError> {
    let Grant {
        family,
        scope,
        resource,
        nonce,
    } = *grant;
    // `offline_access` asks for a refresh token; it opens nothing at a resource, so the
    // grant keeps it and the access token does not carry it.
    let access_scope = scope
        .split_whitespace()
        .filter(|s| *s != "offline_access")
        .collect::<Vec<_>>()
        .join(" ");
    let (access_token, claims) = server
        .mint_access(
            &subject(user),
            &client.client_id,
            &access_scope,
            resource,
            None,
        )
        .await?;
    server
        .record_issued(Some(family), &client.client_id, &claims.jti, claims.exp)
        .await?;
    let refresh_token = if wants_refresh(client) {
        Some(server.issue_refresh(family).await?)
    } else {
        None
    };
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let id_token = if scopes.contains(&"openid") {
        let mut claims = json!({
            "iss": server.issuer(), "sub": user.id, "aud": client.client_id,
            "iat": claims.iat, "exp": claims.exp,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if scopes.contains(&"profile") {
            claims["preferred_username"] = user.username.clone().into();
            if let Some(name) = &user.name {
                claims["name"] = name.clone().into();
            }
        }
        if let (true, Some(email)) = (scopes.contains(&"email"), &user.email) {
            claims["email"] = email.clone().into();
        }
        Some(server.sign("JWT", &claims).await?)
    } else {
        None
    };
    Ok(Issued {
        access_token,
        expires_in: server.settings().access_token_ttl,
        scope: access_scope,
        refresh_token,
        id_token,
        issued_token_type: None,
    })
}

pub(crate) async fn authorization_code(
    server: &AuthServer,
    client: &Client,
    p: &Params,
) -> Result<Issued, OAuthError> {
    let code = p.required("code")?;
    let verifier = p
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    if !valid_verifier(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
        ));
    }
    let hash = secret::hash(code);
    let family = uuid::Uuid::new_v4().to_string();
    let now = server.now();
    // Look up and burn the code in one transaction: it is single use whatever follows.
    let (hash_q, family_q) = (hash.clone(), family.clone());
    let found = server
        .db()
        .call(move |c| {
            let tx = belay_store::write_transaction(c)?;
            let row = tx
                .query_row(
                    "SELECT client_id, redirect_uri, redirect_given, code_challenge, scope, resource,
                            user_id, nonce, expires_at, used_at IS NOT NULL, family_id
                     FROM as_codes WHERE hash = ?1",
                    [&hash_q],
                    |r| {
                        Ok(Code {
                            client_id: r.get(0)?,
                            redirect_uri: r.get(1)?,
                            redirect_given: r.get(2)?,
                            code_challenge: r.get(3)?,
                            scope: r.get(4)?,
                            resource: r.get(5)?,
                            user_id: r.get(6)?,
                            nonce: r.get(7)?,
                            expires_at: r.get(8)?,
                            used: r.get(9)?,
                            family_id: r.get(10)?,
                        })
                    },
                )
                .optional()?;
            if let Some(code) = row.as_ref().filter(|c| !c.used) {
                tx.execute(
                    "UPDATE as_codes SET used_at = ?1, family_id = ?2 WHERE hash = ?3",
                    params![now, family_q, hash_q],
                )?;
                // The grant exists from the moment its code is spent, so a replay that lands
                // before the tokens are issued still finds it to revoke.
                tx.execute(
                    "INSERT INTO as_families (id, client_id, sub, user_id, scope, resource, created_at)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                    params![family_q, code.client_id, code.user_id, code.scope, code.resource, now],
                )?;
            }
            tx.commit()?;
            Ok(row)
        })
        .await?;
    let Some(code) = found else {
        return Err(OAuthError::invalid_grant("unknown authorization code"));
    };
    if code.used {
        if let Some(family) = &code.family_id {
            server
                .revoke_family(family, RevokeReason::CodeReplayed)
                .await?;
        }
        return Err(OAuthError::invalid_grant(
            "this authorization code was already used; the tokens issued from it are revoked",
        ));
    }
    if code.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "this code was issued to another client",
        ));
    }
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant(format!(
            "the authorization code expired (codes are valid for {} s)",
            server.settings().code_ttl
        )));
    }
    match p.get("redirect_uri") {
        Some(uri) if uri == code.redirect_uri => {}
        None if !code.redirect_given => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be identical to the one in the authorization request",
            ));
        }
    }
    if !secret::same(&secret::s256(verifier.as_bytes()), &code.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge (S256)",
        ));
    }
    if let Some(resource) = p.get("resource")
        && resource != code.resource
    {
        return Err(OAuthError::invalid_target(format!(
            "resource must be the one authorized: {}",
            code.resource
        )));
    }
    let user = user(server, &code.user_id).await?;
    let grant = Grant {
        family: &family,
        scope: &code.scope,
        resource: &code.resource,
        nonce: code.nonce.as_deref(),
    };
    issue(server, client, &user, &grant).await
}

/// Records `user`'s new `grant` and issues its first tokens.
pub(crate) async fn start(
    server: &AuthServer,
    client: &Client,
    user: &User,
    grant: Grant<'_>,
) -> Result<Issued, OAuthError> {
    server
        .create_family_with_id(
            grant.family,
            &client.client_id,
            &user.id,
            Some(&user.id),
            grant.scope,
            grant.resource,
        )
        .await?;
    issue(server, client, user, &grant).await
}

pub(crate) async fn refresh(
    server: &AuthServer,
    client: &Client,
    p: &Params,
) -> Result<Issued, OAuthError> {
    let token = p.required("refresh_token")?;
    let family = match server.find_refresh(token, &client.client_id).await? {
        RefreshLookup::Unknown | RefreshLookup::WrongClient => {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        }
        RefreshLookup::Expired => {
            return Err(OAuthError::invalid_grant(
                "the refresh token expired; sign in again",
            ));
        }
        RefreshLookup::Reused(family) => return Err(reused(server, &family.id).await),
        RefreshLookup::Revoked(family) => {
            return Err(OAuthError::invalid_grant(RevokeReason::explain(
                family.revoked_reason.as_deref(),
            )));
        }
        RefreshLookup::Live(family) => family,
    };
    if let Some(resource) = p.get("resource")
        && resource != family.resource
    {
        return Err(OAuthError::invalid_target(format!(
            "this grant is for resource {}; ask the user to authorize {resource} separately",
            family.resource
        )));
    }
    let scope = narrow_scope(&family.scope, p.get("scope"), |extra| {
        format!(
            "scope `{extra}` was not granted; a refresh can only narrow: {}",
            family.scope
        )
    })?;
    let user_id = family
        .user_id
        .clone()
        .ok_or_else(|| OAuthError::invalid_grant("this grant has no user"))?;
    let user = user(server, &user_id).await?;
    // Only now, with the request found acceptable, is the token used up.
    if !server.claim_refresh(token).await? {
        return Err(reused(server, &family.id).await);
    }
    let grant = Grant {
        family: &family.id,
        scope: &scope,
        resource: &family.resource,
        nonce: None,
    };
    // The token endpoint let this client use the refresh grant, so `issue` rotates.
    issue(server, client, &user, &grant).await
}

/// A refresh token presented after it was rotated: a sign that it was stolen, so the whole
/// grant is revoked.
async fn reused(server: &AuthServer, family: &str) -> OAuthError {
    if let Err(e) = server
        .revoke_family(family, RevokeReason::RefreshReused)
        .await
    {
        return e.into();
    }
    OAuthError::invalid_grant(
        "this refresh token was already used; every token of this grant is now revoked",
    )
}

/// The scope for a request that may only narrow `held`: all of it when `requested` is
/// absent, else the requested scopes, each of which must be held (`not_held` words the
/// refusal for one that is not).
pub(crate) fn narrow_scope(
    held: &str,
    requested: Option<&str>,
    not_held: impl FnOnce(&str) -> String,
) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(held.to_owned());
    };
    let held: Vec<&str> = held.split_whitespace().collect();
    if let Some(extra) = requested.split_whitespace().find(|x| !held.contains(x)) {
        return Err(OAuthError::invalid_scope(not_held(extra)));
    }
    Ok(requested.split_whitespace().collect::<Vec<_>>().join(" "))
}
