//! Unit tests of the era boundary: what a request's `_meta` becomes for each upstream era,
//! and what a relayed result gets.

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientRequest, ContentBlock,
    GetMeta, Implementation, LoggingLevel, NumberOrString, ProgressToken, ProtocolVersion,
    ReadResourceResult, Request, RequestMetaObject, ResultType, ServerResult,
};
use serde_json::{Value, json};

use super::{Era, mark_complete, to_upstream};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A tool call carrying everything a 2026-07-28 caller's envelope can, plus the trace
/// context and progress token the gateway puts on every request.
fn enveloped_call() -> ClientRequest {
    let caller = Implementation::new("someone-else", "9");
    let capabilities = ClientCapabilities::builder().enable_elicitation().build();
    let mut meta =
        RequestMetaObject::with_client_context(ProtocolVersion::V_2026_07_28, caller, capabilities);
    meta.set_log_level(LoggingLevel::Warning);
    meta.set_traceparent(TRACEPARENT);
    meta.set_tracestate("vendor=opaque");
    meta.set_baggage("userId=alice");
    meta.set_progress_token(ProgressToken(NumberOrString::Number(7)));
    meta.insert("com.example/private".into(), json!("the caller's own"));
    let mut request = ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("t")));
    *request.get_meta_mut() = meta;
    request
}

fn meta_json(request: &ClientRequest) -> serde_json::Result<Value> {
    serde_json::to_value(request.get_meta())
}

#[test]
fn a_handshake_upstream_gets_no_envelope_and_a_session_level() -> serde_json::Result<()> {
    let mut request = enveloped_call();
    let set = to_upstream(
        &mut request,
        Some(LoggingLevel::Warning),
        Era::Handshake,
        None,
    );
    assert_eq!(
        set,
        Some(LoggingLevel::Warning),
        "set on the session instead"
    );
    assert_eq!(
        meta_json(&request)?,
        json!({
            "traceparent": TRACEPARENT,
            "tracestate": "vendor=opaque",
            "baggage": "userId=alice",
            "progressToken": 7,
        }),
        "only what means the same in both eras"
    );

    let mut bare = enveloped_call();
    assert_eq!(to_upstream(&mut bare, None, Era::Handshake, None), None);
    Ok(())
}

#[test]
fn a_round_trip_upstream_gets_the_gateways_own_envelope() -> serde_json::Result<()> {
    let mut request = enveloped_call();
    let set = to_upstream(
        &mut request,
        Some(LoggingLevel::Error),
        Era::RoundTrip,
        None,
    );
    assert_eq!(set, None, "the level travels in the request");
    let meta = request.get_meta();
    assert_eq!(meta.protocol_version(), Some(ProtocolVersion::V_2026_07_28));
    let client = meta.client_info().map(|i| i.name);
    assert_eq!(client.as_deref(), Some("belay-gateway"), "not the caller's");
    let capabilities = meta.client_capabilities();
    assert_eq!(
        capabilities,
        Some(crate::upstream_client::identity().capabilities)
    );
    assert_eq!(meta.log_level(), Some(LoggingLevel::Error));
    assert_eq!(meta.get_traceparent(), Some(TRACEPARENT));
    assert_eq!(meta.get_baggage(), Some("userId=alice"));
    let json = meta_json(&request)?;
    assert_eq!(json["progressToken"], 7);
    assert!(json.get("com.example/private").is_none(), "{json}");
    Ok(())
}

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
