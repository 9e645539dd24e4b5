//! The client grants: client credentials (the client acts for itself) and RFC 8693
//! token exchange (a client trades a user's token for one aimed at another resource).

use crate::{
    AuthServer, OAuthError,
    authorize::{check_resource, grant_scopes},
    clients::Client,
    grants::narrow_scope,
    jwt::{Actor, Delegation, Subject},
    params::Params,
    token::{ACCESS_TOKEN_TYPE, Issued},
};

fn confidential(client: &Client, grant: &str) -> Result<(), OAuthError> {
    if client.is_confidential() {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "the {grant} grant is for confidential clients only"
        )))
    }
}

pub(crate) async fn client_credentials(
    server: &AuthServer,
    client: &Client,
    p: &Params,
) -> Result<Issued, OAuthError> {
    confidential(client, "client_credentials")?;
    let scope = match p.get("scope") {
        Some(s) => grant_scopes(server, client, Some(s))?,
        None if !client.scopes.is_empty() => client.scopes.join(" "),
        None => grant_scopes(server, client, None)?,
    };
    let resource = match p.get("resource") {
        Some(r) => r.to_owned(),
        None => server.settings().default_resource.clone().ok_or_else(|| {
            OAuthError::invalid_target("resource is required (RFC 8707): the URL the token is for")
        })?,
    };
    check_resource(&resource)?;
    let subject = Subject {
        sub: client.client_id.clone(),
        username: None,
        name: None,
    };
    let (access_token, claims) = server
        .mint_access(&subject, &client.client_id, &scope, &resource, None)
        .await?;
    // No grant of a user's: kept by its holder alone, so removing the client revokes it.
    server
        .record_issued(None, &client.client_id, &claims.jti, claims.exp)
        .await?;
    Ok(Issued {
        access_token,
        expires_in: server.settings().access_token_ttl,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    })
}

/// Exchanges a subject token for one with `aud` = the requested resource, at most the
/// same scopes, and `act` naming the exchanging client.
///
/// Only a client an administrator set up for it may exchange, only a token minted for one
/// of its own resources (`token_exchange.from`: what callers send it), and only for the
/// audiences it fronts (`token_exchange.to`): anything looser lets a client that holds a
/// user's token for some other service trade it for one that opens this server. The new
/// token joins the subject token's grant (revoking the grant revokes it) and expires no
/// later than the subject token.
pub(crate) async fn token_exchange(
    server: &AuthServer,
    client: &Client,
    p: &Params,
) -> Result<Issued, OAuthError> {
    confidential(client, "token-exchange")?;
    let rights = client.token_exchange.as_ref().ok_or_else(|| {
        OAuthError::unauthorized_client(format!(
            "client `{}` may not exchange tokens: an administrator gives a service client \
             token_exchange audiences",
            client.client_id
        ))
    })?;
    let subject_token = p.required("subject_token")?;
    if p.required("subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    if p.get("actor_token").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    if let Some(t) = p.get("requested_token_type")
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    let resource = p.get("resource").ok_or_else(|| {
        OAuthError::invalid_target("resource is required: the URL the new token is for")
    })?;
    check_resource(resource)?;
    // RFC 8693 §2.2.2: an unacceptable subject token is `invalid_request`.
    let subject = server
        .verify_access_token(subject_token)
        .await
        .map_err(|why| {
            OAuthError::invalid_request(format!("subject_token is not acceptable: {why}"))
        })?;
    if !rights.accepts_subject(&subject.aud) {
        return Err(OAuthError::invalid_request(format!(
            "subject_token is for `{}`, which is not a resource of client `{}`: a client may \
             only exchange tokens minted for it",
            subject.aud, client.client_id
        )));
    }
    if subject.aud == resource {
        return Err(OAuthError::invalid_target(
            "the subject_token is already for this resource; use it as it is",
        ));
    }
    if !rights.reaches(resource) {
        return Err(OAuthError::invalid_target(format!(
            "client `{}` may not obtain tokens for `{resource}`",
            client.client_id
        )));
    }
    let family = server
        .family_of(&subject.jti)
        .await?
        .filter(|f| f.user_id.is_some())
        .ok_or_else(|| {
            OAuthError::invalid_request(
                "subject_token was not issued to a user's sign-in; only those can be exchanged",
            )
        })?;
    if family.revoked {
        return Err(OAuthError::invalid_request(
            "subject_token's sign-in was revoked",
        ));
    }
    let scope = narrow_scope(&subject.scope, p.get("scope"), |extra| {
        format!(
            "scope `{extra}` is not in the subject_token ({})",
            subject.scope
        )
    })?;
    let delegation = Delegation {
        act: Actor {
            sub: client.client_id.clone(),
            act: subject.act.clone().map(Box::new),
        },
        origin_client_id: subject
            .origin_client_id
            .clone()
            .unwrap_or_else(|| subject.client_id.clone()),
        not_after: subject.exp,
    };
    let who = Subject {
        sub: subject.sub.clone(),
        username: subject.preferred_username.clone(),
        name: subject.name.clone(),
    };
    let (access_token, claims) = server
        .mint_access(&who, &client.client_id, &scope, resource, Some(delegation))
        .await?;
    // Kept under the user's grant (revoked with it) and its holder (revoked if the exchanging
    // client is removed).
    server
        .record_issued(Some(&family.id), &client.client_id, &claims.jti, claims.exp)
        .await?;
    Ok(Issued {
        access_token,
        expires_in: claims.exp - claims.iat,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}
