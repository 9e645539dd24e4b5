//! Task-augmented questions (MCP 2025-11-25 tasks): an upstream asks its client to answer a
//! sampling request or an elicitation as a task, as server-everything's async tools do, and
//! polls `tasks/get` and `tasks/result` for the answer.
//!
//! The upstream here sends exactly what server-everything sends (`params.task`, then the
//! task requests, as custom requests since rmcp has no model of them) and reports what it
//! got back. A caller that runs tasks ([`TaskCaller`]) must get the question as a task and
//! be asked about its own task only; the upstream must only ever see the gateway's task ids
//! (callers draw their own, possibly alike); a caller that runs no tasks is asked the plain
//! question while the gateway holds the task.
#![allow(deprecated)] // Sampling is deprecated by SEP-2577 but still relayed.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use belay_mcp::testkit::{Client, Era, ScriptedClient, object};
use rmcp::{
    ClientServiceExt, ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, ContentBlock,
        CustomRequest, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        ServerRequest, Tool,
    },
    service::{Peer, RequestContext},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{
    support::{Running, handshake_only, one_upstream, serve},
    task_caller::TaskCaller,
};

/// An upstream that asks its questions as tasks, and remembers its `initialize`. Its tools
/// report what the client answered, as JSON text.
#[derive(Clone, Default)]
struct Requestor {
    /// The `capabilities` of the `initialize` it received, as sent.
    declared: Arc<Mutex<Option<Value>>>,
}

impl Requestor {
    /// Serves it at `<url>` until the guard drops.
    async fn start() -> anyhow::Result<(Self, String, DropGuard)> {
        let requestor = Self::default();
        let declared = requestor.declared.clone();
        let router = belay_mcp::http::streamable_router(
            requestor.clone(),
            "/mcp",
            false,
            CancellationToken::new(),
        )
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let declared = declared.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    if let Ok(message) = serde_json::from_slice::<Value>(&bytes)
                        && message["method"] == "initialize"
                        && let Ok(mut declared) = declared.lock()
                    {
                        *declared = Some(message["params"]["capabilities"].clone());
                    }
                    let response: Response = next
                        .run(Request::from_parts(parts, Body::from(bytes)))
                        .await;
                    response
                }
            },
        ));
        // Task-augmented questions belong to the handshake era, as server-everything's.
        let (base, guard) = serve(handshake_only(router)).await?;
        Ok((requestor, format!("{base}/mcp"), guard))
    }

    fn declared(&self) -> Value {
        self.declared
            .lock()
            .ok()
            .and_then(|d| d.clone())
            .unwrap_or_default()
    }
}

/// Sends `method` to the client; its answer as JSON, or its error as `{"error": …}`.
async fn send(peer: &Peer<RoleServer>, method: &str, params: Value) -> Value {
    let request = ServerRequest::CustomRequest(CustomRequest::new(method, Some(params)));
    match peer.send_request(request).await {
        Ok(ClientResult::CustomResult(result)) => result.0,
        Ok(other) => serde_json::to_value(other).unwrap_or_default(),
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// The question of `kind` (`sampling` or `elicitation`) as a task; what the client answered.
async fn create(kind: &Value, peer: &Peer<RoleServer>) -> Value {
    let task = json!({"ttl": 60_000});
    let (method, params) = match kind.as_str() {
        Some("elicitation") => (
            "elicitation/create",
            json!({"task": task, "message": "Your name?", "requestedSchema": {
                "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}),
        ),
        _ => (
            "sampling/createMessage",
            json!({"task": task, "maxTokens": 20, "messages": [
                {"role": "user", "content": {"type": "text", "text": "A headline, please"}}]}),
        ),
    };
    send(peer, method, params).await
}

/// `ask`: the question as a task, then `tasks/get` until it ends and `tasks/result`.
async fn ask(kind: &Value, peer: &Peer<RoleServer>) -> Value {
    let created = create(kind, peer).await;
    let Some(id) = created["task"]["taskId"].as_str() else {
        return json!({ "created": created });
    };
    let mut polls = Vec::new();
    for _ in 0..100 {
        let got = send(peer, "tasks/get", json!({"taskId": id})).await;
        let status = got["status"].as_str().unwrap_or("none").to_owned();
        polls.push(got);
        if matches!(
            status.as_str(),
            "completed" | "failed" | "cancelled" | "none"
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let result = send(peer, "tasks/result", json!({"taskId": id})).await;
    json!({ "created": created, "polls": polls, "result": result })
}

/// `cancel`: the question as a task, cancelled at once, then asked about.
async fn cancel(kind: &Value, peer: &Peer<RoleServer>) -> Value {
    let created = create(kind, peer).await;
    let id = json!({"taskId": created["task"]["taskId"]});
    json!({
        "created": created,
        "cancelled": send(peer, "tasks/cancel", id.clone()).await,
        "got": send(peer, "tasks/get", id.clone()).await,
        "result": send(peer, "tasks/result", id.clone()).await,
        "again": send(peer, "tasks/cancel", id).await,
    })
}

impl ServerHandler for Requestor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = object(json!({"type": "object"}));
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("ask", "asks a question as a task", schema.clone()),
            Tool::new(
                "cancel",
                "asks a question as a task, then cancels it",
                schema.clone(),
            ),
            Tool::new("poll", "asks about a task by id", schema),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let report = match request.name.as_ref() {
            "ask" => ask(&arguments["kind"], &context.peer).await,
            "cancel" => cancel(&arguments["kind"], &context.peer).await,
            // `poll`: asks about task `task_id`, whatever it is.
            _ => {
                let id = json!({"taskId": arguments["task_id"]});
                json!({
                    "got": send(&context.peer, "tasks/get", id.clone()).await,
                    "result": send(&context.peer, "tasks/result", id).await,
                })
            }
        };
        let text = ContentBlock::text(report.to_string());
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            text,
        ])))
    }
}

/// A gateway in front of a new [`Requestor`]; its `/mcp` URL.
async fn requestor_gateway() -> anyhow::Result<(Requestor, Running, String, DropGuard)> {
    let (requestor, url, guard) = Requestor::start().await?;
    let gw = one_upstream("req", &url).await?;
    let mcp = format!("{}/mcp", gw.base);
    Ok((requestor, gw, mcp, guard))
}

/// What the upstream's tool reported, from the caller's answer to the call.
fn report(answer: &Value) -> anyhow::Result<Value> {
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the call failed: {answer}"))?;
    serde_json::from_str(text).with_context(|| format!("not a report: {answer}"))
}

fn methods(caller: &TaskCaller) -> Vec<String> {
    caller
        .heard()
        .iter()
        .map(|r| r["method"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_task_question_crosses_as_a_task_both_ways() -> anyhow::Result<()> {
    let (requestor, _gw, mcp, _up) = requestor_gateway().await?;
    let declared = requestor.declared();
    assert_eq!(
        declared["tasks"]["requests"],
        json!({"sampling": {"createMessage": {}}, "elicitation": {"create": {}}}),
        "the gateway declares it runs both questions as tasks: {declared}"
    );

    for (n, (kind, answer)) in [("sampling", "Tasks cross"), ("elicitation", "Ada")]
        .into_iter()
        .enumerate()
    {
        let caller = TaskCaller::open(&mcp, true, "caller-task-1", answer).await?;
        let reply = caller
            .call(n as u64 + 1, "req__ask", json!({"kind": kind}))
            .await?;
        let seen = report(&reply)?;

        // Upstream → caller: the question as a task, then requests about that task only.
        let heard = caller.heard();
        assert_eq!(
            heard[0]["params"]["task"],
            json!({"ttl": 60_000}),
            "{kind}: {heard:?}"
        );
        assert!(
            methods(&caller)[1..]
                .iter()
                .all(|m| m.starts_with("tasks/")),
            "{kind}: {heard:?}"
        );
        assert!(
            heard[1..]
                .iter()
                .all(|r| r["params"]["taskId"] == "caller-task-1"),
            "{kind}: the caller is asked about its own task: {heard:?}"
        );
        assert!(methods(&caller).contains(&"tasks/result".to_owned()));

        // Caller → upstream: a task, under the gateway's id, and the answer.
        let created = &seen["created"]["task"];
        let id = created["taskId"].as_str().unwrap_or_default();
        assert!(!id.is_empty() && id != "caller-task-1", "{kind}: {seen}");
        assert_eq!(created["status"], "working", "{kind}: {seen}");
        let polls = seen["polls"].as_array().cloned().unwrap_or_default();
        assert!(polls.iter().all(|p| p["taskId"] == id), "{kind}: {seen}");
        assert_eq!(
            polls.last().map(|p| &p["status"]),
            Some(&json!("completed"))
        );
        let result = &seen["result"];
        assert_eq!(
            result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id,
            "{kind}: {seen}"
        );
        assert!(result.to_string().contains(answer), "{kind}: {seen}");
    }
    Ok(())
}

#[tokio::test]
async fn a_task_is_cancelled_at_the_caller_and_stays_cancelled() -> anyhow::Result<()> {
    let (_requestor, _gw, mcp, _up) = requestor_gateway().await?;
    let caller = TaskCaller::open(&mcp, true, "caller-task-1", "never asked for").await?;
    let seen = report(
        &caller
            .call(1, "req__cancel", json!({"kind": "elicitation"}))
            .await?,
    )?;
    let id = &seen["created"]["task"]["taskId"];
    assert_eq!(seen["cancelled"]["status"], "cancelled", "{seen}");
    assert_eq!(&seen["cancelled"]["taskId"], id, "{seen}");
    assert_eq!(seen["got"]["status"], "cancelled", "{seen}");
    assert!(
        seen["result"]["error"].is_string(),
        "no answer from a cancelled task: {seen}"
    );
    assert!(
        seen["again"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("terminal")),
        "a cancelled task cannot be cancelled again: {seen}"
    );
    assert_eq!(
        methods(&caller),
        ["elicitation/create", "tasks/cancel"],
        "the caller cancels its own task and is asked nothing after: {:?}",
        caller.heard()
    );
    assert_eq!(caller.heard()[1]["params"]["taskId"], "caller-task-1");
    Ok(())
}

#[tokio::test]
async fn task_ids_are_each_callers_own() -> anyhow::Result<()> {
    let (_requestor, _gw, mcp, _up) = requestor_gateway().await?;
    // Two callers drawing the same id, at once: each gets its own answer, and the upstream
    // sees two tasks of the gateway's.
    let alice = TaskCaller::open(&mcp, true, "t-1", "Alice's headline").await?;
    let bob = TaskCaller::open(&mcp, true, "t-1", "Bob's headline").await?;
    let kind = json!({"kind": "sampling"});
    let (a, b) = tokio::join!(
        alice.call(1, "req__ask", kind.clone()),
        bob.call(1, "req__ask", kind)
    );
    let (a, b) = (report(&a?)?, report(&b?)?);
    assert!(a["result"].to_string().contains("Alice's"), "{a}");
    assert!(b["result"].to_string().contains("Bob's"), "{b}");
    let alices = a["created"]["task"]["taskId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bobs = b["created"]["task"]["taskId"].as_str().unwrap_or_default();
    assert!(
        !alices.is_empty() && alices != bobs && alices != "t-1",
        "{a} {b}"
    );

    // Bob asks the gateway about the tasks: Alice's id at her client, and the gateway's.
    let before = methods(&alice).len();
    for (i, id) in ["t-1", alices.as_str()].into_iter().enumerate() {
        for (j, method) in ["tasks/get", "tasks/result"].into_iter().enumerate() {
            let answer = bob
                .request(10 + 2 * i as u64 + j as u64, method, json!({"taskId": id}))
                .await?;
            assert!(answer.get("error").is_some(), "{method} {id}: {answer}");
            assert!(
                !answer.to_string().contains("Alice"),
                "{method} {id}: {answer}"
            );
        }
    }
    // An upstream asking about a caller's own id finds nothing, and asks no caller.
    let bobs_before = methods(&bob).len();
    let poll = report(&bob.call(20, "req__poll", json!({"task_id": "t-1"})).await?)?;
    assert!(poll["got"]["error"].is_string(), "{poll}");
    assert!(poll["result"]["error"].is_string(), "{poll}");
    assert_eq!(
        methods(&alice).len(),
        before,
        "Alice was asked: {:?}",
        alice.heard()
    );
    assert_eq!(
        methods(&bob).len(),
        bobs_before,
        "Bob was asked: {:?}",
        bob.heard()
    );
    Ok(())
}

#[tokio::test]
async fn a_caller_without_tasks_answers_plainly_while_the_gateway_holds_the_task()
-> anyhow::Result<()> {
    let (_requestor, _gw, mcp, _up) = requestor_gateway().await?;
    let raw = TaskCaller::open(&mcp, false, "unused", "Plain answer").await?;
    let seen = report(&raw.call(1, "req__ask", json!({"kind": "sampling"})).await?)?;
    let heard = raw.heard();
    assert_eq!(methods(&raw), ["sampling/createMessage"], "{heard:?}");
    assert_eq!(
        heard[0]["params"].get("task"),
        None,
        "no task for a caller that runs none"
    );
    assert!(seen["created"]["task"]["taskId"].is_string(), "{seen}");
    assert!(
        seen["result"].to_string().contains("Plain answer"),
        "{seen}"
    );

    // rmcp clients of both eras (a 2026-07-28 one answers in its call's rounds).
    for era in Era::BOTH {
        let scripted = ScriptedClient::new(era).answering(json!({"name": "Grace"}));
        let transport = StreamableHttpClientTransport::from_uri(mcp.as_str());
        let client: Client = scripted
            .clone()
            .serve_with_lifecycle(transport, era.lifecycle())
            .await?;
        for (kind, answer) in [("sampling", "Scripted headline"), ("elicitation", "Grace")] {
            let params = CallToolRequestParams::new("req__ask")
                .with_arguments(object(json!({"kind": kind})));
            let result = client.call_tool(params).await?;
            let text = belay_mcp::testkit::text_of(&result);
            let seen: Value = serde_json::from_str(&text)?;
            assert!(
                seen["created"]["task"]["taskId"].is_string(),
                "{era:?} {kind}: {seen}"
            );
            assert_eq!(
                seen["polls"]
                    .as_array()
                    .and_then(|p| p.last())
                    .map(|p| &p["status"]),
                Some(&json!("completed")),
                "{era:?} {kind}: {seen}"
            );
            assert!(
                seen["result"].to_string().contains(answer),
                "{era:?} {kind}: {seen}"
            );
        }
        client.cancel().await?;
    }
    Ok(())
}
