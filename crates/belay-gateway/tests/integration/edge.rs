//! The gateway's HTTP front driven with `tower::ServiceExt::oneshot` on its router: no
//! socket and no server loop, only the router every server loop serves. The upstream is the
//! stock server on stdio (a child process), so a call that gets through gets a real answer.
//! What needs the connection itself (slow clients, header limits, connection caps) is tested
//! over loopback in `http_limits`. The rate-limit tests move an injected [`ManualClock`],
//! which a reload of the limits keeps.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{HeaderMap, Request, StatusCode},
};
use belay_auth::ResourceSpec;
use belay_gateway::{
    Chain, Gateway,
    chain::{DENIED, RATE_LIMITED},
};
use belay_mcp::testkit::{check_refusal, malformed_bodies, message_text};
use belay_policy::{Clock, ManualClock, SystemClock};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};
use tower::ServiceExt;

use crate::support::{WAIT, fixture, spec};

/// A standalone gateway file with the stock server on stdio as its upstream, then `extra`.
fn stock_on_stdio(extra: &str) -> anyhow::Result<String> {
    let command = serde_json::to_string(fixture())?; // a TOML basic string
    Ok(format!(
        "[[upstream]]\nname = \"stock\"\n\
         transport = {{ type = \"stdio\", command = {command}, args = [\"stock\"] }}\n{extra}"
    ))
}

/// A gateway in front of the stock server on stdio, configured by `extra` (standalone
/// gateway TOML after the upstream), its buckets timed by `clock`; returns once the upstream
/// is up.
async fn stdio_gateway(extra: &str, clock: Arc<dyn Clock>) -> anyhow::Result<(Gateway, DropGuard)> {
    let toml = stock_on_stdio(extra)?;
    let spec = spec(&toml)?;
    let chain = Chain::from_spec(&spec, clock, None)?;
    let stop = CancellationToken::new();
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let status = gateway.wait_up("stock", 0, WAIT).await;
    anyhow::ensure!(
        status
            .as_ref()
            .is_some_and(|s| s.state == belay_gateway::upstream::UpstreamState::Up),
        "the stock upstream did not come up: {status:?}"
    );
    Ok((gateway, stop.drop_guard()))
}

/// The answer of `router` to `request`: status, headers, and the body as text.
async fn send(
    router: &Router,
    request: Request<Body>,
) -> anyhow::Result<(StatusCode, HeaderMap, String)> {
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 1 << 20).await?;
    Ok((
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec())?,
    ))
}

/// The `Host` every request names: a server loop would take it from the URL, and the
/// gateway's DNS-rebinding guard refuses a request without one.
const HOST: &str = "127.0.0.1:8080";

/// A POST of `body` to `path`, as an MCP client sends it.
fn post(path: &str, body: impl Into<Body>) -> anyhow::Result<Request<Body>> {
    Ok(Request::post(path)
        .header("host", HOST)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.into())?)
}

/// A 2026-07-28 `tools/call` of `tool` (no session needed) with JSON-RPC id `id`, to `path`.
fn tool_call(path: &str, id: u64, tool: &str) -> anyhow::Result<Request<Body>> {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": tool, "arguments": {"symbol": "AAPL"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "oneshot", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    });
    let mut request = post(path, serde_json::to_vec(&body)?)?;
    let headers = request.headers_mut();
    headers.insert("mcp-protocol-version", "2026-07-28".parse()?);
    headers.insert("mcp-method", "tools/call".parse()?);
    headers.insert("mcp-name", tool.parse()?);
    Ok(request)
}

/// The JSON-RPC message of a response body: the body, or its one SSE event.
fn message(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(message_text(text)).map_err(|e| anyhow::anyhow!("{e}: {text}"))
}

/// A header's value as text; empty when missing.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn malformed_bodies_get_json_rpc_errors_at_every_endpoint() -> anyhow::Result<()> {
    let (gateway, _stop) = stdio_gateway("", Arc::new(SystemClock)).await?;
    let router = gateway.router();
    for path in ["/mcp", "/servers/stock/mcp"] {
        for case in malformed_bodies() {
            let (status, _, text) = send(&router, post(path, case.body.clone())?).await?;
            check_refusal(&case, status.as_u16(), &text)
                .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        }
        // And the endpoint still serves a good request.
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "oneshot", "version": "0"}}});
        let (status, _, text) =
            send(&router, post(path, serde_json::to_vec(&initialize)?)?).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert!(
            message(&text)?["result"]["serverInfo"].is_object(),
            "{path}: {text}"
        );
    }
    Ok(())
}

/// 3 calls at once, then one every 10 s, for the stock price tool only; history is denied.
const LIMITED_AND_DENIED: &str = r#"[http]
rate_limit_status = "http"
[rate_limits]
tools = [{ upstream = "stock", name = "get_stock_price", per_minute = 6, burst = 3 }]
[policy]
[[policy.rules]]
id = "no-history"
effect = "deny"
names = ["get_stock_history"]
"#;

#[tokio::test]
async fn a_rate_limited_call_gets_429_with_retry_after_until_the_clock_moves() -> anyhow::Result<()>
{
    let clock = Arc::new(ManualClock::new());
    let (gateway, _stop) = stdio_gateway(LIMITED_AND_DENIED, clock.clone()).await?;
    let router = gateway.router();
    let price = |path: &str, id: u64| {
        let tool = if path == "/mcp" {
            "stock__get_stock_price"
        } else {
            "get_stock_price"
        };
        tool_call(path, id, tool)
    };

    // A bucket of 3 admits 3 calls, on either endpoint: each is charged once, not by the
    // HTTP front and again by the chain.
    for (id, path) in [(1, "/mcp"), (2, "/servers/stock/mcp"), (3, "/mcp")] {
        let (status, _, text) = send(&router, price(path, id)?).await?;
        assert_eq!(status, StatusCode::OK, "call {id}: {text}");
        assert!(
            message(&text)?["result"]["content"].is_array(),
            "call {id}: {text}"
        );
    }
    let (status, headers, text) = send(&router, price("/mcp", 41)?).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert_eq!(header(&headers, "retry-after"), "10");
    let refused = message(&text)?;
    assert_eq!(refused["jsonrpc"], "2.0");
    assert_eq!(refused["id"], 41, "the refusal answers the request's id");
    assert_eq!(refused["error"]["code"], RATE_LIMITED);
    assert_eq!(refused["error"]["data"], json!({"retryAfter": 10}));

    // A denial is the JSON-RPC error, not an HTTP status: only rate limits become 429.
    let (status, _, text) =
        send(&router, tool_call("/mcp", 42, "stock__get_stock_history")?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let denied = message(&text)?;
    assert_eq!(denied["id"], 42);
    assert_eq!(denied["error"]["code"], DENIED, "{denied}");
    let reason = denied["error"]["message"].as_str().unwrap_or_default();
    assert!(reason.contains("no-history"), "names the rule: {reason}");

    // Other tools have no limit.
    let (status, _, text) = send(&router, tool_call("/mcp", 43, "stock__get_ticker_info")?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(message(&text)?["result"].is_object(), "{text}");

    // The injected clock, not the time the test takes, refills the bucket.
    clock.advance(Duration::from_secs(9));
    let (status, headers, _) = send(&router, price("/servers/stock/mcp", 44)?).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "not refilled yet");
    assert_eq!(header(&headers, "retry-after"), "1");
    clock.advance(Duration::from_secs(1));
    let (status, _, text) = send(&router, price("/servers/stock/mcp", 45)?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(message(&text)?["result"].is_object(), "{text}");
    Ok(())
}

#[tokio::test]
async fn an_anonymous_caller_gets_401_with_the_endpoints_own_challenge() -> anyhow::Result<()> {
    let (gateway, _stop) = stdio_gateway("", Arc::new(SystemClock)).await?;
    let (base, issuer) = (format!("http://{HOST}"), "http://issuer.test");
    let resource = ResourceSpec {
        issuer: issuer.to_owned(),
        ..ResourceSpec::default()
    };
    let router = gateway.protected_router(&resource, &base)?;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    // Each endpoint is its own resource; `…/messages` belongs to its `…/sse`.
    let cases = [
        ("POST", "/mcp", "/mcp"),
        ("GET", "/sse", "/sse"),
        ("POST", "/messages?sessionId=x", "/sse"),
        ("POST", "/servers/stock/mcp", "/servers/stock/mcp"),
        ("GET", "/servers/stock/sse", "/servers/stock/sse"),
    ];
    for (method, path, resource) in cases {
        // No credentials, or another scheme's: 401 and the challenge. A `Bearer` with no
        // token is a malformed request (RFC 6750 §3.1): 400 `invalid_request`.
        let attempts = [
            (None, StatusCode::UNAUTHORIZED),
            (Some("Basic YWxpY2U6c2VjcmV0"), StatusCode::UNAUTHORIZED),
            (Some("Bearer"), StatusCode::BAD_REQUEST),
        ];
        for (authorization, expected) in attempts {
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header("host", HOST)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream");
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let body = if method == "POST" {
                serde_json::to_vec(&call)?
            } else {
                Vec::new()
            };
            let (status, headers, text) = send(&router, request.body(Body::from(body))?).await?;
            let case = format!("{method} {path} with {authorization:?}");
            assert_eq!(status, expected, "{case}: {text}");
            if expected == StatusCode::BAD_REQUEST {
                let refused: Value = serde_json::from_str(&text)?;
                assert_eq!(refused["error"], "invalid_request", "{case}: {text}");
                continue;
            }
            let challenge = header(&headers, "www-authenticate");
            let metadata = format!("{base}/.well-known/oauth-protected-resource{resource}");
            assert!(challenge.starts_with("Bearer "), "{case}: {challenge}");
            assert!(
                challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
                "{case}: {challenge}"
            );
        }
        // The metadata the challenge points at names this endpoint and the issuer.
        let well_known = format!("/.well-known/oauth-protected-resource{resource}");
        let request = Request::get(well_known.as_str())
            .header("host", HOST)
            .body(Body::empty())?;
        let (status, _, text) = send(&router, request).await?;
        assert_eq!(status, StatusCode::OK, "{well_known}: {text}");
        let metadata: Value = serde_json::from_str(&text)?;
        assert_eq!(metadata["resource"], format!("{base}{resource}"), "{text}");
        assert_eq!(metadata["authorization_servers"], json!([issuer]), "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn a_reload_swaps_the_limits_and_keeps_the_injected_clock() -> anyhow::Result<()> {
    let per_user = |per_minute: u32| {
        format!(
            "[http]\nrate_limit_status = \"http\"\n\
             [rate_limits]\nper_user = {{ per_minute = {per_minute}, burst = 1 }}\n"
        )
    };
    let clock = Arc::new(ManualClock::new());
    let (gateway, _stop) = stdio_gateway(&per_user(1), clock.clone()).await?;
    let router = gateway.router();
    let price = |id: u64| tool_call("/mcp", id, "stock__get_stock_price");
    let (status, _, text) = send(&router, price(1)?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, headers, _) = send(&router, price(2)?).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "retry-after"), "60");

    // Twice the rate: new buckets, full, on the same clock.
    let reloaded = gateway.reload(&spec(&stock_on_stdio(&per_user(2))?)?)?;
    assert!(reloaded.rate_limits, "{reloaded}");
    let (status, _, text) = send(&router, price(3)?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, headers, _) = send(&router, price(4)?).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "retry-after"), "30");
    // Only the injected clock refills them: on the system clock this would wait 30 s.
    clock.advance(Duration::from_secs(30));
    let (status, _, text) = send(&router, price(5)?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    Ok(())
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_gets_413_at_every_endpoint() -> anyhow::Result<()> {
    let (gateway, _stop) =
        stdio_gateway("[http]\nmax_body_bytes = 4096\n", Arc::new(SystemClock)).await?;
    let router = gateway.router();
    // No Content-Length: the body arrives in chunks, so only reading it finds it too large.
    let padding = "x".repeat(1024);
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "get_stock_price", "arguments": {"symbol": "AAPL", "note": padding}}});
    let bytes = serde_json::to_vec(&call)?;
    for path in ["/mcp", "/servers/stock/mcp", "/messages?sessionId=x"] {
        let body = Body::from_stream(futures::stream::iter(
            [
                bytes.clone(),
                bytes.clone(),
                bytes.clone(),
                bytes.clone(),
                bytes.clone(),
            ]
            .into_iter()
            .map(Ok::<_, std::io::Error>),
        ));
        let (status, headers, text) = send(&router, post(path, body)?).await?;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {text}");
        assert_eq!(
            header(&headers, "content-type"),
            "application/json",
            "{path}"
        );
        let refused = message(&text)?;
        assert_eq!(refused["error"]["code"], -32600, "{path}: {text}");
        let why = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(
            why.contains("4096") && why.contains("[gateway.http] max_body_bytes"),
            "{path}: {text}"
        );
    }
    // A body within the limit, streamed the same way, is read whole and answered.
    let small = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "oneshot", "version": "0"}}});
    let small = serde_json::to_vec(&small)?;
    let (left, right) = small.split_at(small.len() / 2);
    let body = Body::from_stream(futures::stream::iter(
        [left.to_vec(), right.to_vec()]
            .into_iter()
            .map(Ok::<_, std::io::Error>),
    ));
    let (status, _, text) = send(&router, post("/mcp", body)?).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        message(&text)?["result"]["serverInfo"].is_object(),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_upstream_name_lists_the_upstreams_only_when_no_sign_in_is_asked()
-> anyhow::Result<()> {
    let (gateway, _stop) = stdio_gateway("", Arc::new(SystemClock)).await?;
    let call = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))?;

    let open = gateway.router();
    let (status, _, text) = send(&open, post("/servers/nope/mcp", call.clone())?).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(
        text.contains("no upstream `nope`") && text.contains("stock"),
        "{text}"
    );

    // Behind sign-in, an anonymous caller learns no upstream's name from a wrong one, with
    // per-endpoint resources and with one resource for all.
    let base = format!("http://{HOST}");
    let per_endpoint = ResourceSpec {
        issuer: "http://issuer.test".to_owned(),
        ..ResourceSpec::default()
    };
    let shared = ResourceSpec {
        resource: Some(format!("{base}/mcp")),
        ..per_endpoint.clone()
    };
    for resource in [per_endpoint, shared] {
        let router = gateway.protected_router(&resource, &base)?;
        let (status, _, text) = send(&router, post("/servers/nope/mcp", call.clone())?).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
        assert!(text.contains("no upstream `nope`"), "{text}");
        assert!(!text.contains("stock"), "the name leaked: {text}");
        // The real endpoint still asks for a token.
        let (status, _, text) = send(&router, post("/servers/stock/mcp", call.clone())?).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    }
    Ok(())
}
