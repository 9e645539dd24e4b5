//! The client side of each server connection: sampling answered by the configured model
//! once the person approves, elicitation as a terminal form, log lines at the level the
//! person chose, progress, and list-changed notices that make the console list again.
#![allow(deprecated)] // Sampling and logging are deprecated by SEP-2577 but servers still use them.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, ContextInclusion, CreateMessageRequestParams,
        CreateMessageResult, CustomNotification, ElicitRequestParams, ElicitResult,
        ElicitationAction, ElicitationCapability, ErrorCode, FormElicitationCapability,
        Implementation, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
        Role, SamplingCapability, SamplingMessage, UrlElicitationCapability,
    },
    service::{NotificationContext, RequestContext},
};
use serde::Serialize;

mod progress;
mod url_elicitation;

pub use url_elicitation::{
    DEFAULT_URL_WAIT, URL_ELICITATION_REQUIRED, UrlRequest, UrlWaits, url_requests,
};

use crate::{
    form,
    model::{ChatModel, Message, ModelRequest, StopReason},
    person::{Approval, FormAnswer, Person},
    settings::HOW_TO_CONFIGURE,
    show::{DIM, Screen, clean, fold},
};

/// What every server connection of one console shares.
pub struct Shared {
    /// The model, when one is configured (`/model` may change it).
    pub model: RwLock<Option<Arc<dyn ChatModel>>>,
    /// Who answers questions.
    pub person: Arc<dyn Person>,
    /// Where to show things.
    pub screen: Screen,
    /// Answer sampling without asking (`--approve-sampling`).
    pub approve_sampling: bool,
    /// Server log lines at or above this level are shown (`/loglevel`).
    log_level: AtomicU8,
    /// A server said its tools, prompts or resources changed.
    changed: AtomicBool,
    /// The sampling requests answered (or refused), for the transcript.
    samplings: Mutex<Vec<SamplingRecord>>,
    /// URL-mode elicitations the person agreed to, until their servers say they are done.
    urls: tokio::sync::watch::Sender<UrlWaits>,
    /// How long to wait for a server to say a page is done before giving up.
    url_wait: Duration,
    /// The conversation as a server's sampling request may see it (`includeContext`).
    context: Mutex<Vec<ContextLine>>,
    /// The servers with a tool call in flight, with a bar per progress token they reported.
    progress: Mutex<HashMap<String, Vec<(String, indicatif::ProgressBar)>>>,
    /// Models a sampling request may pick by its preferences ([`crate::preferences`]).
    sampling_models: Mutex<Vec<String>>,
}

/// One line of the conversation, for `includeContext`: who said it, and which server it
/// belongs to (a tool call or result), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextLine {
    /// The server of a tool call or result; `None` for the person's and model's words.
    pub server: Option<String>,
    /// `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// What was said.
    pub text: String,
}

/// The most characters of one context line passed to a sampling request.
const CONTEXT_LINE_CHARS: usize = 2_000;

/// The conversation `messages` as context lines; tool calls and results are attributed to
/// their server by `server_of` (the model's name of a tool → its server's name).
pub fn context_lines(
    messages: &[Message],
    server_of: &dyn Fn(&str) -> Option<(String, String)>,
) -> Vec<ContextLine> {
    let mut calls: HashMap<&str, (String, String)> = HashMap::new();
    let mut lines = Vec::new();
    let mut push = |server: Option<String>, role, text: &str| {
        if !text.trim().is_empty() {
            lines.push(ContextLine {
                server,
                role,
                text: fold(text.trim(), CONTEXT_LINE_CHARS),
            });
        }
    };
    for message in messages {
        match message {
            // The console's own instructions to its model are not the server's business.
            Message::System { .. } => {}
            Message::User { content } => push(None, "user", content),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                push(None, "assistant", content);
                for call in tool_calls {
                    let Some((server, tool)) = server_of(&call.name) else {
                        continue;
                    };
                    push(
                        Some(server.clone()),
                        "assistant",
                        &format!("called {tool}({})", call.arguments),
                    );
                    calls.insert(call.id.as_str(), (server, tool));
                }
            }
            Message::Tool {
                tool_call_id,
                content,
            } => {
                if let Some((server, tool)) = calls.get(tool_call_id.as_str()) {
                    push(Some(server.clone()), "tool", &format!("{tool} → {content}"));
                }
            }
        }
    }
    lines
}

/// The longest an elicitation id is kept (a server's id is untrusted input).
const MAX_ELICITATION_ID: usize = 256;
/// One sampling request as the transcript records it.
#[derive(Debug, Clone, Serialize)]
pub struct SamplingRecord {
    /// The server that asked.
    pub server: String,
    /// The messages it sent, as text.
    pub messages: Vec<Message>,
    /// What the model answered, or `None` when refused or failed.
    pub answer: Option<String>,
    /// Why there is no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub millis: u128,
}

impl Shared {
    /// Shared state for a console with `model` (or none), asking `person`.
    pub fn new(
        model: Option<Arc<dyn ChatModel>>,
        person: Arc<dyn Person>,
        screen: Screen,
        approve_sampling: bool,
    ) -> Arc<Self> {
        Self::with_url_wait(model, person, screen, approve_sampling, DEFAULT_URL_WAIT)
    }

    /// The same, waiting at most `url_wait` for a server to say a page is done.
    pub fn with_url_wait(
        model: Option<Arc<dyn ChatModel>>,
        person: Arc<dyn Person>,
        screen: Screen,
        approve_sampling: bool,
        url_wait: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            model: RwLock::new(model),
            person,
            screen,
            approve_sampling,
            log_level: AtomicU8::new(level_rank(LoggingLevel::Warning)),
            changed: AtomicBool::new(false),
            samplings: Mutex::new(Vec::new()),
            urls: tokio::sync::watch::Sender::new(UrlWaits::default()),
            url_wait,
            progress: Mutex::new(HashMap::new()),
            context: Mutex::new(Vec::new()),
            sampling_models: Mutex::new(Vec::new()),
        })
    }

    /// Lets sampling requests pick among `models` by their `modelPreferences`.
    pub fn set_sampling_models(&self, models: Vec<String>) {
        if let Ok(mut slot) = self.sampling_models.lock() {
            *slot = models;
        }
    }

    /// What sampling requests asking for `includeContext` may see from now on.
    pub fn share_context(&self, lines: Vec<ContextLine>) {
        if let Ok(mut context) = self.context.lock() {
            *context = lines;
        }
    }

    /// The conversation lines `server` may see: with `thisServer`, the person's and the
    /// model's words and only this server's tool calls and results; with `allServers`,
    /// every line; otherwise none.
    fn context_for(&self, server: &str, inclusion: Option<&ContextInclusion>) -> Vec<ContextLine> {
        let lines = self.context.lock().map(|c| c.clone()).unwrap_or_default();
        match inclusion {
            Some(ContextInclusion::AllServers) => lines,
            Some(ContextInclusion::ThisServer) => lines
                .into_iter()
                .filter(|l| l.server.as_deref().is_none_or(|s| s == server))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The model, if any.
    pub fn model(&self) -> Option<Arc<dyn ChatModel>> {
        self.model.read().ok().and_then(|m| m.clone())
    }

    /// Shows server log lines at `level` and above.
    pub fn set_log_level(&self, level: LoggingLevel) {
        self.log_level.store(level_rank(level), Ordering::Relaxed);
    }

    /// Whether a list changed since the last call (and forgets it).
    pub fn take_changed(&self) -> bool {
        self.changed.swap(false, Ordering::Relaxed)
    }

    /// The sampling requests seen since the last call.
    pub fn take_samplings(&self) -> Vec<SamplingRecord> {
        self.samplings
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    fn record(&self, record: SamplingRecord) {
        if let Ok(mut samplings) = self.samplings.lock() {
            samplings.push(record);
        }
    }
}

/// rmcp's `LoggingLevel` in order of severity.
pub fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The handler of one server's connection.
#[derive(Clone)]
pub struct ChatClient {
    server: String,
    shared: Arc<Shared>,
}

impl ChatClient {
    /// The handler for the server called `server`.
    pub fn new(server: impl Into<String>, shared: Arc<Shared>) -> Self {
        Self {
            server: server.into(),
            shared,
        }
    }

    async fn sample(
        &self,
        params: CreateMessageRequestParams,
    ) -> Result<CreateMessageResult, String> {
        let model = self
            .shared
            .model()
            .ok_or_else(|| HOW_TO_CONFIGURE.to_owned())?;
        let mut messages = Vec::new();
        if let Some(system) = params
            .system_prompt
            .clone()
            .filter(|s| !s.trim().is_empty())
        {
            messages.push(Message::System { content: system });
        }
        // includeContext: the conversation so far, as one message before the server's own,
        // so the model reads it whatever shape the server's messages have.
        let context = self
            .shared
            .context_for(&self.server, params.include_context.as_ref());
        if !context.is_empty() {
            let lines: Vec<String> = context
                .iter()
                .map(|l| format!("{}: {}", l.role, l.text))
                .collect();
            messages.push(Message::User {
                content: format!("The conversation so far:\n{}", lines.join("\n")),
            });
        }
        for message in &params.messages {
            let content = sampling_text(message);
            messages.push(match message.role {
                Role::User => Message::User { content },
                Role::Assistant => Message::Assistant {
                    content,
                    tool_calls: Vec::new(),
                },
            });
        }
        let summary = summary(&params, &messages);
        if !self.shared.approve_sampling {
            match self
                .shared
                .person
                .approve_sampling(&self.server, &summary)
                .await
            {
                Approval::Approve => {}
                Approval::Edit(text) => match messages.last_mut() {
                    Some(Message::User { content } | Message::Assistant { content, .. }) => {
                        *content = text;
                    }
                    _ => messages.push(Message::User { content: text }),
                },
                Approval::Refuse => return Err("the person refused the sampling request".into()),
            }
        }
        let chosen = self.shared.sampling_models.lock().ok().and_then(|models| {
            crate::preferences::pick(params.model_preferences.as_ref(), &models)
        });
        let request = ModelRequest {
            messages,
            tools: Vec::new(),
            max_tokens: Some(params.max_tokens),
            temperature: params.temperature,
            model: chosen,
        };
        let reply = model
            .complete(request, &mut |_| {})
            .await
            .map_err(|e| e.to_string())?;
        self.shared.screen.note(&format!(
            "  {} answered {}: {}",
            reply.model,
            self.server,
            fold(reply.text.trim(), 120)
        ));
        let stop = match reply.stop {
            StopReason::MaxTokens => CreateMessageResult::STOP_REASON_END_MAX_TOKEN,
            _ => CreateMessageResult::STOP_REASON_END_TURN,
        };
        let mut result =
            CreateMessageResult::new(SamplingMessage::assistant_text(reply.text), reply.model);
        result.stop_reason = Some(stop.to_owned());
        Ok(result)
    }
}

/// A sampling message's text; blocks a chat model cannot read are named instead.
fn sampling_text(message: &SamplingMessage) -> String {
    message
        .content
        .clone()
        .into_vec()
        .iter()
        .map(|block| match block.as_text() {
            Some(text) => text.text.clone(),
            None => "[non-text content omitted]".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the person sees before approving: the system prompt, the messages, the limits.
fn summary(params: &CreateMessageRequestParams, messages: &[Message]) -> String {
    let mut lines = Vec::new();
    for message in messages {
        let (role, text) = match message {
            Message::System { content } => ("system", content),
            Message::User { content } => ("user", content),
            Message::Assistant { content, .. } => ("assistant", content),
            Message::Tool { content, .. } => ("tool", content),
        };
        lines.push(format!("  {DIM}{role}:{DIM:#} {}", fold(text.trim(), 400)));
    }
    let mut limits = format!("at most {} tokens", params.max_tokens);
    if let Some(hints) = params
        .model_preferences
        .as_ref()
        .and_then(|p| p.hints.as_ref())
        .filter(|h| !h.is_empty())
    {
        let names: Vec<String> = hints.iter().filter_map(|h| h.name.clone()).collect();
        limits.push_str(&format!(", prefers {}", clean(&names.join(", "))));
    }
    match params.include_context {
        Some(ContextInclusion::AllServers) => {
            limits.push_str(", with the conversation (every server's calls)")
        }
        Some(ContextInclusion::ThisServer) => {
            limits.push_str(", with the conversation (its own calls only)")
        }
        _ => {}
    }
    lines.push(format!("  {DIM}({limits}){DIM:#}"));
    lines.join("\n")
}

impl ClientHandler for ChatClient {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        // `context`: includeContext is honoured (see `Shared::context_for`).
        let mut sampling = SamplingCapability::default();
        sampling.context = Some(serde_json::Map::new());
        capabilities.sampling = Some(sampling);
        capabilities.elicitation = Some(
            ElicitationCapability::new()
                .with_form(FormElicitationCapability::new().with_schema_validation(true))
                .with_url(UrlElicitationCapability::new()),
        );
        let mut info = ClientConfig::default();
        info.capabilities = capabilities;
        info.client_info = Implementation::new("belay-chat", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let started = Instant::now();
        let messages = params
            .messages
            .iter()
            .map(|m| Message::User {
                content: sampling_text(m),
            })
            .collect();
        let outcome = self.sample(params).await;
        self.shared.record(SamplingRecord {
            server: self.server.clone(),
            messages,
            answer: outcome.as_ref().ok().map(|r| sampling_text(&r.message)),
            error: outcome.as_ref().err().cloned(),
            millis: started.elapsed().as_millis(),
        });
        outcome.map_err(|reason| {
            self.shared
                .screen
                .note(&format!("  sampling for {}: {reason}", self.server));
            // -1: "User rejected sampling request" in the MCP specification's example.
            ErrorData::new(ErrorCode(-1), reason, None)
        })
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let person = &self.shared.person;
        let answer = match request {
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            } => {
                let schema = serde_json::to_value(&requested_schema)
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                let fields = form::fields(&schema).map_err(|reason| {
                    ErrorData::invalid_params(format!("cannot show this form: {reason}"), None)
                })?;
                match person.fill_form(&self.server, &message, &fields).await {
                    FormAnswer::Accept(values) => ElicitResult::new(ElicitationAction::Accept)
                        .with_content(serde_json::Value::Object(values)),
                    FormAnswer::Decline => ElicitResult::new(ElicitationAction::Decline),
                    FormAnswer::Cancel => ElicitResult::new(ElicitationAction::Cancel),
                }
            }
            ElicitRequestParams::UrlElicitationParams {
                message,
                url,
                elicitation_id,
                ..
            } => {
                let action = if person.open_url(&self.server, &message, &url).await {
                    // The server goes on once the page is done; its notice is shown then.
                    if elicitation_id.len() <= MAX_ELICITATION_ID
                        && self.shared.expect_url(&self.server, &elicitation_id)
                    {
                        self.shared.screen.note(&format!(
                            "  {} goes on once the page is done (Ctrl-C stops the turn)",
                            self.server
                        ));
                    }
                    ElicitationAction::Accept
                } else {
                    ElicitationAction::Decline
                };
                ElicitResult::new(action)
            }
            _ => ElicitResult::new(ElicitationAction::Decline),
        };
        Ok(answer)
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if level_rank(params.level) < self.shared.log_level.load(Ordering::Relaxed) {
            return;
        }
        let data = match &params.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.shared.screen.line(&format!(
            "{DIM}[{}{} {:?}]{DIM:#} {}",
            self.server,
            clean(&params.logger.map(|l| format!("/{l}")).unwrap_or_default()),
            params.level,
            fold(&data, 300)
        ));
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.shared.show_progress(&self.server, &params);
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if notification.method != "notifications/elicitation/complete" {
            tracing::debug!(server = %self.server, method = %notification.method, "notification ignored");
            return;
        }
        let id = notification
            .params
            .as_ref()
            .and_then(|p| p.get("elicitationId"))
            .and_then(|id| id.as_str())
            .filter(|id| id.len() <= MAX_ELICITATION_ID);
        match id {
            Some(id) if self.shared.url_done(&self.server, id) => self
                .shared
                .screen
                .note(&format!("  {} says the page is done", self.server)),
            _ => tracing::debug!(server = %self.server, "completion notice for no page waited for"),
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.shared.changed.store(true, Ordering::Relaxed);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.shared.changed.store(true, Ordering::Relaxed);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.shared.changed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
