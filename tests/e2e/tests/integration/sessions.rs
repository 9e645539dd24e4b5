//! An MCP session belongs to whoever opened it: another person's token (or the same
//! person's token for another application) naming the session gets the 404 of a session
//! that does not exist, on every method and transport, and the owner carries on.

use belay_client::SignIn;
use belay_servers::weather::WeatherServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::world::{OTHER_PASSWORD, OTHER_USER, PASSWORD, USER, World, as_user};

/// A token for `url` as `user`, signing in through a client named `app`.
async fn token(url: &str, user: &str, password: &str, app: &str) -> anyhow::Result<String> {
    let mut options = as_user(user, password)?;
    options.client_name = app.into();
    Ok(SignIn::new(url, options)?.sign_in(None, None).await?)
}

/// One request to the Streamable HTTP endpoint `url` with `token`, in `session` if any.
async fn send(
    url: &str,
    method: Method,
    token: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, String)> {
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
    // A GET that is let through is a stream that stays open: its head is enough.
    if status == StatusCode::OK
        && headers
            .get("content-type")
            .is_some_and(|v| v == "text/event-stream")
        && body_is_stream(&headers)
    {
        return Ok((status, headers, String::new()));
    }
    Ok((status, headers, response.text().await?))
}

fn body_is_stream(headers: &reqwest::header::HeaderMap) -> bool {
    headers.get("content-length").is_none()
}

fn tools_list(id: u32) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

#[tokio::test]
async fn a_streamable_http_session_answers_only_the_principal_that_opened_it() -> anyhow::Result<()>
{
    let world = World::start(|_| {}).await?;
    let url = world
        .protected(WeatherServer::new(), &world.resource_spec())
        .await?;
    let alice = token(&url, USER, PASSWORD, "alice's app").await?;
    let bob = token(&url, OTHER_USER, OTHER_PASSWORD, "bob's app").await?;
    let alice_elsewhere = token(&url, USER, PASSWORD, "alice's other app").await?;

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let (status, headers, _) = send(&url, Method::POST, &alice, None, Some(init)).await?;
    assert_eq!(status, StatusCode::OK);
    let session = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = send(
        &url,
        Method::POST,
        &alice,
        Some(&session),
        Some(initialized),
    )
    .await?;
    assert!(status.is_success(), "{status}");

    // What a session that never existed gets, for comparison.
    let (_, _, unknown) = send(
        &url,
        Method::POST,
        &bob,
        Some("no-such-session"),
        Some(tools_list(2)),
    )
    .await?;
    for (who, intruder) in [("bob", &bob), ("alice's other app", &alice_elsewhere)] {
        for (method, body) in [
            (Method::POST, Some(tools_list(2))),
            (Method::GET, None),
            (Method::DELETE, None),
        ] {
            let (status, _, text) =
                send(&url, method.clone(), intruder, Some(&session), body).await?;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who} {method}: {text}");
            assert_eq!(text, unknown, "{who} {method}: not told the session exists");
        }
    }

    // Alice's session is untouched: it still lists, then she ends it.
    let (status, _, text) = send(
        &url,
        Method::POST,
        &alice,
        Some(&session),
        Some(tools_list(3)),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("get_weather"), "{text}");
    let (status, _, _) = send(&url, Method::DELETE, &alice, Some(&session), None).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(
        &url,
        Method::POST,
        &alice,
        Some(&session),
        Some(tools_list(4)),
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "ended");
    Ok(())
}

#[tokio::test]
async fn a_legacy_sse_session_answers_only_the_principal_that_opened_it() -> anyhow::Result<()> {
    use futures::StreamExt;
    let world = World::start(|_| {}).await?;
    let url = world
        .protected_sse(WeatherServer::new(), &world.resource_spec())
        .await?;
    let alice = token(&url, USER, PASSWORD, "alice's app").await?;
    let bob = token(&url, OTHER_USER, OTHER_PASSWORD, "bob's app").await?;

    let stream = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = stream.bytes_stream();
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended before the endpoint event"))??;
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(path) = seen.lines().find_map(|l| {
            l.strip_prefix("data:")
                .map(str::trim)
                .filter(|d| d.contains("sessionId="))
        }) {
            break path.to_owned();
        }
    };
    let origin = url.trim_end_matches("/sse");
    let messages = format!("{origin}{endpoint}");
    let post = |token: &str, body: Value| {
        reqwest::Client::new()
            .post(&messages)
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let unknown = reqwest::Client::new()
        .post(format!("{origin}/messages?sessionId=no-such-session"))
        .bearer_auth(&bob)
        .json(&tools_list(1))
        .send()
        .await?
        .text()
        .await?;
    let refused = post(&bob, tools_list(1)).await?;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        refused.text().await?,
        unknown,
        "not told the session exists"
    );

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let accepted = post(&alice, init).await?;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let answer = loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended before the answer"))??;
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains("serverInfo") {
            break seen.clone();
        }
    };
    assert!(answer.contains("\"id\":1"), "{answer}");
    Ok(())
}
