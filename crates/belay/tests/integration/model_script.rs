//! A scripted OpenAI-compatible chat-completions endpoint on loopback: it answers each
//! `POST /v1/chat/completions` with the next reply of its script, in the real wire format
//! (a `chat.completion` object, or `chat.completion.chunk` events on `text/event-stream`
//! ending with `data: [DONE]` when the request says `"stream": true`), and keeps every
//! request body for the test to read.
//! [`Scripted`] is the loopback server itself, shared with `anthropic_script.rs`.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// One answer of the model.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Text, ending the turn.
    Text(&'static str),
    /// Tool calls: (id, function name, arguments JSON text).
    Calls(Vec<(&'static str, &'static str, &'static str)>),
    /// An HTTP error with OpenAI's error body.
    Error(u16, &'static str),
    /// No answer for a minute: a model that is slow to think.
    Stall,
}

/// A script being played: its replies in order and the requests received.
pub(crate) struct Script<R, Q> {
    replies: Vec<R>,
    next: usize,
    requests: Vec<Q>,
}

impl<R: Clone, Q> Script<R, Q> {
    /// Keeps `request` and gives the next reply (`None` past the end).
    pub(crate) fn answer(&mut self, request: Q) -> Option<R> {
        self.requests.push(request);
        let reply = self.replies.get(self.next).cloned();
        self.next += 1;
        reply
    }
}

/// The state a scripted endpoint's handlers share.
pub(crate) type Shared<R, Q> = Arc<Mutex<Script<R, Q>>>;

/// A scripted endpoint running on loopback, stopped when dropped.
pub(crate) struct Scripted<R, Q> {
    /// `http://127.0.0.1:PORT` + the suffix given to [`Scripted::serve`], for `--base-url`.
    pub(crate) base_url: String,
    script: Shared<R, Q>,
    server: tokio::task::JoinHandle<()>,
}

/// The OpenAI-compatible endpoint.
pub(crate) type ScriptedModel = Scripted<Reply, Value>;

impl<R, Q> Drop for Scripted<R, Q> {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl<R: Send + 'static, Q: Clone + Send + 'static> Scripted<R, Q> {
    /// Serves `replies` in order at `path` with `handler`; the base URL ends in `suffix`.
    pub(crate) async fn serve(
        replies: Vec<R>,
        path: &str,
        handler: axum::routing::MethodRouter<Shared<R, Q>>,
        suffix: &str,
    ) -> anyhow::Result<Self> {
        let script = Arc::new(Mutex::new(Script {
            replies,
            next: 0,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route(path, handler)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}{suffix}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url,
            script,
            server,
        })
    }

    /// The requests received so far.
    pub(crate) fn requests(&self) -> Vec<Q> {
        self.script
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }
}

impl ScriptedModel {
    /// Serves `replies` in order; past the end it answers 500.
    pub(crate) async fn start(replies: Vec<Reply>) -> anyhow::Result<Self> {
        Self::serve(replies, "/v1/chat/completions", post(complete), "/v1").await
    }
}

async fn complete(State(script): State<Shared<Reply, Value>>, Json(body): Json<Value>) -> Response {
    let stream = body["stream"] == json!(true);
    let reply = {
        let Ok(mut script) = script.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        script.answer(body)
    };
    let reply = reply.unwrap_or(Reply::Error(500, "the script has no more replies"));
    if let Reply::Stall = reply {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    match reply {
        Reply::Error(status, message) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})),
        )
            .into_response(),
        reply if stream => (
            [(header::CONTENT_TYPE, "text/event-stream")],
            chunks(&reply)
                .into_iter()
                .map(|chunk| format!("data: {chunk}\n\n"))
                .chain(std::iter::once("data: [DONE]\n\n".to_owned()))
                .collect::<String>(),
        )
            .into_response(),
        reply => Json(whole(&reply)).into_response(),
    }
}

fn whole(reply: &Reply) -> Value {
    let (message, finish) = match reply {
        Reply::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::Calls(calls) => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": calls.iter().map(|(id, name, arguments)| json!({
                    "id": id, "type": "function",
                    "function": {"name": name, "arguments": arguments}
                })).collect::<Vec<_>>()
            }),
            "tool_calls",
        ),
        Reply::Error(..) | Reply::Stall => (json!({}), "stop"),
    };
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "scripted-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "scripted-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]
    })
}

/// The reply as OpenAI streams it: the role first, text in small pieces, each tool call's
/// id and name, then its arguments in two fragments, then the finish reason.
fn chunks(reply: &Reply) -> Vec<Value> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    match reply {
        Reply::Text(text) => {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            for piece in words.chunks(2) {
                out.push(chunk(json!({"content": piece.concat()}), None));
            }
            out.push(chunk(json!({}), Some("stop")));
        }
        Reply::Calls(calls) => {
            for (index, (id, name, arguments)) in calls.iter().enumerate() {
                out.push(chunk(
                    json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                ));
                let middle = arguments.len() / 2;
                let middle = (middle..=arguments.len())
                    .find(|i| arguments.is_char_boundary(*i))
                    .unwrap_or(arguments.len());
                for part in [&arguments[..middle], &arguments[middle..]] {
                    out.push(chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]}),
                        None,
                    ));
                }
            }
            out.push(chunk(json!({}), Some("tool_calls")));
        }
        Reply::Error(..) | Reply::Stall => {}
    }
    out
}
