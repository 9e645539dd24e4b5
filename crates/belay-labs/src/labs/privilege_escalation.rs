//! `privilege-escalation`: a notes server that checks one scope at the door (`notes:read`)
//! and then lets the caller use every tool, the destructive `delete_note` included. A
//! read-only integration's token (or anyone who steals one) can delete.
//!
//! Fixed twin: a scope per tool (`delete_note` needs `notes:write`), checked on every call.
//! Behind the gateway, a policy rule gives write tools only to callers holding the write
//! scope, and the audit log records the denial.
//!
//! Whose scopes: behind Belay's resource-server check (`--issuer`), the verified token's;
//! without one (the lab's default), a fixed grant of [`STAND_IN_SCOPES`], standing for the
//! read-only token the integration was given.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use belay_auth::Caller;
use belay_client::{ConnectOptions, Target};
use belay_mcp::{Parameters, Transport, schema::portable_tools};
use rmcp::{
    ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{CallToolResult, ContentBlock, Extensions},
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    ExploitError, Lab, LabName, Report,
    agent::{Agent, Answer},
    owasp::Risk,
};

/// The lab.
pub const LAB: Lab = Lab {
    name: LabName::PrivilegeEscalation,
    title: "A read-only token that can delete",
    risks: &[Risk::PrivilegeEscalation, Risk::WeakAuth],
    attack: "A caller holding only `notes:read` calls `delete_note`: the server checked the \
             scope once, at the door, for every tool.",
    fix: "A scope per tool, checked on every call: `delete_note` needs `notes:write`.",
    defence: "A gateway policy rule that gives write tools only to callers with the write \
              scope (`[[gateway.policy.rules]]` with `scopes`); the denial is audited. With \
              sign-in, `[resource] tool_scopes` does the same at the door.",
    transports: &[Transport::Stdio, Transport::Http, Transport::Sse],
};

/// The scopes the lab's caller holds when no verified token says otherwise: a read-only
/// integration's.
pub const STAND_IN_SCOPES: &[&str] = &["notes:read"];

/// The scope reading needs.
const READ: &str = "notes:read";
/// The scope changing needs.
const WRITE: &str = "notes:write";

/// The notes (invented).
const NOTES: &[(&str, &str)] = &[
    ("n-1", "Team offsite: agenda"),
    ("n-2", "Quarterly board minutes"),
    ("n-3", "Incident review 2026-11"),
];

/// Arguments naming one note.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteArgs {
    /// The note's id, like `n-1`.
    #[schemars(length(max = 64))]
    pub id: String,
}

/// The caller's scopes: the verified token's, else the stand-in grant.
fn scopes_of(extensions: &Extensions) -> BTreeSet<String> {
    match Caller::from_rmcp_parts(extensions.get::<http::request::Parts>()) {
        Some(caller) => caller.scopes.clone(),
        None => STAND_IN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn text(message: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(message.into())])
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// The notes store both servers share the code of: which notes are deleted.
#[derive(Debug, Clone, Default)]
struct Store {
    deleted: Arc<Mutex<BTreeSet<&'static str>>>,
}

impl Store {
    fn list(&self) -> String {
        let deleted = self.deleted.lock().map(|d| d.clone()).unwrap_or_default();
        NOTES
            .iter()
            .filter(|(id, _)| !deleted.contains(id))
            .map(|(id, title)| format!("{id}: {title}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn delete(&self, id: &str) -> CallToolResult {
        let Some((id, title)) = NOTES.iter().find(|(n, _)| *n == id) else {
            return tool_error(format!("no note {}", json!(id)));
        };
        let Ok(mut deleted) = self.deleted.lock() else {
            return tool_error("the notes store is unavailable");
        };
        if deleted.insert(id) {
            text(format!("Deleted note {id} ({title})."))
        } else {
            tool_error(format!("note {id} is already deleted"))
        }
    }
}

/// The vulnerable server: one scope, checked for every tool alike.
#[derive(Debug, Clone)]
pub struct DoorOnly {
    store: Store,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl DoorOnly {
    /// A new server.
    pub fn new() -> Self {
        Self {
            store: Store::default(),
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    /// The flaw: "may use this server" stands for "may use every tool".
    fn admitted(extensions: &Extensions) -> Result<(), CallToolResult> {
        if scopes_of(extensions).contains(READ) {
            Ok(())
        } else {
            Err(tool_error(format!("this server needs the scope {READ}")))
        }
    }

    #[tool(description = "Lists the notes.")]
    async fn list_notes(&self, extensions: Extensions) -> CallToolResult {
        match Self::admitted(&extensions) {
            Ok(()) => text(self.store.list()),
            Err(refused) => refused,
        }
    }

    #[tool(description = "Deletes a note.")]
    async fn delete_note(
        &self,
        extensions: Extensions,
        Parameters(args): Parameters<NoteArgs>,
    ) -> CallToolResult {
        match Self::admitted(&extensions) {
            Ok(()) => self.store.delete(&args.id),
            Err(refused) => refused,
        }
    }
}

impl Default for DoorOnly {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-privilege-escalation")]
impl ServerHandler for DoorOnly {}

/// The fixed twin: each tool names the scope it needs.
#[derive(Debug, Clone)]
pub struct PerTool {
    store: Store,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl PerTool {
    /// A new server.
    pub fn new() -> Self {
        Self {
            store: Store::default(),
            tool_router: portable_tools(Self::tool_router()),
        }
    }

    fn require(extensions: &Extensions, tool: &str, scope: &str) -> Result<(), CallToolResult> {
        let held = scopes_of(extensions);
        if held.contains(scope) {
            return Ok(());
        }
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        Err(tool_error(format!(
            "`{tool}` needs the scope {scope}; the caller holds {}",
            if held.is_empty() {
                "none".to_owned()
            } else {
                held.join(" ")
            }
        )))
    }

    #[tool(description = "Lists the notes (scope notes:read).")]
    async fn list_notes(&self, extensions: Extensions) -> CallToolResult {
        match Self::require(&extensions, "list_notes", READ) {
            Ok(()) => text(self.store.list()),
            Err(refused) => refused,
        }
    }

    #[tool(description = "Deletes a note (scope notes:write).")]
    async fn delete_note(
        &self,
        extensions: Extensions,
        Parameters(args): Parameters<NoteArgs>,
    ) -> CallToolResult {
        match Self::require(&extensions, "delete_note", WRITE) {
            Ok(()) => self.store.delete(&args.id),
            Err(refused) => refused,
        }
    }
}

impl Default for PerTool {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router, name = "belay-lab-privilege-escalation-fixed")]
impl ServerHandler for PerTool {}

/// A read-only integration lists the notes; then its token is used to delete one.
pub async fn exploit(targets: &[Target], options: &ConnectOptions) -> Result<Report, ExploitError> {
    let mut agent = Agent::connect(targets, options).await?;
    agent
        .task(
            "list_notes",
            json!({}),
            "the read-only integration (scope notes:read) lists the notes, its job",
        )
        .await;
    let mut arguments = Map::new();
    arguments.insert("id".into(), Value::from("n-2"));
    let delete = agent
        .call_unlisted(
            "delete_note",
            arguments,
            "someone holding the integration's read-only token calls a write tool".into(),
        )
        .await;
    let steps = agent.close().await;
    let lab = LabName::PrivilegeEscalation;
    Ok(match &delete.answer {
        Answer::Answered {
            text,
            is_error: false,
        } => Report::succeeded(
            lab,
            format!("a token with only the read scope deleted a note: {text}"),
            steps,
        ),
        Answer::Answered {
            text,
            is_error: true,
        } => Report::failed(
            lab,
            "the write tool refused a caller without the write scope",
            Some(format!("the server's per-tool scope check: {text}")),
            steps,
        ),
        Answer::Refused { message, .. } if message.contains("by policy") => Report::failed(
            lab,
            "the write tool never ran for a caller without the write scope",
            Some(format!("the gateway's policy: {message}")),
            steps,
        ),
        answer => Report::failed(
            lab,
            "the write tool never ran for a caller without the write scope",
            answer.defence(),
            steps,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Variant;
    use crate::labs::testing::exploit_against;

    #[tokio::test]
    async fn a_read_token_deletes_on_the_vulnerable_server() {
        let report = exploit_against(LabName::PrivilegeEscalation, Variant::Vulnerable).await;
        assert!(report.succeeded, "{report:#?}");
        assert!(
            report.summary.contains("Deleted note n-2"),
            "{}",
            report.summary
        );
    }

    #[tokio::test]
    async fn the_fixed_twin_refuses_the_write_and_names_the_scope() {
        let report = exploit_against(LabName::PrivilegeEscalation, Variant::Fixed).await;
        assert!(!report.succeeded, "{report:#?}");
        // Reading still works: the fix narrows, it does not lock out.
        assert!(
            report.steps[0]
                .answer
                .text()
                .is_some_and(|t| t.contains("n-2: Quarterly board minutes")),
            "{report:#?}"
        );
        assert_eq!(
            report.stopped_by.as_deref(),
            Some(
                "the server's per-tool scope check: `delete_note` needs the scope notes:write; \
                 the caller holds notes:read"
            )
        );
    }

    #[test]
    fn deleting_twice_or_an_unknown_note_is_a_clear_error() {
        let store = Store::default();
        assert_eq!(store.delete("n-1").is_error, Some(false));
        assert_eq!(store.delete("n-1").is_error, Some(true));
        let unknown = store.delete("n-1\u{0}");
        assert_eq!(unknown.is_error, Some(true));
        assert!(!store.list().contains("n-1:"));
    }

    #[test]
    fn without_a_verified_caller_the_stand_in_grant_applies() {
        let scopes = scopes_of(&Extensions::new());
        assert_eq!(scopes.into_iter().collect::<Vec<_>>(), ["notes:read"]);
    }
}
