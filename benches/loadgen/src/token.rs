//! `belay-loadgen token`: an access token from an authorization server by the OAuth
//! client-credentials grant, so a benchmark of a gateway that requires sign-in needs neither
//! curl nor jq. Plain HTTP only: the authorization server of a benchmark is on loopback.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::http::connect_when_up;

/// Options of `belay-loadgen token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The token endpoint, e.g. `http://127.0.0.1:9000/token`.
    #[arg(long)]
    token_url: String,

    /// The client's id (a confidential client allowed the client_credentials grant).
    #[arg(long)]
    client_id: String,

    /// Environment variable holding the client secret (a command line is visible to every
    /// user of the machine).
    #[arg(long, value_name = "VAR")]
    client_secret_env: String,

    /// RFC 8707 resource: the URL the token is for (a gateway's `/mcp`).
    #[arg(long)]
    resource: Option<String>,

    /// Space-separated scopes to ask for.
    #[arg(long)]
    scope: Option<String>,

    /// Seconds to wait for the authorization server to accept connections (it may still be
    /// starting).
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
}

/// Asks the token endpoint for a token and returns it.
pub(crate) async fn fetch(args: &TokenArgs) -> anyhow::Result<String> {
    let secret = std::env::var(&args.client_secret_env).with_context(|| {
        format!(
            "environment variable {} (the client secret) is not set",
            args.client_secret_env
        )
    })?;
    let url = url::Url::parse(&args.token_url)
        .with_context(|| format!("--token-url `{}`", args.token_url))?;
    anyhow::ensure!(
        url.scheme() == "http",
        "--token-url must be http:// (a loopback authorization server)"
    );
    let host = url.host_str().context("--token-url has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.wait);
    let stream = connect_when_up(addr, deadline, || Ok(())).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(async move {
        // The error, if any, surfaces on the request.
        let _ = conn.await;
    });

    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &args.client_id)
        .append_pair("client_secret", &secret);
    if let Some(resource) = &args.resource {
        form.append_pair("resource", resource);
    }
    if let Some(scope) = &args.scope {
        form.append_pair("scope", scope);
    }
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request = Request::post(path)
        .header(HOST, format!("{host}:{port}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::from(form.finish())))?;
    let response = sender.send_request(request).await.context("POST token")?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    connection.abort();
    access_token(status, &body)
}

/// The `access_token` of a token response, or the OAuth error it carries.
fn access_token(status: StatusCode, body: &[u8]) -> anyhow::Result<String> {
    let json: Value = serde_json::from_slice(body).with_context(|| {
        format!(
            "token endpoint: HTTP {status}, not JSON: {}",
            crate::mcp::short(&String::from_utf8_lossy(body))
        )
    })?;
    if status != StatusCode::OK {
        let field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        bail!(
            "token endpoint: HTTP {status}: {} {}",
            field("error"),
            field("error_description")
        );
    }
    json.get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("token response has no access_token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_or_the_oauth_error_is_reported() -> anyhow::Result<()> {
        let ok = br#"{"access_token":"eyJ.x.y","token_type":"Bearer","expires_in":900}"#;
        assert_eq!(access_token(StatusCode::OK, ok)?, "eyJ.x.y");
        let refused = br#"{"error":"invalid_client","error_description":"wrong secret"}"#;
        let err = access_token(StatusCode::UNAUTHORIZED, refused)
            .err()
            .context("a 401 must fail")?;
        assert!(
            format!("{err}").contains("invalid_client wrong secret"),
            "{err}"
        );
        assert!(access_token(StatusCode::OK, b"<html>").is_err());
        assert!(access_token(StatusCode::OK, b"{}").is_err());
        Ok(())
    }
}
