//! The tasks the gateway made for one upstream connection's task-augmented questions, and
//! its answers to that upstream's `tasks/get`, `tasks/result` and `tasks/cancel`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{SecondsFormat, Utc};
use rmcp::{
    ErrorData, ServiceError,
    model::{ClientResult, CustomRequest, CustomResult, ErrorCode, ServerRequest},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::{sync::watch, time::Instant};
use tokio_util::task::AbortOnDropHandle;

use super::{CallerTasks, Kind, MAX_TASKS, MAX_TTL, MAX_TTL_MS, RELATED_TASK, wire::DIVERTED};
use crate::{
    era::{self, FromUpstream, Question, Unanswered},
    upstream_client::Downstream,
};

/// How often the gateway suggests polling a task it holds.
const POLL_INTERVAL_MS: u64 = 500;

/// The tasks of one upstream connection (a new connection starts with none).
#[derive(Clone)]
pub(crate) struct Tasks {
    upstream: Arc<str>,
    entries: Arc<Mutex<HashMap<String, Arc<Entry>>>>,
}

/// One task, as the upstream knows it (by the gateway's id, the key of its entry).
struct Entry {
    kind: Kind,
    /// When it is forgotten.
    expires: Instant,
    /// The task as last reported to the upstream, its id the gateway's.
    seen: Mutex<Map<String, Value>>,
    /// Cancelled at the upstream's request: it stays so, whatever the caller does next.
    cancelled: AtomicBool,
    runner: Runner,
}

/// Who runs a task.
enum Runner {
    /// The caller, as its own task `id`.
    Caller {
        caller: Box<Downstream>,
        id: String,
        cancels: bool,
    },
    /// The gateway, asking the caller the plain question.
    Gateway {
        finished: watch::Receiver<Option<Result<Value, ErrorData>>>,
        asking: Mutex<Option<AbortOnDropHandle<()>>>,
    },
}

/// The params of `tasks/get`, `tasks/result` and `tasks/cancel`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskIdParams {
    task_id: String,
}

/// The params of a diverted question ([`DIVERTED`]).
#[derive(Deserialize)]
struct DivertedParams {
    method: String,
    params: Map<String, Value>,
}

/// `params.task` of a task-augmented request.
#[derive(Deserialize)]
struct TaskParams {
    ttl: Option<u64>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn not_found() -> ErrorData {
    ErrorData::invalid_params("Failed to retrieve task: Task not found", None)
}

fn is_terminal(status: Option<&str>) -> bool {
    matches!(status, Some("completed" | "failed" | "cancelled"))
}

impl Tasks {
    /// The tasks of a new connection to `upstream`.
    pub(crate) fn new(upstream: &str) -> Self {
        Self {
            upstream: upstream.into(),
            entries: Arc::default(),
        }
    }

    /// Answers the upstream's custom request `request`: a diverted task-augmented question
    /// (for the caller `target` finds), or a request about one of its tasks.
    pub(crate) async fn serve(
        &self,
        request: CustomRequest,
        target: impl FnOnce(&str) -> Result<Downstream, ErrorData>,
    ) -> Result<CustomResult, ErrorData> {
        let params = request.params.unwrap_or(Value::Null);
        let task_id = || {
            serde_json::from_value::<TaskIdParams>(params.clone())
                .map(|p| p.task_id)
                .map_err(|e| ErrorData::invalid_params(format!("{}: {e}", request.method), None))
        };
        let answer = match request.method.as_str() {
            DIVERTED => {
                let diverted = serde_json::from_value::<DivertedParams>(params.clone())
                    .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
                self.create(diverted, target).await?
            }
            "tasks/get" => self.get(&task_id()?).await?,
            "tasks/result" => self.result(&task_id()?).await?,
            "tasks/cancel" => self.cancel(&task_id()?).await?,
            other => {
                return Err(ErrorData::new(
                    ErrorCode::METHOD_NOT_FOUND,
                    format!("the gateway does not answer `{other}`"),
                    None,
                ));
            }
        };
        Ok(CustomResult(answer))
    }

    /// Makes a task for a task-augmented question: the caller runs it if it declared it
    /// runs such questions as tasks, else the gateway asks it the plain question.
    async fn create(
        &self,
        DivertedParams { method, mut params }: DivertedParams,
        target: impl FnOnce(&str) -> Result<Downstream, ErrorData>,
    ) -> Result<Value, ErrorData> {
        let kind = Kind::of_method(&method).ok_or_else(|| {
            ErrorData::invalid_params(format!("`{method}` cannot be run as a task"), None)
        })?;
        let task = match params.remove("task") {
            Some(Value::Object(task)) => task,
            _ => Map::new(),
        };
        let ttl = serde_json::from_value::<TaskParams>(Value::Object(task.clone()))
            .map_err(|e| ErrorData::invalid_params(format!("params.task: {e}"), None))?
            .ttl
            .map_or(MAX_TTL_MS, |ttl| ttl.min(MAX_TTL_MS));
        let question = match kind {
            Kind::Sampling => serde_json::from_value(Value::Object(params)).map(Question::Sample),
            Kind::Elicitation => {
                serde_json::from_value(Value::Object(params)).map(Question::Elicit)
            }
        }
        .map_err(|e| ErrorData::invalid_params(format!("{method}: {e}"), None))?;
        let target = target(kind.what())?;
        if self.lock().len() >= MAX_TASKS {
            return Err(ErrorData::internal_error(
                format!(
                    "upstream `{}` has {MAX_TASKS} tasks at the gateway already",
                    self.upstream
                ),
                None,
            ));
        }
        let declared = match target.round_trip {
            Some(_) => CallerTasks::default(),
            None => CallerTasks::of(&target.peer),
        };
        let entry = if declared.runs(kind) {
            let cancels = declared.cancels();
            self.run_at_caller(kind, question, task, ttl, target, cancels)
                .await?
        } else {
            self.run_here(kind, question, target, ttl)
        };
        let id = format!("{:032x}", rand::random::<u128>());
        let view = entry.view(&id);
        self.lock().insert(id, Arc::new(entry));
        Ok(json!({ "task": view }))
    }

    /// Sends `question` to `caller` as a task (with the upstream's `task` params, which ask
    /// for `ttl_ms`).
    async fn run_at_caller(
        &self,
        kind: Kind,
        question: Question,
        task: Map<String, Value>,
        ttl_ms: u64,
        caller: Downstream,
        cancels: bool,
    ) -> Result<Entry, ErrorData> {
        let request =
            era::server_request(&caller, question).map_err(|e| self.unanswered(kind.what(), e))?;
        let mut request = serde_json::to_value(&request)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let params = request.get_mut("params").map(Value::take);
        let mut params = match params {
            Some(Value::Object(params)) => params,
            _ => Map::new(),
        };
        params.insert("task".into(), Value::Object(task));
        let request = CustomRequest::new(kind.method(), Some(Value::Object(params)));
        let answer = caller
            .ask(ServerRequest::CustomRequest(request))
            .await
            .map_err(|e| self.unanswered(kind.what(), Unanswered::Caller(e)))?;
        match answer {
            ClientResult::CustomResult(CustomResult(Value::Object(mut created))) => {
                let Some(Value::Object(mut task)) = created.remove("task") else {
                    return Err(self.unexpected(kind, "an answer that is not a task"));
                };
                let Some(id) = task
                    .get("taskId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    return Err(self.unexpected(kind, "a task without a taskId"));
                };
                task.remove("_meta");
                let ttl = cap_ttl(&mut task);
                Ok(Entry {
                    kind,
                    expires: Instant::now() + ttl,
                    seen: Mutex::new(task),
                    cancelled: AtomicBool::new(false),
                    runner: Runner::Caller {
                        caller: Box::new(caller),
                        id,
                        cancels,
                    },
                })
            }
            // It may answer at once, as a receiver that runs no tasks does: the task is done.
            answer @ (ClientResult::CreateMessageResult(_) | ClientResult::ElicitResult(_)) => {
                let (done, finished) = watch::channel(None);
                let _ = done.send(Some(
                    serde_json::to_value(&answer)
                        .map_err(|e| ErrorData::internal_error(e.to_string(), None)),
                ));
                Ok(Entry::held(kind, finished, None, ttl_ms))
            }
            _ => Err(self.unexpected(kind, "an unexpected result")),
        }
    }

    /// Holds the task here and asks `caller` the plain question (in its era).
    fn run_here(&self, kind: Kind, question: Question, caller: Downstream, ttl_ms: u64) -> Entry {
        let (done, finished) = watch::channel(None);
        let tasks = self.clone();
        let asking = tokio::spawn(async move {
            let answer = match era::to_caller(&caller, FromUpstream::Question(question)).await {
                Ok(Some(answer)) => serde_json::to_value(&answer)
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None)),
                Ok(None) => Err(tasks.unanswered(
                    kind.what(),
                    Unanswered::Caller(ServiceError::UnexpectedResponse),
                )),
                Err(e) => Err(tasks.unanswered(kind.what(), e)),
            };
            let _ = done.send(Some(answer));
        });
        Entry::held(kind, finished, Some(AbortOnDropHandle::new(asking)), ttl_ms)
    }

    async fn get(&self, id: &str) -> Result<Value, ErrorData> {
        let entry = self.entry(id)?;
        if let Runner::Caller {
            caller, id: theirs, ..
        } = &entry.runner
            && !entry.is_cancelled()
        {
            let answer = self.ask_caller(&entry, caller, "tasks/get", theirs).await?;
            let Value::Object(task) = answer else {
                return Err(self.unexpected(entry.kind, "a `tasks/get` answer that is not a task"));
            };
            entry.saw(task);
        }
        Ok(Value::Object(entry.view(id)))
    }

    async fn result(&self, id: &str) -> Result<Value, ErrorData> {
        let entry = self.entry(id)?;
        let answer = match &entry.runner {
            _ if entry.is_cancelled() => Err(cancelled()),
            Runner::Caller {
                caller, id: theirs, ..
            } => {
                self.ask_caller(&entry, caller, "tasks/result", theirs)
                    .await
            }
            Runner::Gateway { finished, .. } => {
                let mut finished = finished.clone();
                match finished.wait_for(Option::is_some).await {
                    Ok(answer) => answer.clone().unwrap_or_else(|| Err(cancelled())),
                    // The question was given up on (cancelled): no answer will come.
                    Err(_) => Err(cancelled()),
                }
            }
        };
        let mut answer = answer?;
        // What ties the answer to its task, naming the gateway's task, never the caller's.
        if let Value::Object(result) = &mut answer {
            let meta = result
                .entry("_meta")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            if let Some(meta) = meta {
                meta.insert(RELATED_TASK.into(), json!({ "taskId": id }));
            }
        }
        Ok(answer)
    }

    async fn cancel(&self, id: &str) -> Result<Value, ErrorData> {
        let entry = self.entry(id)?;
        let status = entry
            .view(id)
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if is_terminal(status.as_deref()) {
            return Err(ErrorData::invalid_params(
                format!(
                    "Cannot cancel task: already in terminal status '{}'",
                    status.unwrap_or_default()
                ),
                None,
            ));
        }
        match &entry.runner {
            Runner::Caller {
                caller,
                id: theirs,
                cancels: true,
            } => {
                if let Value::Object(task) = self
                    .ask_caller(&entry, caller, "tasks/cancel", theirs)
                    .await?
                {
                    entry.saw(task);
                }
            }
            // The caller cannot be told: its answer, when it comes, is not passed on.
            Runner::Caller { .. } => {}
            Runner::Gateway { asking, .. } => {
                lock(asking).take();
            }
        }
        entry.cancelled.store(true, Ordering::SeqCst);
        let mut seen = lock(&entry.seen);
        seen.insert("status".into(), json!("cancelled"));
        seen.insert("statusMessage".into(), json!("cancelled by the requestor"));
        seen.insert("lastUpdatedAt".into(), json!(now()));
        drop(seen);
        Ok(Value::Object(entry.view(id)))
    }

    /// Asks the caller `method` about its own task `theirs`. An error the caller answers
    /// with is the upstream's answer too.
    async fn ask_caller(
        &self,
        entry: &Entry,
        caller: &Downstream,
        method: &str,
        theirs: &str,
    ) -> Result<Value, ErrorData> {
        let request = CustomRequest::new(method, Some(json!({ "taskId": theirs })));
        let answer = caller
            .ask(ServerRequest::CustomRequest(request))
            .await
            .map_err(|e| match e {
                ServiceError::McpError(e) => e,
                e => {
                    let what = format!("`{method}` about its {}", entry.kind.what());
                    self.unanswered(&what, Unanswered::Caller(e))
                }
            })?;
        serde_json::to_value(&answer).map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    /// The live entry `id`, forgetting expired ones.
    fn entry(&self, id: &str) -> Result<Arc<Entry>, ErrorData> {
        self.lock().get(id).cloned().ok_or_else(not_found)
    }

    /// The table, expired tasks forgotten.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        let mut entries = lock(&self.entries);
        let now = Instant::now();
        entries.retain(|_, entry| entry.expires > now);
        entries
    }

    /// The error for the upstream when the caller did not answer `what`.
    fn unanswered(&self, what: &str, e: Unanswered) -> ErrorData {
        match e {
            Unanswered::Refused(e) => e,
            Unanswered::Caller(e) => ErrorData::internal_error(
                format!(
                    "the client did not answer the {what} of upstream `{}`: {e}",
                    self.upstream
                ),
                None,
            ),
        }
    }

    fn unexpected(&self, kind: Kind, what: &str) -> ErrorData {
        ErrorData::internal_error(
            format!(
                "the client answered the {} of upstream `{}` as a task with {what}",
                kind.what(),
                self.upstream
            ),
            None,
        )
    }
}

impl Entry {
    /// A task the gateway holds, finished once `finished` holds an answer.
    fn held(
        kind: Kind,
        finished: watch::Receiver<Option<Result<Value, ErrorData>>>,
        asking: Option<AbortOnDropHandle<()>>,
        ttl_ms: u64,
    ) -> Self {
        let created = now();
        let seen = json!({
            "status": "working",
            "createdAt": created,
            "lastUpdatedAt": created,
            "ttl": ttl_ms,
            "pollInterval": POLL_INTERVAL_MS,
        });
        let Value::Object(seen) = seen else {
            unreachable!("a JSON object literal")
        };
        Self {
            kind,
            expires: Instant::now() + Duration::from_millis(ttl_ms),
            seen: Mutex::new(seen),
            cancelled: AtomicBool::new(false),
            runner: Runner::Gateway {
                finished,
                asking: Mutex::new(asking),
            },
        }
    }

    /// Keeps what the caller reported of its task (its id and `_meta` are its own).
    fn saw(&self, mut task: Map<String, Value>) {
        task.remove("taskId");
        task.remove("_meta");
        cap_ttl(&mut task);
        *lock(&self.seen) = task;
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The task as the upstream is told it, as task `id`.
    fn view(&self, id: &str) -> Map<String, Value> {
        let mut seen = lock(&self.seen);
        if let Runner::Gateway { finished, .. } = &self.runner
            && !self.is_cancelled()
            && seen.get("status").and_then(Value::as_str) == Some("working")
            && let Some(answer) = &*finished.borrow()
        {
            match answer {
                Ok(_) => {
                    seen.insert("status".into(), json!("completed"));
                }
                Err(e) => {
                    seen.insert("status".into(), json!("failed"));
                    seen.insert("statusMessage".into(), json!(e.message));
                }
            }
            seen.insert("lastUpdatedAt".into(), json!(now()));
        }
        let mut view = seen.clone();
        view.insert("taskId".into(), json!(id));
        view
    }
}

/// Caps a caller's task's `ttl` at the gateway's own (`null`, unlimited, too); the time
/// the gateway keeps it.
fn cap_ttl(task: &mut Map<String, Value>) -> Duration {
    let ttl = task
        .get("ttl")
        .and_then(Value::as_u64)
        .map_or(MAX_TTL_MS, |ttl| ttl.min(MAX_TTL_MS));
    task.insert("ttl".into(), json!(ttl));
    Duration::from_millis(ttl).min(MAX_TTL)
}

fn cancelled() -> ErrorData {
    ErrorData::internal_error("the task was cancelled", None)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table holding one task the gateway runs, whose question is still unanswered.
    fn holding() -> (Tasks, watch::Sender<Option<Result<Value, ErrorData>>>) {
        let tasks = Tasks::new("up");
        let (answer, finished) = watch::channel(None);
        let entry = Entry::held(Kind::Elicitation, finished, None, 60_000);
        lock(&tasks.entries).insert("g".into(), Arc::new(entry));
        (tasks, answer)
    }

    #[tokio::test]
    async fn a_held_task_finishes_with_the_callers_answer() -> Result<(), ErrorData> {
        let (tasks, answer) = holding();
        assert_eq!(tasks.get("g").await?["status"], "working");
        let _ = answer.send(Some(Ok(json!({"action": "accept"}))));
        let got = tasks.get("g").await?;
        assert_eq!(
            (&got["status"], &got["taskId"]),
            (&json!("completed"), &json!("g"))
        );
        let result = tasks.result("g").await?;
        assert_eq!(result["action"], "accept");
        assert_eq!(result["_meta"][RELATED_TASK]["taskId"], "g");
        let refused = tasks.cancel("g").await.err().map(|e| e.code);
        assert_eq!(refused, Some(ErrorCode::INVALID_PARAMS), "already terminal");
        Ok(())
    }

    #[tokio::test]
    async fn a_held_task_cancelled_stays_cancelled() -> Result<(), ErrorData> {
        let (tasks, answer) = holding();
        let cancelled = tasks.cancel("g").await?;
        assert_eq!(cancelled["status"], "cancelled");
        // An answer arriving after changes nothing.
        let _ = answer.send(Some(Ok(json!({"action": "accept"}))));
        assert_eq!(tasks.get("g").await?["status"], "cancelled");
        assert!(tasks.result("g").await.is_err());
        let again = tasks.cancel("g").await.err().map(|e| e.code);
        assert_eq!(again, Some(ErrorCode::INVALID_PARAMS));
        Ok(())
    }

    #[tokio::test]
    async fn unknown_and_expired_tasks_are_not_found() {
        let (tasks, _answer) = holding();
        for id in ["", "G", "another"] {
            assert_eq!(
                tasks.get(id).await.err().map(|e| e.code),
                Some(ErrorCode::INVALID_PARAMS)
            );
        }
        let (_, finished) = watch::channel(None);
        let expired = Entry::held(Kind::Sampling, finished, None, 0);
        lock(&tasks.entries).insert("old".into(), Arc::new(expired));
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            tasks.get("old").await.is_err(),
            "forgotten once its ttl is over"
        );
        assert!(tasks.get("g").await.is_ok());
    }
}
