//! Authorization server metadata (RFC 8414, or OpenID Connect Discovery) for an issuer.

use serde::Deserialize;
use url::Url;

use crate::Error;

/// The fields of an authorization server's metadata Belay uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthServerMetadata {
    /// Must equal the issuer it was fetched for.
    pub issuer: String,
    /// Where the signing keys are (JWK Set).
    pub jwks_uri: Option<String>,
    /// Token endpoint (token exchange, client credentials).
    pub token_endpoint: Option<String>,
    /// Dynamic client registration endpoint (RFC 7591).
    pub registration_endpoint: Option<String>,
    /// Token introspection endpoint (RFC 7662).
    pub introspection_endpoint: Option<String>,
    /// OpenID Connect userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
}

/// The URLs metadata is looked for at, in order. For an issuer with a path, RFC 8414
/// inserts the well-known segment before it; OpenID Connect Discovery appends it.
pub fn metadata_urls(issuer: &str) -> Result<Vec<String>, Error> {
    let url = Url::parse(issuer)
        .map_err(|e| Error::Config(format!("issuer `{issuer}` is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "issuer `{issuer}` must not have a query or fragment (RFC 8414 §2)"
        )));
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok(if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    })
}

/// Fetches `issuer`'s metadata, trying each of [`metadata_urls`] until one answers 200,
/// and insists its `issuer` is the one asked for (RFC 8414 §3.3: else a mix-up).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<AuthServerMetadata, Error> {
    let mut tried = Vec::new();
    for url in metadata_urls(issuer)? {
        let response = http
            .get(&url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| Error::unavailable(&format!("GET {url}"), e))?;
        if !response.status().is_success() {
            tried.push(format!("{url} ({})", response.status().as_u16()));
            continue;
        }
        let metadata: AuthServerMetadata = response.json().await.map_err(|e| {
            Error::BadServer(format!("{url} is not authorization server metadata: {e}"))
        })?;
        if metadata.issuer != issuer {
            return Err(Error::BadServer(format!(
                "{url} names issuer `{}`, not the configured `{issuer}`; set [resource] issuer to the exact value",
                metadata.issuer
            )));
        }
        return Ok(metadata);
    }
    Err(Error::Unavailable(format!(
        "no authorization server metadata for `{issuer}`: tried {}",
        tried.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_inserted_then_appended() -> Result<(), Error> {
        assert_eq!(
            metadata_urls("http://127.0.0.1:9000")?,
            [
                "http://127.0.0.1:9000/.well-known/oauth-authorization-server",
                "http://127.0.0.1:9000/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            metadata_urls("https://kc.example.com/realms/mcp")?,
            [
                "https://kc.example.com/.well-known/oauth-authorization-server/realms/mcp",
                "https://kc.example.com/.well-known/openid-configuration/realms/mcp",
                "https://kc.example.com/realms/mcp/.well-known/openid-configuration",
            ]
        );
        assert!(metadata_urls("not a url").is_err());
        Ok(())
    }
}
