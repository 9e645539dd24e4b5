//! Token exchange on behalf of the caller (RFC 8693): an upstream protected by the real
//! embedded authorization server sees, for each caller, a token minted for its own audience
//! that names the caller as subject and the gateway as actor — never the caller's token —
//! and each caller gets an upstream session of their own.

use std::sync::{Arc, Mutex};

use axum::{extract::Request, middleware::Next};
use belay_auth::{Caller, Protection, ResourceSpec};
use belay_servers::ServerName;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{
    policy::call,
    support::{http_toml, protected_gateway_on, reference, refusal, signed_in},
};

const GATEWAY: &str = "belay-gateway";
const ALICE: &str = "alice";
const BOB: &str = "bob";
const PASSWORD: &str = "a password for the tests";

/// What the upstream saw: the verified caller of each request, and the raw headers.
#[derive(Default, Clone)]
struct Seen {
    callers: Arc<Mutex<Vec<Caller>>>,
    headers: Arc<Mutex<Vec<String>>>,
}

/// `stock` on loopback, protected as its own resource by `issuer`, recording who called.
async fn protected_stock(
    issuer: &str,
    seen: Seen,
) -> anyhow::Result<(String, tokio_util::sync::DropGuard)> {
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    let url = format!("http://{addr}/mcp");
    let spec = ResourceSpec {
        issuer: issuer.to_owned(),
        resource: Some(url.clone()),
        // The gateway's own token (lists, health) is the one without a user it accepts.
        service_clients: vec![GATEWAY.into()],
        ..ResourceSpec::default()
    };
    let record = seen.clone();
    // Inside the protection layer: runs only for requests whose token passed.
    let served = reference(ServerName::Stock).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            if let Some(caller) = request.extensions().get::<Arc<Caller>>()
                && let Ok(mut callers) = record.callers.lock()
            {
                callers.push(Caller::clone(caller));
            }
            next.run(request)
        },
    ));
    let record = seen;
    let router = Protection::new(&spec, &url)?
        .protect(served)
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                if let Some(value) = request.headers().get("authorization")
                    && let Ok(mut headers) = record.headers.lock()
                {
                    headers.push(value.to_str().unwrap_or_default().to_owned());
                }
                next.run(request)
            },
        ));
    let stop = CancellationToken::new();
    tokio::spawn(belay_mcp::http::run(listener, router, stop.clone()));
    Ok((url, stop.drop_guard()))
}

/// A person's token for `url`, got as a client would: the server's metadata, dynamic
/// registration, and the sign-in form filled in as `username`.
async fn person_token(url: &str, username: &str) -> anyhow::Result<String> {
    let options = belay_client::SignInOptions {
        client_name: format!("{username}'s editor"),
        user_agent: Arc::new(belay_client::FormAgent::new(username, PASSWORD)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    Ok(belay_client::SignIn::new(url, options)?
        .sign_in(None, None)
        .await?)
}

#[tokio::test]
async fn each_caller_reaches_the_upstream_with_an_exchanged_token_of_its_own() -> anyhow::Result<()>
{
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let (issuer, server) = belay_auth_server::spawn_ephemeral(|_| {}, |r| r, stop.clone()).await?;
    let mut ids = Vec::new();
    for who in [ALICE, BOB] {
        ids.push(server.users().add(who, PASSWORD, None, None)?.id);
    }
    let seen = Seen::default();
    let (stock, _upstream) = protected_stock(&issuer, seen.clone()).await?;
    // The gateway may exchange only what its callers send it, only for the upstream.
    let listener = belay_mcp::http::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.1);
    let (_, gateway_secret) = belay_auth_server::Clients::new(server.db().clone()).add(
        belay_auth_server::NewClient {
            client_id: GATEWAY.into(),
            grant_types: vec!["client_credentials".into()],
            token_exchange: Some(belay_auth_server::ExchangeSpec {
                from: vec![format!("{base}/mcp"), format!("{base}/servers/*")],
                to: vec![stock.clone()],
            }),
            ..belay_auth_server::NewClient::default()
        },
        server.now(),
    )?;
    let secret = tempfile::NamedTempFile::new()?;
    std::fs::write(secret.path(), gateway_secret.unwrap_or_default())?;
    let credentials = format!(
        r#"credentials = {{ type = "token_exchange", issuer = "{issuer}", client_id = "{GATEWAY}", client_secret = {{ file = "{}" }} }}"#,
        secret.path().display()
    );
    let toml = format!("auth = true\n{}{credentials}\n", http_toml("stock", &stock));
    let gw = protected_gateway_on(listener, &toml, &issuer).await?;
    // The shared session (lists, health) signs in as the gateway itself.
    gw.up("stock").await?;

    let mut tokens = Vec::new();
    let url = format!("{}/mcp", gw.base);
    // Alice twice, with two editors (each registers a client of its own), then Bob.
    for who in [ALICE, ALICE, BOB] {
        let token = person_token(&url, who).await?;
        let client = signed_in(&url, &token).await?;
        for _ in 0..2 {
            let price = call(&client, "stock__get_stock_price", json!({"symbol": "AAPL"})).await?;
            assert!(price.parse::<f64>().is_ok(), "a price: {price}");
        }
        client.cancel().await?;
        tokens.push(token);
    }

    let upstream = gw.gateway.upstream("stock").map(|u| u.caller_sessions());
    assert_eq!(
        upstream,
        Some(3),
        "one upstream session per person and client"
    );
    let callers = seen.callers.lock().map(|c| c.clone()).unwrap_or_default();
    for (who, id) in [ALICE, BOB].iter().zip(&ids) {
        let theirs: Vec<_> = callers.iter().filter(|c| &c.sub == id).collect();
        assert!(
            !theirs.is_empty(),
            "{who}'s calls reached the upstream as {who}"
        );
        for caller in theirs {
            assert_eq!(
                caller.audience,
                vec![stock.clone()],
                "minted for the upstream"
            );
            assert_eq!(
                caller.claims.get("act").and_then(|a| a.get("sub")),
                Some(&json!(GATEWAY)),
                "the gateway is named as the actor"
            );
        }
    }
    // Each of Alice's editors reached the upstream on its own grant.
    let mut editors: Vec<_> = callers
        .iter()
        .filter(|c| c.sub == ids[0])
        .filter_map(|c| c.claims.get("origin_client_id").and_then(|v| v.as_str()))
        .collect();
    editors.sort_unstable();
    editors.dedup();
    assert_eq!(editors.len(), 2, "{editors:?}");
    assert!(
        callers
            .iter()
            .any(|c| c.sub == GATEWAY && c.claims.get("act").is_none()),
        "lists and pings go as the gateway itself"
    );
    let headers = seen.headers.lock().map(|h| h.clone()).unwrap_or_default();
    assert!(
        !headers
            .iter()
            .any(|h| tokens.iter().any(|t| h.contains(t.as_str()))),
        "a caller's own token reached the upstream"
    );
    Ok(())
}

#[test]
fn token_exchange_needs_auth_and_an_http_upstream() {
    let credentials = r#"credentials = { type = "token_exchange", issuer = "http://127.0.0.1:9000", client_id = "gw", client_secret = { env = "GW_SECRET" } }"#;
    let no_auth = format!(
        "[[upstream]]\nname = \"s\"\ntransport = {{ type = \"http\", url = \"http://127.0.0.1:1/mcp\" }}\n{credentials}\n"
    );
    let error = refusal(&no_auth);
    assert!(error.contains("auth = true"), "{error}");
    let stdio = format!(
        "auth = true\n[[upstream]]\nname = \"s\"\ntransport = {{ type = \"stdio\", command = \"belay\" }}\n{credentials}\n"
    );
    let error = refusal(&stdio);
    assert!(error.contains("http or sse transport"), "{error}");
}
