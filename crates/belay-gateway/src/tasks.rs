//! Task-augmented questions (MCP 2025-11-25 tasks, in the direction where the client runs
//! them): an upstream asks its client to answer a `sampling/createMessage` or an
//! `elicitation/create` as a task, as server-everything's `trigger-sampling-request-async`
//! and `trigger-elicitation-request-async` do.
//!
//! What crosses: the upstream (the requestor) sends the question with `params.task`; the
//! receiver answers at once with a task (`{"task": {"taskId", "status", …}}`); the upstream
//! then polls `tasks/get`, fetches the answer with `tasks/result` (which waits for the end)
//! and may `tasks/cancel` it. The gateway is the receiver the upstream sees, and makes a task
//! of its own for each such question ([`Tasks`]):
//!
//! * a handshake-era caller that declared it runs these as tasks
//!   (`capabilities.tasks.requests.sampling.createMessage`, `….elicitation.create`) is sent
//!   the question with `params.task` and runs it as its own task; the upstream's
//!   `tasks/get`, `tasks/result` and `tasks/cancel` (this one if the caller declared
//!   `tasks.cancel`) go to that caller naming the caller's task, and come back naming the
//!   gateway's;
//! * any other caller (no such capability, or a 2026-07-28 caller, whose questions ride its
//!   call's `input_required` rounds) is asked the plain question while the gateway holds
//!   the task; `tasks/result` waits for the answer.
//!
//! Task ids are treated like session ids. The upstream connection is shared by callers, and
//! each caller draws its own task ids (two may draw alike, or pick another's on purpose), so
//! a caller's ids never reach the upstream: the gateway draws its own at random, valid only
//! on the upstream connection that asked (with token exchange each caller has its own), and
//! a poll reaches exactly the caller whose task it is, never one chosen by who has calls in
//! flight. A caller is only ever asked about its own tasks; `tasks/list` is not offered.
//! Tasks the gateway holds are bounded ([`MAX_TASKS`] per connection, kept at most
//! [`MAX_TTL`]).
//!
//! rmcp (3.11) models only the 2026 tasks extension: its `ClientCapabilities` has no
//! `tasks`, and parsing a question drops `params.task`. What it cannot carry is handled at
//! the edges, on the JSON: the HTTP front keeps a caller's declared `tasks` where rmcp keeps
//! capabilities ([`noted`], called by the front, [`crate::admission`]), and an upstream
//! transport that sees messages as text declares the gateway's capability and diverts task-augmented questions
//! ([`wire`]): the Streamable HTTP client and the gateway's own stdio transport. Legacy SSE
//! upstreams are read by a transport that parses before the gateway sees anything, so they
//! are not told the gateway runs tasks (they send plain questions, relayed as before).
//!
//! Tasks a caller creates on an upstream (a task-augmented `tools/call`) are not relayed:
//! the gateway declares no `tasks` server capability, so callers call plainly.

mod table;
pub(crate) mod wire;

use rmcp::{RoleServer, model::JsonObject, service::Peer};
use serde_json::{Value, json};

pub(crate) use table::Tasks;

/// The `_meta` key that ties a message to a task.
pub(crate) const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// Where a caller's declared `tasks` capability is kept among its capabilities (rmcp keeps
/// `experimental` ones; [`noted`] copies it there).
const CALLER_TASKS: &str = "belay.gateway/tasks";

/// How long the gateway keeps a task at most, whatever the requestor asked.
pub(crate) const MAX_TTL_MS: u64 = 60 * 60 * 1000;

/// [`MAX_TTL_MS`] as a duration.
pub(crate) const MAX_TTL: std::time::Duration = std::time::Duration::from_millis(MAX_TTL_MS);

/// The most tasks one upstream connection may have at once.
pub(crate) const MAX_TASKS: usize = 1024;

/// A question an upstream may ask as a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `sampling/createMessage`.
    Sampling,
    /// `elicitation/create`.
    Elicitation,
}

impl Kind {
    pub(crate) fn of_method(method: &str) -> Option<Self> {
        [Self::Sampling, Self::Elicitation]
            .into_iter()
            .find(|kind| kind.method() == method)
    }

    pub(crate) fn method(self) -> &'static str {
        match self {
            Self::Sampling => "sampling/createMessage",
            Self::Elicitation => "elicitation/create",
        }
    }

    /// Where a client declares it runs this as a task: `tasks.requests.<a>.<b>`.
    fn capability(self) -> [&'static str; 2] {
        match self {
            Self::Sampling => ["sampling", "createMessage"],
            Self::Elicitation => ["elicitation", "create"],
        }
    }

    /// What the question is called in errors.
    fn what(self) -> &'static str {
        match self {
            Self::Sampling => "sampling request",
            Self::Elicitation => "elicitation",
        }
    }
}

/// The `tasks` capability the gateway declares to an upstream that can send it task
/// questions: it runs both questions as tasks (for every caller, see the module) and
/// cancels them.
pub(crate) fn advertised() -> Value {
    json!({
        "cancel": {},
        "requests": {
            "sampling": { "createMessage": {} },
            "elicitation": { "create": {} },
        },
    })
}

/// What a caller declared it does with tasks: nothing unless it said so at `initialize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallerTasks {
    sampling: bool,
    elicitation: bool,
    cancel: bool,
}

impl CallerTasks {
    /// What the caller behind `peer` declared (a 2026-07-28 caller has no `initialize`:
    /// nothing).
    pub(crate) fn of(peer: &Peer<RoleServer>) -> Self {
        let declared = peer.peer_info().and_then(|info| {
            let experimental = info.capabilities.experimental.as_ref()?;
            experimental.get(CALLER_TASKS).cloned()
        });
        declared
            .map(|d| Self::from_capability(&d))
            .unwrap_or_default()
    }

    fn from_capability(tasks: &JsonObject) -> Self {
        let declared = |kind: Kind| {
            let [category, method] = kind.capability();
            tasks
                .get("requests")
                .and_then(|r| r.get(category))
                .and_then(|c| c.get(method))
                .is_some_and(Value::is_object)
        };
        Self {
            sampling: declared(Kind::Sampling),
            elicitation: declared(Kind::Elicitation),
            cancel: tasks.get("cancel").is_some_and(Value::is_object),
        }
    }

    /// Whether the caller runs `kind` as a task.
    pub(crate) fn runs(self, kind: Kind) -> bool {
        match kind {
            Kind::Sampling => self.sampling,
            Kind::Elicitation => self.elicitation,
        }
    }

    /// Whether the caller cancels its tasks on request.
    pub(crate) fn cancels(self) -> bool {
        self.cancel
    }
}

/// `body` with the `tasks` capability of its `initialize` copied to the caller's
/// experimental capabilities under [`CALLER_TASKS`] (and that key removed when it declared
/// none, so a caller cannot declare it there instead); `None` when there is nothing to
/// change, or it is not an `initialize` (rmcp answers what does not parse).
pub(crate) fn noted(body: &[u8]) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(body).ok()?;
    if message.get("method")?.as_str()? != "initialize" {
        return None;
    }
    let capabilities = message
        .get_mut("params")?
        .get_mut("capabilities")?
        .as_object_mut()?;
    let tasks = capabilities.get("tasks").filter(|t| t.is_object()).cloned();
    let kept = capabilities
        .get("experimental")
        .and_then(|e| e.get(CALLER_TASKS));
    if kept == tasks.as_ref() {
        return None;
    }
    let experimental = capabilities
        .entry("experimental")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    match tasks {
        Some(tasks) => experimental.insert(CALLER_TASKS.into(), tasks),
        None => experimental.remove(CALLER_TASKS),
    };
    serde_json::to_vec(&message).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initialize(capabilities: Value) -> Vec<u8> {
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": capabilities,
                          "clientInfo": {"name": "c", "version": "0"}}})
        .to_string()
        .into_bytes()
    }

    fn experimental(body: &[u8]) -> Value {
        let message: Value = serde_json::from_slice(body).unwrap_or_default();
        message["params"]["capabilities"]["experimental"].clone()
    }

    #[test]
    fn a_declared_tasks_capability_is_kept_where_rmcp_keeps_capabilities() {
        let tasks = json!({"requests": {"sampling": {"createMessage": {}}}});
        let body = initialize(json!({"sampling": {}, "tasks": tasks}));
        let noted = noted(&body).expect("rewritten");
        assert_eq!(experimental(&noted), json!({ CALLER_TASKS: tasks }));
        let declared = CallerTasks::from_capability(tasks.as_object().expect("object"));
        assert!(declared.runs(Kind::Sampling));
        assert!(!declared.runs(Kind::Elicitation));
        assert!(!declared.cancels());
    }

    #[test]
    fn a_caller_cannot_declare_tasks_by_the_back_door() {
        let forged =
            json!({ CALLER_TASKS: {"requests": {"elicitation": {"create": {}}}}, "x": {} });
        let noted = noted(&initialize(json!({ "experimental": forged }))).expect("rewritten");
        assert_eq!(experimental(&noted), json!({"x": {}}));
    }

    #[test]
    fn other_requests_pass_untouched() {
        assert_eq!(noted(&initialize(json!({"sampling": {}}))), None);
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "initialize", "arguments": {}}});
        assert_eq!(noted(call.to_string().as_bytes()), None);
        assert_eq!(noted(b"{\"method\": \"initialize\", oops"), None);
    }
}
