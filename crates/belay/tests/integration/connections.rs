//! `belay up` against abusive clients, over real sockets: request bodies that never arrive
//! are answered 408 on every route that reads one while others are served, and the limits
//! kept per address count each client address apart, believing `X-Forwarded-For` only from
//! a proxy listed in `[http] trusted_proxies`.

use std::net::SocketAddr;

use belay_mcp::testkit::raw::{FIRST, SECOND, exchange, read_to_close, stall_body, status_of};

use crate::support::*;

/// Starts `belay up` on a free port with `env` set; returns it and its address.
fn start_up_with(name: &str, env: &[(&str, &str)]) -> anyhow::Result<(Reaper, SocketAddr)> {
    let data = std::env::temp_dir().join(format!("belay-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut command = belay();
    command
        .args(["up", "--port", "0", "--json", "--data-dir"])
        .arg(&data)
        .env_remove("BELAY_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = Reaper(command.spawn()?);
    let info = first_json_line(&mut child.0)?;
    let gateway = info["gateway"]["url"].as_str().unwrap_or_default();
    let addr = gateway
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()?;
    Ok((child, addr))
}

/// Registers a public client from `local` with extra header lines `headers`; the status.
async fn register(local: std::net::IpAddr, addr: SocketAddr, headers: &str) -> anyhow::Result<u16> {
    let body =
        r#"{"redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none"}"#;
    let request = format!(
        "POST /register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{headers}\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(local, addr, &request).await?;
    status_of(&answer).ok_or_else(|| anyhow::anyhow!("no status: {answer}"))
}

const SPOOFED: &str = "X-Forwarded-For: 198.51.100.7\r\n";

#[tokio::test]
async fn up_cuts_off_bodies_that_never_arrive_and_keeps_a_bucket_per_client_address()
-> anyhow::Result<()> {
    let (_up, addr) = start_up_with(
        "slow",
        &[
            ("BELAY_GATEWAY__HTTP__REQUEST_TIMEOUT_SECS", "1"),
            ("BELAY_AUTH_SERVER__REGISTRATION_BURST", "1"),
            ("BELAY_AUTH_SERVER__REGISTRATION_PER_MINUTE", "1"),
        ],
    )?;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let json = "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";
    let routes = [
        ("/token", form, 408),
        ("/authorize", form, 408),
        ("/register", json, 408),
        ("/device", form, 408),
        ("/device_authorization", form, 408),
        // Without a token the gateway refuses at once, reading nothing.
        ("/mcp", json, 401),
        ("/servers/stock/mcp", json, 401),
    ];
    // From a third address, as registration charges its bucket before reading the body
    // (its one registration is the first stalled one; the next are refused at once).
    let third = std::net::IpAddr::from([127, 0, 0, 3]);
    let started = std::time::Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..10 {
        for (path, headers, status) in routes {
            let tcp = stall_body(third, addr, "POST", path, headers, b"{").await?;
            stalled.push((path, status, tcp));
        }
    }
    // Meanwhile a client is served.
    let metadata = format!(
        "GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let answer = exchange(FIRST, addr, &metadata).await?;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    // Whichever registration the server reaches first takes the address's one token (the
    // connections are served concurrently) and waits for its body; the other nine are refused.
    let mut registrations = Vec::new();
    for (path, status, mut tcp) in stalled {
        let (answer, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
        let status = if path == "/register" {
            let got = status_of(&answer).unwrap_or_default();
            registrations.push(got);
            if got == 429 { 429 } else { status }
        } else {
            status
        };
        assert_eq!(status_of(&answer), Some(status), "{path}: {answer}");
        assert!(closed, "{path}: the connection stayed open");
        if status == 408 {
            assert!(
                answer.contains(
                    "request body not received within 1 s ([gateway.http] request_timeout_secs)"
                ),
                "{path}: {answer}"
            );
        }
    }
    registrations.sort_unstable();
    assert_eq!(
        registrations,
        [408, 429, 429, 429, 429, 429, 429, 429, 429, 429]
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // One registration per address; a second client is not held back by the first, and
    // no proxy being trusted, a forwarding header changes nothing.
    assert_eq!(register(FIRST, addr, "").await?, 201);
    assert_eq!(register(FIRST, addr, "").await?, 429);
    assert_eq!(register(FIRST, addr, SPOOFED).await?, 429);
    assert_eq!(register(SECOND, addr, "").await?, 201);
    Ok(())
}

#[tokio::test]
async fn up_believes_x_forwarded_for_from_a_trusted_proxy_only() -> anyhow::Result<()> {
    let (_up, addr) = start_up_with(
        "proxied",
        &[
            ("BELAY_HTTP__TRUSTED_PROXIES", r#"["127.0.0.2"]"#),
            ("BELAY_AUTH_SERVER__REGISTRATION_BURST", "1"),
            ("BELAY_AUTH_SERVER__REGISTRATION_PER_MINUTE", "1"),
        ],
    )?;
    // Through the proxy: each forwarded client has its own bucket.
    assert_eq!(register(SECOND, addr, SPOOFED).await?, 201);
    assert_eq!(register(SECOND, addr, SPOOFED).await?, 429);
    let another = "X-Forwarded-For: 198.51.100.8\r\n";
    assert_eq!(register(SECOND, addr, another).await?, 201);
    // 127.0.0.1 is no proxy: its header is ignored, it is counted as itself.
    assert_eq!(
        register(FIRST, addr, "X-Forwarded-For: 198.51.100.9\r\n").await?,
        201
    );
    assert_eq!(
        register(FIRST, addr, "X-Forwarded-For: 198.51.100.10\r\n").await?,
        429
    );
    Ok(())
}

#[tokio::test]
async fn auth_serve_gets_the_same_front_as_up() -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("belay-cli-auth-front-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let mut auth = Reaper(
        belay()
            .args(["auth", "serve", "--port", "0", "--data-dir"])
            .arg(&data)
            .env_remove("BELAY_CONFIG")
            .env("BELAY_HTTP__TRUSTED_PROXIES", r#"["127.0.0.2"]"#)
            .env("BELAY_AUTH_SERVER__REGISTRATION_BURST", "1")
            .env("BELAY_AUTH_SERVER__REGISTRATION_PER_MINUTE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let issuer = stdout_line(&mut auth.0, "issuer")?;
    let addr: SocketAddr = issuer.trim_start_matches("http://").parse()?;
    assert_eq!(register(FIRST, addr, "").await?, 201);
    assert_eq!(register(FIRST, addr, SPOOFED).await?, 429);
    assert_eq!(register(SECOND, addr, SPOOFED).await?, 201);
    assert_eq!(register(SECOND, addr, SPOOFED).await?, 429);
    assert_eq!(register(SECOND, addr, "").await?, 201);
    Ok(())
}
