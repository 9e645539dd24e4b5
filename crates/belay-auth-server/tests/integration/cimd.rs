//! Client ID Metadata Documents, served by a second loopback server (so the tests turn on
//! `allow_private` and `allow_http`, except the one checking that default refusal).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, extract::State, http::StatusCode as AxumStatus, routing::get};
use belay_auth_server::{CimdSpec, ManualClock, Settings};
use belay_store::Db;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Harness, REDIRECT, pkce, str_of};

/// A document server: `/client.json` answers `body(base_url)`; counts the fetches.
struct Docs {
    url: String,
    fetches: Arc<AtomicUsize>,
}

async fn serve_doc(body: impl Fn(&str) -> String) -> anyhow::Result<Docs> {
    serve_doc_with(body, "public").await
}

/// Serves the document with `cache_control` as its Cache-Control header.
async fn serve_doc_with(
    body: impl Fn(&str) -> String,
    cache_control: &'static str,
) -> anyhow::Result<Docs> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/client.json", listener.local_addr()?);
    let fetches = Arc::new(AtomicUsize::new(0));
    let state = (Arc::new(body(&url)), Arc::clone(&fetches));
    let router = Router::new()
        .route(
            "/client.json",
            get(
                move |State((doc, n)): State<(Arc<String>, Arc<AtomicUsize>)>| async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    (
                        AxumStatus::OK,
                        [
                            ("content-type", "application/json"),
                            ("cache-control", cache_control),
                        ],
                        doc.as_str().to_owned(),
                    )
                },
            ),
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(Docs { url, fetches })
}

fn document(url: &str) -> String {
    json!({
        "client_id": url,
        "client_name": "Doc <Client>",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
    .to_string()
}

async fn harness(cimd: CimdSpec) -> anyhow::Result<Harness> {
    Harness::start_with(Db::in_memory()?, ManualClock::new(), |s: &mut Settings| {
        s.cimd = cimd
    })
    .await
}

fn lab() -> CimdSpec {
    CimdSpec {
        allow_private: true,
        allow_http: true,
        ..CimdSpec::default()
    }
}

/// GET /authorize for `client`; returns status and page.
async fn authorize_page(
    h: &Harness,
    client: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<(StatusCode, String)> {
    let resp = h.authorize(client, &pkce().challenge, extra).await?;
    Ok((resp.status(), resp.text().await?))
}

#[tokio::test]
async fn code_flow_with_a_metadata_document() -> anyhow::Result<()> {
    let docs = serve_doc(document).await?;
    let h = harness(lab()).await?;
    let (status, page) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Doc &lt;Client&gt;"),
        "client_name on consent"
    );

    let pkce = pkce();
    let code = h.code(&docs.url, &pkce, &[]).await?;
    let (status, tokens) = h.redeem(&docs.url, &code, &pkce.verifier).await?;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = h.verify_with_jwks(str_of(&tokens, "access_token")?).await?;
    assert_eq!(claims["client_id"], docs.url.as_str());
    // Refresh works for the same URL client.
    let (status, refreshed) = h
        .refresh(&docs.url, str_of(&tokens, "refresh_token")?)
        .await?;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    // Two page loads, a sign-in, a redemption and a refresh: one fetch, then the cache.
    assert_eq!(docs.fetches.load(Ordering::SeqCst), 1);
    h.clock.advance_secs(3601);
    let (status, _) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        docs.fetches.load(Ordering::SeqCst),
        2,
        "refetched after cache_ttl"
    );
    Ok(())
}

#[tokio::test]
async fn cache_control_can_shorten_the_cache_but_not_extend_it() -> anyhow::Result<()> {
    let short = serve_doc_with(document, "max-age=60").await?;
    let long = serve_doc_with(document, "max-age=86400").await?;
    let h = harness(lab()).await?;
    for docs in [&short, &long] {
        assert_eq!(authorize_page(&h, &docs.url, &[]).await?.0, StatusCode::OK);
    }
    h.clock.advance_secs(61);
    for docs in [&short, &long] {
        assert_eq!(authorize_page(&h, &docs.url, &[]).await?.0, StatusCode::OK);
    }
    assert_eq!(
        short.fetches.load(Ordering::SeqCst),
        2,
        "max-age=60 expired"
    );
    assert_eq!(long.fetches.load(Ordering::SeqCst), 1, "still fresh");
    h.clock.advance_secs(3600);
    assert_eq!(authorize_page(&h, &long.url, &[]).await?.0, StatusCode::OK);
    assert_eq!(
        long.fetches.load(Ordering::SeqCst),
        2,
        "cache_ttl (1 h) caps a longer max-age"
    );
    Ok(())
}

#[tokio::test]
async fn document_naming_another_client_id_is_refused() -> anyhow::Result<()> {
    let docs = serve_doc(|_| document("https://elsewhere.example/client.json")).await?;
    let h = harness(lab()).await?;
    let (status, page) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("must be exactly the document"), "{page}");
    assert!(!page.contains("name=\"password\""));
    // The token endpoint refuses it as a client too.
    let (status, body): (StatusCode, Value) = h.redeem(&docs.url, "x", &pkce().verifier).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    Ok(())
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() -> anyhow::Result<()> {
    let docs = serve_doc(document).await?;
    let h = harness(CimdSpec {
        allow_http: true,
        ..CimdSpec::default()
    })
    .await?;
    let (status, page) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("not a public address"), "{page}");
    assert_eq!(docs.fetches.load(Ordering::SeqCst), 0, "never connected");
    Ok(())
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() -> anyhow::Result<()> {
    let docs = serve_doc(document).await?;
    let h = harness(CimdSpec {
        allow_private: true,
        ..CimdSpec::default()
    })
    .await?;
    let (status, page) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("must use https"), "{page}");
    Ok(())
}

#[tokio::test]
async fn oversized_documents_are_refused() -> anyhow::Result<()> {
    let docs = serve_doc(|url| {
        json!({
            "client_id": url,
            "client_name": "x".repeat(6000),
            "redirect_uris": [REDIRECT],
        })
        .to_string()
    })
    .await?;
    let h = harness(lab()).await?;
    let (status, page) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("larger than 5120 bytes"), "{page}");
    Ok(())
}

#[tokio::test]
async fn redirect_uri_must_be_in_the_document() -> anyhow::Result<()> {
    let docs = serve_doc(document).await?;
    let h = harness(lab()).await?;
    let (status, page) = authorize_page(
        &h,
        &docs.url,
        &[("redirect_uri", "http://127.0.0.1:7777/elsewhere")],
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("is not registered for this client"), "{page}");
    Ok(())
}

#[tokio::test]
async fn shared_secret_methods_are_refused() -> anyhow::Result<()> {
    let docs = serve_doc(|url| {
        json!({
            "client_id": url,
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
        })
        .to_string()
    })
    .await?;
    let h = harness(lab()).await?;
    let (status, page) = authorize_page(&h, &docs.url, &[]).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("client_secret_basic"), "{page}");
    assert!(page.contains("use none"), "{page}");
    Ok(())
}
