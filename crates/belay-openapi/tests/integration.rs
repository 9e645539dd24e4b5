//! belay-openapi against real HTTP services on loopback: the Petstore (its request log
//! shows exactly what was sent), and small hostile services (redirects, huge and slow
//! answers), a token endpoint for client credentials.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use axum::{
    Json, Router,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use belay_openapi::{
    Api, ApiCredentialSpec, Catalogue, KeyLocation, OpenApiSpec, Secret, ToolAnswer,
    petstore::{ADMIN_SECRET, Petstore},
};
use serde_json::{Map, Value, json};

const PETSTORE: &str = include_str!("../fixtures/petstore.yaml");

async fn serve(router: Router) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(format!("http://{addr}"))
}

fn spec_for(base: &str) -> OpenApiSpec {
    OpenApiSpec {
        base_url: Some(base.to_owned()),
        allow_hosts: vec!["127.0.0.1".into()],
        ..OpenApiSpec::new("petstore.yaml")
    }
}

fn api(text: &str, spec: &OpenApiSpec) -> Result<Api> {
    let catalogue = Catalogue::from_text(text, spec)?;
    Ok(Api::new(catalogue, spec, None)?)
}

fn args(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

async fn call(api: &Api, tool: &str, arguments: Value) -> Result<ToolAnswer> {
    api.call(tool, &args(arguments))
        .await
        .with_context(|| format!("no tool {tool}"))
}

/// A key file in a fresh temporary folder (kept alive by the returned guard).
fn key_file(key: &str) -> Result<(tempfile::TempDir, Secret)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("key");
    std::fs::write(&path, format!("{key}\n"))?;
    Ok((
        dir,
        Secret {
            env: None,
            file: Some(path),
        },
    ))
}

#[tokio::test]
async fn the_petstore_is_called_with_its_api_key() -> Result<()> {
    let store = Petstore::new(Some("k-123".into()));
    let url = serve(store.router()).await?;
    let (_dir, secret) = key_file("k-123")?;
    let mut spec = spec_for(&format!("{url}/v1"));
    spec.credential = ApiCredentialSpec::ApiKey {
        location: KeyLocation::Header,
        name: "X-API-Key".into(),
        secret,
    };
    let api = api(PETSTORE, &spec)?;

    let listed = call(
        &api,
        "listPets",
        json!({"tag": "dog", "X-Request-Id": "r-1"}),
    )
    .await?;
    assert!(!listed.is_error, "{listed:?}");
    assert_eq!(listed.status, Some(200));
    assert_eq!(
        listed.structured,
        Some(json!({"result": [{"id": "1", "name": "Rex", "tag": "dog"}]}))
    );
    let created = call(
        &api,
        "createPet",
        json!({"body": {"name": "Kiki", "tag": "bird"}}),
    )
    .await?;
    assert_eq!(created.status, Some(201));
    let id = created
        .structured
        .as_ref()
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let got = call(&api, "getPet", json!({"petId": id})).await?;
    assert_eq!(
        got.structured.as_ref().map(|s| s["name"].clone()),
        Some(json!("Kiki"))
    );
    let missing = call(&api, "getPet", json!({"petId": "999"})).await?;
    assert!(
        missing.is_error && missing.text.contains("404") && missing.text.contains("no pet 999"),
        "{missing:?}"
    );

    let log = store.log();
    assert_eq!(log[0].target, "/v1/pets?tag=dog");
    assert_eq!(log[0].request_id.as_deref(), Some("r-1"));
    assert!(
        log.iter()
            .all(|seen| seen.api_key.as_deref() == Some("k-123")),
        "{log:?}"
    );

    // A wrong key: the API's 401 is the answer, and the key is in no message.
    let (_dir, wrong) = key_file("wrong-key-xyz")?;
    spec.credential = ApiCredentialSpec::ApiKey {
        location: KeyLocation::Header,
        name: "X-API-Key".into(),
        secret: wrong,
    };
    let refused = call(&api_from(&spec)?, "listPets", json!({})).await?;
    assert!(
        refused.is_error && refused.text.contains("401"),
        "{refused:?}"
    );
    assert!(!refused.text.contains("wrong-key-xyz"));
    assert!(
        !format!("{:?}", api_from(&spec)?).contains("wrong-key-xyz"),
        "Debug shows no secret"
    );
    Ok(())
}

fn api_from(spec: &OpenApiSpec) -> Result<Api> {
    api(PETSTORE, spec)
}

#[tokio::test]
async fn malicious_path_arguments_do_not_escape_the_api() -> Result<()> {
    let store = Petstore::new(None);
    let url = serve(store.router()).await?;
    let api = api(PETSTORE, &spec_for(&format!("{url}/v1")))?;
    for evil in [
        "../admin",
        "../../admin",
        "..%2F..%2Fadmin",
        "%2e%2e/%2e%2e/admin",
        "x/../../admin?y=1#z",
    ] {
        let answer = call(&api, "getPet", json!({"petId": evil})).await?;
        assert!(!answer.text.contains(ADMIN_SECRET), "{evil}: {answer:?}");
        assert!(
            answer.is_error && answer.text.contains("404"),
            "{evil}: {answer:?}"
        );
    }
    for evil in ["..", "."] {
        let answer = call(&api, "getPet", json!({"petId": evil})).await?;
        assert!(
            answer.is_error && answer.status.is_none(),
            "{evil} sent: {answer:?}"
        );
    }
    let header = call(
        &api,
        "listPets",
        json!({"X-Request-Id": "a\r\nX-API-Key: forged"}),
    )
    .await?;
    assert!(
        header.is_error && header.text.contains("cannot carry"),
        "{header:?}"
    );
    let targets: Vec<String> = store.log().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        [
            "/v1/pets/..%2Fadmin",
            "/v1/pets/..%2F..%2Fadmin",
            "/v1/pets/..%252F..%252Fadmin",
            "/v1/pets/%252e%252e%2F%252e%252e%2Fadmin",
            "/v1/pets/x%2F..%2F..%2Fadmin%3Fy%3D1%23z",
        ],
        "each request stayed under /v1/pets/ as one segment; `..`, `.` and the CRLF header \
         were never sent"
    );
    Ok(())
}

/// A document for the hostile service: one GET per behaviour.
const HOSTILE: &str = r#"
openapi: 3.1.0
info: {title: hostile, version: "1"}
paths:
  /redirect: {get: {operationId: redirect, responses: {"200": {description: ok}}}}
  /huge: {get: {operationId: huge, responses: {"200": {description: ok}}}}
  /huge-chunked: {get: {operationId: hugeChunked, responses: {"200": {description: ok}}}}
  /slow: {get: {operationId: slow, responses: {"200": {description: ok}}}}
  /text: {get: {operationId: text, responses: {"200": {description: ok}}}}
  /json: {get: {operationId: json, responses: {"200": {description: ok}}}}
"#;

#[tokio::test]
async fn redirects_huge_and_slow_answers_are_refused() -> Result<()> {
    // The "other host": anything reaching it is counted.
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = serve(Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "you reached the other host" }
    }))
    .await?;
    let target = format!("{elsewhere}/steal");
    let hostile = Router::new()
        .route(
            "/redirect",
            get(move || async move { Redirect::temporary(&target) }),
        )
        .route("/huge", get(|| async { "x".repeat(3 * 1024 * 1024) }))
        .route(
            "/huge-chunked",
            get(|| async {
                let chunks = futures_stream(3 * 1024);
                axum::body::Body::from_stream(chunks)
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/text", get(|| async { "plain words" }))
        .route("/json", get(|| async { Json(json!([1, 2])) }));
    let url = serve(hostile).await?;
    let spec = OpenApiSpec {
        timeout_ms: 500,
        max_response_bytes: 1024 * 1024,
        ..spec_for(&url)
    };
    let api = api(HOSTILE, &spec)?;

    let redirected = call(&api, "redirect", json!({})).await?;
    assert!(
        redirected.is_error && redirected.text.contains("redirects are not followed"),
        "{redirected:?}"
    );
    assert!(
        redirected.text.contains(&elsewhere),
        "names where it pointed: {redirected:?}"
    );
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the other host was never called"
    );

    for tool in ["huge", "hugeChunked"] {
        let huge = call(&api, tool, json!({})).await?;
        assert!(
            huge.is_error && huge.text.contains("larger than 1048576 bytes"),
            "{tool}: {huge:?}"
        );
    }

    let started = Instant::now();
    let slow = call(&api, "slow", json!({})).await?;
    assert!(slow.is_error, "{slow:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let text = call(&api, "text", json!({})).await?;
    assert_eq!(
        (text.is_error, text.text.as_str(), text.structured),
        (false, "plain words", None)
    );
    // JSON with no schema in the document still comes back structured, as an object.
    let undocumented = call(&api, "json", json!({})).await?;
    assert_eq!(undocumented.structured, Some(json!({"result": [1, 2]})));
    Ok(())
}

/// `count` chunks of 1 KiB, with no Content-Length.
fn futures_stream(count: usize) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::iter((0..count).map(|_| Ok(vec![b'y'; 1024])))
}

#[tokio::test]
async fn private_addresses_need_allow_hosts() -> Result<()> {
    let store = Petstore::new(None);
    let url = serve(store.router()).await?;
    let port = url.rsplit(':').next().unwrap_or_default().to_owned();
    // A literal loopback address is refused when the API is built...
    let mut spec = spec_for(&format!("{url}/v1"));
    spec.allow_hosts.clear();
    let refused = api(PETSTORE, &spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("allow_hosts"), "{refused}");
    // ...and a name that resolves to one is refused when it resolves, before connecting.
    spec.base_url = Some(format!("http://localhost:{port}/v1"));
    spec.allow_hosts = vec!["example.invalid".into()];
    let plain_http = api(PETSTORE, &spec)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(plain_http.contains("only https"), "{plain_http}");
    spec.base_url = Some(format!("https://localhost:{port}/v1"));
    let named = api(PETSTORE, &spec)?;
    let answer = call(&named, "listPets", json!({})).await?;
    assert!(
        answer.is_error && answer.text.contains("not a public address"),
        "{answer:?}"
    );
    assert!(
        store.log().is_empty(),
        "nothing reached the service: {:?}",
        store.log()
    );
    Ok(())
}

#[tokio::test]
async fn client_credentials_tokens_are_cached_and_renewed_after_a_401() -> Result<()> {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let token_endpoint = serve(Router::new().route(
        "/token",
        post(move |headers: HeaderMap, body: String| {
            let counter = counter.clone();
            async move {
                // client_secret_basic of "gateway:s3cret".
                let basic = headers.get("authorization").and_then(|v| v.to_str().ok());
                if basic != Some("Basic Z2F0ZXdheTpzM2NyZXQ=") || !body.contains("grant_type=client_credentials") {
                    return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
                }
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                Json(json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600})).into_response()
            }
        }),
    ))
    .await?;
    // The API accepts only tok-2 and later: the first token is "revoked".
    let api_router = Router::new().route(
        "/pets",
        get(|headers: HeaderMap| async move {
            match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                Some(t) if t.starts_with("Bearer tok-") && t != "Bearer tok-1" => {
                    Json(json!([])).into_response()
                }
                _ => StatusCode::UNAUTHORIZED.into_response(),
            }
        }),
    );
    let url = serve(api_router).await?;
    let (_dir, secret) = key_file("s3cret")?;
    let mut spec = spec_for(&url);
    spec.credential = ApiCredentialSpec::ClientCredentials {
        token_url: format!("{token_endpoint}/token"),
        client_id: "gateway".into(),
        client_secret: secret,
        scope: Some("pets:read".into()),
        resource: None,
    };
    let api = api(PETSTORE, &spec)?;
    let first = call(&api, "listPets", json!({})).await?;
    assert!(!first.is_error, "renewed after the 401: {first:?}");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    for _ in 0..3 {
        assert!(!call(&api, "listPets", json!({})).await?.is_error);
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2, "the token is cached");
    Ok(())
}

#[tokio::test]
async fn a_document_is_fetched_by_url_with_the_address_checks() -> Result<()> {
    let store = Petstore::new(None);
    let doc = PETSTORE.to_owned();
    let mut router = store.router();
    router = router.route("/openapi.yaml", get(move || async move { doc }));
    let url = serve(router).await?;
    // Its relative server `/v1` is resolved against the document's URL.
    let spec = OpenApiSpec {
        allow_hosts: vec!["127.0.0.1".into()],
        ..OpenApiSpec::new(format!("{url}/openapi.yaml"))
    };
    let api = Api::load(&spec, None).await?;
    assert_eq!(api.base().as_str(), format!("{url}/v1"));
    assert!(!call(&api, "listPets", json!({})).await?.is_error);
    let refused = Api::load(&OpenApiSpec::new(format!("{url}/openapi.yaml")), None)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("cannot read the OpenAPI document"),
        "{refused}"
    );
    Ok(())
}
