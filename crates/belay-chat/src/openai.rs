//! [`ChatModel`] over OpenAI-compatible chat completions, through `async-openai`: OpenAI,
//! Azure OpenAI, and local servers (Ollama, vLLM, llama.cpp) by base URL.

use async_openai::{
    Client,
    config::{AzureConfig, OpenAIConfig},
    error::OpenAIError,
    types::chat::{
        ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
        ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
        ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
        ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
        ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
        ChatCompletionRequestUserMessageContent, ChatCompletionTool, ChatCompletionTools,
        CreateChatCompletionRequest, FinishReason, FunctionCall, FunctionObject,
    },
};
use async_trait::async_trait;
use futures::StreamExt;

use crate::{
    model::{ChatModel, Message, ModelError, ModelReply, ModelRequest, StopReason, ToolCall},
    settings::{Endpoint, ModelSettings},
    show::fold,
};

/// The largest tool-call argument text accepted from a streamed answer (1 MiB): an endpoint
/// that streams without end is cut off rather than filling memory.
const MAX_ARGUMENT_BYTES: usize = 1 << 20;
/// The largest answer text accepted (4 MiB), for the same reason.
const MAX_TEXT_BYTES: usize = 4 << 20;

enum Api {
    OpenAi(Client<OpenAIConfig>),
    Azure(Client<AzureConfig>),
}

/// A model behind an OpenAI-compatible endpoint.
pub struct OpenAiModel {
    api: Api,
    model: String,
    where_: String,
    stream: bool,
}

impl OpenAiModel {
    /// A client for `settings`.
    pub fn new(settings: &ModelSettings) -> Self {
        let (api, model, where_) = match &settings.endpoint {
            // An Anthropic endpoint gets [`crate::anthropic::AnthropicModel`] from
            // [`crate::model::for_settings`] and never comes here; were it passed anyway,
            // it is tried as an OpenAI-compatible endpoint rather than a panic.
            Endpoint::OpenAi {
                base_url,
                api_key,
                model,
            }
            | Endpoint::Anthropic {
                base_url,
                api_key,
                model,
            } => {
                // Explicit values only: the defaults would read OPENAI_ORG_ID and the like
                // from the environment into headers built with `unwrap`.
                let config = OpenAIConfig::new()
                    .with_api_base(base_url)
                    .with_api_key(api_key.clone().unwrap_or_default())
                    .with_org_id("")
                    .with_project_id("");
                (
                    Api::OpenAi(Client::with_config(config)),
                    model.clone(),
                    base_url.clone(),
                )
            }
            Endpoint::Azure {
                endpoint,
                deployment,
                api_version,
                api_key,
            } => {
                let config = AzureConfig::new()
                    .with_api_base(endpoint)
                    .with_deployment_id(deployment)
                    .with_api_version(api_version)
                    .with_api_key(api_key);
                (
                    Api::Azure(Client::with_config(config)),
                    deployment.clone(),
                    format!("{endpoint} (Azure)"),
                )
            }
        };
        Self {
            api,
            model,
            where_,
            stream: settings.stream,
        }
    }

    fn fail(&self, error: OpenAIError) -> ModelError {
        let reason = match &error {
            OpenAIError::Reqwest(e) if e.is_connect() => {
                format!("cannot connect ({e}); is the server running and --base-url right?")
            }
            OpenAIError::ApiError(api) => {
                let mut reason = api.to_string();
                if reason.contains("401") || reason.to_lowercase().contains("api key") {
                    reason.push_str(" (check the API key)");
                }
                reason
            }
            OpenAIError::JSONDeserialize(e, body) => {
                return ModelError::Unreadable {
                    endpoint: self.where_.clone(),
                    reason: format!("{e}: {}", fold(body, 200)),
                };
            }
            other => other.to_string(),
        };
        ModelError::Endpoint {
            endpoint: self.where_.clone(),
            reason,
        }
    }

    fn request(&self, request: ModelRequest, stream: bool) -> CreateChatCompletionRequest {
        let mut out = CreateChatCompletionRequest {
            model: request.model.unwrap_or_else(|| self.model.clone()),
            messages: request.messages.into_iter().map(to_openai).collect(),
            max_completion_tokens: request.max_tokens,
            temperature: request.temperature,
            ..CreateChatCompletionRequest::default()
        };
        if !request.tools.is_empty() {
            out.tools = Some(
                request
                    .tools
                    .into_iter()
                    .map(|tool| {
                        ChatCompletionTools::Function(ChatCompletionTool {
                            function: FunctionObject {
                                name: tool.name,
                                description: Some(tool.description),
                                parameters: Some(tool.parameters),
                                strict: None,
                            },
                        })
                    })
                    .collect(),
            );
        }
        if stream {
            out.stream = Some(true);
        }
        out
    }
}

fn to_openai(message: Message) -> ChatCompletionRequestMessage {
    match message {
        Message::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content),
                name: None,
            })
        }
        Message::User { content } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(content),
                name: None,
            })
        }
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut message = ChatCompletionRequestAssistantMessage::default();
            if !content.is_empty() || tool_calls.is_empty() {
                message.content = Some(ChatCompletionRequestAssistantMessageContent::Text(content));
            }
            if !tool_calls.is_empty() {
                message.tool_calls = Some(
                    tool_calls
                        .into_iter()
                        .map(|call| {
                            ChatCompletionMessageToolCalls::Function(
                                ChatCompletionMessageToolCall {
                                    id: call.id,
                                    function: FunctionCall {
                                        name: call.name,
                                        arguments: call.arguments,
                                    },
                                },
                            )
                        })
                        .collect(),
                );
            }
            ChatCompletionRequestMessage::Assistant(message)
        }
        Message::Tool {
            tool_call_id,
            content,
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content),
            tool_call_id,
        }),
    }
}

fn stop_reason(reason: Option<FinishReason>, has_calls: bool) -> StopReason {
    match reason {
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => StopReason::ToolUse,
        Some(FinishReason::Length) => StopReason::MaxTokens,
        Some(FinishReason::Stop) | None if has_calls => StopReason::ToolUse,
        Some(FinishReason::Stop) | None => StopReason::EndTurn,
        Some(_) => StopReason::Other,
    }
}

/// A tool call as its streamed pieces arrive (OpenAI sends the id and name first, then the
/// arguments in fragments, all under one `index`).
#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Gives calls that came without an id one (some local servers send none), so each tool
/// message answers exactly one call.
fn finish_calls(calls: Vec<PartialCall>) -> Vec<ToolCall> {
    calls
        .into_iter()
        .enumerate()
        .filter(|(_, call)| !call.name.is_empty())
        .map(|(n, call)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{n}")),
            name: call.name,
            arguments: call.arguments,
        })
        .collect()
}

#[async_trait]
impl ChatModel for OpenAiModel {
    fn describe(&self) -> String {
        format!("{} at {}", self.model, self.where_)
    }

    async fn complete(
        &self,
        request: ModelRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ModelReply, ModelError> {
        if self.stream {
            self.complete_streamed(request, on_text).await
        } else {
            self.complete_whole(request, on_text).await
        }
    }
}

impl OpenAiModel {
    async fn complete_whole(
        &self,
        request: ModelRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ModelReply, ModelError> {
        let request = self.request(request, false);
        let response = match &self.api {
            Api::OpenAi(client) => client.chat().create(request).await,
            Api::Azure(client) => client.chat().create(request).await,
        }
        .map_err(|e| self.fail(e))?;
        let model = response.model;
        let Some(choice) = response.choices.into_iter().next() else {
            return Err(ModelError::Unreadable {
                endpoint: self.where_.clone(),
                reason: "the answer has no choices".into(),
            });
        };
        let text = choice.message.content.unwrap_or_default();
        if !text.is_empty() {
            on_text(&text);
        }
        let tool_calls: Vec<ToolCall> = finish_calls(
            choice
                .message
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .filter_map(|call| match call {
                    ChatCompletionMessageToolCalls::Function(call) => Some(PartialCall {
                        id: Some(call.id).filter(|id| !id.is_empty()),
                        name: call.function.name,
                        arguments: call.function.arguments,
                    }),
                    ChatCompletionMessageToolCalls::Custom(_) => None,
                })
                .collect(),
        );
        let stop = stop_reason(choice.finish_reason, !tool_calls.is_empty());
        Ok(ModelReply {
            text,
            tool_calls,
            stop,
            model,
        })
    }

    async fn complete_streamed(
        &self,
        request: ModelRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ModelReply, ModelError> {
        let request = self.request(request, true);
        let mut stream = match &self.api {
            Api::OpenAi(client) => client.chat().create_stream(request).await,
            Api::Azure(client) => client.chat().create_stream(request).await,
        }
        .map_err(|e| self.fail(e))?;
        let mut text = String::new();
        let mut calls: Vec<PartialCall> = Vec::new();
        let mut finish = None;
        let mut model = self.model.clone();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.fail(e))?;
            if !chunk.model.is_empty() {
                model = chunk.model;
            }
            // Only the first choice: the console never asks for more than one.
            let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) else {
                continue;
            };
            if let Some(piece) = choice.delta.content.filter(|p| !p.is_empty()) {
                if text.len() + piece.len() > MAX_TEXT_BYTES {
                    return Err(self.too_long("answer text", MAX_TEXT_BYTES));
                }
                on_text(&piece);
                text.push_str(&piece);
            }
            for piece in choice.delta.tool_calls.unwrap_or_default() {
                let index = piece.index as usize;
                if index > 127 {
                    return Err(ModelError::Unreadable {
                        endpoint: self.where_.clone(),
                        reason: format!("tool call index {index} in a streamed answer"),
                    });
                }
                if calls.len() <= index {
                    calls.resize_with(index + 1, PartialCall::default);
                }
                let call = &mut calls[index];
                if let Some(id) = piece.id.filter(|id| !id.is_empty()) {
                    call.id = Some(id);
                }
                if let Some(function) = piece.function {
                    if let Some(name) = function.name {
                        call.name.push_str(&name);
                    }
                    if let Some(arguments) = function.arguments {
                        if call.arguments.len() + arguments.len() > MAX_ARGUMENT_BYTES {
                            return Err(self.too_long("tool call's arguments", MAX_ARGUMENT_BYTES));
                        }
                        call.arguments.push_str(&arguments);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                finish = choice.finish_reason;
            }
        }
        let tool_calls = finish_calls(calls);
        Ok(ModelReply {
            stop: stop_reason(finish, !tool_calls.is_empty()),
            text,
            tool_calls,
            model,
        })
    }

    fn too_long(&self, what: &str, limit: usize) -> ModelError {
        ModelError::Unreadable {
            endpoint: self.where_.clone(),
            reason: format!("the {what} went past {} KiB", limit / 1024),
        }
    }
}
