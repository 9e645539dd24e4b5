//! What crosses the gateway besides plain calls: server-to-client requests (elicitation,
//! sampling) to the client whose call caused them, progress with the client's own token,
//! logs and `logging/setLevel`, cancellation, completion, `list_changed`, and resource
//! subscriptions with updates routed to the subscribers only.
#![allow(deprecated)] // Sampling, logging and subscribe are deprecated by SEP-2577 but served.

use std::{sync::Arc, time::Duration};

use belay_mcp::testkit::{Era, ScriptedClient, object, text_of};
use belay_servers::ServerName;
use rmcp::{
    ClientServiceExt, RoleClient, ServiceExt,
    model::{
        ArgumentInfo, CallToolRequestParams, CallToolResult, ClientRequest, CompleteRequestParams,
        LoggingLevel, ProgressToken, Reference, Request, RequestMetaObject, ServerResult,
        SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
    },
    service::{PeerRequestOptions, RunningService},
    transport::StreamableHttpClientTransport,
};
use serde_json::json;
use tokio_util::sync::DropGuard;

use crate::{
    lab::{DOC, Heard, Lab, Recorder},
    support::{gateway, http_upstream, one_upstream},
};

#[tokio::test]
async fn elicitation_crosses_the_gateway_both_ways() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let gw = one_upstream("stock", &stock).await?;
    for include in [true, false] {
        let person =
            ScriptedClient::new(Era::Handshake).answering(json!({ "include_week_range": include }));
        let client = gw.client("/mcp", person.clone()).await?;
        let result = client
            .call_tool(
                CallToolRequestParams::new("stock__get_ticker_info")
                    .with_arguments(object(json!({"symbol": "AAPL"}))),
            )
            .await?;
        let text = text_of(&result);
        assert!(text.contains("Apple Inc."), "{text}");
        assert_eq!(
            text.contains("52-week range"),
            include,
            "the answer reached the upstream: {text}"
        );
        assert_eq!(person.questions().len(), 1, "the client was asked once");
        client.cancel().await?;
    }
    Ok(())
}

/// A person who answers an elicitation only once `together` people have been asked (or
/// after 5 s), so that their calls are in flight upstream at the same time.
#[derive(Clone)]
struct Waiting {
    person: ScriptedClient,
    together: Arc<tokio::sync::Barrier>,
}

impl rmcp::ClientHandler for Waiting {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        self.person.get_info()
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.together.wait()).await;
        self.person.create_elicitation(request, context).await
    }
}

/// POSTs `body` in `session` at `url`; the response, whose stream the caller reads.
async fn post_in(
    url: &str,
    session: &str,
    body: serde_json::Value,
) -> anyhow::Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", session)
        .json(&body)
        .send()
        .await?)
}

/// Reads `stream` until a JSON-RPC message satisfies `wanted`; that message.
async fn next_message(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    seen: &mut String,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<serde_json::Value> {
    use futures::StreamExt;
    loop {
        let found = seen
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
            .find(|m| wanted(m));
        if let Some(found) = found {
            return Ok(found);
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .map_err(|_| anyhow::anyhow!("nothing more on the call's stream: {seen}"))?
            .ok_or_else(|| anyhow::anyhow!("the call's stream ended: {seen}"))??;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_question_rides_the_response_stream_of_the_call_that_caused_it() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let gw = one_upstream("stock", &stock).await?;
    let url = format!("{}/mcp", gw.base);
    // A client with no standalone GET stream: the question can only reach it on the
    // stream of its call (SEP-2260), where it is told to go.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let response = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    response.text().await?;
    post_in(
        &url,
        &session,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await?
    .text()
    .await?;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "stock__get_ticker_info", "arguments": {"symbol": "AAPL"}}});
    let mut stream = post_in(&url, &session, call).await?.bytes_stream();
    let mut seen = String::new();
    let question = next_message(&mut stream, &mut seen, |m| {
        m["method"] == "elicitation/create"
    })
    .await?;
    let answer = json!({"jsonrpc": "2.0", "id": question["id"],
        "result": {"action": "accept", "content": {"include_week_range": true}}});
    let accepted = post_in(&url, &session, answer).await?;
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let result = next_message(&mut stream, &mut seen, |m| m["id"] == 7).await?;
    assert!(result.to_string().contains("52-week range"), "{result}");
    Ok(())
}

#[tokio::test]
async fn each_client_gets_its_own_question_when_two_share_an_http_upstream() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let gw = one_upstream("stock", &stock).await?;
    let together = Arc::new(tokio::sync::Barrier::new(2));
    let mut people = Vec::new();
    for include in [true, false] {
        let person =
            ScriptedClient::new(Era::Handshake).answering(json!({ "include_week_range": include }));
        let waiting = Waiting {
            person: person.clone(),
            together: together.clone(),
        };
        let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", gw.base));
        people.push((include, person, waiting.serve(transport).await?));
    }
    let calls = people.iter().map(|(_, _, client)| {
        client.call_tool(
            CallToolRequestParams::new("stock__get_ticker_info")
                .with_arguments(object(json!({"symbol": "MSFT"}))),
        )
    });
    let results = futures::future::join_all(calls).await;
    for ((include, person, client), result) in people.into_iter().zip(results) {
        let text = text_of(&result?);
        assert_eq!(
            person.questions().len(),
            1,
            "each client is asked its own question"
        );
        assert_eq!(
            text.contains("52-week range"),
            include,
            "each answer reached the call it belongs to: {text}"
        );
        client.cancel().await?;
    }
    Ok(())
}

/// One gateway over the conformance server as `conf` (prefix `conf__`).
async fn conformance() -> anyhow::Result<(crate::support::Running, DropGuard)> {
    let (url, _, guard) = http_upstream(ServerName::Conformance).await?;
    let gw = one_upstream("conf", &url).await?;
    Ok((gw, guard))
}

/// A client on `path` recording what it hears.
pub(crate) async fn listen(
    gw: &crate::support::Running,
    path: &str,
) -> anyhow::Result<(Recorder, RunningService<RoleClient, Recorder>)> {
    let recorder = Recorder::new(ScriptedClient::new(Era::Handshake));
    let transport = StreamableHttpClientTransport::from_uri(format!("{}{path}", gw.base));
    let client = recorder.clone().serve(transport).await?;
    Ok((recorder, client))
}

/// Calls `tool` without arguments; returns the result and the progress token rmcp put on
/// the request.
async fn call(
    client: &RunningService<RoleClient, Recorder>,
    tool: &'static str,
) -> anyhow::Result<(CallToolResult, ProgressToken)> {
    let request = ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new(tool)));
    let handle = client
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await?;
    let token = handle.progress_token.clone();
    match handle.await_response().await? {
        ServerResult::CallToolResult(result) => Ok((result, token)),
        other => anyhow::bail!("not a tool result: {other:?}"),
    }
}

#[tokio::test]
async fn sampling_crosses_the_gateway_both_ways() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let gw = one_upstream("stock", &stock).await?;
    let mut person = ScriptedClient::new(Era::Handshake);
    person.headline = "Apple beats the gateway test".into();
    let client = gw.client("/mcp", person.clone()).await?;
    let result = client
        .call_tool(
            CallToolRequestParams::new("stock__stock_headline_sampling")
                .with_arguments(object(json!({"symbol": "AAPL"}))),
        )
        .await?;
    let text = text_of(&result);
    assert!(
        text.contains("Apple beats the gateway test"),
        "the client's answer reached the upstream: {text}"
    );
    let asked = person.questions();
    assert_eq!(asked.len(), 1, "the client was asked once: {asked:?}");
    assert!(
        asked[0].contains("AAPL"),
        "the upstream's prompt: {asked:?}"
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn progress_reaches_the_client_with_its_own_token() -> anyhow::Result<()> {
    let (gw, _c) = conformance().await?;
    let (recorder, client) = listen(&gw, "/mcp").await?;
    let (result, token) = call(&client, "conf__test_tool_with_progress").await?;
    assert_eq!(text_of(&result), "Progress test completed");
    let heard = recorder.wait(|h| h.progress.len() >= 3).await?;
    let steps: Vec<f64> = heard.progress.iter().map(|p| p.progress).collect();
    assert_eq!(steps, vec![0.0, 50.0, 100.0]);
    assert!(
        heard.progress.iter().all(|p| p.progress_token == token),
        "every notification carries the client's token {token:?}: {:?}",
        heard.progress
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn logs_reach_the_client_and_set_level_reaches_the_upstream() -> anyhow::Result<()> {
    let (gw, _c) = conformance().await?;
    let (recorder, client) = listen(&gw, "/mcp").await?;
    let done = |h: &Heard, n: usize| {
        h.logs
            .iter()
            .filter(|l| l.data == json!("Tool execution completed"))
            .count()
            >= n
    };
    call(&client, "conf__test_tool_with_logging").await?;
    let heard = recorder.wait(|h| done(h, 1)).await?;
    let lines: Vec<_> = heard.logs.iter().map(|l| l.data.clone()).collect();
    assert_eq!(
        lines,
        vec![
            json!("Tool execution started"),
            json!("Tool processing data"),
            json!("Tool execution completed")
        ]
    );

    // Above the tool's level: the upstream stays silent; back down, it speaks again.
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await?;
    call(&client, "conf__test_tool_with_logging").await?;
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await?;
    call(&client, "conf__test_tool_with_logging").await?;
    let heard = recorder.wait(|h| done(h, 2)).await?;
    assert_eq!(
        heard.logs.len(),
        6,
        "nothing logged at level warning: {:?}",
        heard.logs
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn completion_goes_to_the_right_upstream_without_its_prefix() -> anyhow::Result<()> {
    let (stock, _, _s) = http_upstream(ServerName::Stock).await?;
    let (conf, _, _c) = http_upstream(ServerName::Conformance).await?;
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "stock"
transport = {{ type = "http", url = "{stock}" }}
[[upstream]]
name = "conf"
transport = {{ type = "http", url = "{conf}" }}
"#
    ))
    .await?;
    gw.up("stock").await?;
    gw.up("conf").await?;
    let client = gw.plain("/mcp").await?;
    let complete = |reference: Reference, name: &str, value: &str| {
        client.complete(CompleteRequestParams::new(
            reference,
            ArgumentInfo::new(name, value),
        ))
    };
    let values = complete(
        Reference::for_prompt("stock__stock_analysis_prompt"),
        "symbol",
        "AA",
    )
    .await?
    .completion
    .values;
    assert!(values.iter().any(|v| v == "AAPL"), "{values:?}");
    let values = complete(
        Reference::for_prompt("conf__test_prompt_with_arguments"),
        "arg1",
        "testV",
    )
    .await?
    .completion
    .values;
    assert_eq!(values, vec!["testValue1", "testValue2"]);
    let values = complete(Reference::for_resource("stock://{symbol}"), "symbol", "MS")
        .await?
        .completion
        .values;
    assert!(values.iter().any(|v| v == "MSFT"), "{values:?}");
    let error = complete(Reference::for_prompt("nobody__x"), "a", "b")
        .await
        .expect_err("no upstream has that prefix");
    assert!(error.to_string().contains("unknown prompt"), "{error}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_clients_cancellation_stops_the_upstream_call() -> anyhow::Result<()> {
    let (lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let (_, client) = listen(&gw, "/mcp").await?;
    let request =
        ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("lab__hang")));
    let handle = client
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await?;
    lab.wait(|s| s.hangs == 1).await?;
    handle.cancel(Some("the user gave up".into())).await?;
    lab.wait(|s| s.cancelled == 1).await?;
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn list_changed_refreshes_the_catalog_and_tells_clients() -> anyhow::Result<()> {
    let (_lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let (recorder, client) = listen(&gw, "/mcp").await?;
    let (watcher, other) = listen(&gw, "/servers/lab/mcp").await?;
    let before = client.list_all_tools().await?;
    assert!(!before.iter().any(|t| t.name == "lab__extra_1"));
    let changed = recorder.heard().tools_changed;

    call(&client, "lab__grow").await?;
    recorder.wait(|h| h.tools_changed > changed).await?;
    watcher.wait(|h| h.tools_changed > 0).await?;
    let after = client.list_all_tools().await?;
    assert!(after.iter().any(|t| t.name == "lab__extra_1"), "{after:?}");
    let single = other.list_all_tools().await?;
    assert!(single.iter().any(|t| t.name == "extra_1"), "{single:?}");
    client.cancel().await?;
    other.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn resource_updates_reach_only_subscribed_clients() -> anyhow::Result<()> {
    let (lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let (alice, a) = listen(&gw, "/mcp").await?;
    let (bob, b) = listen(&gw, "/mcp").await?;

    a.subscribe(SubscribeRequestParams::new(DOC)).await?;
    call(&b, "lab__touch").await?;
    alice.wait(|h| h.updated.len() == 1).await?;

    b.subscribe(SubscribeRequestParams::new(DOC)).await?;
    a.unsubscribe(UnsubscribeRequestParams::new(DOC)).await?;
    call(&a, "lab__touch").await?;
    bob.wait(|h| h.updated.len() == 1).await?;
    assert_eq!(
        alice.heard().updated,
        vec![DOC.to_owned()],
        "alice unsubscribed"
    );

    b.unsubscribe(UnsubscribeRequestParams::new(DOC)).await?;
    // The first subscribe went upstream, and the last unsubscribe.
    lab.wait(|s| s.subscriptions.len() == 2).await?;
    assert_eq!(lab.seen().subscriptions, vec![1, -1]);
    a.cancel().await?;
    b.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_later_round_of_a_round_trip_call_hears_the_upstreams_progress_and_logs()
-> anyhow::Result<()> {
    // A handshake-era HTTP upstream asks live, so the gateway parks the call between the
    // client's rounds; what the upstream reports after the answer belongs to the second round.
    let (_lab, url, _guard) = Lab::start_handshake_only().await?;
    let gw = one_upstream("lab", &url).await?;
    let person = ScriptedClient::new(Era::RoundTrip).answering(json!({"go_on": true}));
    let recorder = Recorder::new(person.clone());
    let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", gw.base));
    let client = recorder
        .clone()
        .serve_with_lifecycle(transport, Era::RoundTrip.lifecycle())
        .await?;
    let mut params = CallToolRequestParams::new("lab__ask_then_report");
    let mut meta = RequestMetaObject::new();
    meta.set_log_level(LoggingLevel::Info);
    params.meta = Some(meta);
    let result = client.call_tool(params).await?;
    assert!(text_of(&result).contains("Accept"), "{}", text_of(&result));
    assert_eq!(person.questions(), vec!["Go on?".to_owned()]);
    let heard = recorder
        .wait(|h| !h.progress.is_empty() && !h.logs.is_empty())
        .await?;
    assert_eq!(heard.progress.len(), 1, "{heard:?}");
    assert_eq!(heard.progress[0].progress, 1.0);
    assert_eq!(heard.logs[0].data, json!("reported"));
    client.cancel().await?;
    Ok(())
}
