//! SafeFetcher against real loopback servers.
#![allow(missing_docs)]

use std::time::Duration;

use axum::{Router, response::Redirect, routing::get};
use belay_fetch::{FetchError, FetchPolicy, SafeFetcher};
use url::Url;

async fn serve(router: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}

fn local_policy() -> FetchPolicy {
    FetchPolicy {
        allow_private: true,
        allow_http: true,
        ..FetchPolicy::default()
    }
}

fn app() -> Router {
    Router::new()
        .route("/doc", get(|| async { r#"{"client_name":"demo"}"# }))
        .route("/big", get(|| async { "x".repeat(100_000) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/hop", get(|| async { Redirect::temporary("/doc") }))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }),
        )
}

#[tokio::test]
async fn a_local_target_is_refused_by_default_even_by_name() -> anyhow::Result<()> {
    let base = serve(app()).await?;
    let port = Url::parse(&base)?.port().unwrap_or(80);
    let fetcher = SafeFetcher::new(FetchPolicy {
        allow_http: true,
        ..FetchPolicy::default()
    })?;
    // By address: refused before connecting.
    let err = fetcher
        .get_bytes(&Url::parse(&format!("{base}/doc"))?)
        .await;
    assert!(matches!(err, Err(FetchError::Forbidden { .. })), "{err:?}");
    // By name: refused in the resolver, which is what a rebinding attacker would hit.
    let by_name = Url::parse(&format!("http://localhost:{port}/doc"))?;
    let err = fetcher.get_bytes(&by_name).await;
    match err {
        Err(FetchError::Forbidden { host, addr }) => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback());
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn an_allowed_target_is_fetched_and_parsed() -> anyhow::Result<()> {
    let base = serve(app()).await?;
    let fetcher = SafeFetcher::new(local_policy())?;
    let doc: serde_json::Value = fetcher
        .get_json(&Url::parse(&format!("{base}/hop"))?)
        .await?;
    assert_eq!(doc["client_name"], "demo");
    Ok(())
}

#[tokio::test]
async fn limits_on_size_time_redirects_and_status() -> anyhow::Result<()> {
    let base = serve(app()).await?;
    let fetcher = SafeFetcher::new(FetchPolicy {
        max_bytes: 1024,
        timeout: Duration::from_millis(300),
        ..local_policy()
    })?;
    let at = |path: &str| Url::parse(&format!("{base}{path}"));
    let big = fetcher.get_bytes(&at("/big")?).await;
    assert!(
        matches!(big, Err(FetchError::TooLarge { limit: 1024, .. })),
        "{big:?}"
    );
    let slow = fetcher.get_bytes(&at("/slow")?).await;
    assert!(matches!(slow, Err(FetchError::Timeout { .. })), "{slow:?}");
    let looping = fetcher.get_bytes(&at("/loop")?).await;
    match looping {
        Err(FetchError::Http { reason, .. }) => assert!(reason.contains("redirect"), "{reason}"),
        other => panic!("expected a redirect error, got {other:?}"),
    }
    let missing = fetcher.get_bytes(&at("/missing")?).await;
    assert!(
        matches!(missing, Err(FetchError::Status { status: 404, .. })),
        "{missing:?}"
    );
    let not_json = fetcher.get_json::<serde_json::Value>(&at("/slow")?).await;
    assert!(not_json.is_err());
    Ok(())
}

#[tokio::test]
async fn an_unresolvable_name_says_so() -> anyhow::Result<()> {
    let fetcher = SafeFetcher::new(FetchPolicy::default())?;
    let err = fetcher
        .get_bytes(&Url::parse("https://no-such-host.invalid/doc")?)
        .await;
    assert!(matches!(err, Err(FetchError::Resolve { .. })), "{err:?}");
    Ok(())
}

/// IPv6 literals that reach private IPv4 hosts through a transition form, or sit in a
/// private IPv6 range, are refused before any connection, naming the address carried.
#[tokio::test]
async fn ipv6_literals_carrying_private_addresses_are_refused() -> anyhow::Result<()> {
    let fetcher = SafeFetcher::new(FetchPolicy::default())?;
    let cases = [
        ("https://[fec0::1]/client.json", "fec0::1 is not"),
        (
            "https://[2002:a9fe:a9fe::1]/latest/meta-data",
            "2002:a9fe:a9fe::1 (6to4 for 169.254.169.254) is not",
        ),
        (
            "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/client.json",
            "(Teredo: client 10.0.0.1, server 65.54.227.120) is not",
        ),
        (
            "https://[64:ff9b::7f00:1]/client.json",
            "64:ff9b::7f00:1 (NAT64 for 127.0.0.1) is not",
        ),
        (
            "https://[64:ff9b:1::a00:1]/client.json",
            "64:ff9b:1::a00:1 is not",
        ),
        ("https://[::a00:1]/client.json", "::a00:1 is not"),
    ];
    for (target, expected) in cases {
        let url = Url::parse(target)?;
        match fetcher.get_bytes(&url).await {
            Err(error @ FetchError::Forbidden { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains(expected) && message.ends_with("refusing to fetch it"),
                    "{target}: {message}"
                );
            }
            other => panic!("{target}: expected Forbidden, got {other:?}"),
        }
    }
    Ok(())
}
