//! A caller that runs the questions it is asked as tasks (MCP 2025-11-25), as the official
//! TypeScript SDK's client does with a task store: JSON-RPC over Streamable HTTP by hand,
//! since rmcp's client can neither declare the `tasks` capability nor see `params.task`.
//!
//! It draws its own task ids (one per caller here, given by the test, so two callers can
//! be made to draw alike), reports a task `working` on the first `tasks/get` and
//! `completed` after, answers `tasks/result` with its scripted answer and cancels on
//! request. It knows only its own task: anything else is refused as the SDK refuses it
//! (-32602). It records every request the gateway sent it.

use std::sync::Mutex;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::WAIT;

const PROTOCOL: &str = "2025-11-25";

pub(crate) struct TaskCaller {
    http: reqwest::Client,
    url: String,
    session: String,
    /// The id of the task it makes (callers draw their own).
    task_id: String,
    /// What it answers: the sampled text, or the name given in a form.
    answer: String,
    /// Every request the gateway sent it, in order.
    heard: Mutex<Vec<Value>>,
    /// `tasks/get` calls answered so far (the first says `working`).
    polls: Mutex<u32>,
}

impl TaskCaller {
    /// Opens a session at `url` declaring sampling, elicitation and, if `tasks`, that it
    /// runs both as tasks and cancels them.
    pub(crate) async fn open(
        url: &str,
        tasks: bool,
        task_id: &str,
        answer: &str,
    ) -> anyhow::Result<Self> {
        let mut capabilities = json!({"sampling": {}, "elicitation": {"form": {}}});
        if tasks {
            capabilities["tasks"] = json!({
                "cancel": {},
                "requests": {"sampling": {"createMessage": {}}, "elicitation": {"create": {}}},
            });
        }
        let mut caller = Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            session: String::new(),
            task_id: task_id.to_owned(),
            answer: answer.to_owned(),
            heard: Mutex::default(),
            polls: Mutex::default(),
        };
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": capabilities,
                       "clientInfo": {"name": "task-caller", "version": "0"}},
        });
        let response = caller.post(&initialize).await?;
        caller.session = response
            .headers()
            .get("mcp-session-id")
            .context("no session id")?
            .to_str()?
            .to_owned();
        caller.answers(response, &json!(0)).await?;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        caller.post(&initialized).await?;
        Ok(caller)
    }

    /// Calls `tool` and answers what the gateway asks meanwhile; the call's JSON-RPC answer.
    pub(crate) async fn call(
        &self,
        id: u64,
        tool: &str,
        arguments: Value,
    ) -> anyhow::Result<Value> {
        self.request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
        .await
    }

    /// Sends request `method` and answers what the gateway asks meanwhile; its answer.
    pub(crate) async fn request(
        &self,
        id: u64,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.post(&request).await?;
        tokio::time::timeout(WAIT, self.answers(response, &json!(id)))
            .await
            .with_context(|| format!("no answer to {method} within {WAIT:?}"))?
    }

    /// The requests the gateway sent so far.
    pub(crate) fn heard(&self) -> Vec<Value> {
        self.heard.lock().map(|h| h.clone()).unwrap_or_default()
    }

    async fn post(&self, message: &Value) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL)
            .json(message);
        if !self.session.is_empty() {
            request = request.header("mcp-session-id", &self.session);
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            bail!("{} answered {}", self.url, response.status());
        }
        Ok(response)
    }

    /// Reads `response` (JSON, or an SSE stream) until the answer to `id`, answering every
    /// request on the way.
    async fn answers(&self, response: reqwest::Response, id: &Value) -> anyhow::Result<Value> {
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            return Ok(response.json().await?);
        }
        let mut events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
        while let Some(event) = events.next().await {
            // A priming event (an id to resume from) carries no message.
            let Some(data) = event?.data.filter(|d| !d.trim().is_empty()) else {
                continue;
            };
            let message: Value = serde_json::from_str(&data)?;
            if message.get("method").is_some() {
                if message.get("id").is_some() {
                    let answer = self.answer(&message);
                    self.post(&answer).await?;
                }
                continue;
            }
            if message.get("id") == Some(id) {
                return Ok(message);
            }
        }
        bail!("the stream ended before the answer to {id}")
    }

    /// Its answer to the gateway's `request`.
    fn answer(&self, request: &Value) -> Value {
        if let Ok(mut heard) = self.heard.lock() {
            heard.push(request.clone());
        }
        let params = &request["params"];
        let own = params["taskId"].as_str() == Some(&self.task_id);
        let result = match request["method"].as_str().unwrap_or_default() {
            "sampling/createMessage" | "elicitation/create" if params.get("task").is_some() => {
                Ok(json!({"task": self.task("working")}))
            }
            method @ ("sampling/createMessage" | "elicitation/create") => Ok(self.result(method)),
            "tasks/get" if own => {
                let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
                *polls += 1;
                Ok(self.task(if *polls == 1 { "working" } else { "completed" }))
            }
            "tasks/result" if own => {
                let question = self
                    .heard()
                    .into_iter()
                    .find(|r| r["params"].get("task").is_some());
                let method = question.as_ref().and_then(|q| q["method"].as_str());
                let mut result = self.result(method.unwrap_or_default());
                result["_meta"] =
                    json!({"io.modelcontextprotocol/related-task": {"taskId": self.task_id}});
                Ok(result)
            }
            "tasks/cancel" if own => Ok(self.task("cancelled")),
            "tasks/get" | "tasks/result" | "tasks/cancel" => Err(json!({
                "code": -32602, "message": "Failed to retrieve task: Task not found"
            })),
            _ => Err(json!({"code": -32601, "message": "not supported by this caller"})),
        };
        match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": request["id"], "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": request["id"], "error": error}),
        }
    }

    fn task(&self, status: &str) -> Value {
        json!({
            "taskId": self.task_id, "status": status,
            "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:01Z",
            "ttl": 60_000, "pollInterval": 10,
        })
    }

    /// What it answers `method` with.
    fn result(&self, method: &str) -> Value {
        match method {
            "elicitation/create" => json!({"action": "accept", "content": {"name": self.answer}}),
            _ => json!({
                "role": "assistant", "model": "task-caller", "stopReason": "endTurn",
                "content": {"type": "text", "text": self.answer},
            }),
        }
    }
}
