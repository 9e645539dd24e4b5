//! Test kit: real rmcp clients wired to servers in process, over a duplex pipe (what stdio
//! carries) or Streamable HTTP on a loopback port, in either protocol era.
//!
//! The client is real; only the person and the model behind it are scripted, since
//! neither can run in a test. Enabled by the `testkit` feature, for dev-dependencies.
#![allow(deprecated)] // Sampling types are deprecated by SEP-2577 but still served.
#![allow(missing_docs)]

use std::sync::{Arc, Mutex};

use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServerHandler, ServiceError,
    ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
        CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
        ElicitationAction, Implementation, JsonObject, LoggingMessageNotificationParam,
        ProgressNotificationParam, ProtocolVersion, Role, SamplingMessage,
    },
    service::{NotificationContext, RequestContext, RunningService},
    transport::StreamableHttpClientTransport,
};
use serde_json::Value;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::Error;

mod malformed;
pub mod raw;
pub mod requests;
pub use malformed::{
    INVALID_REQUEST, Malformed, PARSE_ERROR, check_refusal, malformed_bodies, message_text,
};

/// Which protocol era the test client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` handshake, server-to-client requests (2025-11-25).
    Handshake,
    /// `server/discover`, per-request envelope, input-required results (2026-07-28).
    RoundTrip,
}

impl Era {
    pub const BOTH: [Era; 2] = [Era::Handshake, Era::RoundTrip];

    fn version(self) -> ProtocolVersion {
        match self {
            Era::Handshake => ProtocolVersion::V_2025_11_25,
            Era::RoundTrip => ProtocolVersion::V_2026_07_28,
        }
    }

    pub fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Era::Handshake => ClientLifecycleMode::Initialize,
            Era::RoundTrip => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// Starts `client` on `transport` with the lifecycle of its era.
async fn connect<T, E, A>(client: ScriptedClient, transport: T) -> Result<Client, Error>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let lifecycle = client.era.lifecycle();
    client
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|e| Error::Session(e.to_string()))
}

/// A scripted person behind the client: answers every form with `form_answer` (or
/// declines when it is `None`) and every sampling request with `headline`.
/// It records what it was asked, so tests can check the question too, and the progress
/// and log messages it was sent.
#[derive(Clone)]
pub struct ScriptedClient {
    pub era: Era,
    pub form_answer: Option<Value>,
    pub headline: String,
    /// Declare the elicitation and sampling capabilities (false = a bare client).
    pub capable: bool,
    pub asked: Arc<Mutex<Vec<String>>>,
    pub notices: Arc<Mutex<Vec<Notice>>>,
}

/// A notification the client was sent about a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Progress(ProgressNotificationParam),
    Log(LoggingMessageNotificationParam),
}

impl ScriptedClient {
    pub fn new(era: Era) -> Self {
        Self {
            era,
            form_answer: None,
            headline: "Scripted headline".into(),
            capable: true,
            asked: Arc::default(),
            notices: Arc::default(),
        }
    }

    pub fn answering(mut self, answer: Value) -> Self {
        self.form_answer = Some(answer);
        self
    }

    pub fn bare(mut self) -> Self {
        self.capable = false;
        self
    }

    pub fn questions(&self) -> Vec<String> {
        self.asked.lock().map(|q| q.clone()).unwrap_or_default()
    }

    /// The progress and log messages the client was sent so far, in order.
    pub fn notices(&self) -> Vec<Notice> {
        self.notices.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn record(&self, question: String) {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(question);
        }
    }
}

impl ClientHandler for ScriptedClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities = if self.capable {
            ClientCapabilities::builder()
                .enable_elicitation()
                .enable_sampling()
                .build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(capabilities, Implementation::new("belay-tests", "0"))
            .with_protocol_version(self.era.version())
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.record(message.clone());
        }
        Ok(match &self.form_answer {
            Some(answer) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(answer.clone())
            }
            None => ElicitResult::new(ElicitationAction::Decline),
        })
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(mut notices) = self.notices.lock() {
            notices.push(Notice::Progress(params));
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(mut notices) = self.notices.lock() {
            notices.push(Notice::Log(params));
        }
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, rmcp::ErrorData> {
        let prompt = params
            .messages
            .iter()
            .filter_map(|m| {
                m.content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| t.text.clone())
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.record(prompt);
        Ok(CreateMessageResult::new(
            SamplingMessage::new(
                Role::Assistant,
                rmcp::model::SamplingMessageContentBlock::text(self.headline.clone()),
            ),
            "scripted-model".into(),
        ))
    }
}

pub type Client = RunningService<RoleClient, ScriptedClient>;

/// Connects `client` to `server` over an in-memory pipe, as stdio would carry it.
pub async fn over_pipe<S: ServerHandler>(
    server: S,
    client: ScriptedClient,
) -> Result<Client, Error> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    connect(client, client_io).await
}

/// Starts `server` on Streamable HTTP on a free loopback port and connects `client`.
/// The server stops when the returned token is cancelled (or the test ends).
pub async fn over_http<S: ServerHandler + Clone>(
    server: S,
    client: ScriptedClient,
) -> Result<(Client, CancellationToken), Error> {
    let shutdown = CancellationToken::new();
    let router = crate::http::streamable_router(server, "/mcp", false, shutdown.clone());
    let router = crate::http::guarded(router, Default::default());
    let (listener, addr) = crate::http::bind("127.0.0.1:0").await?;
    tokio::spawn(crate::http::run(listener, router, shutdown.clone()));
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let client = connect(client, transport).await?;
    Ok((client, shutdown))
}

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// An in-memory duplex pipe, carrying what stdio would.
    Pipe,
    /// Streamable HTTP on a loopback port.
    Http,
}

impl Wire {
    pub const ALL: [Wire; 2] = [Wire::Pipe, Wire::Http];
}

/// Every wire in every era: a server's behaviour should be the same in all four, so
/// tests loop over these rather than pick one.
pub fn setups() -> Vec<(Wire, Era)> {
    Wire::ALL
        .into_iter()
        .flat_map(|wire| Era::BOTH.map(|era| (wire, era)))
        .collect()
}

/// A client connected to a server over one wire, labelled for assertion messages.
pub struct Session {
    pub client: Client,
    /// `wire/era`, e.g. "Pipe/Handshake", so a failing loop says which setup broke.
    pub label: String,
    /// Over HTTP, stops the server when the session is closed or dropped, so a test that
    /// fails half-way does not leave servers listening.
    _http_server: Option<DropGuard>,
}

impl Session {
    /// Connects `person` (whose era it speaks) to `server` over `wire`.
    pub async fn open<S: ServerHandler + Clone>(
        server: S,
        wire: Wire,
        person: ScriptedClient,
    ) -> Result<Self, Error> {
        let label = format!("{wire:?}/{:?}", person.era);
        let (client, http_server) = match wire {
            Wire::Pipe => (over_pipe(server, person).await?, None),
            Wire::Http => {
                let (client, stop) = over_http(server, person).await?;
                (client, Some(stop.drop_guard()))
            }
        };
        Ok(Self {
            client,
            label,
            _http_server: http_server,
        })
    }

    /// Calls `tool` with `arguments` (a JSON object), driving any input-required rounds
    /// (`call_tool` answers them with the scripted person), so tests see the final result.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<CallToolResult, ServiceError> {
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(object(arguments));
        self.client.call_tool(params).await
    }

    /// Ends the client session, then (over HTTP) stops the server.
    pub async fn close(self) -> Result<(), Error> {
        self.client
            .cancel()
            .await
            .map_err(|e| Error::Session(format!("{}: {e}", self.label)))?;
        Ok(())
    }
}

/// One session per setup (every wire × era), each with the person `person` makes for its
/// era. The servers are clones of `server`, so they share whatever state it shares.
pub async fn open_all<S: ServerHandler + Clone>(
    server: S,
    person: impl Fn(Era) -> ScriptedClient,
) -> Result<Vec<Session>, Error> {
    let mut sessions = Vec::new();
    for (wire, era) in setups() {
        sessions.push(Session::open(server.clone(), wire, person(era)).await?);
    }
    Ok(sessions)
}

/// `value` as a JSON object (empty when it is not one), for request arguments.
pub fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// The text of every text block of a tool result, joined by newlines.
pub fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends one round of `tools/call` (no automatic retries) and insists on an
/// `input_required` answer: the first half of every round-trip test.
pub async fn input_required(
    client: &Client,
    params: rmcp::model::CallToolRequestParams,
) -> Result<rmcp::model::InputRequiredResult, Error> {
    let name = params.name.clone();
    match client.call_tool_once(params).await {
        Ok(rmcp::model::CallToolResponse::InputRequired(pending)) => Ok(pending),
        Ok(other) => Err(Error::Session(format!(
            "{name}: expected input_required, got {other:?}"
        ))),
        Err(e) => Err(Error::Session(format!("{name}: {e}"))),
    }
}

/// The keys of the questions an `input_required` answer asks, in order.
pub fn question_keys(pending: &rmcp::model::InputRequiredResult) -> Vec<String> {
    pending
        .input_requests
        .as_ref()
        .map(|requests| requests.keys().cloned().collect())
        .unwrap_or_default()
}
