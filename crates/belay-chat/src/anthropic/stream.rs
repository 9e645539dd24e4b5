//! Reading a streamed Messages answer: server-sent events cut into events within a size
//! bound ([`SseParser`]), and the events folded into one reply ([`StreamState`]), each
//! content block, argument and text bounded too (the endpoint is not trusted to stop).

use serde_json::Value;

use super::{stop_reason, string_field};
use crate::{
    model::{ModelReply, ToolCall},
    show::fold,
};

/// The largest single server-sent event (1 MiB).
pub(super) const MAX_EVENT_BYTES: usize = 1 << 20;
/// The largest tool-call argument text accepted from a streamed answer (1 MiB).
const MAX_ARGUMENT_BYTES: usize = 1 << 20;
/// The largest answer text accepted (4 MiB).
const MAX_TEXT_BYTES: usize = 4 << 20;
/// The most content blocks one answer may have.
const MAX_BLOCKS: usize = 128;

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
