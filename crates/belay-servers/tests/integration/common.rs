//! The shared test kit (see `belay_mcp::testkit`), plus the `anyhow` conveniences the
//! servers' tests share; they live here because the kit itself does not use `anyhow`.

use anyhow::Context as _;
pub use belay_mcp::testkit::*;
use rmcp::model::{CallToolResult, Tool};
use serde_json::Value;

/// Calls that must succeed, with the setup's label in the failure.
pub trait Succeeds {
    /// Calls `tool` and insists on a successful result.
    async fn ok(&self, tool: &str, arguments: Value) -> anyhow::Result<CallToolResult>;
}

impl Succeeds for Session {
    async fn ok(&self, tool: &str, arguments: Value) -> anyhow::Result<CallToolResult> {
        let result = self.call(tool, arguments).await?;
        anyhow::ensure!(
            result.is_error != Some(true),
            "{}: {tool} failed: {result:?}",
            self.label
        );
        Ok(result)
    }
}

/// The structured content of a successful result, as `T`.
pub fn decode<T: serde::de::DeserializeOwned>(result: &CallToolResult) -> anyhow::Result<T> {
    assert_ne!(
        result.is_error,
        Some(true),
        "unexpected error: {}",
        text_of(result)
    );
    let value = result
        .structured_content
        .clone()
        .context("no structuredContent")?;
    Ok(serde_json::from_value(value)?)
}

/// The error text of a result that must be a tool error (not a JSON-RPC error), which
/// carries no structured content.
pub fn tool_error(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "expected isError: {result:?}");
    assert_eq!(result.structured_content, None);
    text_of(result)
}

/// The session's tools, checked to be exactly those in `expected`, each with an output
/// schema that has the paired property.
pub async fn tools_with_outputs(
    session: &Session,
    expected: &[(&str, &str)],
) -> anyhow::Result<Vec<Tool>> {
    let tools = session.client.list_all_tools().await?;
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut wanted: Vec<&str> = expected.iter().map(|(tool, _)| *tool).collect();
    wanted.sort_unstable();
    assert_eq!(names, wanted, "{}", session.label);
    for (name, field) in expected {
        let tool = tools
            .iter()
            .find(|t| t.name == *name)
            .context("tool listed")?;
        let schema = tool.output_schema.as_ref().context("output schema")?;
        assert!(
            schema["properties"].get(field).is_some(),
            "{}: {schema:?}",
            session.label
        );
    }
    Ok(tools)
}
