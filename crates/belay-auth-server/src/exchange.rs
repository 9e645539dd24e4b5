//! The client grants: client credentials (the client acts for itself) and RFC 8693
//! token exchange (a client trades a user's token for one aimed at another resource).

use crate::{
    AuthServer, OAuthError,
    authorize::{check_resource, grant_scopes},
    clients::Client,
    grants::narrow_scope,
    jwt::{Actor, Subject},
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
    access_only(server, client, &subject, scope, &resource, None).await
}

/// Exchanges a subject token for one with `aud` = the requested resource, at most the
/// same scopes, and `act` naming the exchanging client. Exchanging to the audience the
/// subject token already has is refused: it would only launder the `act` claim.
pub(crate) async fn token_exchange(
    server: &AuthServer,
    client: &Client,
    p: &Params,
) -> Result<Issued, OAuthError> {
    confidential(client, "token-exchange")?;
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
    let subject = server
        .verify_access_token(subject_token)
        .await
        .map_err(|why| {
            OAuthError::invalid_grant(format!("subject_token is not acceptable: {why}"))
        })?;
    if subject.aud == resource {
        return Err(OAuthError::invalid_target(
            "the subject_token is already for this resource; use it as it is",
        ));
    }
    let scope = narrow_scope(&subject.scope, p.get("scope"), |extra| {
        format!(
            "scope `{extra}` is not in the subject_token ({})",
            subject.scope
        )
    })?;
    let act = Actor {
        sub: client.client_id.clone(),
        act: subject.act.clone().map(Box::new),
    };
    let who = Subject {
        sub: subject.sub.clone(),
        username: subject.preferred_username.clone(),
        name: subject.name.clone(),
    };
    let issued = access_only(server, client, &who, scope, resource, Some(act)).await?;
    Ok(Issued {
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        ..issued
    })
}

/// An access token for `who` and nothing else (no refresh or ID token): what a client
/// grant answers.
async fn access_only(
    server: &AuthServer,
    client: &Client,
    who: &Subject,
    scope: String,
    resource: &str,
    act: Option<Actor>,
) -> Result<Issued, OAuthError> {
    let (access_token, _) = server
        .mint_access(who, &client.client_id, &scope, resource, act)
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
