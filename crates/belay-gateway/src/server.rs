//! The gateway as an MCP server: one handler for `/mcp` (federated) and for each
//! `/servers/NAME/mcp` (one upstream, unprefixed). Every proxied request goes through
//! [`Chain::apply`]; lists are filtered by the same policy.

use std::sync::{Arc, Mutex};

use belay_auth::Caller;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
        CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, Implementation, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Reference, Request, ServerCapabilities,
        ServerConfig, ServerResult,
    },
    service::{NotificationContext, Peer, RequestContext},
};

use crate::{
    chain::{CallContext, Chain},
    federation::{self, Scope},
    relay::Downstream,
    upstream::Upstream,
};

/// State shared by every endpoint and session.
pub(crate) struct Hub {
    pub(crate) upstreams: Vec<Arc<Upstream>>,
    pub(crate) chain: Chain,
    pub(crate) page_size: usize,
    /// Connected downstream sessions, told when an upstream's catalog changes.
    pub(crate) clients: Mutex<Vec<Peer<RoleServer>>>,
}

impl Hub {
    /// Tells every connected client that lists changed; forgets closed sessions.
    pub(crate) async fn notify_list_changed(&self) {
        let clients: Vec<_> = match self.clients.lock() {
            Ok(mut clients) => {
                clients.retain(|p| !p.is_transport_closed());
                clients.clone()
            }
            Err(_) => return,
        };
        for peer in clients {
            let _ = peer.notify_tool_list_changed().await;
            let _ = peer.notify_prompt_list_changed().await;
            let _ = peer.notify_resource_list_changed().await;
        }
    }
}

/// The MCP server the gateway's endpoints serve.
#[derive(Clone)]
pub struct GatewayServer {
    hub: Arc<Hub>,
    scope: Scope,
}

impl GatewayServer {
    pub(crate) fn new(hub: Arc<Hub>, scope: Scope) -> Self {
        Self { hub, scope }
    }

    fn context(
        &self,
        ctx: &RequestContext<RoleServer>,
        upstream: usize,
        method: &'static str,
        target: Option<String>,
    ) -> CallContext {
        let parts = ctx.extensions.get::<http::request::Parts>();
        CallContext {
            caller: Caller::from_rmcp_parts(parts).cloned(),
            session: session_of(parts),
            upstream: self.hub.upstreams[upstream].name().to_owned(),
            method,
            target,
            arguments: None,
        }
    }

    fn downstream(&self, ctx: &RequestContext<RoleServer>) -> Downstream {
        Downstream {
            peer: ctx.peer.clone(),
            session: session_of(ctx.extensions.get::<http::request::Parts>()),
            progress: ctx.meta.get_progress_token(),
        }
    }

    /// Sends `request` to upstream `i` for the client behind `ctx`.
    async fn forward(
        &self,
        i: usize,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        self.hub.upstreams[i]
            .request(request, Some(self.downstream(ctx)), &ctx.ct)
            .await
    }

    /// Whether the caller may see `target` of upstream `i` in a list.
    fn visible(
        &self,
        ctx: &RequestContext<RoleServer>,
        i: usize,
        method: &'static str,
        target: &str,
    ) -> bool {
        self.hub
            .chain
            .visible(&self.context(ctx, i, method, Some(target.to_owned())))
    }
}

fn session_of(parts: Option<&http::request::Parts>) -> Option<String> {
    parts
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn unexpected(upstream: &Upstream) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "upstream `{}` answered with an unexpected result type",
            upstream.name()
        ),
        None,
    )
}

impl ServerHandler for GatewayServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_completions()
            .build();
        let name = match self.scope {
            Scope::Federated => "belay-gateway".to_owned(),
            Scope::Single(i) => format!("belay-gateway/{}", self.hub.upstreams[i].name()),
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Ok(mut clients) = self.hub.clients.lock() {
            clients.push(context.peer);
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let items: Vec<_> = federation::tools(self.scope, &self.hub.upstreams)
            .into_iter()
            .filter(|(i, t)| self.visible(&context, *i, "tools/call", strip(self, *i, &t.name)))
            .map(|(_, t)| t)
            .collect();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (page, next) = federation::paginate(items, cursor, self.hub.page_size)?;
        let mut result = ListToolsResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (i, name) =
            federation::route_name(self.scope, &self.hub.upstreams, "tool", &request.name)?;
        let mut ctx = self.context(&context, i, "tools/call", Some(name));
        ctx.arguments = request.arguments.clone();
        let result = self
            .hub
            .chain
            .apply(ctx, |ctx| async move {
                let mut params = request;
                params.name = ctx.target.clone().unwrap_or_default().into();
                params.arguments = ctx.arguments;
                let request = ClientRequest::CallToolRequest(Request::new(params));
                match self.forward(i, request, &context).await? {
                    ServerResult::CallToolResult(result) => Ok::<CallToolResult, _>(result),
                    _ => Err(unexpected(&self.hub.upstreams[i])),
                }
            })
            .await?;
        Ok(CallToolResponse::Complete(result))
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let items: Vec<_> = federation::prompts(self.scope, &self.hub.upstreams)
            .into_iter()
            .filter(|(i, p)| self.visible(&context, *i, "prompts/get", strip(self, *i, &p.name)))
            .map(|(_, p)| p)
            .collect();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (page, next) = federation::paginate(items, cursor, self.hub.page_size)?;
        let mut result = ListPromptsResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let (i, name) =
            federation::route_name(self.scope, &self.hub.upstreams, "prompt", &request.name)?;
        let mut ctx = self.context(&context, i, "prompts/get", Some(name));
        ctx.arguments = request.arguments.clone();
        let result = self
            .hub
            .chain
            .apply(ctx, |ctx| async move {
                let mut params = request;
                params.name = ctx.target.clone().unwrap_or_default();
                params.arguments = ctx.arguments;
                let request = ClientRequest::GetPromptRequest(Request::new(params));
                match self.forward(i, request, &context).await? {
                    ServerResult::GetPromptResult(result) => Ok::<GetPromptResult, _>(result),
                    _ => Err(unexpected(&self.hub.upstreams[i])),
                }
            })
            .await?;
        Ok(GetPromptResponse::Complete(result))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let items: Vec<_> = federation::resources(self.scope, &self.hub.upstreams)
            .into_iter()
            .filter(|(i, r)| self.visible(&context, *i, "resources/read", &r.uri))
            .map(|(_, r)| r)
            .collect();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (page, next) = federation::paginate(items, cursor, self.hub.page_size)?;
        let mut result = ListResourcesResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let items: Vec<_> = federation::templates(self.scope, &self.hub.upstreams)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (page, next) = federation::paginate(items, cursor, self.hub.page_size)?;
        let mut result = ListResourceTemplatesResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let i = federation::route_uri(self.scope, &self.hub.upstreams, &request.uri)?;
        let ctx = self.context(&context, i, "resources/read", Some(request.uri.clone()));
        let result = self
            .hub
            .chain
            .apply(ctx, |_| async move {
                let request = ClientRequest::ReadResourceRequest(Request::new(request));
                match self.forward(i, request, &context).await? {
                    ServerResult::ReadResourceResult(result) => Ok::<ReadResourceResult, _>(result),
                    _ => Err(unexpected(&self.hub.upstreams[i])),
                }
            })
            .await?;
        Ok(ReadResourceResponse::Complete(result))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let (i, params) = match &request.r#ref {
            Reference::Prompt(prompt) => {
                let (i, name) = federation::route_name(
                    self.scope,
                    &self.hub.upstreams,
                    "prompt",
                    &prompt.name,
                )?;
                let mut params = request.clone();
                params.r#ref = Reference::for_prompt(name);
                (i, params)
            }
            Reference::Resource(resource) => {
                let i = federation::route_uri(self.scope, &self.hub.upstreams, &resource.uri)?;
                (i, request.clone())
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "unsupported completion reference `{}`",
                        other.reference_type()
                    ),
                    None,
                ));
            }
        };
        let target = params
            .r#ref
            .as_prompt_name()
            .or(params.r#ref.as_resource_uri())
            .map(str::to_owned);
        let ctx = self.context(&context, i, "completion/complete", target);
        self.hub
            .chain
            .apply(ctx, |_| async move {
                let request = ClientRequest::CompleteRequest(Request::new(params));
                match self.forward(i, request, &context).await? {
                    ServerResult::CompleteResult(result) => Ok::<CompleteResult, _>(result),
                    _ => Err(unexpected(&self.hub.upstreams[i])),
                }
            })
            .await
    }
}

/// The upstream's own name for an exposed (possibly prefixed) name.
fn strip<'a>(server: &GatewayServer, i: usize, name: &'a str) -> &'a str {
    match server.scope {
        Scope::Federated => name
            .strip_prefix(server.hub.upstreams[i].prefix())
            .unwrap_or(name),
        Scope::Single(_) => name,
    }
}
