//! A small MCP server on loopback that sends the person to pages (URL-mode elicitation, MCP
//! 2025-11-25), in both ways the specification has, and says when each page is done with
//! `notifications/elicitation/complete`:
//! - `link_account` answers `URLElicitationRequiredError` (-32042) naming its page until the
//!   page was visited, then `account linked`;
//! - `confirm_payment` asks with `elicitation/create` (mode `url`) and, once accepted, waits
//!   for its page to be visited before answering `payment confirmed`.
//!
//! - `recap` asks the client's model, through `sampling/createMessage` with
//!   `includeContext` (`scope`: `thisServer` or `allServers`), to recap the conversation,
//!   and answers with what the model wrote.
//!
//! Pages are plain `GET /page/ID` on the same port: the test visits them as the person's
//! browser would. The server speaks the handshake era only, as servers of the SDKs before
//! 2026-07-28 do (its server-to-client requests and session notifications need it).

#![allow(deprecated)] // Sampling is deprecated by SEP-2577; clients still answer it.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ContextInclusion,
        CreateMessageRequestParams, CustomNotification, ErrorCode, ListToolsResult,
        PaginatedRequestParams, ProtocolVersion, SamplingMessage, ServerCapabilities, ServerConfig,
        ServerNotification, Tool,
    },
    service::RequestContext,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Pages {
    visited: HashSet<String>,
    /// Who to tell when a page is visited.
    waiting: HashMap<String, Peer<RoleServer>>,
}

#[derive(Clone)]
struct PageServer {
    base: String,
    pages: Arc<Mutex<Pages>>,
    visited: Arc<tokio::sync::Notify>,
}

/// The running fixture.
pub(crate) struct UrlFixture {
    /// Its MCP endpoint.
    pub(crate) url: String,
    server: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Drop for UrlFixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.server.abort();
    }
}

impl UrlFixture {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = PageServer {
            base: base.clone(),
            pages: Arc::default(),
            visited: Arc::default(),
        };
        let shutdown = CancellationToken::new();
        let pages = Router::new()
            .route("/page/{id}", get(visit))
            .with_state(server.clone());
        let app = belay_mcp::http::streamable_router(server, "/mcp", false, shutdown.clone())
            .merge(pages);
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("{base}/mcp"),
            server: handle,
            shutdown,
        })
    }
}

/// The person's browser at a page: it is done, and the server says so to the client.
async fn visit(State(server): State<PageServer>, Path(id): Path<String>) -> &'static str {
    let peer = {
        let Ok(mut pages) = server.pages.lock() else {
            return "broken";
        };
        pages.visited.insert(id.clone());
        pages.waiting.remove(&id)
    };
    server.visited.notify_waiters();
    if let Some(peer) = peer {
        let notice = CustomNotification::new(
            "notifications/elicitation/complete",
            Some(json!({"elicitationId": id})),
        );
        let _ = peer
            .send_notification(ServerNotification::CustomNotification(notice))
            .await;
    }
    "Done. You can go back to the terminal."
}

fn text(text: &str) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

impl PageServer {
    fn visited(&self, id: &str) -> bool {
        self.pages.lock().is_ok_and(|p| p.visited.contains(id))
    }

    fn wait_for(&self, id: &str, peer: Peer<RoleServer>) {
        if let Ok(mut pages) = self.pages.lock() {
            pages.waiting.insert(id.to_owned(), peer);
        }
    }

    async fn link_account(&self, peer: Peer<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let id = "link-1";
        if self.visited(id) {
            return Ok(text("account linked"));
        }
        self.wait_for(id, peer);
        Err(ErrorData::new(
            ErrorCode(-32042),
            "This tool needs your account linked first",
            Some(json!({"elicitations": [{
                "mode": "url",
                "elicitationId": id,
                "url": format!("{}/page/{id}", self.base),
                "message": "Link your brokerage account"
            }]})),
        ))
    }

    async fn recap(
        &self,
        scope: Option<&serde_json::Value>,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let declared = peer
            .peer_info()
            .and_then(|i| i.capabilities.sampling.clone())
            .is_some_and(|s| s.context.is_some());
        if !declared {
            return Ok(text("the client did not declare sampling.context"));
        }
        let inclusion = match scope.and_then(|s| s.as_str()) {
            Some("allServers") => ContextInclusion::AllServers,
            _ => ContextInclusion::ThisServer,
        };
        let mut params = CreateMessageRequestParams::new(
            vec![SamplingMessage::user_text(
                "Recap the conversation in one line.",
            )],
            50,
        );
        params.include_context = Some(inclusion);
        let answer = peer
            .create_message(params)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let written = answer
            .message
            .content
            .into_vec()
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<String>();
        Ok(text(&written))
    }

    async fn confirm_payment(&self, peer: Peer<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let id = "pay-1";
        let url = format!("{}/page/{id}", self.base);
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        self.wait_for(id, peer.clone());
        let action = peer
            .elicit_url("Confirm the payment of $20 at your bank", parsed, id)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        if action != rmcp::model::ElicitationAction::Accept {
            return Ok(text("payment not confirmed"));
        }
        let visited = self.visited.notified();
        tokio::pin!(visited);
        visited.as_mut().enable();
        if !self.visited(id) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), visited).await;
        }
        Ok(text(if self.visited(id) {
            "payment confirmed"
        } else {
            "payment not confirmed in time"
        }))
    }
}

impl ServerHandler for PageServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info.protocol_version = ProtocolVersion::V_2025_11_25;
        info
    }

    /// Like a server of an SDK that predates 2026-07-28: `server/discover` is unknown, so
    /// clients fall back to the `initialize` handshake.
    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::DiscoverResult, ErrorData> {
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            "server/discover",
            None,
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(serde_json::Map::from_iter([(
            "type".to_owned(),
            json!("object"),
        )]));
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "link_account",
                "Links the person's account (needs a page visited).",
                schema.clone(),
            ),
            Tool::new(
                "confirm_payment",
                "Confirms a payment at the person's bank.",
                schema.clone(),
            ),
            Tool::new(
                "recap",
                "Recaps the conversation (scope: thisServer or allServers).",
                schema,
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            "link_account" => self.link_account(context.peer).await,
            "confirm_payment" => self.confirm_payment(context.peer).await,
            "recap" => {
                let scope = request.arguments.as_ref().and_then(|a| a.get("scope"));
                self.recap(scope, context.peer).await
            }
            other => Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        }
        .map(Into::into)
    }
}
