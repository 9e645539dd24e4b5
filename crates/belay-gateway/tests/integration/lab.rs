//! Test parts the reference servers lack: an upstream whose tool list grows on demand,
//! whose slow tool reports being cancelled, whose resource announces updates, whose tool
//! reports progress after asking a question, one that reports progress right up to its
//! result and one that logs after answering; and a client that records every notification
//! the gateway sends it.
#![allow(deprecated)] // Logging and resources/subscribe are deprecated by SEP-2577 but served.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use belay_mcp::testkit::ScriptedClient;
use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientConfig, ContentBlock,
        CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
        ElicitationSchema, ListResourcesResult, ListToolsResult, LoggingLevel,
        LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
        ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
        ResourceContents, ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig,
        SubscribeRequestParams, Tool, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext},
};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::support::{WAIT, handshake_only, serve};

/// The one resource the lab offers.
pub(crate) const DOC: &str = "lab://doc";

/// What the lab upstream observed.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabSeen {
    /// Calls of `hang` that started.
    pub(crate) hangs: usize,
    /// Calls of `hang` whose request was cancelled.
    pub(crate) cancelled: usize,
    /// `resources/subscribe` (+1) and `resources/unsubscribe` (-1) so far, in order.
    pub(crate) subscriptions: Vec<i8>,
    /// Pings received.
    pub(crate) pings: usize,
}

/// An upstream MCP server whose state tests can drive and observe.
#[derive(Clone)]
pub(crate) struct Lab {
    extra: Arc<Mutex<Vec<String>>>,
    /// Set by the `sicken` tool: pings fail from then on.
    sick: Arc<AtomicBool>,
    seen: Arc<watch::Sender<LabSeen>>,
}

impl Lab {
    /// Serves a new lab at `<url>/mcp` until the guard drops.
    pub(crate) async fn start() -> anyhow::Result<(Self, String, DropGuard)> {
        Self::start_with(|router| router).await
    }

    /// [`Self::start`] serving the handshake era only ([`handshake_only`]): it asks its
    /// questions live whatever the caller's era, as such a server does.
    pub(crate) async fn start_handshake_only() -> anyhow::Result<(Self, String, DropGuard)> {
        Self::start_with(handshake_only).await
    }

    async fn start_with(
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> anyhow::Result<(Self, String, DropGuard)> {
        let lab = Lab {
            extra: Arc::default(),
            sick: Arc::default(),
            seen: Arc::new(watch::channel(LabSeen::default()).0),
        };
        let router = belay_mcp::http::streamable_router(
            lab.clone(),
            "/mcp",
            false,
            CancellationToken::new(),
        );
        let (base, guard) = serve(wrap(router)).await?;
        Ok((lab, format!("{base}/mcp"), guard))
    }

    /// Waits until what the lab saw satisfies `done`.
    pub(crate) async fn wait(&self, done: impl FnMut(&LabSeen) -> bool) -> anyhow::Result<()> {
        let mut rx = self.seen.subscribe();
        tokio::time::timeout(WAIT, rx.wait_for(done)).await??;
        Ok(())
    }

    /// What it saw so far.
    pub(crate) fn seen(&self) -> LabSeen {
        self.seen.borrow().clone()
    }

    fn tools(&self) -> Vec<Tool> {
        let schema = || Arc::new(serde_json::Map::new());
        let mut tools = vec![
            Tool::new("grow", "Adds a tool and announces the change", schema()),
            Tool::new("hang", "Waits until cancelled", schema()),
            Tool::new("touch", "Announces that lab://doc changed", schema()),
            Tool::new("sicken", "Makes every later ping fail", schema()),
            Tool::new(
                "ask_then_report",
                "Asks to go on (elicitation), then reports progress and logs",
                schema(),
            ),
            Tool::new(
                "burst",
                "Reports progress 1 to BURST and logs a warning, then answers at once",
                schema(),
            ),
            Tool::new(
                "chatter",
                "Answers, then logs `chatter` at info and at error on its own, outside any call",
                schema(),
            ),
        ];
        let extra = self.extra.lock().map(|e| e.clone()).unwrap_or_default();
        tools.extend(
            extra
                .into_iter()
                .map(|name| Tool::new(name, "Added by grow", schema())),
        );
        tools
    }
}

fn text(text: &str) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(text)]).into()
}

/// Asks live whether to go on, then reports progress (when asked for) and logs, so that
/// what comes after the question is seen by whoever answered it.
async fn ask_then_report(
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let failed = |e: rmcp::ServiceError| ErrorData::internal_error(e.to_string(), None);
    let schema = ElicitationSchema::builder()
        .required_bool("go_on")
        .build()
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let question = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: "Go on?".into(),
        requested_schema: schema,
    };
    let answer = context
        .peer
        .create_elicitation(question)
        .await
        .map_err(failed)?;
    if let Some(token) = context.meta.get_progress_token() {
        let done = ProgressNotificationParam::new(token, 1.0).with_total(1.0);
        context.peer.notify_progress(done).await.map_err(failed)?;
    }
    let log = LoggingMessageNotificationParam::new(LoggingLevel::Warning, "reported".into());
    context
        .peer
        .notify_logging_message(log)
        .await
        .map_err(failed)?;
    // Notifications and the result travel separately through the gateway: give the
    // notifications a head start, as a tool doing real work would.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(text(&format!("answered {:?}", answer.action)))
}

/// How many progress notifications `burst` sends before its result: with its log line,
/// fewer than a 2026-07-28 call queues before dropping notices (`input_required`).
pub(crate) const BURST: usize = 10;

/// Reports progress 1 to [`BURST`] (when asked for) and logs a warning, with nothing
/// between the last of them and the result: what a tool finishing its work sends.
async fn burst(context: &RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
    let failed = |e: rmcp::ServiceError| ErrorData::internal_error(e.to_string(), None);
    if let Some(token) = context.meta.get_progress_token() {
        for step in 1..=BURST {
            let params =
                ProgressNotificationParam::new(token.clone(), step as f64).with_total(BURST as f64);
            context.peer.notify_progress(params).await.map_err(failed)?;
        }
    }
    let log = LoggingMessageNotificationParam::new(LoggingLevel::Warning, "burst".into());
    context
        .peer
        .notify_logging_message(log)
        .await
        .map_err(failed)?;
    Ok(text("burst"))
}

/// Answers, then a moment later logs `chatter` at info and at error on the session, as a
/// server's background work does (server-everything's simulated logging): messages that
/// belong to no call.
fn chatter(context: &RequestContext<RoleServer>) -> CallToolResponse {
    let peer = context.peer.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for level in [LoggingLevel::Info, LoggingLevel::Error] {
            let log = LoggingMessageNotificationParam::new(level, "chatter".into());
            if let Err(e) = peer.notify_logging_message(log).await {
                tracing::debug!(error = %e, "chatter not sent");
            }
        }
    });
    text("chattering")
}

impl ServerHandler for Lab {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            "grow" => {
                if let Ok(mut extra) = self.extra.lock() {
                    let name = format!("extra_{}", extra.len() + 1);
                    extra.push(name);
                }
                context
                    .peer
                    .notify_tool_list_changed()
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                Ok(text("grown"))
            }
            "hang" => {
                self.seen.send_modify(|s| s.hangs += 1);
                tokio::select! {
                    () = context.ct.cancelled() => {
                        self.seen.send_modify(|s| s.cancelled += 1);
                        Err(ErrorData::internal_error("cancelled", None))
                    }
                    // Long enough to outlast any test; short enough not to leak forever.
                    () = tokio::time::sleep(Duration::from_secs(60)) => Ok(text("done")),
                }
            }
            "touch" => {
                context
                    .peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(DOC))
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                Ok(text("touched"))
            }
            "sicken" => {
                self.sick.store(true, Ordering::SeqCst);
                Ok(text("sick"))
            }
            "ask_then_report" => ask_then_report(&context).await,
            "burst" => burst(&context).await,
            "chatter" => Ok(chatter(&context)),
            other => Ok(text(other)),
        }
    }

    async fn ping(&self, _context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.seen.send_modify(|s| s.pings += 1);
        if self.sick.load(Ordering::SeqCst) {
            return Err(ErrorData::internal_error("sick", None));
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            DOC, "doc",
        )]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Ok(ReadResourceResult::new(vec![ResourceContents::text("the doc", request.uri)]).into())
    }

    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.seen.send_modify(|s| s.subscriptions.push(1));
        Ok(())
    }

    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.seen.send_modify(|s| s.subscriptions.push(-1));
        Ok(())
    }
}

/// Every notification a [`Recorder`] received.
#[derive(Debug, Clone, Default)]
pub(crate) struct Heard {
    pub(crate) progress: Vec<ProgressNotificationParam>,
    pub(crate) logs: Vec<LoggingMessageNotificationParam>,
    pub(crate) updated: Vec<String>,
    pub(crate) tools_changed: usize,
}

/// A client that answers like `person` and records every notification.
#[derive(Clone)]
pub(crate) struct Recorder {
    person: ScriptedClient,
    heard: Arc<watch::Sender<Heard>>,
}

impl Recorder {
    pub(crate) fn new(person: ScriptedClient) -> Self {
        Self {
            person,
            heard: Arc::new(watch::channel(Heard::default()).0),
        }
    }

    /// What it heard so far.
    pub(crate) fn heard(&self) -> Heard {
        self.heard.borrow().clone()
    }

    /// Waits until what it heard satisfies `done`.
    pub(crate) async fn wait(&self, done: impl FnMut(&Heard) -> bool) -> anyhow::Result<Heard> {
        let mut rx = self.heard.subscribe();
        let heard = tokio::time::timeout(WAIT, rx.wait_for(done)).await??;
        Ok(heard.clone())
    }
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        self.person.get_info()
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.person.create_elicitation(request, context).await
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.person.create_message(params, context).await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.heard.send_modify(|h| h.progress.push(params));
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.heard.send_modify(|h| h.logs.push(params));
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.heard.send_modify(|h| h.updated.push(params.uri));
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.heard.send_modify(|h| h.tools_changed += 1);
    }
}
