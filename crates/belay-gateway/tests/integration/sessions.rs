//! The gateway's downstream sessions belong to whoever opened them: on `/mcp`, on
//! `/servers/NAME/mcp` and on legacy `/sse`, another person's token naming a session gets
//! the 404 of a session that does not exist, and the owner's session carries on; a DELETE
//! by the owner answers 204.

use belay_client::{FormAgent, SignIn, SignInOptions};
use belay_servers::ServerName;
use futures::StreamExt;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Running, http_toml, http_upstream, protected_gateway};

pub(crate) const ALICE: (&str, &str) = ("alice", "alice's long passphrase");
const BOB: (&str, &str) = ("bob", "bob's long passphrase");

/// A token for the endpoint `url` as `person`, signed in through the form.
pub(crate) async fn token(url: &str, (user, password): (&str, &str)) -> anyhow::Result<String> {
    let options = SignInOptions {
        client_name: format!("{user}'s app"),
        user_agent: std::sync::Arc::new(FormAgent::new(user, password)?),
        allow_private_addresses: true,
        ..SignInOptions::default()
    };
    Ok(SignIn::new(url, options)?.sign_in(None, None).await?)
}

/// The authorization server with alice and bob, the weather server and a gateway in front
/// requiring sign-in; everything stops with the returned token.
pub(crate) async fn world() -> anyhow::Result<(Running, CancellationToken)> {
    let stop = CancellationToken::new();
    let (issuer, server) = belay_auth_server::spawn_ephemeral(|_| {}, |r| r, stop.clone()).await?;
    for (user, password) in [ALICE, BOB] {
        server.users().add(user, password, None, None)?;
    }
    let (weather, _, upstream) = http_upstream(ServerName::Weather).await?;
    // The upstream lives as long as the world.
    tokio::spawn({
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            drop(upstream);
        }
    });
    let gw = protected_gateway(
        &format!("auth = true\n{}", http_toml("weather", &weather)),
        &issuer,
    )
    .await?;
    gw.up("weather").await?;
    Ok((gw, stop))
}

/// One request to the Streamable HTTP endpoint `url` with `token`, in `session` if any:
/// status, headers and body (nothing of a stream that stays open).
async fn send(
    url: &str,
    method: Method,
    token: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, HeaderMap, String)> {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let (status, headers) = (response.status(), response.headers().clone());
    let open_stream = status == StatusCode::OK && headers.get("content-length").is_none();
    let text = match open_stream {
        true => String::new(),
        false => response.text().await?,
    };
    Ok((status, headers, text))
}

fn tools_list(id: u32) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

#[tokio::test]
async fn another_persons_token_cannot_use_end_or_see_a_session_at_any_endpoint()
-> anyhow::Result<()> {
    let (gw, stop) = world().await?;
    let _stop = stop.drop_guard();
    for path in ["/mcp", "/servers/weather/mcp"] {
        let url = format!("{}{path}", gw.base);
        let alice = token(&url, ALICE).await?;
        let bob = token(&url, BOB).await?;
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}});
        let (status, headers, _) = send(&url, Method::POST, &alice, None, Some(init)).await?;
        assert_eq!(status, StatusCode::OK, "{path}");
        let session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        send(
            &url,
            Method::POST,
            &alice,
            Some(&session),
            Some(initialized),
        )
        .await?;

        let (_, _, unknown) = send(
            &url,
            Method::POST,
            &bob,
            Some("no-such-session"),
            Some(tools_list(2)),
        )
        .await?;
        for (method, body) in [
            (Method::POST, Some(tools_list(2))),
            (Method::GET, None),
            (Method::DELETE, None),
        ] {
            let (status, _, text) = send(&url, method.clone(), &bob, Some(&session), body).await?;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path} {method}: {text}");
            assert_eq!(
                text, unknown,
                "{path} {method}: not told the session exists"
            );
        }

        let (status, _, text) = send(
            &url,
            Method::POST,
            &alice,
            Some(&session),
            Some(tools_list(3)),
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert!(text.contains("get_weather"), "{path}: {text}");
        let (status, _, text) = send(&url, Method::DELETE, &alice, Some(&session), None).await?;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {text}");
    }
    Ok(())
}

#[tokio::test]
async fn another_persons_token_cannot_post_into_a_legacy_sse_session() -> anyhow::Result<()> {
    let (gw, stop) = world().await?;
    let _stop = stop.drop_guard();
    // `/sse` is served with the federated endpoint, as part of its resource.
    let resource = format!("{}/mcp", gw.base);
    let alice = token(&resource, ALICE).await?;
    let bob = token(&resource, BOB).await?;
    let stream = reqwest::Client::new()
        .get(format!("{}/sse", gw.base))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = stream.bytes_stream();
    let mut seen = String::new();
    let mut until = async |wanted: &dyn Fn(&str) -> bool| -> anyhow::Result<String> {
        loop {
            if wanted(&seen) {
                return Ok(seen.clone());
            }
            let chunk = tokio::time::timeout(crate::support::WAIT, events.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stream ended: {seen}"))??;
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let opened = until(&|s: &str| s.contains("sessionId=")).await?;
    let endpoint = opened
        .lines()
        .find_map(|l| l.strip_prefix("data:").map(str::trim))
        .unwrap_or_default()
        .to_owned();
    let messages = format!("{}{endpoint}", gw.base);
    let post = |token: &str, url: &str, body: Value| {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let unknown_url = format!("{}/messages?sessionId=no-such-session", gw.base);
    let unknown = post(&bob, &unknown_url, tools_list(1))
        .await?
        .text()
        .await?;
    let refused = post(&bob, &messages, tools_list(1)).await?;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        refused.text().await?,
        unknown,
        "not told the session exists"
    );

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let accepted = post(&alice, &messages, init).await?;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let answered = until(&|s: &str| s.contains("serverInfo")).await?;
    assert!(answered.contains("belay-gateway"), "{answered}");
    Ok(())
}
