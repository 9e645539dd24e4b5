//! The gateway as an MCP server: one handler for `/mcp` (federated) and for each
//! `/servers/NAME/mcp` (one upstream, unprefixed). Every proxied request goes through
//! [`Chain::apply`]; lists are filtered by the same policy.
#![allow(deprecated)] // Logging and resources/subscribe are deprecated by SEP-2577 but still served.

use std::sync::Arc;

use belay_auth::Caller;
use belay_mcp::era::request_is_round_trip;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
        CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, Implementation, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Reference, Request, ServerCapabilities,
        ServerConfig, ServerResult, SetLevelRequestParams, SubscribeRequestParams,
        SubscriptionFilter, Tool, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tracing::Instrument;

use crate::{
    admission,
    chain::CallContext,
    era::{self, FromUpstream, Logs},
    federation::{self, Scope},
    followers::{Channel, Follower},
    hub::{Hub, LogsAsked},
    input_required::{Retry, Round, RoundRequest, Rounds},
    listen::{self, Listeners},
    trace_context,
    upstream::Upstream,
    upstream_client::Downstream,
};

/// The MCP server the gateway's endpoints serve.
#[derive(Clone)]
pub struct GatewayServer {
    hub: Arc<Hub>,
    scope: Scope,
    /// This endpoint's calls of 2026-07-28 clients between rounds (shared by its sessions).
    rounds: Arc<Rounds>,
}

impl GatewayServer {
    pub(crate) fn new(hub: Arc<Hub>, scope: Scope) -> Self {
        Self {
            hub,
            scope,
            rounds: Arc::default(),
        }
    }

    fn call_context(
        &self,
        ctx: &RequestContext<RoleServer>,
        upstream: usize,
        method: &'static str,
        target: Option<String>,
    ) -> CallContext {
        let parts = ctx.extensions.get::<http::request::Parts>();
        call_context(&self.hub, parts, upstream, method, target)
    }

    fn downstream(&self, ctx: &RequestContext<RoleServer>) -> Downstream {
        Downstream {
            peer: ctx.peer.clone(),
            session: session_of(ctx.extensions.get::<http::request::Parts>()),
            request: Some(ctx.id.clone()),
            progress: ctx.meta.get_progress_token(),
            logs: Logs::of_caller(ctx),
            round_trip: None,
        }
    }

    /// Sends `request` to upstream `i` for the client behind `ctx`.
    async fn forward(
        &self,
        i: usize,
        mut request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        trace_context::propagate(&mut request, ctx);
        let caller = Caller::from_rmcp_parts(ctx.extensions.get::<http::request::Parts>());
        let downstream = self.downstream(ctx);
        let mut reply = self
            .hub
            .upstreams
            .get(i)
            .request(request, Some(downstream.clone()), caller, &ctx.ct)
            .await?;
        // Marking a result cannot fail.
        let _ = era::to_caller(&downstream, FromUpstream::Result(&mut reply)).await;
        Ok(reply)
    }

    /// Runs a request for upstream `i` through the chain: `request` builds it from the
    /// context the chain let through (policy may rewrite target and arguments), `answer`
    /// picks the expected result out of the upstream's reply.
    async fn proxy<T>(
        &self,
        i: usize,
        ctx: CallContext,
        context: &RequestContext<RoleServer>,
        request: impl FnOnce(CallContext) -> ClientRequest,
        answer: fn(ServerResult) -> Option<T>,
    ) -> Result<T, ErrorData>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let span = trace_context::request_span(&ctx, context);
        let admitted = admission::admitted(&self.hub.chain, ctx, context).await?;
        self.hub
            .chain
            .proceed(admitted, |ctx| async move {
                let reply = self.forward(i, request(ctx), context).await?;
                answer(reply).ok_or_else(|| unexpected(&self.hub.upstreams.get(i)))
            })
            .instrument(span)
            .await
    }

    /// One page of the `items` (upstream index, item) the caller may see; `target` is an
    /// item's name as its upstream knows it, checked as `method` would be.
    fn page<T>(
        &self,
        context: &RequestContext<RoleServer>,
        request: Option<PaginatedRequestParams>,
        items: Vec<(usize, T)>,
        method: &'static str,
        target: impl Fn(usize, &T) -> Option<String>,
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        let items: Vec<T> = items
            .into_iter()
            .filter(|(i, item)| {
                target(*i, item).is_none_or(|name| {
                    let ctx = self.call_context(context, *i, method, Some(name));
                    self.hub.chain.visible(&ctx)
                })
            })
            .map(|(_, item)| item)
            .collect();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        federation::paginate(items, cursor, self.hub.page_size)
    }

    /// Runs one round of a 2026-07-28 client's request for upstream `i` through the chain
    /// ([`Rounds::relay`]): the upstream's questions come back as `input_required`, and a
    /// retry with the answers continues the call. `request` builds the upstream request
    /// from what the chain let through and the client's parameters.
    async fn round<P: Retry, T>(
        &self,
        i: usize,
        ctx: CallContext,
        context: &RequestContext<RoleServer>,
        params: P,
        request: impl FnOnce(CallContext, P) -> ClientRequest,
        answer: fn(ServerResult) -> Option<T>,
    ) -> Result<Round<T>, ErrorData>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let span = trace_context::request_span(&ctx, context);
        let relay = RoundRequest {
            upstream: self.hub.upstreams.get(i),
            chain: &self.hub.chain,
            ctx,
            context,
            downstream: self.downstream(context),
            params,
        };
        let request = |ctx, params| {
            let mut request = request(ctx, params);
            trace_context::propagate(&mut request, context);
            request
        };
        self.rounds
            .relay(relay, request, answer)
            .instrument(span)
            .await
    }

    /// The upstream's own name for an exposed (possibly prefixed) name.
    fn strip(&self, i: usize, name: &str) -> String {
        match self.scope {
            Scope::Federated => name
                .strip_prefix(self.hub.upstreams.get(i).prefix())
                .unwrap_or(name)
                .to_owned(),
            Scope::Single(_) => name.to_owned(),
        }
    }
}

/// The downstream session: its `Mcp-Session-Id`, or for a 2024-11-05 SSE client, which
/// has none, the `sessionId` of the URL it POSTs to (prefixed: the two never collide).
pub(crate) fn session_of(parts: Option<&http::request::Parts>) -> Option<String> {
    let parts = parts?;
    if let Some(id) = parts.headers.get("mcp-session-id") {
        return id.to_str().ok().map(str::to_owned);
    }
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sessionId="))
        .map(|id| format!("sse:{id}"))
}

/// The chain's view of a request for upstream `i` (`method`, its `target`), from the HTTP
/// request's head: who asks (the caller the token check found) and in which session. The
/// HTTP front and the handlers build it here alike.
pub(crate) fn call_context(
    hub: &Hub,
    parts: Option<&http::request::Parts>,
    upstream: usize,
    method: &'static str,
    target: Option<String>,
) -> CallContext {
    CallContext {
        caller: Caller::shared_from_rmcp_parts(parts).cloned(),
        session: session_of(parts),
        upstream: hub.upstreams.get(upstream).name().to_owned(),
        method,
        target,
        arguments: None,
    }
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
            .enable_resources_subscribe()
            .enable_logging()
            .enable_completions()
            .build();
        let name = match self.scope {
            Scope::Federated => "belay-gateway".to_owned(),
            Scope::Single(i) => format!("belay-gateway/{}", self.hub.upstreams.get(i).name()),
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
        let items = federation::tools(self.scope, &self.hub.upstreams.snapshot());
        let (page, next) = self.page(&context, request, items, "tools/call", |i, t| {
            Some(self.strip(i, &t.name))
        })?;
        let mut result = ListToolsResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(Listeners::accepted(
            requested,
            &self.get_info().capabilities,
            |uris| listen::served(&self.hub, self.scope, uris),
        ))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let scope = self.scope;
        let upstreams = self.hub.upstreams.snapshot();
        let in_scope = |name: &str| match scope {
            Scope::Federated => true,
            Scope::Single(i) => upstreams[i].name() == name,
        };
        // The resources it names are followed as `resources/subscribe` follows one (the
        // chain decided each before the stream was acknowledged), while it is open.
        let (following, slot) = listen::resources_of(&self.hub, scope, &context).await?;
        let served = self.hub.listeners.serve(in_scope, context).await;
        slot.close();
        following.end().await;
        served
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        // rmcp checks a 2026-07-28 call's `Mcp-Param-*` headers against the tool's input
        // schema (SEP-2243), and checks nothing for a tool it is not given.
        let (i, own) =
            federation::route_name(self.scope, &self.hub.upstreams.snapshot(), "tool", name)
                .ok()?;
        let catalog = self.hub.upstreams.get(i).catalog();
        let mut tool = catalog.tools.iter().find(|t| t.name == own)?.clone();
        tool.name = name.to_owned().into();
        Some(tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (i, name) = federation::route_name(
            self.scope,
            &self.hub.upstreams.snapshot(),
            "tool",
            &request.name,
        )?;
        let mut ctx = self.call_context(&context, i, "tools/call", Some(name));
        ctx.arguments = request.arguments.clone();
        let build = |ctx: CallContext, mut params: CallToolRequestParams| {
            params.name = ctx.target.unwrap_or_default().into();
            params.arguments = ctx.arguments;
            ClientRequest::CallToolRequest(Request::new(params))
        };
        let answer = |reply| match reply {
            ServerResult::CallToolResult(result) => Some(result),
            _ => None,
        };
        if request_is_round_trip(&context) {
            let round = self.round(i, ctx, &context, request, build, answer).await?;
            return Ok(round.into_response());
        }
        let result: CallToolResult = self
            .proxy(i, ctx, &context, |ctx| build(ctx, request), answer)
            .await?;
        Ok(CallToolResponse::Complete(result))
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let items = federation::prompts(self.scope, &self.hub.upstreams.snapshot());
        let (page, next) = self.page(&context, request, items, "prompts/get", |i, p| {
            Some(self.strip(i, &p.name))
        })?;
        let mut result = ListPromptsResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let (i, name) = federation::route_name(
            self.scope,
            &self.hub.upstreams.snapshot(),
            "prompt",
            &request.name,
        )?;
        let mut ctx = self.call_context(&context, i, "prompts/get", Some(name));
        ctx.arguments = request.arguments.clone();
        let build = |ctx: CallContext, mut params: GetPromptRequestParams| {
            params.name = ctx.target.unwrap_or_default();
            params.arguments = ctx.arguments;
            ClientRequest::GetPromptRequest(Request::new(params))
        };
        let answer = |reply| match reply {
            ServerResult::GetPromptResult(result) => Some(result),
            _ => None,
        };
        if request_is_round_trip(&context) {
            let round = self.round(i, ctx, &context, request, build, answer).await?;
            return Ok(round.into_response());
        }
        let result: GetPromptResult = self
            .proxy(i, ctx, &context, |ctx| build(ctx, request), answer)
            .await?;
        Ok(GetPromptResponse::Complete(result))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let items = federation::resources(self.scope, &self.hub.upstreams.snapshot());
        let (page, next) = self.page(&context, request, items, "resources/read", |_, r| {
            Some(r.uri.clone())
        })?;
        let mut result = ListResourcesResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        // A template names no one resource, so there is nothing for policy to check yet.
        let items = federation::templates(self.scope, &self.hub.upstreams.snapshot());
        let (page, next) = self.page(&context, request, items, "resources/read", |_, _| None)?;
        let mut result = ListResourceTemplatesResult::with_all_items(page);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let i = federation::route_uri(self.scope, &self.hub.upstreams.snapshot(), &request.uri)?;
        let ctx = self.call_context(&context, i, "resources/read", Some(request.uri.clone()));
        let build = |_, params| ClientRequest::ReadResourceRequest(Request::new(params));
        let answer = |reply| match reply {
            ServerResult::ReadResourceResult(result) => Some(result),
            _ => None,
        };
        if request_is_round_trip(&context) {
            let round = self.round(i, ctx, &context, request, build, answer).await?;
            return Ok(round.into_response());
        }
        let result: ReadResourceResult = self
            .proxy(i, ctx, &context, |ctx| build(ctx, request), answer)
            .await?;
        Ok(ReadResourceResponse::Complete(result))
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let i = federation::route_uri(self.scope, &self.hub.upstreams.snapshot(), &request.uri)?;
        let ctx = self.call_context(
            &context,
            i,
            "resources/subscribe",
            Some(request.uri.clone()),
        );
        let who = Follower::Session(session_of(context.extensions.get::<http::request::Parts>()));
        let channel = Channel::Session(context.peer.clone());
        self.hub
            .chain
            .apply(ctx, |_| async move {
                self.hub
                    .upstreams
                    .get(i)
                    .subscribe(request.uri, who, channel, &context.ct)
                    .await
            })
            .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Ending a subscription needs no permission: it only stops updates.
        let i = federation::route_uri(self.scope, &self.hub.upstreams.snapshot(), &request.uri)?;
        let who = Follower::Session(session_of(context.extensions.get::<http::request::Parts>()));
        self.hub
            .upstreams
            .get(i)
            .unsubscribe(request.uri, &who, &context.ct)
            .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Every upstream in scope logs at the level asked, and this session hears what
        // they log outside any call at that level; a failing one does not stop the
        // others, and is named in the error.
        let session = session_of(context.extensions.get::<http::request::Parts>());
        if self.scope == Scope::Federated {
            self.hub.remember_logs_asked(LogsAsked {
                session: session.clone(),
                peer: context.peer.clone(),
                level: request.level,
            });
        }
        let mut failed = Vec::new();
        for i in federation::in_scope(self.scope, &self.hub.upstreams.snapshot()) {
            let upstream = &self.hub.upstreams.get(i);
            upstream.listen_to_logs(session.clone(), context.peer.clone(), request.level);
            if let Err(e) = upstream.set_level(request.level, &context.ct).await {
                failed.push(format!("{}: {}", upstream.name(), e.message));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ErrorData::internal_error(
                format!("cannot set the log level of {}", failed.join("; ")),
                None,
            ))
        }
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
                    &self.hub.upstreams.snapshot(),
                    "prompt",
                    &prompt.name,
                )?;
                let mut params = request.clone();
                params.r#ref = Reference::for_prompt(name);
                (i, params)
            }
            Reference::Resource(resource) => {
                let i = federation::route_uri(
                    self.scope,
                    &self.hub.upstreams.snapshot(),
                    &resource.uri,
                )?;
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
        let ctx = self.call_context(&context, i, "completion/complete", target);
        let build = |_| ClientRequest::CompleteRequest(Request::new(params));
        self.proxy(i, ctx, &context, build, |reply| match reply {
            ServerResult::CompleteResult(result) => Some(result),
            _ => None,
        })
        .await
    }
}
