//! The server loop against abusive clients, over real loopback sockets: bodies that never
//! arrive are answered 408 and closed while others are served, connections per address are
//! capped, and every request knows its client's address (through trusted proxies only).

use std::{net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo, routing::get};
use belay_mcp::{
    http::{self, ForwardedHeader, HttpServerOptions, TrustedProxies},
    testkit::raw::{
        FIRST, SECOND, body_of, connect_from, exchange, read_to_close, stall_body, status_of,
    },
};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, time::Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::probe::Probe;

/// Serves `router` with `options` on a free loopback port, by the plain loop or on
/// `shards` shards.
async fn start(
    router: Router,
    options: HttpServerOptions,
    shards: usize,
) -> anyhow::Result<(SocketAddr, DropGuard)> {
    let shutdown = CancellationToken::new();
    let (listener, addr) = http::bind("127.0.0.1:0").await?;
    let stop = shutdown.clone();
    if shards > 1 {
        tokio::spawn(http::run_sharded(listener, router, stop, shards, options));
    } else {
        tokio::spawn(http::run_with(listener, router, stop, options));
    }
    Ok((addr, shutdown.drop_guard()))
}

const MCP_HEADERS: &str =
    "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";

fn initialize_request(addr: SocketAddr) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}})
    .to_string();
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\n{MCP_HEADERS}Connection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn bodies_that_never_arrive_get_408_and_lose_their_connection_while_others_are_served()
-> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let router = http::streamable_router(Probe::new(), "/mcp", false, shutdown.clone())
        .merge(http::sse_router(Probe::new(), shutdown.clone()));
    let router = http::guarded(router, Default::default());
    let timeout = Duration::from_millis(2500);
    let options = HttpServerOptions {
        body_read_timeout: timeout,
        ..HttpServerOptions::default()
    };
    let (addr, _server) = start(router, options, 1).await?;

    // Many requests whose head is complete and whose body stops early, on every POST route.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..40 {
        let path = if i % 2 == 0 {
            "/mcp"
        } else {
            "/messages?sessionId=x"
        };
        stalled.push(stall_body(FIRST, addr, "POST", path, MCP_HEADERS, b"{\"jsonrpc\":").await?);
    }
    // One that keeps sending, a byte at a time, is held to the same deadline.
    let mut dribbling = stall_body(FIRST, addr, "POST", "/mcp", MCP_HEADERS, b"{").await?;
    let dribble = tokio::spawn(async move {
        while dribbling.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // A legitimate request from the same address is answered meanwhile.
    let answer = exchange(FIRST, addr, &initialize_request(addr)).await?;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(
        started.elapsed() < timeout,
        "the legitimate request waited for the slow ones"
    );

    for (i, mut tcp) in stalled.into_iter().enumerate() {
        let (answer, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
        assert_eq!(status_of(&answer), Some(408), "request {i}: {answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        let body: Value = serde_json::from_str(body_of(&answer))?;
        assert_eq!(body["error"]["code"], -32600, "{body}");
        assert_eq!(
            body["error"]["message"], "request body not received within 2500 ms",
            "{body}"
        );
        assert!(closed, "request {i}: the connection stayed open");
    }
    assert!(
        started.elapsed() >= timeout - Duration::from_millis(100),
        "cut off before the deadline: {:?}",
        started.elapsed()
    );
    // The dribbler's writes fail once the server has closed its connection.
    tokio::time::timeout(Duration::from_secs(10), dribble).await??;
    Ok(())
}

#[tokio::test]
async fn a_body_that_arrives_in_time_is_served_however_long_the_answer_takes() -> anyhow::Result<()>
{
    // The deadline is for the body: a handler slower than it still answers.
    let router = Router::new().route(
        "/slow",
        axum::routing::post(|body: String| async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            body
        }),
    );
    let options = HttpServerOptions {
        body_read_timeout: Duration::from_millis(300),
        ..HttpServerOptions::default()
    };
    let (addr, _server) = start(router, options, 1).await?;
    let request = format!(
        "POST /slow HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
    );
    let answer = exchange(FIRST, addr, &request).await?;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");
    Ok(())
}

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

fn get_hello(addr: SocketAddr, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET /hello HTTP/1.1\r\nHost: {addr}\r\n{connection}\r\n")
}

/// Opens a connection from `from`, has one request answered on it, and keeps it open.
async fn hold_one(
    from: std::net::IpAddr,
    addr: SocketAddr,
) -> anyhow::Result<tokio::net::TcpStream> {
    use tokio::io::AsyncReadExt;
    let mut tcp = connect_from(from, addr).await?;
    tcp.write_all(get_hello(addr, false).as_bytes()).await?;
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await??;
    let answer = String::from_utf8_lossy(&buf[..n]);
    anyhow::ensure!(status_of(&answer) == Some(200), "{answer}");
    Ok(tcp)
}

#[tokio::test]
async fn connections_per_address_are_capped_on_every_variant_of_the_loop() -> anyhow::Result<()> {
    for shards in [1, 2] {
        let options = HttpServerOptions {
            max_connections_per_address: Some(4),
            ..HttpServerOptions::default()
        };
        let (addr, _server) = start(hello(), options, shards).await?;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(hold_one(FIRST, addr).await?);
        }
        // The fifth from the same address is refused at once.
        let mut extra = connect_from(FIRST, addr).await?;
        let _ = extra.write_all(get_hello(addr, true).as_bytes()).await;
        let (answer, closed) = read_to_close(&mut extra, Duration::from_secs(5)).await;
        assert!(closed, "shards {shards}: the fifth connection stayed open");
        assert!(
            answer.is_empty() || status_of(&answer) == Some(503),
            "shards {shards}: {answer}"
        );
        if !answer.is_empty() {
            assert!(
                answer.contains("too many connections from this address"),
                "{answer}"
            );
        }

        // Another address is served.
        let answer = exchange(SECOND, addr, &get_hello(addr, true)).await?;
        assert_eq!(status_of(&answer), Some(200), "shards {shards}: {answer}");

        // Once one closes, the first address is served again.
        drop(held.pop());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answer = exchange(FIRST, addr, &get_hello(addr, true)).await;
            if answer.as_deref().ok().and_then(status_of) == Some(200) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "shards {shards}: still refused after a connection closed: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// A route that answers with the peer and the client address the loop gave the request.
fn who() -> Router {
    Router::new().route(
        "/who",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>, request: axum::extract::Request| async move {
            let client = http::client_ip(request.extensions());
            json!({ "peer": peer.ip().to_string(), "client": client.map(|c| c.to_string()) })
                .to_string()
        }),
    )
}

async fn ask_who(from: std::net::IpAddr, addr: SocketAddr, headers: &str) -> anyhow::Result<Value> {
    let request =
        format!("GET /who HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    let answer = exchange(from, addr, &request).await?;
    anyhow::ensure!(status_of(&answer) == Some(200), "{answer}");
    Ok(serde_json::from_str(body_of(&answer))?)
}

#[tokio::test]
async fn every_request_knows_its_client_and_only_trusted_proxies_may_name_another()
-> anyhow::Result<()> {
    let spoof = "X-Forwarded-For: 203.0.113.7\r\n";
    for shards in [1, 2] {
        // No proxy trusted: the peer, whatever the header says.
        let (addr, _server) = start(who(), HttpServerOptions::default(), shards).await?;
        for from in [FIRST, SECOND] {
            let seen = ask_who(from, addr, spoof).await?;
            assert_eq!(seen["peer"], from.to_string(), "shards {shards}");
            assert_eq!(seen["client"], from.to_string(), "shards {shards}: {seen}");
        }

        // 127.0.0.2 is a trusted proxy: its header is believed, the other peer's is not.
        let options = HttpServerOptions {
            trusted_proxies: TrustedProxies::new(
                vec!["127.0.0.2/32".parse()?],
                ForwardedHeader::XForwardedFor,
            ),
            ..HttpServerOptions::default()
        };
        let (addr, _server) = start(who(), options, shards).await?;
        let seen = ask_who(SECOND, addr, spoof).await?;
        assert_eq!(seen["peer"], "127.0.0.2");
        assert_eq!(seen["client"], "203.0.113.7", "shards {shards}: {seen}");
        let seen = ask_who(FIRST, addr, spoof).await?;
        assert_eq!(seen["client"], "127.0.0.1", "shards {shards}: {seen}");
    }
    Ok(())
}
