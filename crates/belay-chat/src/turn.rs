//! One turn of the conversation: the model answers, calling tools until it stops (or the
//! round limit is reached); each call is shown on one line and its result, errors
//! included, goes back to the model. Everything is recorded for `--json`.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::{
    handler::{SamplingRecord, Shared},
    model::{Message, ModelRequest, ToolCall},
    servers::Servers,
    show::{self, result_text},
};

/// The most characters of one tool result passed to the model (about 25k tokens): a
/// server that answers megabytes must not overflow the model's context on its own.
const RESULT_CHARS_FOR_MODEL: usize = 100_000;

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "end", content = "reason")]
pub enum TurnEnd {
    /// The model answered without asking for more tools.
    Completed,
    /// The model was still calling tools after the round limit.
    RoundLimit,
    /// The model's endpoint failed.
    ModelFailed(String),
    /// The person pressed Ctrl-C: the turn is dropped from the conversation.
    Interrupted,
}

/// One tool call as the transcript records it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// `server.tool`.
    pub tool: String,
    /// The model's call id.
    pub id: String,
    /// The arguments (parsed when they were JSON, else the text).
    pub arguments: Value,
    /// The result as the model read it.
    pub result: String,
    /// The result's structured content, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured: Option<Value>,
    /// Whether the call failed (a tool error or a refused call).
    pub is_error: bool,
    /// How long it took, in milliseconds.
    pub millis: u128,
}

/// What happened in one turn.
#[derive(Debug, Clone, Serialize)]
pub struct TurnRecord {
    /// What the person said.
    pub prompt: String,
    /// How it ended.
    #[serde(flatten)]
    pub end: TurnEnd,
    /// Model requests made.
    pub rounds: u32,
    /// The model's final text.
    pub answer: String,
    /// Every tool call, in order.
    pub tool_calls: Vec<CallRecord>,
    /// Sampling requests servers made during the turn.
    pub samplings: Vec<SamplingRecord>,
    /// How long the turn took, in milliseconds.
    pub millis: u128,
}

/// Runs one turn: `prompt` is added to `messages` and so is everything the model and the
/// tools say. The servers' tool lists are refreshed first when one said they changed.
pub async fn run(
    prompt: &str,
    messages: &mut Vec<Message>,
    servers: &mut Servers,
    shared: &Shared,
    max_rounds: u32,
) -> TurnRecord {
    let started = Instant::now();
    let mut record = TurnRecord {
        prompt: prompt.to_owned(),
        end: TurnEnd::Completed,
        rounds: 0,
        answer: String::new(),
        tool_calls: Vec::new(),
        samplings: Vec::new(),
        millis: 0,
    };
    messages.push(Message::User {
        content: prompt.to_owned(),
    });
    record.end = loop {
        let Some(model) = shared.model() else {
            break TurnEnd::ModelFailed(crate::settings::HOW_TO_CONFIGURE.to_owned());
        };
        if record.rounds >= max_rounds {
            break TurnEnd::RoundLimit;
        }
        if shared.take_changed() {
            for note in servers.refresh().await {
                shared.screen.note(&note);
            }
        }
        record.rounds += 1;
        let request = ModelRequest {
            messages: messages.clone(),
            tools: servers.model_tools(),
            ..ModelRequest::default()
        };
        let screen = shared.screen;
        let mut wrote = false;
        let reply = model
            .complete(request, &mut |piece| {
                wrote = true;
                screen.write(&show::clean(piece));
            })
            .await;
        if wrote {
            screen.write("\n");
        }
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => break TurnEnd::ModelFailed(e.to_string()),
        };
        record.answer = reply.text.clone();
        messages.push(Message::Assistant {
            content: reply.text,
            tool_calls: reply.tool_calls.clone(),
        });
        if reply.tool_calls.is_empty() {
            break TurnEnd::Completed;
        }
        share_context(messages, servers, shared);
        for call in &reply.tool_calls {
            let done = call_tool(call, servers, shared).await;
            let content = if done.is_error {
                format!("Error: {}", done.result)
            } else {
                done.result.clone()
            };
            messages.push(Message::Tool {
                tool_call_id: call.id.clone(),
                content: show::fold(&content, RESULT_CHARS_FOR_MODEL),
            });
            record.tool_calls.push(done);
        }
    };
    record.samplings = shared.take_samplings();
    record.millis = started.elapsed().as_millis();
    match &record.end {
        TurnEnd::Completed => {}
        TurnEnd::RoundLimit => shared.screen.error(&format!(
            "the model was still calling tools after {max_rounds} rounds; raise [chat] \
             max_rounds (or --max-rounds) if it needs more"
        )),
        TurnEnd::ModelFailed(reason) => shared.screen.error(reason),
        TurnEnd::Interrupted => {}
    }
    record
}

/// Lets servers' sampling requests see `messages` (when they ask, with `includeContext`).
pub fn share_context(messages: &[Message], servers: &Servers, shared: &Shared) {
    let server_of = |name: &str| {
        let entry = servers.find(name)?;
        let server = servers.list.get(entry.server)?.name.clone();
        Some((server, servers.qualified(entry)))
    };
    shared.share_context(crate::handler::context_lines(messages, &server_of));
}

/// The record of a turn the person interrupted after `millis` milliseconds.
pub fn interrupted(prompt: &str, shared: &Shared, millis: u128) -> TurnRecord {
    shared
        .screen
        .error("interrupted: the turn is left out of the conversation");
    TurnRecord {
        prompt: prompt.to_owned(),
        end: TurnEnd::Interrupted,
        rounds: 0,
        answer: String::new(),
        tool_calls: Vec::new(),
        samplings: shared.take_samplings(),
        millis,
    }
}

/// Calls one tool the model asked for and shows the call on one line.
pub async fn call_tool(call: &ToolCall, servers: &Servers, shared: &Shared) -> CallRecord {
    let started = Instant::now();
    let arguments = serde_json::from_str(&call.arguments)
        .unwrap_or_else(|_| Value::String(call.arguments.clone()));
    let (tool, outcome) = match servers.find(&call.name) {
        Some(entry) => (
            servers.qualified(entry),
            servers.call(entry, &call.arguments, shared).await,
        ),
        None => (
            call.name.clone(),
            Err(format!(
                "there is no tool `{}`; the tools are: {}",
                call.name,
                servers
                    .tools
                    .iter()
                    .map(|t| t.model_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ),
    };
    let (result, structured, is_error) = match outcome {
        Ok(result) => (
            result_text(&result),
            result.structured_content.clone(),
            result.is_error.unwrap_or(false),
        ),
        Err(reason) => (reason, None, true),
    };
    shared
        .screen
        .line(&show::call_line(&tool, &call.arguments, &result, is_error));
    if let Some(notice) = show::guard_notice(&result) {
        shared.screen.line(&notice);
    }
    let millis = started.elapsed().as_millis();
    tracing::debug!(%tool, millis, "tool call");
    CallRecord {
        tool,
        id: call.id.clone(),
        arguments,
        result,
        structured,
        is_error,
        millis,
    }
}
