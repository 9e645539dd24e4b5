//! Unit tests of the gateway's MCP server: what it does to relayed results.

use rmcp::model::{CallToolResult, ContentBlock, ReadResourceResult, ResultType, ServerResult};

use super::mark_complete;

#[test]
fn relayed_results_get_a_result_type_and_keep_the_upstreams() -> serde_json::Result<()> {
    // A handshake-era upstream's tool result, as rmcp decodes it: no resultType.
    let wire =
        serde_json::json!({"content": [{"type": "text", "text": "150.25"}], "isError": false});
    let decoded: CallToolResult = serde_json::from_value(wire)?;
    assert_eq!(decoded.result_type, None);
    let mut reply = ServerResult::CallToolResult(decoded);
    mark_complete(&mut reply);
    let json = serde_json::to_value(&reply)?;
    assert_eq!(json["resultType"], "complete", "{json}");

    let mut read = ReadResourceResult::new(vec![]);
    read.result_type = None;
    let mut reply = ServerResult::ReadResourceResult(read);
    mark_complete(&mut reply);
    assert_eq!(serde_json::to_value(&reply)?["resultType"], "complete");

    // A resultType the upstream sent is its own.
    let mut other = CallToolResult::success(vec![ContentBlock::text("x")]);
    other.result_type = Some(ResultType::INPUT_REQUIRED);
    let mut reply = ServerResult::CallToolResult(other);
    mark_complete(&mut reply);
    assert_eq!(
        serde_json::to_value(&reply)?["resultType"],
        "input_required"
    );
    Ok(())
}
