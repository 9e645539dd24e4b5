//! An MCP server that misbehaves on request, one misbehaviour per tool. It is written at
//! the wire (JSON-RPC lines on stdio, bodies and SSE events over HTTP) because an SDK would
//! never let a server send what these tools send.
//!
//! Over legacy HTTP+SSE (2024-11-05), whatever stdio writes as lines goes as events on the
//! one stream, and `exit` answers the POST with 500.
//!
//! | tool | on stdio | over Streamable HTTP |
//! | --- | --- | --- |
//! | `echo` | answers `echo` | the same, as a JSON body |
//! | `wrong_id` | answers with an id it was never sent | the same, as a JSON body |
//! | `not_json` | writes a line that is not JSON, and no answer | an SSE event whose data is not JSON; the stream stays open |
//! | `not_jsonrpc` | writes `{"hello":"world"}`, and no answer | an SSE event with that data; the stream stays open |
//! | `huge` | answers with a message of 17 MiB | the same, as one SSE event |
//! | `hang` | never answers | never answers (the POST stalls) |
//! | `wedge` | from then on answers nothing, pings included | the same, in this session (a new one works) |
//! | `exit` | exits with status 3 | answers HTTP 500 |
//! | `close_stream` | — | an SSE stream that ends with no answer |
//! | `flood_progress` | `count` (default 10000) progress notifications, each with a message of `pad` bytes (default 0), then the answer | the same, as SSE events |
//! | `flood_log` | `count` log messages (`pad` as above), then the answer | the same |
//! | `flood_list_changed` | `count` `notifications/tools/list_changed`, then the answer | the same |
//! | `flood_elicit` | `count` `elicitation/create` requests at once (ids `q-0`…), then the answer (their answers are ignored) | the same |
//! | `stats` | answers `{"lists": n, "pings": n}`, the `tools/list` requests and pings so far | the same |

use std::{
    convert::Infallible,
    process::ExitCode,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Over the 16 MiB both of rmcp's transports accept by default.
const HUGE: usize = 17 * 1024 * 1024;
/// Notifications a flood sends unless the call says `count`.
const FLOOD: u64 = 10_000;

/// What the server has seen, for `stats`, and what was wedged.
#[derive(Default)]
struct Seen {
    lists: u64,
    pings: u64,
    /// The stdio server answers nothing more.
    wedged: bool,
    /// HTTP sessions opened so far, and those that answer nothing more.
    sessions: u64,
    wedged_sessions: std::collections::HashSet<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn seen(shared: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// What to do with one request.
enum Act {
    /// Send `messages` in order (lines on stdio; over HTTP one JSON body if `json`, else SSE
    /// events), then, over HTTP, end the response (or keep it open if `stall`).
    Send {
        messages: Vec<String>,
        json: bool,
        stall: bool,
    },
    /// Never answer.
    Hang,
    /// Never answer, nor anything after (in this HTTP session).
    Wedge,
    /// Exit at once (stdio) or answer HTTP 500.
    Fail,
}

fn answer(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

fn text(id: &Value, text: &str) -> String {
    answer(id, json!({"content": [{"type": "text", "text": text}]}))
}

fn reply(message: String) -> Act {
    Act::Send {
        messages: vec![message],
        json: true,
        stall: false,
    }
}

fn tools() -> Value {
    let names = [
        "echo",
        "wrong_id",
        "not_json",
        "not_jsonrpc",
        "huge",
        "hang",
        "wedge",
        "exit",
        "close_stream",
        "flood_progress",
        "flood_log",
        "flood_list_changed",
        "flood_elicit",
        "stats",
    ];
    let tools: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"name": name, "description": "misbehaves", "inputSchema": {"type": "object"}})
        })
        .collect();
    Value::Array(tools)
}

/// What the server does with `request` (a JSON-RPC request).
fn act(request: &Value, shared: &Shared) -> Act {
    let id = &request["id"];
    match request["method"].as_str().unwrap_or_default() {
        "initialize" => reply(answer(
            id,
            json!({
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {"listChanged": true}, "logging": {}},
                "serverInfo": {"name": "unruly", "version": "0"},
            }),
        )),
        "ping" => {
            seen(shared).pings += 1;
            reply(answer(id, json!({})))
        }
        "tools/list" => {
            seen(shared).lists += 1;
            reply(answer(id, json!({"tools": tools()})))
        }
        "logging/setLevel" => reply(answer(id, json!({}))),
        "tools/call" => call(request, shared),
        _ => reply(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}})
                .to_string(),
        ),
    }
}

fn call(request: &Value, shared: &Shared) -> Act {
    let id = &request["id"];
    let params = &request["params"];
    let count = params["arguments"]["count"].as_u64().unwrap_or(FLOOD);
    let pad = "x".repeat(params["arguments"]["pad"].as_u64().unwrap_or(0) as usize);
    let token = match &params["_meta"]["progressToken"] {
        Value::Null => json!("unruly"),
        token => token.clone(),
    };
    let flood = |notification: &dyn Fn(u64) -> Value| Act::Send {
        messages: (0..count)
            .map(|i| notification(i).to_string())
            .chain([text(id, "flooded")])
            .collect(),
        json: false,
        stall: false,
    };
    let unanswered = |line: &str| Act::Send {
        messages: vec![line.to_owned()],
        json: false,
        stall: true,
    };
    match params["name"].as_str().unwrap_or_default() {
        "echo" => reply(text(id, "echo")),
        "wrong_id" => reply(text(&json!(424_242), "an answer to nobody")),
        "not_json" => unanswered("this is not JSON"),
        "not_jsonrpc" => unanswered(r#"{"hello":"world"}"#),
        // Written out rather than serialized: building 17 MiB of JSON is slow unoptimised.
        "huge" => Act::Send {
            messages: vec![format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{}"}}]}}}}"#,
                "x".repeat(HUGE)
            )],
            json: false,
            stall: false,
        },
        "hang" => Act::Hang,
        "wedge" => Act::Wedge,
        "exit" => Act::Fail,
        "close_stream" => Act::Send {
            messages: Vec::new(),
            json: false,
            stall: false,
        },
        "flood_progress" => flood(&|i| {
            json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": token, "progress": i, "total": count, "message": pad}})
        }),
        "flood_log" => flood(&|i| {
            json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "info", "data": format!("flood {i} {pad}")}})
        }),
        "flood_list_changed" => {
            flood(&|_| json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}))
        }
        "flood_elicit" => flood(&|i| {
            json!({"jsonrpc": "2.0", "id": format!("q-{i}"), "method": "elicitation/create",
                "params": {"message": format!("question {i} {pad}"),
                    "requestedSchema": {"type": "object", "properties": {}}}})
        }),
        "stats" => {
            let stats = {
                let seen = seen(shared);
                json!({"lists": seen.lists, "pings": seen.pings})
            };
            reply(text(id, &stats.to_string()))
        }
        other => reply(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": format!("no tool {other}")}})
                .to_string(),
        ),
    }
}

/// Serves on stdin and stdout until stdin closes (or `exit` is called); with `--banner`,
/// first writes a line that is not JSON, as some servers do when they start.
pub(crate) async fn stdio() -> ExitCode {
    let shared = Shared::default();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    if std::env::args().any(|arg| arg == "--banner") {
        let banner = out.write_all(b"unruly server starting on stdio\n").await;
        if banner.and(out.flush().await).is_err() {
            return ExitCode::FAILURE;
        }
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        // Notifications and answers need nothing back; a wedged server answers nothing.
        if message.get("id").is_none() || message.get("method").is_none() || seen(&shared).wedged {
            continue;
        }
        match act(&message, &shared) {
            Act::Send { messages, .. } => {
                for message in messages {
                    let written = out.write_all(message.as_bytes()).await;
                    if written.and(out.write_all(b"\n").await).is_err() {
                        return ExitCode::FAILURE;
                    }
                }
                if out.flush().await.is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Act::Hang => {}
            Act::Wedge => seen(&shared).wedged = true,
            Act::Fail => return ExitCode::from(3),
        }
    }
    ExitCode::SUCCESS
}

/// Serves `app` on a free loopback port, printing its URL (the address, then `path`) first.
async fn serve(app: Router, path: &str) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("http://{addr}{path}"),
        Err(e) => {
            eprintln!("no address: {e}");
            return ExitCode::FAILURE;
        }
    }
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves Streamable HTTP at `http://127.0.0.1:PORT/mcp`, printing that URL first.
pub(crate) async fn http() -> ExitCode {
    let app = Router::new()
        .route(
            "/mcp",
            post(handle)
                .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                .delete(|| async { StatusCode::OK }),
        )
        .with_state(Shared::default());
    serve(app, "/mcp").await
}

/// The legacy server's state: what it has seen, and where its open event stream is.
#[derive(Clone, Default)]
struct Legacy {
    shared: Shared,
    stream: Arc<Mutex<Option<tokio::sync::mpsc::Sender<String>>>>,
}

/// Serves legacy HTTP+SSE: `GET /sse` for the events, `POST /messages` for requests;
/// prints the `/sse` URL first.
pub(crate) async fn sse() -> ExitCode {
    let app = Router::new()
        .route("/sse", axum::routing::get(legacy_stream))
        .route("/messages", post(legacy_post))
        .with_state(Legacy::default());
    serve(app, "/sse").await
}

async fn legacy_stream(State(legacy): State<Legacy>) -> Response {
    let (sender, receiver) = tokio::sync::mpsc::channel::<String>(64);
    *legacy.stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
    let endpoint =
        futures::stream::once(async { "event: endpoint\ndata: /messages\n\n".to_owned() });
    let messages = tokio_stream_of(receiver).map(|m| format!("data: {m}\n\n"));
    let body = Body::from_stream(endpoint.chain(messages).map(Ok::<_, Infallible>));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// `receiver` as a stream.
fn tokio_stream_of(
    receiver: tokio::sync::mpsc::Receiver<String>,
) -> impl futures::Stream<Item = String> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|m| (m, receiver))
    })
}

async fn legacy_post(State(legacy): State<Legacy>, body: String) -> Response {
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let request = message.get("id").is_some() && message.get("method").is_some();
    if !request || seen(&legacy.shared).wedged {
        return StatusCode::ACCEPTED.into_response();
    }
    let sender = legacy
        .stream
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(sender) = sender else {
        return StatusCode::CONFLICT.into_response();
    };
    match act(&message, &legacy.shared) {
        // Sent from a task of its own: the POST is answered at once, as the protocol says.
        Act::Send { messages, .. } => {
            tokio::spawn(async move {
                for message in messages {
                    if sender.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
        Act::Hang => {}
        Act::Wedge => seen(&legacy.shared).wedged = true,
        Act::Fail => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "unruly: failing on purpose",
            )
                .into_response();
        }
    }
    StatusCode::ACCEPTED.into_response()
}

async fn handle(
    State(shared): State<Shared>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if message.get("id").is_none() || message.get("method").is_none() {
        return StatusCode::ACCEPTED.into_response();
    }
    let given = headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
    let session = match given {
        Some(session) => session.to_owned(),
        None => {
            let mut seen = seen(&shared);
            seen.sessions += 1;
            format!("unruly-{}", seen.sessions)
        }
    };
    if seen(&shared).wedged_sessions.contains(&session) {
        std::future::pending::<()>().await;
    }
    let id_header = [("mcp-session-id", session.clone())];
    match act(&message, &shared) {
        Act::Send {
            mut messages,
            json: true,
            ..
        } if messages.len() == 1 => {
            let body = messages.pop().unwrap_or_default();
            let json = [(header::CONTENT_TYPE, "application/json")];
            (id_header, json, body).into_response()
        }
        Act::Send {
            messages, stall, ..
        } => {
            let events = futures::stream::iter(messages)
                .map(|m| Ok::<_, Infallible>(format!("data: {m}\n\n")));
            let body = if stall {
                Body::from_stream(events.chain(futures::stream::pending()))
            } else {
                Body::from_stream(events)
            };
            let sse = [(header::CONTENT_TYPE, "text/event-stream")];
            (id_header, sse, body).into_response()
        }
        Act::Hang => std::future::pending().await,
        Act::Wedge => {
            seen(&shared).wedged_sessions.insert(session);
            std::future::pending().await
        }
        Act::Fail => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "unruly: failing on purpose",
        )
            .into_response(),
    }
}
