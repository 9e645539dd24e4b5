//! Probes for the stateless 2026-07-28 rules (SEP-2575): a tool that refuses clients
//! without a capability, one that asks for input on its own stream, one that must stay
//! silent without a `logLevel`, and the triggers for list-changed notifications.

use belay_mcp::{Ask, Elicited, interaction::respond};
use rmcp::{
    ErrorData, RoleServer,
    model::{CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, Tool},
    service::RequestContext,
};
use serde_json::Value;

use super::{
    Change, ConformanceServer, schemas,
    tools::{log_three_steps, text},
};

pub(super) fn catalogue() -> Vec<Tool> {
    let none = schemas::no_arguments;
    vec![
        Tool::new(
            "test_missing_capability",
            "Needs the sampling capability; refuses clients that did not declare it.",
            none(),
        ),
        Tool::new(
            "test_streaming_elicitation",
            "Asks the person a question without a server-to-client request.",
            none(),
        ),
        Tool::new(
            "test_logging_tool",
            "Logs three messages, only if the request asked for logs.",
            none(),
        ),
        Tool::new(
            "test_trigger_tool_change",
            "Announces a tools list change to every listening client.",
            none(),
        ),
        Tool::new(
            "test_trigger_prompt_change",
            "Announces a prompts list change to every listening client.",
            none(),
        ),
    ]
}

/// Runs the tool `request` names, or returns `None` if it is not one of these.
pub(super) async fn call(
    server: &ConformanceServer,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Option<Result<CallToolResponse, ErrorData>> {
    let result = match request.name.as_ref() {
        "test_missing_capability" => {
            let sampling = context
                .client_capabilities()
                .is_some_and(|c| c.sampling.is_some());
            if !sampling {
                // -32021 before doing anything, with the capability the client lacks.
                return Some(Err(ErrorData::missing_required_client_capability(
                    ClientCapabilities::builder().enable_sampling().build(),
                )));
            }
            text("The client can sample")
        }
        "test_streaming_elicitation" => return Some(streaming_elicitation(request, context).await),
        "test_logging_tool" => {
            log_three_steps(server, context).await;
            text("Logging tool completed")
        }
        "test_trigger_tool_change" => {
            server.announce(Change::Tools).await;
            text("Tools list change announced")
        }
        "test_trigger_prompt_change" => {
            server.announce(Change::Prompts).await;
            text("Prompts list change announced")
        }
        _ => return None,
    };
    Some(Ok(result.into()))
}

/// In the round-trip era the question travels in the result on the call's own stream,
/// never as a request of its own; `Ask` does exactly that.
async fn streaming_elicitation(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let ask = Ask::new(
        context.clone(),
        request.request_state.as_deref(),
        request.input_responses.clone(),
    )?;
    let form = schemas::single_field("answer", "string")?;
    respond(
        ask.elicit_with::<Value>("answer", "Anything to add?", form)
            .await
            .map(|answer| match answer {
                Elicited::Accepted(content) => text(format!("You said: {content}")),
                Elicited::Unsupported => {
                    CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                        "this tool needs a client that can show forms",
                    )])
                }
                _ => text("Nothing added"),
            }),
    )
}
