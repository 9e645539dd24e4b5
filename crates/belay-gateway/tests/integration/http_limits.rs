//! `[gateway.http]`: oversize and slow requests are refused with a status and a JSON-RPC
//! body naming the limit, slow and idle connections are closed by the server loop while
//! others are served, and a call over a concurrency cap gets HTTP 429 with `Retry-After`.
//! The gateway runs on `belay_mcp::http::run_with`, as `belay gateway serve` does, on
//! loopback. A rate-limited call's 429, which needs no socket, is tested in `edge`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{extract::Request, middleware::Next};
use belay_gateway::{Chain, Gateway, chain::RATE_LIMITED};
use belay_mcp::testkit::{
    Era, ScriptedClient, object,
    raw::{FIRST, SECOND, connect_from, read_to_close, stall_body, status_of},
    text_of,
};
use belay_policy::{Clock, ManualClock, SystemClock};
use belay_servers::ServerName;
use rmcp::{ServiceError, ServiceExt, model::CallToolRequestParams};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
    time::Instant,
};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::support::{
    ROBOT, ROBOT_SECRET, WAIT, http_toml, protected_gateway, reference, refusal, robot_issuer,
    serve, service_token, spec,
};

/// A gateway in front of the stock server, served by the real server loop.
struct Served {
    base: String,
    /// POSTs that reached the upstream.
    upstream_posts: Arc<AtomicUsize>,
    /// While set, the upstream waits for a permit of `release` before each POST.
    hold: Arc<AtomicBool>,
    release: Arc<Semaphore>,
    _gateway: DropGuard,
    _upstream: DropGuard,
}

/// Starts the stock server and a gateway configured by `extra` (standalone gateway TOML
/// after the upstream), with buckets timed by `clock`; returns once the upstream is up.
async fn start(extra: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Served> {
    let upstream_posts = Arc::new(AtomicUsize::new(0));
    let hold = Arc::new(AtomicBool::new(false));
    let release = Arc::new(Semaphore::new(0));
    let (count, held, gate) = (upstream_posts.clone(), hold.clone(), release.clone());
    let stock = reference(ServerName::Stock).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let post = request.method() == http::Method::POST;
            if post {
                count.fetch_add(1, Ordering::SeqCst);
            }
            let wait = (post && held.load(Ordering::SeqCst)).then(|| gate.clone());
            async move {
                if let Some(gate) = wait {
                    let _ = gate.acquire().await.map(|permit| permit.forget());
                }
                next.run(request).await
            }
        },
    ));
    let (stock, upstream) = serve(stock).await?;
    // No health pings, so every POST the upstream sees is a proxied request.
    let upstream_toml = http_toml("stock", &format!("{stock}/mcp"));
    let toml = format!("health_interval_secs = 0\n{upstream_toml}{extra}");
    let spec = spec(&toml)?;
    let chain = Chain::from_spec(&spec, clock, None)?;
    let stop = CancellationToken::new();
    let gateway = Gateway::start(spec, chain, stop.clone())?;
    let (listener, addr) = belay_mcp::http::bind("127.0.0.1:0").await?;
    tokio::spawn(belay_mcp::http::run_with(
        listener,
        gateway.router(),
        stop.clone(),
        gateway.server_options(),
    ));
    let status = gateway.wait_up("stock", 0, WAIT).await;
    anyhow::ensure!(
        status.is_some_and(|s| s.state == belay_gateway::upstream::UpstreamState::Up),
        "the stock upstream did not come up"
    );
    Ok(Served {
        base: format!("http://{addr}"),
        upstream_posts,
        hold,
        release,
        _gateway: stop.drop_guard(),
        _upstream: upstream,
    })
}

/// A 2026-07-28 `tools/call` (no session needed) with JSON-RPC id `id`.
fn tool_call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": tool, "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    })
}

/// POSTs `body` as a request of `tool` to `url`, on a new connection each time.
fn post(url: &str, tool: &str, body: reqwest::Body) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body)
}

/// The JSON-RPC message of a response: the body, or its one SSE event.
async fn message(response: reqwest::Response) -> anyhow::Result<Value> {
    let text = response.text().await?;
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or(&text);
    serde_json::from_str(json).map_err(|e| anyhow::anyhow!("{e}: {text}"))
}

/// Calls `tool` over raw HTTP; returns the status, `Retry-After` and JSON-RPC message.
async fn call(
    url: &str,
    id: u64,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<(u16, Option<String>, Value)> {
    let body = serde_json::to_vec(&tool_call(id, tool, arguments))?;
    let response = post(url, tool, body.into()).send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, retry_after, message(response).await?))
}

const PRICE: &str = "stock__get_stock_price";

#[tokio::test]
async fn an_oversize_body_gets_413_and_never_reaches_the_upstream() -> anyhow::Result<()> {
    let gw = start("[http]\nmax_body_bytes = 2048\n", Arc::new(SystemClock)).await?;
    let url = format!("{}/mcp", gw.base);
    let before = gw.upstream_posts.load(Ordering::SeqCst);

    // Declared length: refused before a byte of the body is read.
    let padding = "x".repeat(4096);
    let body = serde_json::to_vec(&tool_call(1, PRICE, json!({"symbol": padding})))?;
    let size = body.len();
    let response = post(&url, PRICE, body.into()).send().await?;
    assert_eq!(response.status().as_u16(), 413);
    let refused = message(response).await?;
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        format!("request body is {size} bytes; the limit is 2048 ([gateway.http] max_body_bytes)")
    );
    assert_eq!(refused["id"], Value::Null);

    // Chunked, no length: refused once the limit is passed.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = post(&url, PRICE, stream).send().await?;
    assert_eq!(response.status().as_u16(), 413);
    let refused = message(response).await?;
    let text = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        text.contains("over 2048 bytes") && text.contains("max_body_bytes"),
        "{refused}"
    );
    assert_eq!(
        gw.upstream_posts.load(Ordering::SeqCst),
        before,
        "reached the upstream"
    );

    // The gateway is fine: the next call, on a new connection, goes through.
    let (status, _, answer) = call(&url, 2, PRICE, json!({"symbol": "AAPL"})).await?;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["result"]["content"][0]["text"].is_string(),
        "{answer}"
    );
    assert!(gw.upstream_posts.load(Ordering::SeqCst) > before);
    Ok(())
}

#[tokio::test]
async fn oversize_headers_get_431() -> anyhow::Result<()> {
    let gw = start("[http]\nmax_header_bytes = 1024\n", Arc::new(SystemClock)).await?;
    let url = format!("{}/mcp", gw.base);
    let body = serde_json::to_vec(&tool_call(1, PRICE, json!({"symbol": "AAPL"})))?;

    // Over the limit: the router says which one.
    let response = post(&url, PRICE, body.clone().into())
        .header("x-padding", "p".repeat(2000))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 431);
    let refused = message(response).await?;
    let text = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("request headers are ")
            && text.ends_with("; the limit is 1024 ([gateway.http] max_header_bytes)"),
        "{refused}"
    );

    // Far over it: the server loop stops buffering and refuses outright.
    let response = post(&url, PRICE, body.clone().into())
        .header("x-padding", "p".repeat(64 * 1024))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status().as_u16(), 431),
        // Closing while the client still writes may reset the connection instead.
        Err(e) => assert!(e.is_request() || e.is_connect(), "{e}"),
    }

    let (status, _, answer) = call(&url, 2, PRICE, json!({"symbol": "AAPL"})).await?;
    assert_eq!(status, 200, "{answer}");
    Ok(())
}

#[tokio::test]
async fn a_slow_client_is_cut_off_while_others_are_served() -> anyhow::Result<()> {
    let gw = start(
        "[http]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 3\n",
        Arc::new(SystemClock),
    )
    .await?;
    let addr = gw.base.trim_start_matches("http://").to_owned();
    let url = format!("{}/mcp", gw.base);

    // Half a request head, then nothing.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(&addr).await?;
    stalled
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
        .await?;
    // One that dribbles its head a byte at a time is no better off.
    let mut dribbling = TcpStream::connect(&addr).await?;
    let dribble = tokio::spawn(async move {
        for byte in b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n".iter().cycle() {
            if dribbling.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    });

    // Meanwhile, others are served.
    let (status, _, answer) = call(&url, 1, PRICE, json!({"symbol": "AAPL"})).await?;
    assert_eq!(status, 200, "{answer}");

    let (_, closed) = read_to_close(&mut stalled, Duration::from_secs(5)).await;
    assert!(closed, "a stalled head kept its connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed too soon: {waited:?}"
    );
    let dribbled = tokio::time::timeout(Duration::from_secs(5), dribble).await??;
    assert!(
        dribbled < Duration::from_secs(4),
        "dribbled for {dribbled:?}"
    );

    // A kept-alive connection is not held to the header limit between requests, only to
    // the idle one.
    let mut idle = TcpStream::connect(&addr).await?;
    let request = b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    idle.write_all(request).await?;
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await?;
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    idle.write_all(request).await?;
    let n = idle.read(&mut buf).await?;
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 404"),
        "closed after the header limit"
    );
    let answered = Instant::now();
    let (_, closed) = read_to_close(&mut idle, Duration::from_secs(6)).await;
    assert!(closed, "an idle connection stayed open");
    assert!(
        answered.elapsed() >= Duration::from_millis(2900),
        "idle limit cut short"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_that_stalls_gets_408() -> anyhow::Result<()> {
    let gw = start("[http]\nrequest_timeout_secs = 1\n", Arc::new(SystemClock)).await?;
    let addr = gw.base.trim_start_matches("http://").to_owned();
    let before = gw.upstream_posts.load(Ordering::SeqCst);

    let mut tcp = TcpStream::connect(&addr).await?;
    tcp.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Accept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n{\"jsonrpc\":",
    )
    .await?;
    let started = Instant::now();
    let (answer, closed) = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .contains("request body not received within 1 s ([gateway.http] request_timeout_secs)"),
        "{answer}"
    );
    assert!(closed, "the connection of an unfinished body stayed open");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(gw.upstream_posts.load(Ordering::SeqCst), before);
    Ok(())
}

#[tokio::test]
async fn a_signed_in_body_that_stalls_gets_408_before_the_token_check_reads_it()
-> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _issuer = stop.clone().drop_guard();
    let issuer = robot_issuer(&stop).await?;
    let (stock, _upstream) = serve(reference(ServerName::Stock)).await?;
    let toml = format!(
        "auth = true\n{}[http]\nrequest_timeout_secs = 1\n",
        http_toml("stock", &format!("{stock}/mcp"))
    );
    let gw = protected_gateway(&toml, &issuer).await?;
    let token = service_token(&issuer, ROBOT, ROBOT_SECRET, &format!("{}/mcp", gw.base)).await?;
    let addr: std::net::SocketAddr = gw.base.trim_start_matches("http://").parse()?;
    let headers = format!(
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Authorization: Bearer {token}\r\n"
    );

    // The token is good, so the scope check goes on to read the body, which never comes.
    let started = Instant::now();
    let mut signed_in = stall_body(FIRST, addr, "POST", "/mcp", &headers, b"{\"jsonrpc\":").await?;
    // Without a token, the refusal needs no body: answered at once, connection closed.
    let anonymous = "Content-Type: application/json\r\n";
    let mut stranger = stall_body(FIRST, addr, "POST", "/mcp", anonymous, b"{").await?;
    let (answer, closed) = read_to_close(&mut stranger, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), Some(401), "{answer}");
    assert!(closed, "an anonymous unfinished body kept its connection");

    let (answer, closed) = read_to_close(&mut signed_in, Duration::from_secs(5)).await;
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    assert!(
        answer
            .contains("request body not received within 1 s ([gateway.http] request_timeout_secs)"),
        "{answer}"
    );
    assert!(closed, "the connection of an unfinished body stayed open");
    assert!(started.elapsed() >= Duration::from_millis(900));
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_sign_in_reads_it() -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let _issuer = stop.clone().drop_guard();
    let issuer = robot_issuer(&stop).await?;
    let (stock, _upstream) = serve(reference(ServerName::Stock)).await?;
    let toml = format!(
        "auth = true\n{}[http]\nmax_body_bytes = 512\nrequest_timeout_secs = 5\n",
        http_toml("stock", &format!("{stock}/mcp"))
    );
    let gw = protected_gateway(&toml, &issuer).await?;
    let addr: std::net::SocketAddr = gw.base.trim_start_matches("http://").parse()?;
    for path in ["/mcp", "/servers/stock/mcp"] {
        let token =
            service_token(&issuer, ROBOT, ROBOT_SECRET, &format!("{}{path}", gw.base)).await?;
        let headers = format!(
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Authorization: Bearer {token}\r\n"
        );
        // Announced as 1001 bytes, over 512: refused at once, not after waiting for it (the
        // scope check used to read up to 4 MiB whatever the limit).
        let started = Instant::now();
        let mut stalled = stall_body(FIRST, addr, "POST", path, &headers, b"{").await?;
        let (answer, closed) = read_to_close(&mut stalled, Duration::from_secs(4)).await;
        assert_eq!(status_of(&answer), Some(413), "{path}: {answer}");
        assert!(answer.contains("max_body_bytes"), "{answer}");
        assert!(closed, "the connection of an unread body stayed open");
        assert!(started.elapsed() < Duration::from_secs(2), "{path}");
        // Sent in chunks, with no length announced: refused once it passes the limit.
        let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(2000));
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Transfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        );
        let answer = belay_mcp::testkit::raw::exchange(FIRST, addr, &request).await?;
        assert_eq!(status_of(&answer), Some(413), "{path}: {answer}");
    }
    Ok(())
}

#[tokio::test]
async fn connections_per_address_are_capped_as_configured() -> anyhow::Result<()> {
    let gw = start(
        "[http]\nmax_connections_per_address = 2\n",
        Arc::new(SystemClock),
    )
    .await?;
    let addr: std::net::SocketAddr = gw.base.trim_start_matches("http://").parse()?;
    let request = format!("GET /nowhere HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from(FIRST, addr).await?;
        tcp.write_all(request.as_bytes()).await?;
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await?;
        assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), Some(404));
        held.push(tcp);
    }
    let mut third = connect_from(FIRST, addr).await?;
    let (answer, closed) = read_to_close(&mut third, Duration::from_secs(5)).await;
    assert!(closed, "a third connection was kept");
    assert_eq!(status_of(&answer), Some(503), "{answer}");
    assert!(
        answer.contains("2 open at most ([gateway.http] max_connections_per_address)"),
        "{answer}"
    );
    // Others are still served.
    let url = format!("{}/mcp", gw.base);
    let body = serde_json::to_vec(&tool_call(1, PRICE, json!({"symbol": "AAPL"})))?;
    let response = reqwest::Client::builder()
        .local_address(SECOND)
        .build()?
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", PRICE)
        .body(body)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    drop(held);
    Ok(())
}

/// 3 calls at once, then one every 10 s, for the stock price tool only.
const PRICE_LIMIT: &str = "[rate_limits]\ntools = [{ upstream = \"stock\", name = \
                           \"get_stock_price\", per_minute = 6, burst = 3 }]\n";

#[tokio::test]
async fn a_call_over_the_concurrency_cap_gets_429_while_the_slot_is_held() -> anyhow::Result<()> {
    let gw = start("[rate_limits]\nmax_concurrent = 1\n", Arc::new(SystemClock)).await?;
    let url = format!("{}/mcp", gw.base);
    let symbol = json!({"symbol": "AAPL"});

    // A call the upstream holds: the front's admission must stay with it until it returns.
    gw.hold.store(true, Ordering::SeqCst);
    let before = gw.upstream_posts.load(Ordering::SeqCst);
    let slow = tokio::spawn({
        let (url, symbol) = (url.clone(), symbol.clone());
        async move { call(&url, 1, PRICE, symbol).await }
    });
    let deadline = Instant::now() + WAIT;
    while gw.upstream_posts.load(Ordering::SeqCst) == before {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the held call never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, retry_after, refused) = call(&url, 2, PRICE, symbol.clone()).await?;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(refused["id"], 2);
    assert_eq!(refused["error"]["code"], RATE_LIMITED);

    gw.hold.store(false, Ordering::SeqCst);
    gw.release.add_permits(1);
    let (status, _, answer) = slow.await??;
    assert_eq!(status, 200, "{answer}");
    let (status, _, answer) = call(&url, 3, PRICE, symbol).await?;
    assert_eq!(status, 200, "the slot was given back: {answer}");
    Ok(())
}

#[tokio::test]
async fn rmcp_clients_see_429_as_an_error_and_keep_their_session() -> anyhow::Result<()> {
    let clock = Arc::new(ManualClock::new());
    let gw = start(PRICE_LIMIT, clock.clone()).await?;
    let transport =
        rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", gw.base));
    let client = ScriptedClient::new(Era::Handshake).serve(transport).await?;
    let price = || {
        client.call_tool(
            CallToolRequestParams::new(PRICE).with_arguments(object(json!({"symbol": "MSFT"}))),
        )
    };
    for _ in 0..3 {
        let result = price().await?;
        assert!(
            text_of(&result).parse::<f64>().is_ok(),
            "{}",
            text_of(&result)
        );
    }
    let refused = price()
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a 4th call went through"))?;
    let shown = format!("{refused}");
    assert!(
        matches!(refused, ServiceError::TransportSend(_)) && shown.contains("429"),
        "{refused:?}"
    );

    // Same session, after the wait: it works again.
    clock.advance(Duration::from_secs(10));
    let result = price().await?;
    assert!(
        text_of(&result).parse::<f64>().is_ok(),
        "{}",
        text_of(&result)
    );
    client.cancel().await?;
    Ok(())
}

#[test]
fn a_zero_limit_is_reported_by_check() {
    let error = refusal("[http]\nrequest_timeout_secs = 0\n");
    assert!(
        error.contains("request_timeout_secs must be at least 1"),
        "{error}"
    );
    assert!(error.starts_with("line 2"), "{error}");
    let error = refusal("[http]\nmax_connections_per_address = 0\n");
    assert!(
        error.contains("max_connections_per_address must be at least 1"),
        "{error}"
    );
    let unknown = refusal("[http]\nmax_body = 1\n");
    assert!(unknown.contains("unknown field"), "{unknown}");
}
