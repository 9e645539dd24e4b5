//! An OpenAPI upstream (`transport = { type = "openapi", … }`): the API's operations as an
//! MCP server that runs inside the gateway.
//!
//! [`OpenApiServer`] is an rmcp `ServerHandler` over belay-openapi's [`Api`]; the gateway
//! connects to it through an in-memory pipe exactly as it connects to a stdio process
//! (`upstream::connect`). Going through MCP rather than calling the API from the request
//! chain directly costs one in-memory JSON round trip per call and buys everything the
//! gateway does to upstreams, unchanged and without a second code path: the federated
//! `tools/list` with prefixes, policy, rate limits, guards (metadata, pins, argument
//! schemas, injection, secrets), breaker, health pings, audit, `/servers/NAME/mcp`, and
//! reloads. `belay openapi serve` serves the same handler on stdio or HTTP.

use std::sync::Arc;

use belay_openapi::{Api, ToolAnswer};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
        ToolAnnotations,
    },
    service::RequestContext,
};
use serde_json::Value;

/// An OpenAPI document's operations served as MCP tools.
#[derive(Clone)]
pub struct OpenApiServer {
    api: Arc<Api>,
    tools: Arc<Vec<Tool>>,
}

impl std::fmt::Debug for OpenApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiServer")
            .field("base", &self.api.base().as_str())
            .field("tools", &self.tools.len())
            .finish()
    }
}

fn object(value: &Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

impl OpenApiServer {
    /// Serves `api`'s tools.
    pub fn new(api: Api) -> Self {
        let tools = api
            .catalogue()
            .tools
            .iter()
            .map(|tool| {
                let read_only = matches!(tool.method.as_str(), "GET" | "HEAD" | "OPTIONS");
                let mut annotations = ToolAnnotations::new();
                annotations.title = Some(format!("{} {}", tool.method, tool.path));
                annotations.read_only_hint = Some(read_only);
                annotations.destructive_hint = Some(tool.method == "DELETE");
                annotations.idempotent_hint = Some(matches!(
                    tool.method.as_str(),
                    "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE"
                ));
                annotations.open_world_hint = Some(true);
                let mut out = Tool::new(
                    tool.name.clone(),
                    tool.description.clone(),
                    object(&tool.input_schema),
                )
                .with_annotations(annotations);
                if let Some(schema) = &tool.output_schema {
                    out = out.with_raw_output_schema(object(schema));
                }
                out
            })
            .collect();
        Self {
            api: Arc::new(api),
            tools: Arc::new(tools),
        }
    }

    /// The API behind the tools.
    pub fn api(&self) -> &Api {
        &self.api
    }
}

/// A belay-openapi answer as an MCP tool result.
fn result(answer: ToolAnswer) -> CallToolResult {
    let content = vec![ContentBlock::text(answer.text)];
    let mut result = if answer.is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    result.structured_content = answer.structured;
    result
}

impl ServerHandler for OpenApiServer {
    fn get_info(&self) -> ServerConfig {
        let catalogue = self.api.catalogue();
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info.server_info = Implementation::new(catalogue.title.clone(), env!("CARGO_PKG_VERSION"));
        info.instructions = Some(format!(
            "The operations of the REST API \"{}\" at {}, one tool per operation.",
            catalogue.title,
            self.api.base()
        ));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        match self.api.call(&request.name, &arguments).await {
            Some(answer) => Ok(result(answer).into()),
            None => Err(ErrorData::invalid_params(
                format!("no tool {}", request.name),
                None,
            )),
        }
    }
}
