//! The authorization server on Belay's server loop (`serve_with`), over real loopback
//! sockets: a body that never arrives is answered 408 on every POST route while others
//! are served, and limits per address count each client address apart, believing a
//! forwarding header only from a trusted proxy.

use std::{net::IpAddr, sync::Arc, time::Duration};

use belay_auth_server::{AuthServer, ManualClock, Settings};
use belay_mcp::{
    http::{ForwardedHeader, HttpServerOptions, TrustedProxies},
    testkit::raw::{FIRST, SECOND, body_of, read_to_close, stall_body, status_of},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::support::REDIRECT;

struct Served {
    base: String,
    addr: std::net::SocketAddr,
    /// The server's clock: buckets refill only when a test moves it.
    clock: ManualClock,
    _stop: DropGuard,
}

/// An authorization server with `settings` tuned, served by `serve_with` with `options`.
async fn serve(
    tune: impl FnOnce(&mut Settings),
    options: HttpServerOptions,
) -> anyhow::Result<Served> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let mut settings = Settings::for_issuer(&base)?;
    tune(&mut settings);
    let clock = ManualClock::new();
    let server = AuthServer::new(
        belay_store::Db::in_memory()?,
        settings,
        Arc::new(clock.clone()),
    )?;
    let stop = CancellationToken::new();
    tokio::spawn(belay_auth_server::serve_with(
        listener,
        server.router(),
        stop.clone(),
        options,
    ));
    Ok(Served {
        base,
        addr,
        clock,
        _stop: stop.drop_guard(),
    })
}

const FORM: &str = "Content-Type: application/x-www-form-urlencoded\r\n";
const JSON: &str = "Content-Type: application/json\r\n";

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_on_every_post_route_while_others_are_served()
-> anyhow::Result<()> {
    let timeout = Duration::from_secs(2);
    let options = HttpServerOptions {
        body_read_timeout: timeout,
        ..HttpServerOptions::default()
    };
    let served = serve(|_| {}, options).await?;
    // `/userinfo` reads no body: it refuses the missing token at once, and the unread body
    // must not keep the connection either.
    let routes = [
        ("/token", FORM, 408),
        ("/authorize", FORM, 408),
        ("/register", JSON, 408),
        ("/revoke", FORM, 408),
        ("/introspect", FORM, 408),
        ("/userinfo", FORM, 401),
        ("/device_authorization", FORM, 408),
        ("/device", FORM, 408),
    ];
    let started = Instant::now();
    let mut stalled = Vec::new();
    // Several per route, as a flood would.
    for _ in 0..5 {
        for (path, headers, status) in routes {
            let tcp = stall_body(FIRST, served.addr, "POST", path, headers, b"grant_type=").await?;
            stalled.push((path, status, tcp));
        }
    }
    // Meanwhile a client registers, from the same address.
    let response = reqwest::Client::new()
        .post(format!("{}/register", served.base))
        .json(&json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        started.elapsed() < timeout,
        "registration waited for the slow ones"
    );

    for (path, status, mut tcp) in stalled {
        let (answer, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
        assert_eq!(status_of(&answer), Some(status), "{path}: {answer}");
        assert!(closed, "{path}: the connection stayed open");
        if status == 408 {
            let body: Value = serde_json::from_str(body_of(&answer))?;
            assert_eq!(
                body["error"]["message"], "request body not received within 2 s",
                "{path}: {body}"
            );
        }
    }
    assert!(started.elapsed() >= timeout - Duration::from_millis(100));
    Ok(())
}

/// A client whose connections come from `local`.
fn client_from(local: IpAddr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().local_address(local).build()?)
}

/// Registers a public client from `local`, with `headers`; returns the status.
async fn register(
    served: &Served,
    local: IpAddr,
    headers: &[(&str, &str)],
) -> anyhow::Result<StatusCode> {
    let mut request = client_from(local)?
        .post(format!("{}/register", served.base))
        .json(&json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(request.send().await?.status())
}

#[tokio::test]
async fn each_address_has_its_own_registration_and_user_code_buckets() -> anyhow::Result<()> {
    let served = serve(
        |settings| {
            settings.registration_burst = 2;
            settings.registration_per_minute = 1;
        },
        HttpServerOptions::default(),
    )
    .await?;
    for _ in 0..2 {
        assert_eq!(register(&served, FIRST, &[]).await?, StatusCode::CREATED);
    }
    assert_eq!(
        register(&served, FIRST, &[]).await?,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client is not held back by the first one's registrations.
    assert_eq!(register(&served, SECOND, &[]).await?, StatusCode::CREATED);
    // One a minute: the server's clock, not the time the test takes, refills the bucket.
    served.clock.advance_secs(59);
    assert_eq!(
        register(&served, FIRST, &[]).await?,
        StatusCode::TOO_MANY_REQUESTS
    );
    served.clock.advance_secs(1);
    assert_eq!(register(&served, FIRST, &[]).await?, StatusCode::CREATED);

    // User-code lookups at /device: ten per address.
    let base = &served.base;
    let lookup = |local| async move {
        let url = format!("{base}/device?user_code=BCDF-GHJK");
        anyhow::Ok(client_from(local)?.get(url).send().await?.status())
    };
    for _ in 0..10 {
        assert_eq!(lookup(FIRST).await?, StatusCode::BAD_REQUEST);
    }
    assert_eq!(lookup(FIRST).await?, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(lookup(SECOND).await?, StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn a_forwarded_address_counts_only_from_a_trusted_proxy() -> anyhow::Result<()> {
    let options = HttpServerOptions {
        trusted_proxies: TrustedProxies::new(
            vec!["127.0.0.2/32".parse()?],
            ForwardedHeader::XForwardedFor,
        ),
        ..HttpServerOptions::default()
    };
    let served = serve(
        |settings| {
            settings.registration_burst = 1;
            settings.registration_per_minute = 1;
        },
        options,
    )
    .await?;
    assert_eq!(register(&served, FIRST, &[]).await?, StatusCode::CREATED);
    // 127.0.0.1 is no proxy: claiming to forward for someone else changes nothing.
    let spoofed = [("x-forwarded-for", "198.51.100.7")];
    assert_eq!(
        register(&served, FIRST, &spoofed).await?,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The trusted proxy's word is taken: a new client gets its own bucket…
    assert_eq!(
        register(&served, SECOND, &spoofed).await?,
        StatusCode::CREATED
    );
    // …a client whose bucket is spent stays spent behind the proxy, even with an address
    // of its own choosing written in front of it…
    let behind = [("x-forwarded-for", "10.9.9.9, 198.51.100.7")];
    assert_eq!(
        register(&served, SECOND, &behind).await?,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …and every other client behind the proxy has its own bucket.
    let another = [("x-forwarded-for", "198.51.100.8")];
    assert_eq!(
        register(&served, SECOND, &another).await?,
        StatusCode::CREATED
    );
    Ok(())
}
