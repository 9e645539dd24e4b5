//! The console: connect, say what is there, then read lines (slash commands or turns for
//! the model) until the person leaves; or, with `--prompt`, run one turn and report.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use serde::Serialize;

use crate::{
    commands::After,
    complete::{Names, PromptArguments},
    connect::ConnectOptions,
    handler::Shared,
    model::{ChatModel, Message},
    person::{Lines, Terminal},
    servers::Servers,
    settings::{Endpoint, HOW_TO_CONFIGURE, ModelSettings},
    show::{DIM, NAME, OK, Screen},
    target::Target,
    turn::{self, TurnEnd, TurnRecord},
};

/// Everything `belay chat` was told.
pub struct ChatOptions {
    /// The servers to connect to.
    pub targets: Vec<Target>,
    /// The model, when one is configured.
    pub model: Option<ModelSettings>,
    /// Put first in the conversation.
    pub system_prompt: Option<String>,
    /// Model requests one turn may make.
    pub max_rounds: u32,
    /// Answer sampling without asking.
    pub approve_sampling: bool,
    /// Models a sampling request may pick by its preferences (see [`crate::preferences`]).
    pub sampling_models: Vec<String>,
    /// Run this one turn and return (`--prompt`).
    pub prompt: Option<String>,
    /// Write the transcript as JSON on stdout (the console's own output goes to stderr).
    pub json: bool,
    /// The line editor's history file.
    pub history: Option<PathBuf>,
    /// Sign-in and connection settings.
    pub connect: ConnectOptions,
    /// How long to wait for a server to say a page it sent the person to is done.
    pub url_wait: std::time::Duration,
}

/// How `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The console was left, or the `--prompt` turn completed.
    Completed,
    /// The `--prompt` turn did not complete (model failure, round limit, no model).
    Incomplete,
}

/// A server the console could not reach, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {server}: {reason}")]
pub struct ConnectError {
    /// Its name.
    pub server: String,
    /// Why.
    pub reason: String,
}

/// The transcript `--json` writes.
#[derive(Serialize)]
struct Transcript<'a> {
    model: Option<String>,
    servers: Vec<&'a str>,
    /// The protocol revision each server's session speaks, by name.
    protocols: std::collections::BTreeMap<&'a str, String>,
    completed: bool,
    turns: &'a [TurnRecord],
    messages: &'a [Message],
}

pub(crate) struct Console {
    pub(crate) shared: Arc<Shared>,
    pub(crate) servers: Servers,
    pub(crate) messages: Vec<Message>,
    settings: Option<ModelSettings>,
    system_prompt: Option<String>,
    max_rounds: u32,
    turns: Vec<TurnRecord>,
}

/// Runs `belay chat`. Servers that cannot be reached are reported and left out of an
/// interactive console; a `--prompt` run needs them all and fails with the first.
pub async fn run(options: ChatOptions) -> Result<Outcome, ConnectError> {
    let screen = Screen::new(options.json);
    let history = options.history.filter(|_| options.prompt.is_none());
    let lines = Lines::new(history).map_err(|reason| ConnectError {
        server: "the terminal".into(),
        reason,
    })?;
    let person = Arc::new(Terminal::new(lines.clone(), screen));
    let model = options.model.as_ref().map(crate::model::for_settings);
    if options.prompt.is_some() {
        for target in &options.targets {
            let cache = options.connect.token_cache.as_ref();
            if let Some(reason) = crate::unattended::sign_in_needed(target, cache).await {
                return Err(ConnectError {
                    server: target.name.clone(),
                    reason,
                });
            }
        }
    }
    let shared = Shared::with_url_wait(
        model,
        person,
        screen,
        options.approve_sampling,
        options.url_wait,
    );
    shared.set_sampling_models(options.sampling_models.clone());
    let (mut servers, failures) =
        Servers::connect(options.targets, &shared, &options.connect).await;
    for (server, reason) in failures {
        if options.prompt.is_some() {
            servers.close().await;
            return Err(ConnectError { server, reason });
        }
        screen.error(&format!("cannot connect to {server}: {reason}"));
    }
    for note in servers.refresh().await {
        screen.error(&note);
    }
    let mut console = Console {
        shared,
        servers,
        messages: Vec::new(),
        settings: options.model,
        system_prompt: options.system_prompt,
        max_rounds: options.max_rounds,
        turns: Vec::new(),
    };
    console.reset_conversation();
    let outcome = match options.prompt {
        Some(prompt) => {
            let record = console.turn(&prompt).await;
            if record.end == TurnEnd::Completed {
                Outcome::Completed
            } else {
                Outcome::Incomplete
            }
        }
        None => {
            console.banner();
            console.interact(&lines).await;
            Outcome::Completed
        }
    };
    if options.json {
        console.write_transcript(outcome == Outcome::Completed);
    }
    console.servers.close().await;
    Ok(outcome)
}

impl Console {
    pub(crate) fn reset_conversation(&mut self) {
        self.messages.clear();
        if let Some(system) = &self.system_prompt {
            self.messages.push(Message::System {
                content: system.clone(),
            });
        }
    }

    /// Runs one turn; Ctrl-C stops it (the model's request or the tool call in flight is
    /// dropped) and leaves the conversation as it was before.
    async fn turn(&mut self, prompt: &str) -> TurnRecord {
        let kept = self.messages.len();
        let started = std::time::Instant::now();
        let run = turn::run(
            prompt,
            &mut self.messages,
            &mut self.servers,
            &self.shared,
            self.max_rounds,
        );
        let finished = tokio::select! {
            record = run => Some(record),
            _ = tokio::signal::ctrl_c() => None,
        };
        let record = match finished {
            Some(record) => record,
            None => {
                // A half-done turn (tool calls without their results) would make the
                // next request invalid.
                self.messages.truncate(kept);
                turn::interrupted(prompt, &self.shared, started.elapsed().as_millis())
            }
        };
        self.turns.push(record.clone());
        record
    }

    fn banner(&self) {
        let screen = self.shared.screen;
        for server in &self.servers.list {
            let tools = self
                .servers
                .tools
                .iter()
                .filter(|t| {
                    self.servers
                        .list
                        .get(t.server)
                        .is_some_and(|s| s.name == server.name)
                })
                .count();
            screen.line(&format!(
                "{OK}✓{OK:#} {NAME}{}{NAME:#} {DIM}{tools} tools{DIM:#}",
                server.name
            ));
        }
        match self.shared.model() {
            Some(model) => screen.note(&format!("model: {}", model.describe())),
            None => screen.note(&format!(
                "{HOW_TO_CONFIGURE}; meanwhile the slash commands work"
            )),
        }
        screen.note("/help lists the commands; Ctrl-D leaves");
    }

    /// Gives Tab completion what the servers offer now.
    async fn complete_names(&self, lines: &Lines) {
        let (prompts, _) = self.servers.prompts().await;
        let (resources, _) = self.servers.resources().await;
        let mut prompt_arguments = HashMap::new();
        for (index, prompt) in &prompts {
            let Some(server) = self.servers.list.get(*index) else {
                continue;
            };
            let completes = server
                .session
                .peer_info()
                .is_some_and(|i| i.capabilities.completions.is_some());
            let arguments = PromptArguments {
                prompt: prompt.name.clone(),
                arguments: prompt
                    .arguments
                    .iter()
                    .flatten()
                    .map(|a| a.name.clone())
                    .collect(),
                server: completes.then(|| server.session.peer().clone()),
            };
            // `/prompt server.name` too, as the command accepts it.
            prompt_arguments.insert(
                format!("{}.{}", server.name, prompt.name),
                arguments.clone(),
            );
            prompt_arguments
                .entry(prompt.name.clone())
                .or_insert(arguments);
        }
        lines.set_names(Names {
            tools: self.servers.tools.iter().map(|t| t.shown.clone()).collect(),
            prompts: prompts.into_iter().map(|(_, p)| p.name).collect(),
            resources: resources.into_iter().map(|(_, r)| r.uri).collect(),
            prompt_arguments,
        });
    }

    async fn interact(&mut self, lines: &Lines) {
        self.complete_names(lines).await;
        loop {
            if self.shared.take_changed() {
                for note in self.servers.refresh().await {
                    self.shared.screen.error(&note);
                }
                self.complete_names(lines).await;
            }
            let Some(line) = lines.read("› ", true).await else {
                break;
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('/') {
                match self.command(line).await {
                    After::Continue => continue,
                    After::Quit => break,
                    After::Turn(text) => {
                        self.turn(&text).await;
                    }
                }
                continue;
            }
            if self.shared.model().is_none() {
                self.shared.screen.error(&format!(
                    "{HOW_TO_CONFIGURE}; meanwhile /call TOOL {{json}} calls a tool yourself"
                ));
                continue;
            }
            self.turn(line).await;
        }
    }

    /// Uses model `name` at the same endpoint.
    pub(crate) fn switch_model(&mut self, name: &str) -> Result<(), String> {
        let Some(settings) = &mut self.settings else {
            return Err(HOW_TO_CONFIGURE.to_owned());
        };
        match &mut settings.endpoint {
            Endpoint::OpenAi { model, .. } => *model = name.to_owned(),
            Endpoint::Azure { deployment, .. } => *deployment = name.to_owned(),
            Endpoint::Anthropic { model, .. } => *model = name.to_owned(),
        }
        let model: Arc<dyn ChatModel> = crate::model::for_settings(settings);
        if let Ok(mut slot) = self.shared.model.write() {
            *slot = Some(model);
        }
        Ok(())
    }

    fn write_transcript(&self, completed: bool) {
        let transcript = Transcript {
            model: self.shared.model().map(|m| m.describe()),
            servers: self.servers.list.iter().map(|s| s.name.as_str()).collect(),
            protocols: self
                .servers
                .list
                .iter()
                .map(|s| {
                    let version = s
                        .session
                        .peer_info()
                        .map(|i| i.protocol_version.to_string())
                        .unwrap_or_default();
                    (s.name.as_str(), version)
                })
                .collect(),
            completed,
            turns: &self.turns,
            messages: &self.messages,
        };
        match serde_json::to_string_pretty(&transcript) {
            Ok(json) => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{json}").and_then(|()| out.flush());
            }
            Err(e) => self
                .shared
                .screen
                .error(&format!("cannot write the transcript: {e}")),
        }
    }
}
