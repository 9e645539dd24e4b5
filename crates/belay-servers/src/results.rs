//! Tool results shared by every reference server.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

/// A failed tool call (`isError: true`) whose text tells the model what went wrong.
pub(crate) fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// A success result with readable text for people and `structuredContent` for programs.
pub(crate) fn structured<T: Serialize>(text: String, value: &T) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(json) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(json);
            result
        }
        Err(err) => tool_error(format!("internal error: cannot encode the result: {err}")),
    }
}
