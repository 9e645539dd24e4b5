//! The console's slash commands: what the servers offer, calls and reads without a model,
//! and the console's own settings.
#![allow(deprecated)] // Logging is deprecated by SEP-2577 but servers still use it.

use rmcp::model::{
    GetPromptRequestParams, LoggingLevel, ReadResourceRequestParams, ResourceContents, Role,
    SetLevelRequestParams,
};
use serde_json::{Map, Value};

use crate::{
    console::Console,
    model::Message,
    show::{DIM, NAME, clean, content_text, fold},
    turn,
};

/// What the console does after a command.
pub(crate) enum After {
    /// Read the next line.
    Continue,
    /// Leave.
    Quit,
    /// Run a turn with this text (a prompt's last user message).
    Turn(String),
}

const HELP: &str = "\
/tools                 the tools the model may call
/resources             the servers' resources
/prompts               the servers' prompts
/prompt NAME k=v …     put a prompt's messages into the conversation
/read URI              read a resource
/call TOOL {json}      call a tool yourself
/servers               the connected servers
/model [NAME]          the model in use, or switch to NAME
/loglevel LEVEL        server log lines shown: debug, info, notice, warning, error
/clear                 forget the conversation
/quit                  leave (or Ctrl-D)";

impl Console {
    /// Runs the slash command `line` (which starts with `/`).
    pub(crate) async fn command(&mut self, line: &str) -> After {
        let line = line.trim();
        let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let screen = self.shared.screen;
        match name {
            "/quit" | "/exit" | "/q" => return After::Quit,
            "/help" | "/?" => screen.line(HELP),
            "/tools" => self.tools(),
            "/resources" => self.resources().await,
            "/prompts" => self.prompts().await,
            "/prompt" => return self.prompt(rest).await,
            "/read" => self.read(rest).await,
            "/call" => self.call(rest).await,
            "/servers" => self.servers_list(),
            "/model" => self.model(rest),
            "/loglevel" => self.log_level(rest).await,
            "/clear" => {
                self.reset_conversation();
                screen.note("the conversation is forgotten");
            }
            other => screen.error(&format!("unknown command `{other}`; /help lists them")),
        }
        After::Continue
    }

    fn tools(&self) {
        let screen = self.shared.screen;
        if self.servers.tools.is_empty() {
            screen.note("no tools");
        }
        for entry in &self.servers.tools {
            let description = entry.tool.description.as_deref().unwrap_or_default();
            let first = description.lines().next().unwrap_or_default();
            screen.line(&format!(
                "{NAME}{}{NAME:#}  {DIM}{}{DIM:#}",
                clean(&entry.shown),
                fold(first, 100)
            ));
        }
    }

    async fn resources(&self) {
        let (resources, notes) = self.servers.resources().await;
        let screen = self.shared.screen;
        notes.iter().for_each(|n| screen.error(n));
        if resources.is_empty() {
            screen.note("no resources");
        }
        for (server, resource) in resources {
            let server = self.server_name(server);
            screen.line(&format!(
                "{NAME}{}{NAME:#}  {DIM}{server}: {}{DIM:#}",
                clean(&resource.uri),
                clean(&resource.name)
            ));
        }
    }

    async fn prompts(&self) {
        let (prompts, notes) = self.servers.prompts().await;
        let screen = self.shared.screen;
        notes.iter().for_each(|n| screen.error(n));
        if prompts.is_empty() {
            screen.note("no prompts");
        }
        for (server, prompt) in prompts {
            let arguments: Vec<String> = prompt
                .arguments
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    if a.required.unwrap_or(false) {
                        format!("{}=…", a.name)
                    } else {
                        format!("[{}=…]", a.name)
                    }
                })
                .collect();
            screen.line(&format!(
                "{NAME}{}{NAME:#} {} {DIM}({}) {}{DIM:#}",
                clean(&prompt.name),
                clean(&arguments.join(" ")),
                self.server_name(server),
                fold(prompt.description.as_deref().unwrap_or_default(), 80)
            ));
        }
    }

    async fn prompt(&mut self, rest: &str) -> After {
        let screen = self.shared.screen;
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else {
            screen.error("say which prompt: /prompt NAME key=value …");
            return After::Continue;
        };
        let mut arguments = Map::new();
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                screen.error(&format!("`{word}` is no key=value argument"));
                return After::Continue;
            };
            arguments.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        let (prompts, _) = self.servers.prompts().await;
        let (prompt_name, server) = match name.split_once('.') {
            Some((server, prompt)) => (
                prompt,
                self.servers.list.iter().position(|s| s.name == server),
            ),
            None => (
                name,
                prompts
                    .iter()
                    .find(|(_, p)| p.name == name)
                    .map(|(s, _)| *s),
            ),
        };
        let Some(server) = server.and_then(|i| self.servers.list.get(i)) else {
            screen.error(&format!(
                "no server offers the prompt `{name}`; /prompts lists them"
            ));
            return After::Continue;
        };
        let mut params = GetPromptRequestParams::new(prompt_name);
        params.arguments = Some(arguments);
        let result = match server.session.get_prompt(params).await {
            Ok(result) => result,
            Err(e) => {
                screen.error(&format!("{} refused the prompt: {e}", server.name));
                return After::Continue;
            }
        };
        let mut messages: Vec<(Role, String)> = result
            .messages
            .iter()
            .map(|m| (m.role.clone(), content_text(&m.content)))
            .collect();
        // The last user message becomes the turn's prompt when a model can answer it.
        let last = match messages.last() {
            Some((Role::User, _)) if self.shared.model().is_some() => messages.pop().map(|m| m.1),
            _ => None,
        };
        for (role, text) in messages {
            screen.note(&format!("{role:?}: {}", fold(&text, 300)));
            self.messages.push(match role {
                Role::User => Message::User { content: text },
                Role::Assistant => Message::Assistant {
                    content: text,
                    tool_calls: Vec::new(),
                },
            });
        }
        match last {
            Some(text) => {
                screen.note(&format!("User: {}", fold(&text, 300)));
                After::Turn(text)
            }
            None => After::Continue,
        }
    }

    async fn read(&self, uri: &str) {
        let screen = self.shared.screen;
        if uri.is_empty() {
            screen.error("say which resource: /read URI (/resources lists them)");
            return;
        }
        let (resources, _) = self.servers.resources().await;
        // The server that lists the URI first, then every other one (templates).
        let mut order: Vec<usize> = resources
            .iter()
            .filter(|(_, r)| r.uri == uri)
            .map(|(s, _)| *s)
            .collect();
        let others: Vec<usize> = (0..self.servers.list.len())
            .filter(|i| !order.contains(i))
            .collect();
        order.extend(others);
        let mut refusals = Vec::new();
        for index in order {
            let Some(server) = self.servers.list.get(index) else {
                continue;
            };
            match server
                .session
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
            {
                Ok(result) => {
                    for contents in result.contents {
                        match contents {
                            ResourceContents::TextResourceContents { text, .. } => {
                                screen.line(&clean(&text))
                            }
                            ResourceContents::BlobResourceContents {
                                blob, mime_type, ..
                            } => {
                                screen.note(&format!(
                                    "[binary {}, {} bytes base64]",
                                    mime_type.unwrap_or_default(),
                                    blob.len()
                                ));
                            }
                            _ => screen.note("[contents the console cannot show]"),
                        }
                    }
                    return;
                }
                Err(e) => refusals.push(format!("{}: {e}", server.name)),
            }
        }
        screen.error(&format!(
            "no server could read {uri}: {}",
            refusals.join("; ")
        ));
    }

    async fn call(&self, rest: &str) {
        let screen = self.shared.screen;
        let (name, arguments) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if name.is_empty() {
            screen.error("say which tool: /call TOOL {\"key\": \"value\"} (/tools lists them)");
            return;
        }
        let Some(entry) = self.servers.find(name) else {
            screen.error(&format!("no tool `{name}`; /tools lists them"));
            return;
        };
        let call = crate::model::ToolCall {
            id: "console".into(),
            name: entry.model_name.clone(),
            arguments: arguments.trim().to_owned(),
        };
        turn::share_context(&self.messages, &self.servers, &self.shared);
        let record = turn::call_tool(&call, &self.servers, &self.shared).await;
        if record.result.chars().count() > 160 || record.result.contains('\n') {
            screen.line(&clean(&record.result));
        }
    }

    fn servers_list(&self) {
        let screen = self.shared.screen;
        for server in &self.servers.list {
            let info = server.session.peer_info();
            let (version, implementation) = info
                .as_ref()
                .map(|i| {
                    (
                        i.protocol_version.to_string(),
                        i.server_info
                            .as_ref()
                            .map(|s| format!("{} {}", s.name, s.version))
                            .unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            let tools = self
                .servers
                .tools
                .iter()
                .filter(|t| self.server_name(t.server) == server.name)
                .count();
            screen.line(&format!(
                "{NAME}{}{NAME:#}  {}, protocol {version}, {tools} tools  {DIM}{}{DIM:#}",
                server.name,
                clean(&implementation),
                describe_target(&server.target)
            ));
        }
    }

    fn model(&mut self, rest: &str) {
        let screen = self.shared.screen;
        if !rest.is_empty()
            && let Err(e) = self.switch_model(rest)
        {
            screen.error(&e);
            return;
        }
        match self.shared.model() {
            Some(model) => screen.line(&format!("model: {}", model.describe())),
            None => screen.note(crate::settings::HOW_TO_CONFIGURE),
        }
    }

    async fn log_level(&self, rest: &str) {
        let screen = self.shared.screen;
        let level = match rest.to_ascii_lowercase().as_str() {
            "debug" => LoggingLevel::Debug,
            "info" => LoggingLevel::Info,
            "notice" => LoggingLevel::Notice,
            "warning" | "warn" => LoggingLevel::Warning,
            "error" => LoggingLevel::Error,
            _ => {
                screen.error("give a level: debug, info, notice, warning or error");
                return;
            }
        };
        self.shared.set_log_level(level);
        for server in &self.servers.list {
            let logs = server
                .session
                .peer_info()
                .is_some_and(|i| i.capabilities.logging.is_some());
            if logs
                && let Err(e) = server
                    .session
                    .set_level(SetLevelRequestParams::new(level))
                    .await
            {
                screen.note(&format!("{}: cannot set its log level: {e}", server.name));
            }
        }
        screen.note(&format!("server logs shown from {rest} up"));
    }

    fn server_name(&self, index: usize) -> &str {
        self.servers
            .list
            .get(index)
            .map_or("?", |s| s.name.as_str())
    }
}

fn describe_target(target: &crate::target::Target) -> String {
    use crate::target::Transport;
    match &target.transport {
        Transport::Stdio { command, args, .. } => {
            format!("stdio: {command} {}", args.join(" "))
        }
        Transport::Http { url, .. } => format!("http: {url}"),
        Transport::Sse { url, .. } => format!("sse: {url}"),
    }
}
