//! The 2024-11-05 HTTP+SSE transport on both sides of the gateway: a legacy SSE server as
//! an upstream (with its own credential, reconnected after a restart), and legacy SSE
//! clients on `/sse` (elicitation both ways, sign-in at the edge, the caller reaching policy).
//! The client side is belay-client's transport under rmcp's client; the server side is
//! belay-mcp's, so each is checked against code that did not write the other half.

use std::net::SocketAddr;

use axum::{extract::Request, middleware::Next, response::Response};
use belay_client::legacy_sse::LegacySseTransport;
use belay_gateway::upstream::UpstreamState;
use belay_mcp::testkit::{Client, Era, ScriptedClient, object, text_of};
use belay_servers::ServerName;
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, SubscribeRequestParams, UnsubscribeRequestParams},
};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    lab::{DOC, Lab, Recorder},
    policy::call,
    support::{
        self, RobotGateway, Seen, gateway, header, http_upstream, one_upstream, post_call,
        signed_in_as, ticker_info_answered, week_range_person,
    },
};

const UPSTREAM_TOKEN: &str = "the-sse-upstreams-own-token";
const CLIENT_TOKEN: &str = "client-token-for-the-gateway-only";

/// The stock server on legacy SSE (`/sse`, `/messages`) at a loopback address, recording
/// `METHOD Authorization` of every request.
struct SseUpstream {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<Result<(), belay_mcp::Error>>,
}

impl SseUpstream {
    /// Starts it on `addr` (port 0 for a free one).
    async fn start(addr: &str, seen: Seen) -> anyhow::Result<Self> {
        let stop = CancellationToken::new();
        let router = belay_mcp::legacy_sse::router(
            belay_servers::stock::StockServer::new(),
            "/sse",
            "/messages",
            stop.clone(),
        )
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let seen = seen.clone();
                async move {
                    let auth = request
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap_or("<binary>").to_owned())
                        .unwrap_or_else(|| "-".into());
                    if let Ok(mut seen) = seen.lock() {
                        seen.push(format!("{} {auth}", request.method()));
                    }
                    let response: Response = next.run(request).await;
                    response
                }
            },
        ));
        let (listener, addr) = belay_mcp::http::bind(addr).await?;
        let task = tokio::spawn(belay_mcp::http::run(listener, router, stop.clone()));
        Ok(Self { addr, stop, task })
    }

    fn url(&self) -> String {
        format!("http://{}/sse", self.addr)
    }

    /// Ends its sessions and stops listening; the port is free afterwards.
    async fn kill(self) -> anyhow::Result<SocketAddr> {
        self.stop.cancel();
        self.task.await??;
        Ok(self.addr)
    }
}

/// A legacy SSE client of the gateway at `url` (`…/sse`), presenting `token` if any.
async fn legacy_client(
    url: &str,
    person: ScriptedClient,
    token: Option<&str>,
) -> anyhow::Result<Client> {
    let mut builder = LegacySseTransport::builder(url);
    if let Some(token) = token {
        builder = builder.bearer(token);
    }
    Ok(person.serve(builder.connect().await?).await?)
}

fn price(symbol: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("stock__get_stock_price")
        .with_arguments(object(json!({ "symbol": symbol })))
}

#[tokio::test]
async fn an_sse_upstream_is_federated_with_its_own_credential_and_reconnects() -> anyhow::Result<()>
{
    let seen = Seen::default();
    let upstream = SseUpstream::start("127.0.0.1:0", seen.clone()).await?;
    let secret = tempfile::NamedTempFile::new()?;
    std::fs::write(secret.path(), format!("{UPSTREAM_TOKEN}\n"))?;
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "stock"
transport = {{ type = "sse", url = "{}" }}
credentials = {{ type = "bearer", secret = {{ file = "{}" }} }}
"#,
        upstream.url(),
        secret.path().display()
    ))
    .await?;
    let generation = gw.up("stock").await?;

    // The client presents its own token to the gateway; it must stay there.
    let person = week_range_person(true);
    let client = signed_in_as(person.clone(), &format!("{}/mcp", gw.base), CLIENT_TOKEN).await?;
    let tools = client.list_all_tools().await?;
    assert!(
        tools.iter().any(|t| t.name == "stock__get_ticker_info"),
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    let result = client.call_tool(price("AAPL")).await?;
    assert!(text_of(&result).contains("150.25"), "{}", text_of(&result));
    // The upstream's question travels on its SSE stream, the answer in a POST.
    ticker_info_answered(&client, &person, "stock__", true).await?;

    let heard = support::heard(&seen);
    let bearer = format!("Bearer {UPSTREAM_TOKEN}");
    assert!(heard.contains(&format!("GET {bearer}")), "{heard:?}");
    assert!(heard.contains(&format!("POST {bearer}")), "{heard:?}");
    assert!(
        heard.iter().all(|h| h.ends_with(&bearer)),
        "only the upstream's own credential, on every request: {heard:?}"
    );

    // Killed and started again on the same port: the supervisor reconnects.
    let addr = upstream.kill().await?;
    gw.until("stock", |s| s.state != UpstreamState::Up).await?;
    let error = client
        .call_tool(price("MSFT"))
        .await
        .expect_err("the upstream is down");
    assert!(error.to_string().contains("upstream `stock`"), "{error}");
    let _upstream = SseUpstream::start(&addr.to_string(), seen.clone()).await?;
    gw.up_after("stock", generation).await?;
    let result = client.call_tool(price("AAPL")).await?;
    assert!(text_of(&result).contains("150.25"), "{}", text_of(&result));
    client.cancel().await?;

    let heard = support::heard(&seen);
    assert!(!heard.iter().any(|h| h.contains(CLIENT_TOKEN)), "{heard:?}");
    assert!(heard.iter().all(|h| h.ends_with(&bearer)), "{heard:?}");
    Ok(())
}

#[tokio::test]
async fn a_legacy_sse_client_calls_through_the_gateway_and_answers_elicitation()
-> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let gw = one_upstream("stock", &stock).await?;
    for include in [true, false] {
        let person = week_range_person(include);
        let client = legacy_client(&format!("{}/sse", gw.base), person.clone(), None).await?;
        let tools = client.list_all_tools().await?;
        assert!(tools.iter().any(|t| t.name == "stock__get_ticker_info"));
        ticker_info_answered(&client, &person, "stock__", include).await?;
        client.cancel().await?;
    }

    // One upstream's own legacy endpoint: its tools unprefixed.
    let client = legacy_client(
        &format!("{}/servers/stock/sse", gw.base),
        ScriptedClient::new(Era::Handshake),
        None,
    )
    .await?;
    let price = call(&client, "get_stock_price", json!({"symbol": "AAPL"})).await?;
    assert!(price.contains("150.25"), "{price}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
#[allow(deprecated)] // resources/subscribe is deprecated by SEP-2577 but still served.
async fn legacy_sse_sessions_keep_their_own_subscriptions() -> anyhow::Result<()> {
    let (lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let listen = || async {
        let recorder = Recorder::new(ScriptedClient::new(Era::Handshake));
        let transport = LegacySseTransport::builder(format!("{}/sse", gw.base))
            .connect()
            .await?;
        let client = recorder.clone().serve(transport).await?;
        anyhow::Ok((recorder, client))
    };
    let touch = || CallToolRequestParams::new("lab__touch");
    let (alice, a) = listen().await?;
    let (bob, b) = listen().await?;

    // Two legacy sessions have no Mcp-Session-Id; each must still be told apart.
    a.subscribe(SubscribeRequestParams::new(DOC)).await?;
    b.subscribe(SubscribeRequestParams::new(DOC)).await?;
    a.unsubscribe(UnsubscribeRequestParams::new(DOC)).await?;
    a.call_tool(touch()).await?;
    bob.wait(|h| h.updated.len() == 1).await?;
    assert!(alice.heard().updated.is_empty(), "alice unsubscribed");
    b.unsubscribe(UnsubscribeRequestParams::new(DOC)).await?;
    lab.wait(|s| s.subscriptions.len() == 2).await?;
    assert_eq!(lab.seen().subscriptions, vec![1, -1]);
    a.cancel().await?;
    b.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn legacy_sse_needs_a_token_and_its_caller_reaches_policy() -> anyhow::Result<()> {
    let world = RobotGateway::start().await?;
    let base = &world.gw.base;

    // No token: both legacy routes answer 401 naming the metadata of `/sse`, its own
    // resource: an SSE client given `…/sse` checks that the metadata names that URL
    // (RFC 9728 §3.3), and `/messages` belongs to the same session.
    let http = reqwest::Client::new();
    let get = http
        .get(format!("{base}/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await?;
    let post = post_call(
        &format!("{base}/messages?sessionId=x"),
        None,
        "tools/list",
        json!({}),
    )
    .await?;
    let metadata = format!("{base}/.well-known/oauth-protected-resource/sse");
    for refused in [get, post] {
        assert_eq!(refused.status(), 401, "{}", refused.url());
        let challenge = header(&refused, "www-authenticate");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
            "{challenge}"
        );
    }
    let document: serde_json::Value = http.get(&metadata).send().await?.json().await?;
    assert_eq!(document["resource"], format!("{base}/sse"));
    // The same for an upstream's own SSE endpoint.
    let stock_metadata = format!("{base}/.well-known/oauth-protected-resource/servers/stock/sse");
    let document: serde_json::Value = http.get(&stock_metadata).send().await?.json().await?;
    assert_eq!(document["resource"], format!("{base}/servers/stock/sse"));
    let error = LegacySseTransport::builder(format!("{base}/sse"))
        .connect()
        .await
        .expect_err("no token");
    assert!(error.to_string().contains("401"), "{error}");

    // A token for `/mcp` opens `/mcp`, not `/sse`.
    let streamable = world.token().await?;
    let error = LegacySseTransport::builder(format!("{base}/sse"))
        .bearer(streamable.clone())
        .connect()
        .await
        .expect_err("a token for another resource");
    assert!(error.to_string().contains("401"), "{error}");

    // A token for `/sse` itself.
    let token = support::service_token(
        &world.issuer,
        support::ROBOT,
        support::ROBOT_SECRET,
        &format!("{base}/sse"),
    )
    .await?;
    let client = legacy_client(
        &format!("{base}/sse"),
        ScriptedClient::new(Era::Handshake),
        Some(&token),
    )
    .await?;
    world.compare_and_check(client, &token).await
}
