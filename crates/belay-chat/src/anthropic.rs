//! [`ChatModel`] over Anthropic's Messages API (`POST {base}/v1/messages`), streamed as
//! server-sent events or answered whole, over plain reqwest and serde.
//!
//! The conversation maps onto Messages like this: system prompts go to the top-level
//! `system`; the assistant's tool calls become `tool_use` blocks; tool results become
//! `tool_result` blocks in a user message (consecutive results, and a user message after
//! them, share one user message, since the API wants user and assistant to alternate).

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{
    model::{ChatModel, Message, ModelError, ModelReply, ModelRequest, StopReason, ToolCall},
    show::fold,
};

/// The API version every request names (the current and only stable one).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is used when the caller does not limit it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The largest whole answer or error body read (8 MiB): an endpoint that answers without
/// end is cut off rather than filling memory.
const MAX_BODY_BYTES: usize = 8 << 20;
/// The largest single server-sent event (1 MiB).
const MAX_EVENT_BYTES: usize = 1 << 20;
/// The largest tool-call argument text accepted from a streamed answer (1 MiB).
const MAX_ARGUMENT_BYTES: usize = 1 << 20;
/// The largest answer text accepted (4 MiB).
const MAX_TEXT_BYTES: usize = 4 << 20;
/// The most content blocks one answer may have.
const MAX_BLOCKS: usize = 128;

/// A model behind Anthropic's Messages API.
pub struct AnthropicModel {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
    stream: bool,
}

impl AnthropicModel {
    /// A client for the endpoint at `base_url` (without `/v1`).
    pub fn new(base_url: &str, api_key: Option<String>, model: &str, stream: bool) -> Self {
        Self {
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model: model.to_owned(),
            stream,
        }
    }

    fn unreadable(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Unreadable {
            endpoint: self.base_url.clone(),
            reason: reason.into(),
        }
    }

    fn failed(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Endpoint {
            endpoint: self.base_url.clone(),
            reason: reason.into(),
        }
    }

    async fn send(&self, body: &Value) -> Result<reqwest::Response, ModelError> {
        let mut request = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body);
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                self.failed(format!(
                    "cannot connect ({e}); is the server running and --base-url right?"
                ))
            } else {
                self.failed(e.to_string())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = read_bounded(response, MAX_BODY_BYTES)
            .await
            .unwrap_or_default();
        Err(self.failed(http_error(status.as_u16(), &body)))
    }
}

/// The request body for `request` (`model` when the request names none).
pub(crate) fn request_body(request: ModelRequest, model: &str, stream: bool) -> Value {
    let mut system: Vec<String> = Vec::new();
    // (role, content blocks), merged when the same role comes twice in a row.
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut push = |role: &'static str, blocks: Vec<Value>| {
        if blocks.is_empty() {
            return;
        }
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    };
    for message in request.messages {
        match message {
            Message::System { content } => system.push(content),
            Message::User { content } => {
                push("user", vec![json!({"type": "text", "text": content})])
            }
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = Vec::new();
                // The API refuses empty text blocks.
                if !content.is_empty() {
                    blocks.push(json!({"type": "text", "text": content}));
                }
                for call in tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": tool_input(&call.arguments),
                    }));
                }
                push("assistant", blocks);
            }
            Message::Tool {
                tool_call_id,
                content,
            } => push(
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content}),
                ],
            ),
        }
    }
    let mut body = json!({
        "model": request.model.unwrap_or_else(|| model.to_owned()),
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": turns
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect::<Vec<_>>(),
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .into_iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                })
            })
            .collect();
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if stream {
        body["stream"] = json!(true);
    }
    body
}

/// The `input` object for the arguments text the model wrote: Anthropic wants an object,
/// so text that is no JSON object (a model's mistake, kept in the conversation) goes as `{}`.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({}),
    }
}

/// An HTTP error said with the API's own `{"type":"error","error":{type, message}}`.
fn http_error(status: u16, body: &[u8]) -> String {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            let message = error.get("message")?.as_str()?;
            Some(match error.get("type").and_then(Value::as_str) {
                Some(kind) => format!("{kind}: {message}"),
                None => message.to_owned(),
            })
        })
        .unwrap_or_else(|| fold(&String::from_utf8_lossy(body), 200));
    let mut reason = format!("HTTP {status}: {detail}");
    if status == 401 || status == 403 {
        reason.push_str(" (check the API key)");
    }
    reason
}

async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer went past {} KiB", limit / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn stop_reason(reason: Option<&str>, has_calls: bool) -> StopReason {
    match reason {
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("end_turn" | "stop_sequence") | None if has_calls => StopReason::ToolUse,
        Some("end_turn" | "stop_sequence") | None => StopReason::EndTurn,
        Some(_) => StopReason::Other,
    }
}

/// One server-sent event: its `event:` name and its `data:` lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// Splits a byte stream into server-sent events, one event per blank-line-ended block.
#[derive(Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    /// Takes the next bytes; returns the events they completed.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, skip)) = block_end(&self.buffer) {
            let block: Vec<u8> = self.buffer.drain(..end + skip).take(end).collect();
            let text =
                String::from_utf8(block).map_err(|_| "a streamed event is not UTF-8".to_owned())?;
            if let Some(event) = parse_block(&text) {
                events.push(event);
            }
        }
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err(format!(
                "a streamed event went past {} KiB",
                MAX_EVENT_BYTES / 1024
            ));
        }
        Ok(events)
    }

    /// The event left when the stream ends without a final blank line.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let text = String::from_utf8(std::mem::take(&mut self.buffer)).ok()?;
        parse_block(&text)
    }
}

/// Where the first blank line is: (its start, the length of the line ends).
fn block_end(buffer: &[u8]) -> Option<(usize, usize)> {
    for i in 0..buffer.len() {
        let rest = &buffer[i..];
        if rest.starts_with(b"\r\n\r\n") {
            return Some((i, 4));
        }
        if rest.starts_with(b"\n\n") || rest.starts_with(b"\r\r") {
            return Some((i, 2));
        }
    }
    None
}

fn parse_block(text: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {} // comments (`:`), `id`, `retry`
        }
    }
    if data.is_empty() {
        return None;
    }
    Some(SseEvent {
        event,
        data: data.join("\n"),
    })
}

/// One content block of a streamed answer as its pieces arrive.
enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        arguments: String,
    },
    Other,
}

/// The answer as the stream builds it.
#[derive(Default)]
pub(crate) struct StreamState {
    blocks: Vec<Option<Block>>,
    text: String,
    stop: Option<String>,
    model: Option<String>,
    done: bool,
}

/// What one event meant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing to show.
    Nothing,
    /// Text to show now.
    Text(String),
}

impl StreamState {
    /// Applies one event; an `error` event or an unreadable one is an `Err` with the reason,
    /// and whether the endpoint said it (true) or sent something unreadable (false).
    pub(crate) fn apply(&mut self, event: &SseEvent) -> Result<Step, (bool, String)> {
        let unreadable = |reason: String| (false, reason);
        let data: Value = serde_json::from_str(&event.data).map_err(|e| {
            unreadable(format!(
                "a streamed event is no JSON ({e}): {}",
                fold(&event.data, 200)
            ))
        })?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default();
        let index = || -> Result<usize, (bool, String)> {
            let index = data
                .get("index")
                .and_then(Value::as_u64)
                .ok_or_else(|| unreadable(format!("a {kind} event without an index")))?;
            usize::try_from(index)
                .ok()
                .filter(|i| *i < MAX_BLOCKS)
                .ok_or_else(|| unreadable(format!("content block index {index}")))
        };
        match kind {
            "message_start" => {
                self.model = data
                    .pointer("/message/model")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            "content_block_start" => {
                let index = index()?;
                let block = &data["content_block"];
                let (block, text) = match block.get("type").and_then(Value::as_str) {
                    Some("text") => (
                        Block::Text,
                        block
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                    ),
                    Some("tool_use") => (
                        Block::ToolUse {
                            id: string_field(block, "id"),
                            name: string_field(block, "name"),
                            arguments: String::new(),
                        },
                        "",
                    ),
                    _ => (Block::Other, ""),
                };
                if self.blocks.len() <= index {
                    self.blocks.resize_with(index + 1, || None);
                }
                self.blocks[index] = Some(block);
                return self.add_text(text);
            }
            "content_block_delta" => {
                let index = index()?;
                let delta = &data["delta"];
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        return self.add_text(text);
                    }
                    Some("input_json_delta") => {
                        let part = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let Some(Some(Block::ToolUse { arguments, .. })) =
                            self.blocks.get_mut(index)
                        else {
                            return Err(unreadable(format!(
                                "tool input for block {index}, which is no tool_use block"
                            )));
                        };
                        if arguments.len() + part.len() > MAX_ARGUMENT_BYTES {
                            return Err(unreadable(format!(
                                "the tool call's arguments went past {} KiB",
                                MAX_ARGUMENT_BYTES / 1024
                            )));
                        }
                        arguments.push_str(part);
                    }
                    // Thinking, signatures, citations: nothing the console shows.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(reason.to_owned());
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                let message = data
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                let reason = match data.pointer("/error/type").and_then(Value::as_str) {
                    Some(kind) => format!("{kind}: {message}"),
                    None => message.to_owned(),
                };
                return Err((true, reason));
            }
            // `content_block_stop`, `ping`, and event types added later (the API's
            // versioning policy says to ignore those).
            _ => {}
        }
        Ok(Step::Nothing)
    }

    fn add_text(&mut self, text: &str) -> Result<Step, (bool, String)> {
        if text.is_empty() {
            return Ok(Step::Nothing);
        }
        if self.text.len() + text.len() > MAX_TEXT_BYTES {
            return Err((
                false,
                format!("the answer text went past {} KiB", MAX_TEXT_BYTES / 1024),
            ));
        }
        self.text.push_str(text);
        Ok(Step::Text(text.to_owned()))
    }

    /// The reply once the stream has ended.
    pub(crate) fn finish(self, default_model: &str) -> Result<ModelReply, String> {
        if !self.done && self.stop.is_none() {
            return Err("the stream ended before message_stop".into());
        }
        let tool_calls: Vec<ToolCall> = self
            .blocks
            .into_iter()
            .flatten()
            .filter_map(|block| match block {
                Block::ToolUse {
                    id,
                    name,
                    arguments,
                } => Some(ToolCall {
                    id,
                    name,
                    // A tool with no arguments streams no input_json_delta at all.
                    arguments: if arguments.trim().is_empty() {
                        "{}".into()
                    } else {
                        arguments
                    },
                }),
                Block::Text | Block::Other => None,
            })
            .collect();
        Ok(ModelReply {
            stop: stop_reason(self.stop.as_deref(), !tool_calls.is_empty()),
            text: self.text,
            tool_calls,
            model: self.model.unwrap_or_else(|| default_model.to_owned()),
        })
    }
}

fn string_field(value: &Value, name: &str) -> String {
    value
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Reads a whole (not streamed) `message` object.
pub(crate) fn whole_reply(body: &Value, default_model: &str) -> Result<ModelReply, String> {
    let content = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no content array in {}", fold(&body.to_string(), 200)))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: string_field(block, "id"),
                name: string_field(block, "name"),
                arguments: block
                    .get("input")
                    .map_or_else(|| "{}".into(), Value::to_string),
            }),
            _ => {}
        }
    }
    Ok(ModelReply {
        stop: stop_reason(
            body.get("stop_reason").and_then(Value::as_str),
            !tool_calls.is_empty(),
        ),
        text,
        tool_calls,
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(default_model)
            .to_owned(),
    })
}

#[async_trait]
impl ChatModel for AnthropicModel {
    fn describe(&self) -> String {
        format!("{} at {} (Anthropic)", self.model, self.base_url)
    }

    async fn complete(
        &self,
        request: ModelRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ModelReply, ModelError> {
        let body = request_body(request, &self.model, self.stream);
        let response = self.send(&body).await?;
        if !self.stream {
            let bytes = read_bounded(response, MAX_BODY_BYTES)
                .await
                .map_err(|e| self.unreadable(e))?;
            let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
                self.unreadable(format!(
                    "{e}: {}",
                    fold(&String::from_utf8_lossy(&bytes), 200)
                ))
            })?;
            let reply = whole_reply(&body, &self.model).map_err(|e| self.unreadable(e))?;
            if !reply.text.is_empty() {
                on_text(&reply.text);
            }
            return Ok(reply);
        }
        let mut parser = SseParser::default();
        let mut state = StreamState::default();
        let mut bytes = response.bytes_stream();
        let mut apply = |state: &mut StreamState, event: &SseEvent| match state.apply(event) {
            Ok(Step::Text(text)) => {
                on_text(&text);
                Ok(())
            }
            Ok(Step::Nothing) => Ok(()),
            Err((true, reason)) => Err(self.failed(reason)),
            Err((false, reason)) => Err(self.unreadable(reason)),
        };
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| self.failed(format!("the stream broke off: {e}")))?;
            for event in parser.push(&chunk).map_err(|e| self.unreadable(e))? {
                apply(&mut state, &event)?;
            }
        }
        if let Some(event) = parser.finish() {
            apply(&mut state, &event)?;
        }
        state.finish(&self.model).map_err(|e| self.unreadable(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolSpec;

    #[test]
    fn the_conversation_maps_onto_messages() {
        let request = ModelRequest {
            messages: vec![
                Message::System {
                    content: "Be brief.".into(),
                },
                Message::User {
                    content: "Price of AAPL?".into(),
                },
                Message::Assistant {
                    content: String::new(),
                    tool_calls: vec![
                        ToolCall {
                            id: "toolu_1".into(),
                            name: "get_stock_price".into(),
                            arguments: r#"{"symbol":"AAPL"}"#.into(),
                        },
                        ToolCall {
                            id: "toolu_2".into(),
                            name: "broken".into(),
                            arguments: "not json".into(),
                        },
                    ],
                },
                Message::Tool {
                    tool_call_id: "toolu_1".into(),
                    content: "150.25".into(),
                },
                Message::Tool {
                    tool_call_id: "toolu_2".into(),
                    content: "error: bad arguments".into(),
                },
            ],
            tools: vec![ToolSpec {
                name: "get_stock_price".into(),
                description: "A price".into(),
                parameters: json!({"type": "object"}),
            }],
            max_tokens: Some(100),
            temperature: Some(0.5),
            model: None,
        };
        let body = request_body(request, "claude-x", true);
        assert_eq!(
            body,
            json!({
                "model": "claude-x",
                "max_tokens": 100,
                "system": "Be brief.",
                "stream": true,
                "temperature": 0.5,
                "tools": [{"name": "get_stock_price", "description": "A price",
                           "input_schema": {"type": "object"}}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Price of AAPL?"}]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "get_stock_price",
                         "input": {"symbol": "AAPL"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "broken", "input": {}}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "150.25"},
                        {"type": "tool_result", "tool_use_id": "toolu_2",
                         "content": "error: bad arguments"}
                    ]}
                ]
            })
        );
    }

    #[test]
    fn max_tokens_defaults_and_the_request_may_name_a_model() {
        let body = request_body(
            ModelRequest {
                messages: vec![Message::User {
                    content: "hi".into(),
                }],
                model: Some("claude-other".into()),
                ..ModelRequest::default()
            },
            "claude-x",
            false,
        );
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["model"], "claude-other");
        assert!(body.get("stream").is_none() && body.get("tools").is_none());
        assert!(body.get("system").is_none());
    }

    fn events(stream: &str) -> Result<Vec<SseEvent>, String> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        // Fed in 7-byte pieces: events split anywhere must come out whole.
        for piece in stream.as_bytes().chunks(7) {
            out.extend(parser.push(piece)?);
        }
        out.extend(parser.finish());
        Ok(out)
    }

    fn run(stream: &str) -> Result<(ModelReply, Vec<String>), (bool, String)> {
        let mut shown = Vec::new();
        let mut state = StreamState::default();
        for event in events(stream).map_err(|e| (false, e))? {
            if let Step::Text(text) = state.apply(&event)? {
                shown.push(text);
            }
        }
        Ok((state.finish("default").map_err(|e| (false, e))?, shown))
    }

    const TOOL_STREAM: &str = concat!(
        "event: message_start\r\n",
        r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test","stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#,
        "\r\n\r\n",
        ": a comment\n\n",
        "event: content_block_start\n",
        r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        "\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Looking "}}"#,
        "\n\nevent: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"it up."}}"#,
        "\n\nevent: content_block_stop\n",
        r#"data: {"type":"content_block_stop","index":0}"#,
        "\n\nevent: content_block_start\n",
        r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"get_stock_price","input":{}}}"#,
        "\n\nevent: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"symbol\": \"AA"}}"#,
        "\n\nevent: content_block_delta\n",
        r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"PL\"}"}}"#,
        "\n\nevent: content_block_stop\n",
        r#"data: {"type":"content_block_stop","index":1}"#,
        "\n\nevent: content_block_start\n",
        r#"data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_10","name":"list_symbols","input":{}}}"#,
        "\n\nevent: content_block_stop\n",
        r#"data: {"type":"content_block_stop","index":2}"#,
        "\n\nevent: message_delta\n",
        r#"data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#,
        "\n\nevent: message_stop\n",
        r#"data: {"type":"message_stop"}"#,
        "\n\n"
    );

    #[test]
    fn a_streamed_answer_with_text_and_tool_use() -> Result<(), (bool, String)> {
        let (reply, shown) = run(TOOL_STREAM)?;
        assert_eq!(shown, ["Looking ", "it up."]);
        assert_eq!(reply.text, "Looking it up.");
        assert_eq!(reply.model, "claude-test");
        assert_eq!(reply.stop, StopReason::ToolUse);
        assert_eq!(
            reply.tool_calls,
            [
                ToolCall {
                    id: "toolu_9".into(),
                    name: "get_stock_price".into(),
                    arguments: r#"{"symbol": "AAPL"}"#.into(),
                },
                ToolCall {
                    id: "toolu_10".into(),
                    name: "list_symbols".into(),
                    arguments: "{}".into(),
                }
            ]
        );
        Ok(())
    }

    #[test]
    fn an_error_event_is_the_endpoints_error() {
        let stream = concat!(
            "event: message_start\n",
            r#"data: {"type":"message_start","message":{"model":"claude-test","content":[]}}"#,
            "\n\nevent: error\n",
            r#"data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
            "\n\n"
        );
        assert_eq!(
            run(stream).map(|_| ()),
            Err((true, "overloaded_error: Overloaded".into()))
        );
    }

    #[test]
    fn malformed_streams_are_unreadable_not_panics() {
        // Data that is no JSON.
        let err = run("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n");
        assert!(
            matches!(&err, Err((false, m)) if m.contains("no JSON")),
            "{err:?}"
        );
        // Tool input for a block that was never started, and an absurd index.
        let err = run(concat!(
            r#"data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            "\n\n"
        ));
        assert!(
            matches!(&err, Err((false, m)) if m.contains("no tool_use block")),
            "{err:?}"
        );
        let err = run(concat!(
            r#"data: {"type":"content_block_start","index":99999999999,"content_block":{"type":"text","text":""}}"#,
            "\n\n"
        ));
        assert!(
            matches!(&err, Err((false, m)) if m.contains("index")),
            "{err:?}"
        );
        // A stream cut off before the message ended.
        let cut = &TOOL_STREAM[..TOOL_STREAM.find("event: message_delta").unwrap_or(0)];
        let err = run(cut);
        assert!(
            matches!(&err, Err((false, m)) if m.contains("message_stop")),
            "{err:?}"
        );
        // An event that never ends is cut off at the bound.
        let mut parser = SseParser::default();
        let err = parser.push(&vec![b'x'; MAX_EVENT_BYTES + 1]);
        assert!(matches!(&err, Err(m) if m.contains("KiB")), "{err:?}");
    }

    #[test]
    fn a_whole_answer_and_api_errors() -> Result<(), String> {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_stock_price",
                 "input": {"symbol": "AAPL"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}
        });
        let reply = whole_reply(&body, "default")?;
        assert_eq!(reply.text, "Checking.");
        assert_eq!(reply.stop, StopReason::ToolUse);
        assert_eq!(reply.tool_calls[0].arguments, r#"{"symbol":"AAPL"}"#);
        assert!(whole_reply(&json!({"type": "message"}), "d").is_err());
        assert_eq!(
            http_error(
                401,
                br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            ),
            "HTTP 401: authentication_error: invalid x-api-key (check the API key)"
        );
        assert_eq!(
            http_error(502, b"<html>bad gateway</html>"),
            "HTTP 502: <html>bad gateway</html>"
        );
        Ok(())
    }
}
