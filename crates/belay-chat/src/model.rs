//! The language model behind the console, as a small trait: a conversation and the tools it
//! may call go in, streamed text and tool calls come out. [`crate::openai`] implements it
//! for every OpenAI-compatible chat-completions endpoint, [`crate::anthropic`] for
//! Anthropic's Messages API; [`for_settings`] picks one.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::{
    anthropic::AnthropicModel,
    openai::OpenAiModel,
    settings::{Endpoint, ModelSettings},
};

/// One message of the conversation, in the order the model reads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    /// Instructions for the model.
    System {
        /// The text.
        content: String,
    },
    /// What the person (or a prompt put into the conversation) said.
    User {
        /// The text.
        content: String,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// The text (may be empty when the model only called tools).
        content: String,
        /// The tools it asked to call, in order.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// A tool's result, answering one of the assistant's tool calls.
    Tool {
        /// The [`ToolCall::id`] it answers.
        tool_call_id: String,
        /// The result as text (an error result says so in words, for the model to read).
        content: String,
    },
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The model's id for this call, echoed in the [`Message::Tool`] answer.
    pub id: String,
    /// The tool's name as the model knows it ([`ToolSpec::name`]).
    pub name: String,
    /// The arguments as the JSON text the model wrote (not necessarily valid JSON).
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The name the model calls it by (`^[A-Za-z0-9_-]{1,64}$`, the APIs' rule).
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub parameters: serde_json::Value,
}

/// What one model request asks for.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call (none: it can only answer).
    pub tools: Vec<ToolSpec>,
    /// The most tokens to generate, when the caller limits it (sampling's `maxTokens`).
    pub max_tokens: Option<u32>,
    /// Sampling temperature, when the caller sets one.
    pub temperature: Option<f32>,
    /// A model to use instead of the configured one (a server's `modelPreferences` hint
    /// that names one); `None` keeps the configured model.
    pub model: Option<String>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its answer.
    EndTurn,
    /// It wants tools called.
    ToolUse,
    /// It ran into the token limit.
    MaxTokens,
    /// Anything else the endpoint said (content filter, unknown reasons).
    Other,
}

/// The model's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    /// The text it wrote (already streamed to the caller's `on_text`).
    pub text: String,
    /// The tools it asked to call.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub stop: StopReason,
    /// The model that answered, as the endpoint named it.
    pub model: String,
}

/// An error from the model's endpoint, said so a person knows what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The endpoint could not be reached or answered with an error.
    #[error("the model endpoint {endpoint} failed: {reason}")]
    Endpoint {
        /// Where the request went.
        endpoint: String,
        /// What went wrong, with the endpoint's own message when it gave one.
        reason: String,
    },
    /// The endpoint answered something that is no chat completion.
    #[error("the model endpoint {endpoint} answered something unreadable: {reason}")]
    Unreadable {
        /// Where the request went.
        endpoint: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// A chat model: OpenAI-compatible endpoints ([`crate::openai::OpenAiModel`]) or
/// Anthropic's Messages API ([`crate::anthropic::AnthropicModel`]).
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The model's name and where it runs, for `/model` and the banner.
    fn describe(&self) -> String;

    /// Sends `request`; text is passed to `on_text` as it arrives (streamed endpoints) or at
    /// once (others), and the whole reply is returned at the end.
    async fn complete(
        &self,
        request: ModelRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ModelReply, ModelError>;
}

/// The model client `settings` name.
pub fn for_settings(settings: &ModelSettings) -> Arc<dyn ChatModel> {
    match &settings.endpoint {
        Endpoint::Anthropic {
            base_url,
            api_key,
            model,
        } => Arc::new(AnthropicModel::new(
            base_url,
            api_key.clone(),
            model,
            settings.stream,
        )),
        Endpoint::OpenAi { .. } | Endpoint::Azure { .. } => Arc::new(OpenAiModel::new(settings)),
    }
}
