//! A minimal server that exercises the harness: an echo tool and a tool that asks.

use belay_mcp::{Ask, Elicited, IntoToolResponse, Suspend};
use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{
        CallToolResponse, CallToolResult, ContentBlock, CreateMessageRequestParams,
        SamplingMessage, ServerCapabilities, ServerConfig,
    },
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Probe {
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// Text to send back.
    pub text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Confirmation {
    /// Whether to go ahead.
    pub proceed: bool,
}

impl Probe {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// Two questions in a row, so the round-trip era needs two retries and must carry
    /// the first answer in requestState.
    async fn confirm_then_sample(&self, ask: &Ask) -> Result<CallToolResult, Suspend> {
        let decision = match ask.elicit::<Confirmation>("confirm", "Proceed?").await? {
            Elicited::Accepted(c) => format!("proceed={}", c.proceed),
            Elicited::Declined => "declined".to_owned(),
            Elicited::Cancelled => "cancelled".to_owned(),
            Elicited::Unsupported => "no-elicitation".to_owned(),
        };
        let params =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text("Say something")], 50);
        let sampled = match ask.sample("headline", params).await? {
            Some(result) => result
                .message
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .unwrap_or_default(),
            None => "no-sampling".to_owned(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{decision}; {sampled}"
        ))]))
    }
}

#[tool_router]
impl Probe {
    #[tool(description = "Echo the text back.")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }

    #[tool(description = "Ask the person to confirm, then ask the model for a line.")]
    async fn confirm(&self, ask: Ask) -> Result<CallToolResponse, ErrorData> {
        self.confirm_then_sample(&ask).await.into_response()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Probe {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}
