//! The client the MCP conformance suite drives (`tests/conformance/client`):
//! `conformance_client <server-url>` with `MCP_CONFORMANCE_SCENARIO` (and maybe
//! `MCP_CONFORMANCE_CONTEXT`, `MCP_CONFORMANCE_PROTOCOL_VERSION`) in the environment.
//! Sign-in is headless (the suite's authorization server approves without a login page);
//! everything else is belay-client as the chat client and the gateway use it.
// Sampling is deprecated by SEP-2577, but handshake-era scenarios still sample.
#![allow(deprecated)]

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use belay_client::{HeadlessAgent, SignIn, SignInOptions};
use rmcp::{
    ClientHandler, ClientLifecycleMode, ErrorData, RoleClient,
    model::{
        CallToolRequestParams, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability,
        FormElicitationCapability, ProtocolVersion, Role, SamplingMessage,
        SamplingMessageContentBlock, Tool,
    },
    service::{RequestContext, RunningService},
};
use serde_json::{Map, Value, json};

/// The Client ID Metadata Document URL the suite expects (`auth/basic-cimd`).
const CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolCall {
    name: String,
    #[serde(default)]
    arguments: Option<Map<String, Value>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Context {
    #[serde(default, alias = "toolCalls")]
    tool_calls: Vec<ToolCall>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

/// Answers sampling with a canned reply and elicitation with the schema's defaults.
struct Handler;

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities.elicitation = Some(
            ElicitationCapability::new()
                .with_form(FormElicitationCapability::new().with_schema_validation(true)),
        );
        info
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let prompt = serde_json::to_value(&params.messages)
            .ok()
            .and_then(|m| {
                m.pointer("/0/content/text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        Ok(CreateMessageResult::new(
            SamplingMessage::new(
                Role::Assistant,
                SamplingMessageContentBlock::text(format!("Canned reply to: {prompt}")),
            ),
            "belay-conformance".into(),
        )
        .with_stop_reason("endTurn"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        // Fill every field that has a default (SEP-1034), whatever its type.
        let request = serde_json::to_value(&request).unwrap_or_default();
        let mut content = Map::new();
        if let Some(properties) = request
            .pointer("/requestedSchema/properties")
            .and_then(Value::as_object)
        {
            for (name, schema) in properties {
                if let Some(default) = schema.get("default") {
                    content.insert(name.clone(), default.clone());
                }
            }
        }
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(Value::Object(content)))
    }
}

fn protocol_version() -> ProtocolVersion {
    std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION")
        .ok()
        .and_then(|v| serde_json::from_value(Value::String(v)).ok())
        .unwrap_or(ProtocolVersion::V_2025_11_25)
}

/// The handshake of the spec version under test: `initialize` up to 2025-11-25,
/// `server/discover` from 2026-07-28.
fn lifecycle(version: &ProtocolVersion) -> ClientLifecycleMode {
    if version.has_initialize() {
        return ClientLifecycleMode::Initialize;
    }
    let mut preferred = vec![version.clone()];
    preferred.extend(
        ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .rev()
            .filter(|v| *v != version)
            .cloned(),
    );
    ClientLifecycleMode::Discover {
        preferred_versions: preferred,
    }
}

/// Arguments for a tool from its input schema: a plain value for each required property.
fn arguments_for(tool: &Tool) -> Option<Map<String, Value>> {
    let properties = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)?;
    let required: Vec<&str> = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut args = Map::new();
    for (name, schema) in properties
        .iter()
        .filter(|(n, _)| required.contains(&n.as_str()))
    {
        let value = match schema.get("type").and_then(Value::as_str) {
            Some("number") => json!(1.0),
            Some("integer") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("test"),
        };
        args.insert(name.clone(), value);
    }
    Some(args)
}

fn call(name: impl Into<String>, arguments: Option<Map<String, Value>>) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.into());
    match arguments {
        Some(a) => params.with_arguments(a),
        None => params,
    }
}

async fn session(
    url: &str,
    options: SignInOptions,
    lifecycle: ClientLifecycleMode,
) -> anyhow::Result<RunningService<RoleClient, Handler>> {
    let sign_in = Arc::new(SignIn::new(url, options)?);
    Ok(belay_client::connect_with(sign_in, Handler, lifecycle).await?)
}

/// Calls the tools the context names, or else every listed tool.
async fn call_tools(
    client: &RunningService<RoleClient, Handler>,
    context: &Context,
    fail_fast: bool,
) -> anyhow::Result<()> {
    let tools = client.list_all_tools().await.context("tools/list")?;
    let calls: Vec<CallToolRequestParams> = if context.tool_calls.is_empty() {
        tools
            .iter()
            .map(|t| call(t.name.to_string(), arguments_for(t)))
            .collect()
    } else {
        context
            .tool_calls
            .iter()
            .map(|c| call(c.name.clone(), c.arguments.clone()))
            .collect()
    };
    for params in calls {
        let name = params.name.clone();
        match client.call_tool(params).await {
            Ok(_) => {}
            Err(e) if fail_fast => return Err(e).context(format!("tools/call {name}")),
            Err(e) => tracing::warn!(tool = %name, error = %e, "tool call failed"),
        }
    }
    Ok(())
}

async fn run(scenario: &str, url: &str, context: &Context) -> anyhow::Result<()> {
    let version = protocol_version();
    let mut options = SignInOptions {
        client_name: "belay-conformance-client".into(),
        user_agent: Arc::new(HeadlessAgent::new()?),
        ..SignInOptions::default()
    };
    if scenario.starts_with("auth/") {
        options.client_metadata_url = Some(CIMD_URL.into());
        options.client_id = context.client_id.clone();
        options.client_secret = context.client_secret.clone();
    }
    let client = match scenario {
        // The mock server for this one speaks only the initialize handshake.
        "json-schema-ref-no-deref" | "initialize" => {
            session(url, options, ClientLifecycleMode::Initialize).await?
        }
        _ => session(url, options, lifecycle(&version)).await?,
    };
    let result = match scenario {
        "initialize" | "json-schema-ref-no-deref" => client
            .list_all_tools()
            .await
            .map(|_| ())
            .map_err(Into::into),
        "sse-retry" => {
            let outcome = client.call_tool(call("test_reconnection", None)).await;
            outcome.map(|_| ()).context("tools/call test_reconnection")
        }
        "elicitation-sep1034-client-defaults" => {
            let tools = client.list_all_tools().await?;
            match tools.iter().find(|t| t.name.contains("elicitation")) {
                Some(tool) => client
                    .call_tool(call(tool.name.to_string(), None))
                    .await
                    .map(|_| ())
                    .map_err(Into::into),
                None => Err(anyhow::anyhow!("no elicitation tool listed")),
            }
        }
        s if s.starts_with("auth/") => call_tools(&client, context, false).await,
        _ => call_tools(&client, context, true).await,
    };
    let _ = client.cancel().await;
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rmcp=warn".into()),
        )
        .init();
    let scenario =
        std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_else(|_| "initialize".into());
    let url = std::env::args()
        .nth(1)
        .context("usage: conformance_client <server-url>")?;
    let context: Context = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(raw) => serde_json::from_str(&raw)
            .context("MCP_CONFORMANCE_CONTEXT is not the expected JSON")?,
        Err(_) => Context::default(),
    };
    tracing::info!(%scenario, %url, "conformance client");
    // Finish before the suite's 30 s limit so it never has to kill us.
    tokio::time::timeout(Duration::from_secs(25), run(&scenario, &url, &context))
        .await
        .context("scenario timed out after 25 s")?
}
