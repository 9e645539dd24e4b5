//! The connected servers and what they offer, merged: a tool keeps its own name unless
//! another server has one of the same name, then both become `server.tool`. Models accept
//! only `[A-Za-z0-9_-]` in function names, so the model sees `server__tool` for those.

use std::{collections::HashMap, sync::Arc};

use rmcp::{
    RoleClient, ServiceError,
    model::{CallToolRequestParams, CallToolResult, Prompt, Resource, Tool},
    service::RunningService,
};
use serde_json::{Map, Value};

use crate::{
    connect::{self, ConnectOptions},
    handler::{ChatClient, Shared, URL_ELICITATION_REQUIRED, url_requests},
    model::ToolSpec,
    show::fold,
    target::Target,
};

/// One connected server.
pub struct Server {
    /// Its name in the console.
    pub name: String,
    /// Where it is, for `/servers`.
    pub target: Target,
    /// The session.
    pub session: RunningService<RoleClient, ChatClient>,
}

/// A tool of one of the servers.
#[derive(Debug, Clone)]
pub struct ToolEntry {
    /// Index of its server in [`Servers::list`].
    pub server: usize,
    /// The tool as the server describes it.
    pub tool: Tool,
    /// The name the person sees and types: `tool`, or `server.tool` when names collide.
    pub shown: String,
    /// The name the model calls it by.
    pub model_name: String,
}

/// The servers of one console.
#[derive(Default)]
pub struct Servers {
    /// The servers, in the order given.
    pub list: Vec<Server>,
    /// Their tools, merged.
    pub tools: Vec<ToolEntry>,
}

impl Servers {
    /// Connects to every target; each that fails is returned with the reason, the others
    /// are kept.
    pub async fn connect(
        targets: Vec<Target>,
        shared: &Arc<Shared>,
        options: &ConnectOptions,
    ) -> (Self, Vec<(String, String)>) {
        let attempts = targets.into_iter().map(|target| async {
            let handler = ChatClient::new(target.name.clone(), shared.clone());
            let session = connect::open(&target, handler, options).await;
            (target, session)
        });
        let mut servers = Self::default();
        let mut failures = Vec::new();
        for (target, session) in futures::future::join_all(attempts).await {
            match session {
                Ok(session) => servers.list.push(Server {
                    name: target.name.clone(),
                    target,
                    session,
                }),
                Err(reason) => failures.push((target.name, reason)),
            }
        }
        (servers, failures)
    }

    /// Lists every server's tools again and merges them; a server that fails to list is
    /// named in the returned notes and offers no tools until the next refresh.
    pub async fn refresh(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut found: Vec<(usize, Tool)> = Vec::new();
        for (index, server) in self.list.iter().enumerate() {
            if !has_tools(server) {
                continue;
            }
            match server.session.list_all_tools().await {
                Ok(tools) => found.extend(tools.into_iter().map(|t| (index, t))),
                Err(e) => notes.push(format!("{}: cannot list tools: {e}", server.name)),
            }
        }
        self.tools = merge(&self.list, found);
        notes
    }

    /// The tools as the model sees them.
    pub fn model_tools(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|entry| ToolSpec {
                name: entry.model_name.clone(),
                description: entry
                    .tool
                    .description
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                parameters: Value::Object((*entry.tool.input_schema).clone()),
            })
            .collect()
    }

    /// The tool called `name` by the model or by the person (`tool`, `server.tool`).
    pub fn find(&self, name: &str) -> Option<&ToolEntry> {
        self.tools
            .iter()
            .find(|e| e.model_name == name || e.shown == name)
            .or_else(|| {
                // `server.tool` typed for a tool whose name is unique.
                let (server, tool) = name.split_once('.')?;
                self.tools.iter().find(|e| {
                    e.tool.name == tool && self.list.get(e.server).is_some_and(|s| s.name == server)
                })
            })
    }

    /// `server.tool`, whatever name the tool is shown under.
    pub fn qualified(&self, entry: &ToolEntry) -> String {
        let server = self.list.get(entry.server).map_or("?", |s| s.name.as_str());
        format!("{server}.{}", entry.tool.name)
    }

    /// Calls `entry` with `arguments` (the text the model or person wrote). A refusal by the
    /// server, a broken connection or arguments that are no JSON object come back as
    /// `Err` with a message meant for the model (or person) to read and correct. A server
    /// that first needs the person at a page (`URLElicitationRequiredError`) has them
    /// taken there by `shared` and is called once more when it says the page is done.
    pub async fn call(
        &self,
        entry: &ToolEntry,
        arguments: &str,
        shared: &Shared,
    ) -> Result<CallToolResult, String> {
        let arguments = parse_arguments(arguments)?;
        let server = self
            .list
            .get(entry.server)
            .ok_or_else(|| "that tool's server is gone".to_owned())?;
        let mut params = CallToolRequestParams::new(entry.tool.name.clone());
        params.arguments = Some(arguments);
        shared.start_progress(&server.name);
        let outcome = self.call_visiting(server, params, shared).await;
        shared.end_progress(&server.name);
        outcome
    }

    async fn call_visiting(
        &self,
        server: &Server,
        params: CallToolRequestParams,
        shared: &Shared,
    ) -> Result<CallToolResult, String> {
        let mut visited = false;
        loop {
            match server.session.call_tool(params.clone()).await {
                Err(ServiceError::McpError(error))
                    if error.code.0 == URL_ELICITATION_REQUIRED && !visited =>
                {
                    let pages = url_requests(error.data.as_ref());
                    if pages.is_empty() {
                        return Err(format!(
                            "{} needs a page visited but named none it can be sent to: {}",
                            server.name, error.message
                        ));
                    }
                    shared.visit_urls(&server.name, &pages).await?;
                    visited = true;
                }
                outcome => {
                    return outcome.map_err(|e| format!("{} refused the call: {e}", server.name));
                }
            }
        }
    }

    /// Every server's prompts, with the server's index.
    pub async fn prompts(&self) -> (Vec<(usize, Prompt)>, Vec<String>) {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for (index, server) in self.list.iter().enumerate() {
            if server
                .session
                .peer_info()
                .is_none_or(|i| i.capabilities.prompts.is_none())
            {
                continue;
            }
            match server.session.list_all_prompts().await {
                Ok(prompts) => out.extend(prompts.into_iter().map(|p| (index, p))),
                Err(e) => notes.push(format!("{}: cannot list prompts: {e}", server.name)),
            }
        }
        (out, notes)
    }

    /// Every server's resources, with the server's index.
    pub async fn resources(&self) -> (Vec<(usize, Resource)>, Vec<String>) {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for (index, server) in self.list.iter().enumerate() {
            if server
                .session
                .peer_info()
                .is_none_or(|i| i.capabilities.resources.is_none())
            {
                continue;
            }
            match server.session.list_all_resources().await {
                Ok(resources) => out.extend(resources.into_iter().map(|r| (index, r))),
                Err(e) => notes.push(format!("{}: cannot list resources: {e}", server.name)),
            }
        }
        (out, notes)
    }

    /// Ends every session (stdio servers' processes stop with their pipes).
    pub async fn close(self) {
        for server in self.list {
            let _ = server.session.cancel().await;
        }
    }
}

fn has_tools(server: &Server) -> bool {
    // A server that said nothing about its capabilities is asked anyway.
    server
        .session
        .peer_info()
        .is_none_or(|i| i.capabilities.tools.is_some())
}

/// Parses the arguments of a call: empty means `{}`; anything but a JSON object is refused
/// with what was wrong, so the model can correct itself.
pub fn parse_arguments(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the arguments must be a JSON object, not {}",
            fold(&other.to_string(), 80)
        )),
        Err(e) => Err(format!(
            "the arguments are not valid JSON ({e}): {}",
            fold(text, 80)
        )),
    }
}

/// Names tools: unique names stay, colliding ones become `server.tool` (`server__tool` for
/// the model), and model names are cut to the APIs' 64 characters without two alike.
fn merge(servers: &[Server], found: Vec<(usize, Tool)>) -> Vec<ToolEntry> {
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    merge_names(&names, found)
}

fn merge_names(servers: &[&str], found: Vec<(usize, Tool)>) -> Vec<ToolEntry> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, tool) in &found {
        *counts.entry(tool.name.to_string()).or_default() += 1;
    }
    let mut taken: HashMap<String, usize> = HashMap::new();
    found
        .into_iter()
        .map(|(server, tool)| {
            let server_name = servers.get(server).copied().unwrap_or("server");
            let collides = counts.get(tool.name.as_ref()).copied().unwrap_or(0) > 1;
            let (shown, model_base) = if collides {
                (
                    format!("{server_name}.{}", tool.name),
                    format!("{}__{}", model_safe(server_name), model_safe(&tool.name)),
                )
            } else {
                (tool.name.to_string(), model_safe(&tool.name))
            };
            let mut model_name: String = model_base.chars().take(64).collect();
            let seen = taken.entry(model_name.clone()).or_default();
            *seen += 1;
            if *seen > 1 {
                let suffix = format!("_{seen}");
                model_name = model_base
                    .chars()
                    .take(64 - suffix.len())
                    .collect::<String>()
                    + &suffix;
            }
            ToolEntry {
                server,
                tool,
                shown,
                model_name,
            }
        })
        .collect()
}

fn model_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "tool".to_owned()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool::new(name.to_owned(), "d", Arc::new(Map::new()))
    }

    #[test]
    fn colliding_names_are_qualified_and_others_kept() {
        let entries = merge_names(
            &["stock", "stock-2", "weather"],
            vec![
                (0, tool("get_stock_price")),
                (0, tool("echo")),
                (1, tool("echo")),
                (2, tool("get.weather!")),
            ],
        );
        let names: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.shown.as_str(), e.model_name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("get_stock_price", "get_stock_price"),
                ("stock.echo", "stock__echo"),
                ("stock-2.echo", "stock-2__echo"),
                ("get.weather!", "get_weather_"),
            ]
        );
    }

    #[test]
    fn long_names_are_cut_and_kept_apart() {
        let long = "x".repeat(70);
        let entries = merge_names(
            &["a"],
            vec![(0, tool(&long)), (0, tool(&format!("{long}y")))],
        );
        assert_eq!(entries[0].model_name.len(), 64);
        assert_eq!(entries[1].model_name.len(), 64);
        assert_ne!(entries[0].model_name, entries[1].model_name);
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(parse_arguments(""), Ok(Map::new()));
        assert!(parse_arguments("{\"a\":1}").is_ok());
        assert!(matches!(parse_arguments("[1]"), Err(e) if e.contains("JSON object")));
        assert!(matches!(parse_arguments("{oops"), Err(e) if e.contains("not valid JSON")));
    }
}
