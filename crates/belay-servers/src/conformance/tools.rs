//! Content tools: each returns one kind of content, or exercises logging, progress or a
//! tool-level error. Texts are the exact ones the suite (and the TypeScript reference
//! server) use.

// Logging is deprecated by SEP-2577 yet part of every revision the suite tests.
#![allow(deprecated)]

use std::time::Duration;

use rmcp::{
    ErrorData, RoleServer,
    model::{
        AudioContent, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        LoggingLevel, ProgressNotificationParam, ResourceContents, Tool,
    },
    service::RequestContext,
};

use super::{ConformanceServer, schemas};

/// A 1×1 PNG.
pub(super) const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";
/// An empty WAV file.
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/// Pause between the steps of the logging and progress tools, so a client sees them
/// arrive over time rather than in one burst.
const STEP: Duration = Duration::from_millis(50);

pub(super) fn catalogue() -> Vec<Tool> {
    let none = schemas::no_arguments;
    vec![
        Tool::new("test_simple_text", "Returns a fixed line of text.", none()),
        Tool::new("test_image_content", "Returns a 1x1 PNG image.", none()),
        Tool::new("test_audio_content", "Returns a short WAV clip.", none()),
        Tool::new(
            "test_embedded_resource",
            "Returns an embedded text resource.",
            none(),
        ),
        Tool::new(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource together.",
            none(),
        ),
        Tool::new(
            "test_tool_with_logging",
            "Sends three info log messages while it runs.",
            none(),
        ),
        Tool::new(
            "test_error_handling",
            "Always fails with a tool error (isError).",
            none(),
        ),
        Tool::new(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100 when given a progress token.",
            none(),
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Takes arguments described with JSON Schema 2020-12 keywords.",
            schemas::json_schema_2020_12(),
        ),
        Tool::new(
            "test_reconnection",
            "Answers on the SSE stream of its request, for stream resumption tests.",
            none(),
        ),
        Tool::new(
            "test_custom_header",
            "Echoes its region argument, which clients also send as the Mcp-Param-Region header.",
            schemas::custom_header(),
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
        "test_simple_text" => text("This is a simple text response for testing."),
        "test_image_content" => CallToolResult::success(vec![image()]),
        "test_audio_content" => CallToolResult::success(vec![ContentBlock::Audio(
            AudioContent::new(WAV, "audio/wav"),
        )]),
        "test_embedded_resource" => CallToolResult::success(vec![embedded(
            "test://embedded-resource",
            "text/plain",
            "This is an embedded resource content.",
        )]),
        "test_multiple_content_types" => CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            image(),
            embedded(
                "test://mixed-content-resource",
                "application/json",
                r#"{"test":"data","value":123}"#,
            ),
        ]),
        "test_tool_with_logging" => {
            log_three_steps(server, context).await;
            text("Logging test completed")
        }
        "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )]),
        "test_tool_with_progress" => {
            report_progress(context).await;
            text("Progress test completed")
        }
        "json_schema_2020_12_tool" => text(format!(
            "Received arguments: {}",
            serde_json::Value::Object(request.arguments.clone().unwrap_or_default())
        )),
        "test_reconnection" => text("Reconnection test completed"),
        "test_custom_header" => {
            match request
                .arguments
                .as_ref()
                .and_then(|a| a.get("region"))
                .and_then(|v| v.as_str())
            {
                Some(region) => text(format!("Region: {region}")),
                None => CallToolResult::error(vec![ContentBlock::text(
                    "argument `region` (a string) is required",
                )]),
            }
        }
        _ => return None,
    };
    Some(Ok(result.into()))
}

/// The three log lines of the logging tools, [`STEP`] apart.
pub(super) async fn log_three_steps(
    server: &ConformanceServer,
    context: &RequestContext<RoleServer>,
) {
    for message in [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ] {
        server.log(context, LoggingLevel::Info, message).await;
        tokio::time::sleep(STEP).await;
    }
}

async fn report_progress(context: &RequestContext<RoleServer>) {
    // Without a token the client asked for no progress; the tool still takes as long.
    let token = context.meta.get_progress_token();
    for (progress, message) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")] {
        if let Some(token) = &token {
            let param = ProgressNotificationParam::new(token.clone(), progress)
                .with_total(100.0)
                .with_message(message);
            if let Err(e) = context.peer.notify_progress(param).await {
                tracing::debug!(error = %e, "progress notification not delivered");
            }
        }
        tokio::time::sleep(STEP).await;
    }
}

pub(super) fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text.into())])
}

fn image() -> ContentBlock {
    ContentBlock::image(PNG, "image/png")
}

fn embedded(uri: &str, mime_type: &str, text: &str) -> ContentBlock {
    ContentBlock::resource(ResourceContents::TextResourceContents {
        uri: uri.into(),
        mime_type: Some(mime_type.into()),
        text: text.into(),
        meta: None,
    })
}
