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

mod stream;

pub(crate) use stream::{SseEvent, SseParser, Step, StreamState};

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
mod tests;
