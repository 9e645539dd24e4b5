//! Upstreams that misbehave, beside a good one, with two callers. Each misbehaviour (the
//! fixture's `unruly` server, one tool each) gets its caller an error naming the upstream and
//! what it did; the upstream is restarted or its breaker opens as configured; the other
//! caller and the good upstream carry on during and after.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use belay_gateway::breaker::BreakerState;
use belay_mcp::testkit::Client;
use belay_servers::ServerName;
use rmcp::{RoleClient, service::Peer};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::DropGuard;

use crate::{
    policy::call,
    support::{Running, fixture, gateway, http_upstream},
};

/// How long the misbehaving upstream's calls may take (`timeouts.call_ms`) where the test
/// waits for the timeout.
pub(crate) const CALL_MS: u64 = 2000;

/// The call timeout where an error must come from what the upstream did, not from the
/// timeout: long enough that a loaded machine reading 16 MiB unoptimised finishes first.
pub(crate) const PATIENT_MS: u64 = 30_000;

/// How the misbehaving upstream is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// A process the gateway starts (restarted `on-failure`).
    Stdio,
    /// A Streamable HTTP server (a process of its own, on loopback).
    Http,
    /// A legacy HTTP+SSE server (the same).
    Sse,
}

/// A gateway in front of the unruly upstream `bad` and the weather server `good`, with
/// two callers on `/mcp`.
pub(crate) struct Scene {
    pub(crate) gw: Running,
    pub(crate) alice: Client,
    pub(crate) bob: Client,
    _good: DropGuard,
    /// The HTTP fixture's process, killed on drop.
    _http: Option<tokio::process::Child>,
}

/// Starts the fixture's unruly server in `mode` (`unruly-http`, `unruly-sse`); its URL
/// and process.
async fn unruly_server(mode: &str) -> anyhow::Result<(String, tokio::process::Child)> {
    let mut child = tokio::process::Command::new(fixture())
        .arg(mode)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(crate::support::WAIT, lines.next_line())
        .await??
        .ok_or_else(|| anyhow::anyhow!("the fixture printed no URL"))?;
    Ok((url, child))
}

impl Scene {
    /// Everything up, health pings every `health_secs` (0: none), the breaker opening
    /// after two failures, calls of `bad` timing out after `call_ms`.
    pub(crate) async fn start(wire: Wire, health_secs: u64, call_ms: u64) -> anyhow::Result<Self> {
        let (weather, _, good) = http_upstream(ServerName::Weather).await?;
        let (transport, http) = match wire {
            Wire::Stdio => (
                format!(
                    r#"{{ type = "stdio", command = "{}", args = ["unruly"], restart = {{ policy = "on-failure", initial_backoff_ms = 10 }} }}"#,
                    fixture()
                ),
                None,
            ),
            Wire::Http | Wire::Sse => {
                let (mode, kind) = match wire {
                    Wire::Sse => ("unruly-sse", "sse"),
                    _ => ("unruly-http", "http"),
                };
                let (url, child) = unruly_server(mode).await?;
                let transport = format!(r#"{{ type = "{kind}", url = "{url}" }}"#);
                (transport, Some(child))
            }
        };
        let gw = gateway(&format!(
            r#"
health_interval_secs = {health_secs}
breaker_failures = 2
breaker_open_secs = 60
[[upstream]]
name = "bad"
transport = {transport}
timeouts = {{ call_ms = {call_ms} }}
[[upstream]]
name = "good"
transport = {{ type = "http", url = "{weather}" }}
"#
        ))
        .await?;
        gw.up("bad").await?;
        gw.up("good").await?;
        let alice = gw.plain("/mcp").await?;
        let bob = gw.plain("/mcp").await?;
        Ok(Self {
            gw,
            alice,
            bob,
            _good: good,
            _http: http,
        })
    }

    /// The misbehaving upstream's session count so far.
    pub(crate) fn generation(&self) -> anyhow::Result<u64> {
        let bad = self.gw.gateway.upstream("bad");
        Ok(bad
            .ok_or_else(|| anyhow::anyhow!("no upstream `bad`"))?
            .status()
            .generation)
    }

    /// Both callers reach both upstreams.
    pub(crate) async fn all_serve(&self) -> anyhow::Result<()> {
        for client in [&self.alice, &self.bob] {
            let echo = call(client, "bad__echo", json!({})).await;
            assert_eq!(echo.map_err(|e| anyhow::anyhow!("{e:?}"))?, "echo");
            weather(client.peer()).await?;
        }
        Ok(())
    }
}

/// One call of the good upstream, which must answer.
async fn weather(peer: &Peer<RoleClient>) -> anyhow::Result<()> {
    let params = rmcp::model::CallToolRequestParams::new("good__get_weather")
        .with_arguments(belay_mcp::testkit::object(json!({"city": "London"})));
    let result = peer.call_tool(params).await?;
    anyhow::ensure!(
        !belay_mcp::testkit::text_of(&result).is_empty(),
        "an empty forecast"
    );
    Ok(())
}

/// Another caller calling the good upstream over and over, meanwhile.
pub(crate) struct Meanwhile {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<usize>>,
}

impl Meanwhile {
    pub(crate) fn start(peer: Peer<RoleClient>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut calls = 0;
            loop {
                weather(&peer).await?;
                calls += 1;
                if stopped.load(Ordering::SeqCst) {
                    return Ok(calls);
                }
            }
        });
        Self { stop, task }
    }

    /// Stops; how many calls all succeeded (an error if one failed).
    pub(crate) async fn stop(self) -> anyhow::Result<usize> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await?
    }
}

/// What becomes of the misbehaving upstream.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// A new session (a new process for stdio).
    Restarted,
    /// The same session carries on.
    Kept,
}

/// Alice calls `tool` of the unruly upstream while Bob calls the good one: Alice's error
/// names the upstream and says each of `says`; the upstream is `then`; afterwards both
/// callers reach both upstreams.
async fn misbehaves(wire: Wire, tool: &str, says: &[&str], then: Then) -> anyhow::Result<()> {
    let scene = Scene::start(wire, 0, PATIENT_MS).await?;
    let before = scene.generation()?;
    let bob = Meanwhile::start(scene.bob.peer().clone());
    let error = call(&scene.alice, &format!("bad__{tool}"), json!({}))
        .await
        .expect_err("the upstream misbehaved");
    let message = error.message.to_string();
    assert!(
        message.contains("upstream `bad`"),
        "{wire:?} {tool}: {message}"
    );
    for said in says {
        assert!(
            message.contains(said),
            "{wire:?} {tool}: the error should say `{said}`: {message}"
        );
    }
    match then {
        Then::Restarted => {
            scene.gw.up_after("bad", before).await?;
        }
        Then::Kept => assert_eq!(scene.generation()?, before, "{wire:?} {tool}: kept"),
    }
    let calls = bob.stop().await?;
    assert!(calls >= 1, "the other caller called");
    scene.all_serve().await
}

#[tokio::test]
async fn a_stdio_upstream_answering_with_a_wrong_id_is_named_and_restarted() -> anyhow::Result<()> {
    let says = ["answered request id 424242", "never sent"];
    misbehaves(Wire::Stdio, "wrong_id", &says, Then::Restarted).await
}

#[tokio::test]
async fn an_http_upstream_answering_with_a_wrong_id_is_named_and_reconnected() -> anyhow::Result<()>
{
    let says = ["answered request id 424242", "never sent"];
    misbehaves(Wire::Http, "wrong_id", &says, Then::Restarted).await
}

#[tokio::test]
async fn a_legacy_sse_upstream_answering_with_a_wrong_id_is_named_and_reconnected()
-> anyhow::Result<()> {
    let says = ["answered request id 424242", "never sent"];
    misbehaves(Wire::Sse, "wrong_id", &says, Then::Restarted).await
}

#[tokio::test]
async fn a_stdio_upstream_writing_a_line_that_is_not_json_is_named_and_restarted()
-> anyhow::Result<()> {
    let says = ["not JSON", "this is not JSON"];
    misbehaves(Wire::Stdio, "not_json", &says, Then::Restarted).await
}

#[tokio::test]
async fn an_http_upstream_sending_an_event_that_is_not_json_is_named_and_reconnected()
-> anyhow::Result<()> {
    let says = ["not JSON", "this is not JSON"];
    misbehaves(Wire::Http, "not_json", &says, Then::Restarted).await
}

#[tokio::test]
async fn a_legacy_sse_upstream_sending_an_event_that_is_not_json_is_named_and_reconnected()
-> anyhow::Result<()> {
    let says = ["not JSON", "this is not JSON"];
    misbehaves(Wire::Sse, "not_json", &says, Then::Restarted).await
}

#[tokio::test]
async fn a_legacy_sse_upstream_sending_json_that_is_not_json_rpc_is_named_and_reconnected()
-> anyhow::Result<()> {
    let says = ["not a JSON-RPC message", r#"{"hello":"world"}"#];
    misbehaves(Wire::Sse, "not_jsonrpc", &says, Then::Restarted).await
}

#[tokio::test]
async fn a_stdio_upstream_writing_json_that_is_not_json_rpc_is_named_and_restarted()
-> anyhow::Result<()> {
    let says = ["not a JSON-RPC message", r#"{"hello":"world"}"#];
    misbehaves(Wire::Stdio, "not_jsonrpc", &says, Then::Restarted).await
}

#[tokio::test]
async fn an_http_upstream_sending_json_that_is_not_json_rpc_is_named_and_reconnected()
-> anyhow::Result<()> {
    let says = ["not a JSON-RPC message", r#"{"hello":"world"}"#];
    misbehaves(Wire::Http, "not_jsonrpc", &says, Then::Restarted).await
}

#[tokio::test]
async fn a_stdio_upstream_writing_a_huge_message_is_named_and_restarted() -> anyhow::Result<()> {
    let says = ["more than 16777216 bytes"];
    misbehaves(Wire::Stdio, "huge", &says, Then::Restarted).await
}

#[tokio::test]
async fn an_http_upstream_sending_a_huge_event_is_named() -> anyhow::Result<()> {
    let says = ["16777216"];
    misbehaves(Wire::Http, "huge", &says, Then::Kept).await
}

#[tokio::test]
async fn a_stdio_upstream_exiting_mid_call_is_named_with_its_exit_status_and_restarted()
-> anyhow::Result<()> {
    let says = ["exited", "exit status: 3"];
    misbehaves(Wire::Stdio, "exit", &says, Then::Restarted).await
}

#[tokio::test]
async fn an_http_upstream_answering_500_is_named_and_its_session_kept() -> anyhow::Result<()> {
    let says = ["500"];
    misbehaves(Wire::Http, "exit", &says, Then::Kept).await
}

#[tokio::test]
async fn a_legacy_sse_upstream_answering_500_is_named_and_its_session_kept() -> anyhow::Result<()> {
    let says = ["500"];
    misbehaves(Wire::Sse, "exit", &says, Then::Kept).await
}

#[tokio::test]
async fn an_http_upstream_closing_its_stream_before_answering_is_named() -> anyhow::Result<()> {
    let says = ["closed before"];
    misbehaves(Wire::Http, "close_stream", &says, Then::Kept).await
}

/// Before its handshake, a line that is not JSON (a start-up banner) is skipped, as other
/// clients skip it: the upstream comes up and serves.
#[tokio::test]
async fn a_stdio_upstream_printing_a_banner_before_its_handshake_serves() -> anyhow::Result<()> {
    let gw = gateway(&format!(
        r#"
[[upstream]]
name = "bad"
transport = {{ type = "stdio", command = "{}", args = ["unruly", "--banner"] }}
"#,
        fixture()
    ))
    .await?;
    gw.up("bad").await?;
    let client = gw.plain("/mcp").await?;
    let echo = call(&client, "bad__echo", json!({})).await;
    assert_eq!(echo.map_err(|e| anyhow::anyhow!("{e:?}"))?, "echo");
    client.cancel().await?;
    Ok(())
}

/// Alice's calls of a tool that never answers each end at the call timeout, saying so; two
/// of them open the breaker, so her next call fails at once; Bob carries on.
async fn never_answers(wire: Wire) -> anyhow::Result<()> {
    let scene = Scene::start(wire, 0, CALL_MS).await?;
    let bob = Meanwhile::start(scene.bob.peer().clone());
    for _ in 0..2 {
        let error = call(&scene.alice, "bad__hang", json!({}))
            .await
            .expect_err("no answer");
        let message = error.message.to_string();
        let within = format!("upstream `bad` is unavailable: no answer within {CALL_MS} ms");
        assert!(message.contains(&within), "{wire:?}: {message}");
    }
    let upstream = scene.gw.gateway.upstream("bad");
    let breaker = upstream.map(|u| u.breaker());
    assert!(
        matches!(breaker, Some(BreakerState::Open(_))),
        "{wire:?}: {breaker:?}"
    );
    let error = call(&scene.alice, "bad__echo", json!({}))
        .await
        .expect_err("the breaker is open");
    assert!(
        error.message.contains("circuit breaker is open"),
        "{error:?}"
    );
    assert!(bob.stop().await? >= 1);
    weather(scene.alice.peer()).await
}

#[tokio::test]
async fn a_stdio_upstream_that_never_answers_times_out_and_opens_its_breaker() -> anyhow::Result<()>
{
    never_answers(Wire::Stdio).await
}

#[tokio::test]
async fn an_http_upstream_that_never_answers_times_out_and_opens_its_breaker() -> anyhow::Result<()>
{
    never_answers(Wire::Http).await
}

#[tokio::test]
async fn a_legacy_sse_upstream_that_never_answers_times_out_and_opens_its_breaker()
-> anyhow::Result<()> {
    never_answers(Wire::Sse).await
}

/// A wedged upstream answers nothing, health pings included: after as many unanswered
/// pings as open the breaker, its session is ended and it is started again.
async fn wedged(wire: Wire) -> anyhow::Result<()> {
    let scene = Scene::start(wire, 1, CALL_MS).await?;
    let before = scene.generation()?;
    let bob = Meanwhile::start(scene.bob.peer().clone());
    let error = call(&scene.alice, "bad__wedge", json!({}))
        .await
        .expect_err("no answer");
    assert!(error.message.contains("no answer within"), "{error:?}");
    let status = scene.gw.up_after("bad", before).await?;
    assert!(status.generation > before);
    assert!(bob.stop().await? >= 1);
    scene.all_serve().await
}

#[tokio::test]
async fn a_wedged_stdio_upstream_is_restarted_after_unanswered_pings() -> anyhow::Result<()> {
    wedged(Wire::Stdio).await
}

#[tokio::test]
async fn a_wedged_http_upstream_gets_a_new_session_after_unanswered_pings() -> anyhow::Result<()> {
    wedged(Wire::Http).await
}

/// The fixture's counts of `tools/list` requests and pings, once they stop changing.
pub(crate) async fn settled_stats(client: &Client) -> anyhow::Result<Value> {
    let mut last = Value::Null;
    for _ in 0..100 {
        let text = call(client, "bad__stats", json!({}))
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let stats: Value = serde_json::from_str(&text)?;
        if stats["lists"] == last["lists"] {
            return Ok(stats);
        }
        last = stats;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    anyhow::bail!("the upstream was still being listed: {last}")
}
