//! HTTP served by several single-threaded runtimes (`http::run_sharded`), driven over real
//! connections: a session opened through one shard is used through the others, the guard
//! and stateless mode still apply, and shutdown with calls in flight on every shard ends
//! every shard thread.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{extract::Request, middleware::Next, response::Response};
use belay_mcp::http;
use reqwest::StatusCode;
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SHARDS: usize = 3;

/// Answers with the name of the thread a call ran on (the thread of the session's shard).
#[derive(Debug, Clone)]
struct Where {
    started: Arc<AtomicUsize>,
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
struct WaitArgs {
    /// How long to hold the call, in milliseconds.
    ms: u64,
}

#[tool_router]
impl Where {
    #[tool(description = "The thread this call runs on.")]
    fn thread(&self) -> String {
        thread_name()
    }

    #[tool(description = "Hold the call, then answer with the thread it ran on.")]
    async fn wait(&self, Parameters(WaitArgs { ms }): Parameters<WaitArgs>) -> String {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        thread_name()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Where {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// The kernel's id of the calling thread ("PID/task/TID"), to see it gone later.
fn thread_path() -> String {
    std::fs::read_link("/proc/thread-self")
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

/// Tells the client which thread served its connection (which shard it landed on).
async fn tag_thread(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(name) = thread_name().parse() {
        response.headers_mut().insert("x-thread", name);
    }
    if let Ok(path) = thread_path().parse() {
        response.headers_mut().insert("x-thread-path", path);
    }
    response
}

struct Server {
    url: String,
    started: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    running: JoinHandle<Result<(), belay_mcp::Error>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(stateless: bool) -> anyhow::Result<Server> {
    let shutdown = CancellationToken::new();
    let started = Arc::new(AtomicUsize::new(0));
    let server = Where {
        started: started.clone(),
        tool_router: Where::tool_router(),
    };
    let router = http::streamable_router(server, "/mcp", stateless, shutdown.clone())
        .layer(axum::middleware::from_fn(tag_thread));
    let router = http::guarded(router, Default::default());
    let (listener, addr) = http::bind("127.0.0.1:0").await?;
    let running = tokio::spawn(http::run_sharded(
        listener,
        router,
        shutdown.clone(),
        SHARDS,
        http::HttpServerOptions::default(),
    ));
    Ok(Server {
        url: format!("http://{addr}/mcp"),
        started,
        shutdown,
        running,
    })
}

/// A client that opens a new connection for every request, so consecutive requests are
/// dealt to the shards in turn.
fn fresh_connections() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?)
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    shard: String,
    shard_path: String,
    message: Value,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> anyhow::Result<Answer> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (shard, shard_path) = (header("x-thread"), header("x-thread-path"));
    let text = response.text().await?;
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.starts_with('{'));
    let message = match data.or(Some(text.as_str()).filter(|t| t.starts_with('{'))) {
        Some(json_text) => serde_json::from_str(json_text)?,
        None => Value::Null,
    };
    Ok(Answer {
        status,
        shard,
        shard_path,
        message,
    })
}

/// Opens a session (handshake included) and returns its id.
async fn open_session(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "sharded", "version": "0"}}});
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no mcp-session-id"))?;
    let _ = response.text().await?;
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let acked = post(client, url, Some(&session), ack).await?;
    anyhow::ensure!(acked.status.is_success(), "{}", acked.status);
    Ok(session)
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
}

fn text_of(answer: &Answer) -> &str {
    answer.message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

/// Calls the `thread` tool as request `id` of `session`.
async fn ask_thread(
    client: &reqwest::Client,
    url: &str,
    session: &str,
    id: u64,
) -> anyhow::Result<Answer> {
    post(client, url, Some(session), call(id, "thread", json!({}))).await
}

#[tokio::test]
async fn a_session_opened_through_one_shard_is_served_through_every_shard() -> anyhow::Result<()> {
    let server = start(false).await?;
    let client = fresh_connections()?;
    let session = open_session(&client, &server.url).await?;

    let mut shards = HashSet::new();
    let mut homes = HashSet::new();
    for id in 1..=2 * SHARDS as u64 {
        let answer = ask_thread(&client, &server.url, &session, id).await?;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.message);
        assert_eq!(answer.message["id"], id, "{}", answer.message);
        shards.insert(answer.shard.clone());
        homes.insert(text_of(&answer).to_owned());
    }
    assert_eq!(shards.len(), SHARDS, "connections landed on {shards:?}");
    // The session's calls all run where the session was opened.
    assert_eq!(homes.len(), 1, "{homes:?}");

    // Ending the session from any shard ends it for all of them.
    let ended = client
        .delete(&server.url)
        .header("mcp-session-id", &session)
        .send()
        .await?;
    assert!(ended.status().is_success(), "{}", ended.status());
    for id in 10..10 + SHARDS as u64 {
        let answer = ask_thread(&client, &server.url, &session, id).await?;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.message);
    }
    Ok(())
}

#[tokio::test]
async fn stateless_requests_and_the_guard_work_on_every_shard() -> anyhow::Result<()> {
    let server = start(true).await?;
    let client = fresh_connections()?;
    let mut shards = HashSet::new();
    for id in 1..=2 * SHARDS as u64 {
        let answer = post(&client, &server.url, None, call(id, "thread", json!({}))).await?;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.message);
        // No session: the call runs on the shard its connection landed on.
        assert_eq!(text_of(&answer), answer.shard, "{}", answer.message);
        shards.insert(answer.shard);
    }
    assert_eq!(shards.len(), SHARDS, "connections landed on {shards:?}");

    for _ in 0..SHARDS {
        let response = client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("origin", "https://attacker.example")
            .body(call(1, "thread", json!({})).to_string())
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("host", "attacker.example")
            .body(call(1, "thread", json!({})).to_string())
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    Ok(())
}

#[tokio::test]
async fn shutdown_with_calls_in_flight_on_every_shard_ends_every_shard() -> anyhow::Result<()> {
    let mut server = start(false).await?;
    let client = fresh_connections()?;
    // Connections are dealt in turn: these six open one session homed on each shard.
    let mut sessions = Vec::new();
    for _ in 0..SHARDS {
        sessions.push(open_session(&client, &server.url).await?);
    }
    let mut shard_threads = HashSet::new();
    for id in 0..SHARDS as u64 {
        let answer = post(&client, &server.url, None, call(id, "thread", json!({}))).await?;
        shard_threads.insert(answer.shard_path);
    }
    shard_threads.remove(&thread_path());
    assert_eq!(shard_threads.len(), SHARDS - 1, "{shard_threads:?}");

    // Call n lands on shard n % SHARDS and uses session n / SHARDS: every session is
    // reached through every shard.
    let mut in_flight = Vec::new();
    for n in 0..SHARDS * SHARDS {
        let session = &sessions[n / SHARDS];
        let (client, url, session) = (client.clone(), server.url.clone(), session.clone());
        in_flight.push(tokio::spawn(async move {
            // Far longer than the test may take: only shutdown can end these calls.
            let wait = call(n as u64 + 1, "wait", json!({"ms": 60_000}));
            post(&client, &url, Some(&session), wait).await
        }));
        // One at a time, so the connections are dealt to the shards in turn.
        let started = async {
            while server.started.load(Ordering::SeqCst) <= n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), started).await?;
    }

    server.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), &mut server.running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    // Every shard's thread has ended, and every call got an answer or a closed stream.
    for path in &shard_threads {
        let entry = std::path::Path::new("/proc").join(path.trim_start_matches('/'));
        // The kernel removes an ended thread's entry a moment after it is joined.
        let mut gone = !entry.exists();
        for _ in 0..100 {
            if gone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            gone = !entry.exists();
        }
        assert!(gone, "shard thread {path} still runs");
    }
    for call in in_flight {
        let outcome = tokio::time::timeout(Duration::from_secs(10), call).await;
        assert!(
            matches!(outcome, Ok(Ok(_))),
            "a call still hangs: {outcome:?}"
        );
    }
    let refused = client.post(&server.url).body("{}").send().await;
    assert!(refused.is_err(), "still listening after shutdown");
    Ok(())
}
