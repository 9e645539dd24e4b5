//! Floods of notifications from an upstream (the fixture's `unruly` server): progress,
//! logs and questions meant for a caller who reads nothing hold a bounded number of tasks
//! in the gateway, however many the upstream sends; list changes are coalesced rather than each re-listing
//! the upstream and telling every client. The other caller and the good upstream carry on.

use belay_mcp::testkit::{Era, ScriptedClient};
use rmcp::{ServiceExt, transport::StreamableHttpClientTransport};
use serde_json::json;

use crate::{
    lab::Recorder,
    order::{messages, round_trip_call},
    policy::call,
    support::header,
    unruly::{Meanwhile, PATIENT_MS, Scene, Wire, settled_stats},
};

/// Notifications in a flood meant for a stalled caller, and the bytes each carries: 20 MiB,
/// far more than the loopback socket buffers between the gateway and that caller hold (a
/// few MiB), so most of them can only wait inside the gateway or be dropped.
const FLOOD: u64 = 10_000;
const PAD: u64 = 2048;

/// Tasks of this runtime (the gateway, its upstreams' connections, the test's clients).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

const PROTOCOL: &str = "2025-11-25";

/// Opens an MCP session at `url` as a plain HTTP client; its id.
async fn raw_session(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "stalled", "version": "0"}}});
    let response = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await?;
    let session = header(&response, "mcp-session-id");
    anyhow::ensure!(!session.is_empty(), "no session id");
    response.text().await?;
    http.post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", PROTOCOL)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await?;
    Ok(session)
}

/// Waits until the gateway has had the answer to one call of upstream `bad`: sent after
/// the flood, so by then the gateway has read the whole flood.
async fn bad_answered(base: &str) -> anyhow::Result<()> {
    // Delivering a flood of 10,000 padded notices takes 20-25 s on a loaded 2-core machine:
    // wait three times the usual patience before calling the flooding call unanswered.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(3 * PATIENT_MS);
    loop {
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await?
            .text()
            .await?;
        let answered = metrics.lines().any(|line| {
            line.starts_with("belay_gateway_requests_total{")
                && line.contains(r#"upstream="bad""#)
                && line.contains(r#"outcome="answered""#)
        });
        if answered {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the flooding call was never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The counter `metric` of upstream `bad`.
async fn count_of(base: &str, metric: &str) -> anyhow::Result<u64> {
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    let line = metrics
        .lines()
        .find(|line| line.starts_with(&format!("{metric}{{")) && line.contains(r#"upstream="bad""#))
        .ok_or_else(|| anyhow::anyhow!("no {metric}: {metrics}"))?;
    let count = line.rsplit(' ').next().unwrap_or_default();
    Ok(count.parse()?)
}

/// A caller asks for `tool`'s flood and never reads the answer's stream (nor its session's
/// stream), while another calls the good upstream: the tasks alive in the gateway stay
/// bounded.
async fn flood_to_a_stalled_caller(wire: Wire, tool: &str) -> anyhow::Result<()> {
    let scene = Scene::start(wire, 0, PATIENT_MS).await?;
    let url = format!("{}/mcp", scene.gw.base);
    let http = reqwest::Client::new();
    let session = raw_session(&http, &url).await?;
    // Its stream for what is not part of a call (logs go there), opened and never read.
    let standalone = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", PROTOCOL)
        .send()
        .await?;
    assert_eq!(standalone.status(), 200);
    let baseline = alive_tasks();
    let params = json!({"name": format!("bad__{tool}"), "arguments": {"count": FLOOD, "pad": PAD},
        "_meta": {"progressToken": "stalled"}});
    let stalled = http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", PROTOCOL)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}))
        .send()
        .await?;
    assert_eq!(stalled.status(), 200);
    let bob = Meanwhile::start(scene.bob.peer().clone());
    bad_answered(&scene.gw.base).await?;
    let alive = alive_tasks();
    assert!(
        alive < baseline + 1000,
        "{wire:?} {tool}: {alive} tasks alive after a flood of {FLOOD} to a stalled caller, \
         {baseline} before"
    );
    let counter = match tool {
        "flood_elicit" => "belay_gateway_upstream_questions_refused_total",
        _ => "belay_gateway_upstream_notifications_dropped_total",
    };
    let dropped = count_of(&scene.gw.base, counter).await?;
    assert!(
        dropped > 0,
        "{wire:?} {tool}: the dropped ones are counted ({counter})"
    );
    assert!(bob.stop().await? >= 1);
    drop((stalled, standalone));
    scene.all_serve().await
}

#[tokio::test]
async fn a_progress_flood_over_stdio_to_a_stalled_caller_holds_bounded_tasks() -> anyhow::Result<()>
{
    flood_to_a_stalled_caller(Wire::Stdio, "flood_progress").await
}

#[tokio::test]
async fn a_log_flood_over_stdio_to_a_stalled_caller_holds_bounded_tasks() -> anyhow::Result<()> {
    flood_to_a_stalled_caller(Wire::Stdio, "flood_log").await
}

#[tokio::test]
async fn a_question_flood_over_stdio_to_a_stalled_caller_holds_bounded_tasks() -> anyhow::Result<()>
{
    flood_to_a_stalled_caller(Wire::Stdio, "flood_elicit").await
}

#[tokio::test]
async fn a_question_flood_over_http_to_a_stalled_caller_holds_bounded_tasks() -> anyhow::Result<()>
{
    flood_to_a_stalled_caller(Wire::Http, "flood_elicit").await
}

#[tokio::test]
async fn a_progress_flood_over_http_to_a_stalled_caller_holds_bounded_tasks() -> anyhow::Result<()>
{
    flood_to_a_stalled_caller(Wire::Http, "flood_progress").await
}

#[tokio::test]
async fn a_progress_flood_over_legacy_sse_to_a_stalled_caller_holds_bounded_tasks()
-> anyhow::Result<()> {
    flood_to_a_stalled_caller(Wire::Sse, "flood_progress").await
}

/// 500 `tools/list_changed` in a row: the upstream is listed again a few times, not 500,
/// and a connected client is told a few times, not 500.
async fn list_changes_are_coalesced(wire: Wire) -> anyhow::Result<()> {
    let scene = Scene::start(wire, 0, PATIENT_MS).await?;
    let carol = Recorder::new(ScriptedClient::new(Era::Handshake));
    let transport = StreamableHttpClientTransport::from_uri(format!("{}/mcp", scene.gw.base));
    let carol_client = carol.clone().serve(transport).await?;
    let bob = Meanwhile::start(scene.bob.peer().clone());
    let flooded = call(
        &scene.alice,
        "bad__flood_list_changed",
        json!({"count": 500}),
    )
    .await;
    assert_eq!(flooded.map_err(|e| anyhow::anyhow!("{e:?}"))?, "flooded");
    let stats = settled_stats(&scene.alice).await?;
    let lists = stats["lists"].as_u64().unwrap_or(u64::MAX);
    assert!(
        lists <= 10,
        "{wire:?}: listed {lists} times for 500 changes"
    );
    let told = carol.heard().tools_changed;
    assert!(told <= 10, "{wire:?}: a client was told {told} times");
    assert!(bob.stop().await? >= 1);
    carol_client.cancel().await?;
    scene.all_serve().await
}

#[tokio::test]
async fn a_flood_of_list_changes_over_stdio_is_coalesced() -> anyhow::Result<()> {
    list_changes_are_coalesced(Wire::Stdio).await
}

#[tokio::test]
async fn a_flood_of_list_changes_over_http_is_coalesced() -> anyhow::Result<()> {
    list_changes_are_coalesced(Wire::Http).await
}

#[tokio::test]
async fn a_flood_of_list_changes_over_legacy_sse_is_coalesced() -> anyhow::Result<()> {
    list_changes_are_coalesced(Wire::Sse).await
}

/// Progress the upstream sends in one burst, fewer than the gateway delivers at once per
/// connection (so none is dropped for flooding) and more than a 2026-07-28 call queues.
const BURST: u64 = 60;

/// A 2026-07-28 caller that reads its response stream hears every progress notification
/// of a burst, in order, before the answer: a round's notices wait for the caller to take
/// them rather than being dropped once a few are queued.
async fn a_reading_round_trip_caller_hears_a_whole_burst(wire: Wire) -> anyhow::Result<()> {
    let scene = Scene::start(wire, 0, PATIENT_MS).await?;
    let url = format!("{}/mcp", scene.gw.base);
    let arguments = json!({"count": BURST});
    let body = round_trip_call(&url, 7, "bad__flood_progress", arguments, "burst").await?;
    let messages = messages(&body);
    let answer = messages
        .iter()
        .position(|m| m["id"] == 7)
        .ok_or_else(|| anyhow::anyhow!("{wire:?}: no answer in {body}"))?;
    let progress: Vec<f64> = messages[..answer]
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .filter_map(|m| m["params"]["progress"].as_f64())
        .collect();
    let expected: Vec<f64> = (0..BURST).map(|step| step as f64).collect();
    assert_eq!(
        progress, expected,
        "{wire:?}: every step, in order, before the answer"
    );
    scene.all_serve().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_round_trip_caller_hears_a_whole_burst_over_http() -> anyhow::Result<()> {
    a_reading_round_trip_caller_hears_a_whole_burst(Wire::Http).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_round_trip_caller_hears_a_whole_burst_over_stdio() -> anyhow::Result<()> {
    a_reading_round_trip_caller_hears_a_whole_burst(Wire::Stdio).await
}
