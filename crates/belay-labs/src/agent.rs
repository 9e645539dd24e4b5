//! The scripted assistant: it connects to MCP servers, reads every tool's metadata, does the
//! user's task and obeys whatever instructions it finds on the way (see [`reading`]). It is
//! the "model" side of every exploit, deterministic so each exploit runs the same way every
//! time without a language model. Every call it makes is kept as a [`Step`], the evidence an
//! exploit judges.

pub mod reading;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use belay_client::{ConnectOptions, DevicePrompt, LoopbackRedirect, Target, UserAgent};
use rmcp::{
    ClientHandler, RoleClient, ServiceError,
    model::{
        CallToolRequestParams, ClientConfig, ContentBlock, Implementation, ResourceContents,
        ServerNotification, ServerPeerInfo, SubscriptionFilter, Tool,
    },
    service::{NotificationContext, RunningService},
};
use serde::Serialize;
use serde_json::{Map, Value};

pub use reading::Directive;

use crate::ExploitError;

/// How long one call may take.
const CALL_WAIT: Duration = Duration::from_secs(30);
/// Most calls one result's instructions may start (an injected result cannot loop it).
const MOST_FOLLOWED: usize = 3;

/// What became of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// The server answered (a tool error has `is_error`).
    Answered {
        /// The result's text.
        text: String,
        /// Whether the result is a tool error.
        is_error: bool,
    },
    /// The call was refused with a JSON-RPC error.
    Refused {
        /// The JSON-RPC error code.
        code: i32,
        /// Its message.
        message: String,
        /// Its data (a gateway's guard says which guard and rule).
        data: Option<Value>,
    },
    /// No server offers the tool (never listed, or hidden by a gateway).
    NotOffered,
    /// The session broke or the call timed out.
    Broken {
        /// What happened.
        reason: String,
    },
}

impl Answer {
    /// Whether the server ran the call (a tool error included).
    pub fn delivered(&self) -> bool {
        matches!(self, Answer::Answered { .. })
    }

    /// The result's text, if the server answered.
    pub fn text(&self) -> Option<&str> {
        match self {
            Answer::Answered { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Which defence refused the call, said for a person, if one did.
    pub fn defence(&self) -> Option<String> {
        match self {
            Answer::Refused { data, message, .. } => {
                let guard = data
                    .as_ref()
                    .and_then(|d| d.get("guard"))
                    .and_then(Value::as_str);
                let rule = data
                    .as_ref()
                    .and_then(|d| d.get("rule"))
                    .and_then(Value::as_str);
                Some(match (guard, rule) {
                    (Some(guard), Some(rule)) => format!("the gateway's {guard} guard ({rule})"),
                    (Some(guard), None) => format!("the gateway's {guard} guard"),
                    _ => format!("the server refused the call: {message}"),
                })
            }
            Answer::NotOffered => Some(
                "the tool was not offered (a gateway hides poisoned or unapproved tools)".into(),
            ),
            _ => None,
        }
    }
}

/// One call the assistant made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The tool, as the assistant asked for it.
    pub tool: String,
    /// The arguments sent.
    pub arguments: Map<String, Value>,
    /// Why it made the call: the user's task, or the sentence it obeyed.
    pub because: String,
    /// What became of it.
    pub answer: Answer,
}

/// Notes a server's `notifications/tools/list_changed`.
#[derive(Debug, Clone, Default)]
struct Watcher {
    list_changed: Arc<AtomicBool>,
}

impl ClientHandler for Watcher {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("belay-lab-assistant", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.list_changed.store(true, Ordering::SeqCst);
    }
}

/// Refuses to sign in: the assistant has no account (exploits that need a token bring it
/// in the target's headers).
pub struct NoAccount;

#[async_trait]
impl UserAgent for NoAccount {
    async fn authorize(&self, _: &str, _: LoopbackRedirect) -> belay_client::Result<String> {
        Err(belay_client::Error::UserAgent(
            "the server asks for a sign-in and the assistant has no account".into(),
        ))
    }

    async fn device_code(&self, _: &DevicePrompt) -> belay_client::Result<()> {
        Err(belay_client::Error::UserAgent(
            "the server asks for a sign-in and the assistant has no account".into(),
        ))
    }
}

struct Server {
    session: RunningService<RoleClient, Watcher>,
    watcher: Watcher,
    /// Reads the `subscriptions/listen` stream of a 2026-07-28 server (no session to notify).
    listening: Option<tokio::task::JoinHandle<()>>,
    tools: Vec<Tool>,
    /// Every tool it ever listed, as last listed: what a client holding an older list knows.
    known: Vec<Tool>,
}

/// The scripted assistant, connected to one or more servers.
pub struct Agent {
    servers: Vec<Server>,
    steps: Vec<Step>,
}

impl Agent {
    /// Connects to every target (no sign-in: a server asking for one is an error) and reads
    /// what each offers.
    pub async fn connect(
        targets: &[Target],
        options: &ConnectOptions,
    ) -> Result<Self, ExploitError> {
        let options = ConnectOptions {
            user_agent: Some(Arc::new(NoAccount)),
            ..options.clone()
        };
        let mut servers = Vec::new();
        for target in targets {
            let watcher = Watcher::default();
            let session = belay_client::open(target, watcher.clone(), &options)
                .await
                .map_err(|e| ExploitError::Connect(e.0))?;
            let listening = listen(&session, &watcher).await;
            servers.push(Server {
                session,
                watcher,
                listening,
                tools: Vec::new(),
                known: Vec::new(),
            });
        }
        let mut agent = Self {
            servers,
            steps: Vec::new(),
        };
        agent.look().await?;
        Ok(agent)
    }

    /// Lists every server's tools again (after a `list_changed`, say).
    pub async fn look(&mut self) -> Result<(), ExploitError> {
        for server in &mut self.servers {
            server.watcher.list_changed.store(false, Ordering::SeqCst);
            let listed = tokio::time::timeout(CALL_WAIT, server.session.list_all_tools())
                .await
                .map_err(|_| ExploitError::Session("listing tools timed out".into()))?;
            server.tools = listed.map_err(|e| ExploitError::Session(e.to_string()))?;
            for tool in &server.tools {
                server.known.retain(|k| k.name != tool.name);
                server.known.push(tool.clone());
            }
        }
        Ok(())
    }

    /// Every tool offered, over all servers.
    pub fn tools(&self) -> Vec<Tool> {
        self.servers.iter().flat_map(|s| s.tools.clone()).collect()
    }

    /// Whether a server offers `tool` (by its own or a gateway's namespaced name).
    pub fn offers(&self, tool: &str) -> bool {
        reading::find_tool(&self.tools(), tool).is_some()
    }

    /// Whether a server said its tool list changed since the last [`Agent::look`].
    pub fn tool_list_changed(&self) -> bool {
        self.servers
            .iter()
            .any(|s| s.watcher.list_changed.load(Ordering::SeqCst))
    }

    /// Waits up to `within` for a server to say its tool list changed (a notice may come
    /// after the call that caused it, or through a gateway a moment later); whether one did.
    /// No wait when no server declared that its list can change (`tools.listChanged`).
    pub async fn wait_for_tool_list_change(&self, within: Duration) -> bool {
        let may_change = self
            .servers
            .iter()
            .any(|s| s.session.peer_info().is_some_and(|i| list_may_change(&i)));
        if !may_change {
            return self.tool_list_changed();
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.tool_list_changed() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The instructions every tool's metadata holds, for calls of `tool`: its own
    /// description's, and any other tool's that names it.
    pub fn directives_for(&self, tool: &str) -> Vec<Directive> {
        let tools = self.tools();
        let Some(target) = reading::find_tool(&tools, tool) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for holder in &tools {
            let context = Some(holder);
            for directive in reading::read(&metadata_text(holder), &tools, context) {
                let about = match &directive.tool {
                    Some(name) => reading::find_tool(&tools, name),
                    None => Some(holder),
                };
                if about.is_some_and(|t| t.name == target.name) {
                    found.push(directive);
                }
            }
        }
        found
    }

    /// Does the user's task: calls `tool` with `arguments` changed as the metadata says,
    /// then obeys what the result says (up to [`MOST_FOLLOWED`] calls). Returns the task's
    /// step.
    pub async fn task(&mut self, tool: &str, arguments: Value, why: &str) -> Step {
        let mut arguments = object(arguments);
        let mut because = why.to_owned();
        for directive in self.directives_for(tool) {
            for (name, value) in directive.set {
                arguments.insert(name, value);
            }
            because = format!(
                "{why}, as the tool metadata says: \"{}\"",
                directive.sentence
            );
        }
        let step = self.call(tool, arguments, because).await;
        if let Some(text) = step.answer.text() {
            let tools = self.tools();
            let orders: Vec<Directive> = reading::read(text, &tools, None)
                .into_iter()
                .filter(|d| d.tool.is_some())
                .take(MOST_FOLLOWED)
                .collect();
            for order in orders {
                let Some(name) = order.tool.clone() else {
                    continue;
                };
                let arguments: Map<String, Value> = order.set.into_iter().collect();
                let because = format!("the result of `{tool}` said: \"{}\"", order.sentence);
                self.call(&name, arguments, because).await;
            }
        }
        step
    }

    /// Calls `tool` with exactly `arguments` (an attacker's own call, no instructions obeyed).
    pub async fn call(
        &mut self,
        tool: &str,
        arguments: Map<String, Value>,
        because: String,
    ) -> Step {
        let answer = self.answer(tool, arguments.clone(), false).await;
        self.record(tool, arguments, because, answer)
    }

    /// Calls `tool` with exactly `arguments` on the server that listed it, even if its
    /// latest list leaves it out, as a client still holding an older list does (a rug pull's
    /// victim, or an attacker probing a tool a gateway hides).
    pub async fn call_known(
        &mut self,
        tool: &str,
        arguments: Map<String, Value>,
        because: String,
    ) -> Step {
        let answer = self.answer(tool, arguments.clone(), true).await;
        self.record(tool, arguments, because, answer)
    }

    fn record(
        &mut self,
        tool: &str,
        arguments: Map<String, Value>,
        because: String,
        answer: Answer,
    ) -> Step {
        let step = Step {
            tool: tool.to_owned(),
            arguments,
            because,
            answer,
        };
        self.steps.push(step.clone());
        step
    }

    /// Calls `tool` even when no server lists it, as an attacker who knows its name does
    /// (a gateway may hide a tool from the list and still be asked for it): a listed tool
    /// as [`Agent::call`]; else the first server, under the name [`reading::unlisted_name`]
    /// guesses.
    pub async fn call_unlisted(
        &mut self,
        tool: &str,
        arguments: Map<String, Value>,
        because: String,
    ) -> Step {
        if self.offers(tool) {
            return self.call(tool, arguments, because).await;
        }
        let answer = match self.servers.first() {
            Some(server) => {
                let name = reading::unlisted_name(&server.tools, tool);
                Self::send(server, name, arguments.clone()).await
            }
            None => Answer::NotOffered,
        };
        self.record(tool, arguments, because, answer)
    }

    /// `known`: look the tool up in every list the servers ever gave, not only the latest.
    async fn answer(&self, tool: &str, arguments: Map<String, Value>, known: bool) -> Answer {
        let found = self.servers.iter().find_map(|server| {
            let tools = if known { &server.known } else { &server.tools };
            reading::find_tool(tools, tool).map(|t| (server, t.name.clone()))
        });
        let Some((server, name)) = found else {
            return Answer::NotOffered;
        };
        Self::send(server, name.to_string(), arguments).await
    }

    async fn send(server: &Server, name: String, arguments: Map<String, Value>) -> Answer {
        call_in(&server.session, &name, arguments, CALL_WAIT).await
    }

    /// Every call made so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Closes every session (a stdio server gets EOF and exits).
    pub async fn close(self) -> Vec<Step> {
        for server in self.servers {
            if let Some(listening) = server.listening {
                listening.abort();
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), server.session.cancel()).await;
        }
        self.steps
    }
}

/// A client of the 2026-07-28 era has no session on which a server could say that its tool
/// list changed; it opens a `subscriptions/listen` stream instead, when the server declares
/// `tools.listChanged`. The returned task marks the watcher on each change.
async fn listen(
    session: &RunningService<RoleClient, Watcher>,
    watcher: &Watcher,
) -> Option<tokio::task::JoinHandle<()>> {
    let info = session.peer_info()?;
    if !list_may_change(&info) || !belay_mcp::era::is_round_trip(Some(&info.protocol_version)) {
        return None;
    }
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let mut stream = match tokio::time::timeout(CALL_WAIT, session.peer().listen(filter)).await {
        Ok(Ok(stream)) => stream,
        // The server does not listen after all: the assistant hears of changes only on its
        // calls' own streams, as before.
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no listen stream");
            return None;
        }
        Err(_) => return None,
    };
    let changed = watcher.list_changed.clone();
    Some(tokio::spawn(async move {
        while let Ok(Some(notification)) = stream.next().await {
            if matches!(
                notification,
                ServerNotification::ToolListChangedNotification(_)
            ) {
                changed.store(true, Ordering::SeqCst);
            }
        }
    }))
}

/// Whether the server declared that its tool list can change (`tools.listChanged`).
fn list_may_change(info: &ServerPeerInfo) -> bool {
    info.capabilities
        .tools
        .as_ref()
        .and_then(|t| t.list_changed)
        == Some(true)
}

/// Calls the tool named exactly `name` in `session` (listed or not), waiting at most `wait`.
pub async fn call_in<H: ClientHandler>(
    session: &RunningService<RoleClient, H>,
    name: &str,
    arguments: Map<String, Value>,
    wait: Duration,
) -> Answer {
    let mut params = CallToolRequestParams::new(name.to_owned());
    params.arguments = Some(arguments);
    match tokio::time::timeout(wait, session.call_tool(params)).await {
        Err(_) => Answer::Broken {
            reason: format!("no answer within {} s", wait.as_secs()),
        },
        Ok(Err(ServiceError::McpError(error))) => Answer::Refused {
            code: error.code.0,
            message: error.message.into_owned(),
            data: error.data,
        },
        Ok(Err(other)) => Answer::Broken {
            reason: other.to_string(),
        },
        Ok(Ok(result)) => Answer::Answered {
            text: result_text(&result.content),
            is_error: result.is_error == Some(true),
        },
    }
}

/// What a model reads of a tool: its name, title, description and parameter descriptions.
fn metadata_text(tool: &Tool) -> String {
    let mut text = String::new();
    if let Some(title) = &tool.title {
        text.push_str(title);
        text.push('\n');
    }
    if let Some(description) = &tool.description {
        text.push_str(description);
        text.push('\n');
    }
    if let Some(properties) = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
    {
        for (name, schema) in properties {
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                text.push_str(&format!("`{name}`: {description}\n"));
            }
        }
    }
    text
}

/// The text a model reads of a result.
fn result_text(content: &[ContentBlock]) -> String {
    let mut parts = Vec::new();
    for block in content {
        if let Some(text) = block.as_text() {
            parts.push(text.text.clone());
        } else if let Some(resource) = block.as_resource()
            && let ResourceContents::TextResourceContents { text, .. } = &resource.resource
        {
            parts.push(text.clone());
        }
    }
    parts.join("\n")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
