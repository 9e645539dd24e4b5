//! A scripted Anthropic Messages endpoint on loopback: it answers each `POST /v1/messages`
//! with the next reply of its script in the real wire format (a `message` object, or the
//! `message_start` … `message_stop` server-sent events when the request says
//! `"stream": true`, tool input streamed as `input_json_delta` fragments), and keeps every
//! request's body and its `x-api-key` and `anthropic-version` headers for the test to read.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

use crate::model_script::{Scripted, Shared};

/// One answer of the model.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Text, ending the turn.
    Text(&'static str),
    /// Some text, then tool calls: (id, name, input JSON text).
    Calls(
        &'static str,
        Vec<(&'static str, &'static str, &'static str)>,
    ),
    /// An HTTP error with Anthropic's error body: (status, error type, message).
    HttpError(u16, &'static str, &'static str),
    /// A stream that starts, then fails with an `error` event: (error type, message).
    StreamError(&'static str, &'static str),
}

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) body: Value,
    pub(crate) api_key: Option<String>,
    pub(crate) version: Option<String>,
}

/// The running endpoint; its base URL is `http://127.0.0.1:PORT`, for `--base-url`.
pub(crate) type ScriptedAnthropic = Scripted<Reply, Received>;

impl ScriptedAnthropic {
    /// Serves `replies` in order; past the end it answers 500.
    pub(crate) async fn start(replies: Vec<Reply>) -> anyhow::Result<Self> {
        Self::serve(replies, "/v1/messages", post(messages), "").await
    }
}

async fn messages(
    State(script): State<Shared<Reply, Received>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let stream = body["stream"] == json!(true);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let reply = {
        let Ok(mut script) = script.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        script.answer(Received {
            body,
            api_key: header("x-api-key"),
            version: header("anthropic-version"),
        })
    };
    let reply = reply.unwrap_or(Reply::HttpError(
        500,
        "api_error",
        "the script has no more replies",
    ));
    match reply {
        Reply::HttpError(status, kind, message) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"type": "error", "error": {"type": kind, "message": message}})),
        )
            .into_response(),
        reply if stream => (
            [(header::CONTENT_TYPE, "text/event-stream")],
            events(&reply)
                .into_iter()
                .map(|event| {
                    format!(
                        "event: {}\ndata: {event}\n\n",
                        event["type"].as_str().unwrap_or("unknown")
                    )
                })
                .collect::<String>(),
        )
            .into_response(),
        reply => Json(whole(&reply)).into_response(),
    }
}

fn message(content: Value, stop: Value) -> Value {
    json!({
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": "claude-scripted",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5}
    })
}

fn whole(reply: &Reply) -> Value {
    match reply {
        Reply::Text(text) => message(json!([{"type": "text", "text": text}]), json!("end_turn")),
        Reply::Calls(text, calls) => {
            let mut content = vec![json!({"type": "text", "text": text})];
            content.extend(calls.iter().map(|(id, name, input)| {
                json!({"type": "tool_use", "id": id, "name": name,
                       "input": serde_json::from_str::<Value>(input).unwrap_or(json!({}))})
            }));
            message(json!(content), json!("tool_use"))
        }
        Reply::HttpError(..) | Reply::StreamError(..) => message(json!([]), json!("end_turn")),
    }
}

/// The reply as Anthropic streams it: message_start, a ping, each content block (text in
/// small deltas, tool input in two `input_json_delta` fragments), message_delta with the
/// stop reason, message_stop.
fn events(reply: &Reply) -> Vec<Value> {
    let mut out = vec![
        json!({"type": "message_start", "message": message(json!([]), Value::Null)}),
        json!({"type": "ping"}),
    ];
    let text_block = |out: &mut Vec<Value>, index: usize, text: &str| {
        out.push(json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "text", "text": ""}}));
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        for piece in words.chunks(2) {
            out.push(json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "text_delta", "text": piece.concat()}}));
        }
        out.push(json!({"type": "content_block_stop", "index": index}));
    };
    let stop = match reply {
        Reply::Text(text) => {
            text_block(&mut out, 0, text);
            "end_turn"
        }
        Reply::Calls(text, calls) => {
            text_block(&mut out, 0, text);
            for (n, (id, name, input)) in calls.iter().enumerate() {
                let index = n + 1;
                out.push(json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
                let middle = input.len() / 2;
                let middle = (middle..=input.len())
                    .find(|i| input.is_char_boundary(*i))
                    .unwrap_or(input.len());
                for part in [&input[..middle], &input[middle..]] {
                    out.push(json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part}}));
                }
                out.push(json!({"type": "content_block_stop", "index": index}));
            }
            "tool_use"
        }
        Reply::StreamError(kind, message) => {
            out.push(json!({"type": "error", "error": {"type": kind, "message": message}}));
            return out;
        }
        Reply::HttpError(..) => return out,
    };
    out.push(json!({"type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": null},
                    "usage": {"output_tokens": 15}}));
    out.push(json!({"type": "message_stop"}));
    out
}
