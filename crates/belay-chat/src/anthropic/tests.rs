//! Tests of the Anthropic model: request bodies, the event stream, whole replies, errors.

use super::{stream::MAX_EVENT_BYTES, *};
use crate::model::ToolSpec;

#[test]
fn the_conversation_maps_onto_messages() {
    let request = ModelRequest {
        messages: vec![
            Message::System {
                content: "Be brief.".into(),
            },
            Message::User {
                content: "Price of AAPL?".into(),
            },
            Message::Assistant {
                content: String::new(),
                tool_calls: vec![
                    ToolCall {
                        id: "toolu_1".into(),
                        name: "get_stock_price".into(),
                        arguments: r#"{"symbol":"AAPL"}"#.into(),
                    },
                    ToolCall {
                        id: "toolu_2".into(),
                        name: "broken".into(),
                        arguments: "not json".into(),
                    },
                ],
            },
            Message::Tool {
                tool_call_id: "toolu_1".into(),
                content: "150.25".into(),
            },
            Message::Tool {
                tool_call_id: "toolu_2".into(),
                content: "error: bad arguments".into(),
            },
        ],
        tools: vec![ToolSpec {
            name: "get_stock_price".into(),
            description: "A price".into(),
            parameters: json!({"type": "object"}),
        }],
        max_tokens: Some(100),
        temperature: Some(0.5),
        model: None,
    };
    let body = request_body(request, "claude-x", true);
    assert_eq!(
        body,
        json!({
            "model": "claude-x",
            "max_tokens": 100,
            "system": "Be brief.",
            "stream": true,
            "temperature": 0.5,
            "tools": [{"name": "get_stock_price", "description": "A price",
                       "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Price of AAPL?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_stock_price",
                     "input": {"symbol": "AAPL"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "broken", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "150.25"},
                    {"type": "tool_result", "tool_use_id": "toolu_2",
                     "content": "error: bad arguments"}
                ]}
            ]
        })
    );
}

#[test]
fn max_tokens_defaults_and_the_request_may_name_a_model() {
    let body = request_body(
        ModelRequest {
            messages: vec![Message::User {
                content: "hi".into(),
            }],
            model: Some("claude-other".into()),
            ..ModelRequest::default()
        },
        "claude-x",
        false,
    );
    assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(body["model"], "claude-other");
    assert!(body.get("stream").is_none() && body.get("tools").is_none());
    assert!(body.get("system").is_none());
}

fn events(stream: &str) -> Result<Vec<SseEvent>, String> {
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    // Fed in 7-byte pieces: events split anywhere must come out whole.
    for piece in stream.as_bytes().chunks(7) {
        out.extend(parser.push(piece)?);
    }
    out.extend(parser.finish());
    Ok(out)
}

fn run(stream: &str) -> Result<(ModelReply, Vec<String>), (bool, String)> {
    let mut shown = Vec::new();
    let mut state = StreamState::default();
    for event in events(stream).map_err(|e| (false, e))? {
        if let Step::Text(text) = state.apply(&event)? {
            shown.push(text);
        }
    }
    Ok((state.finish("default").map_err(|e| (false, e))?, shown))
}

const TOOL_STREAM: &str = concat!(
    "event: message_start\r\n",
    r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test","stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#,
    "\r\n\r\n",
    ": a comment\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    "\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Looking "}}"#,
    "\n\nevent: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"it up."}}"#,
    "\n\nevent: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":0}"#,
    "\n\nevent: content_block_start\n",
    r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"get_stock_price","input":{}}}"#,
    "\n\nevent: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"symbol\": \"AA"}}"#,
    "\n\nevent: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"PL\"}"}}"#,
    "\n\nevent: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":1}"#,
    "\n\nevent: content_block_start\n",
    r#"data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_10","name":"list_symbols","input":{}}}"#,
    "\n\nevent: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":2}"#,
    "\n\nevent: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#,
    "\n\nevent: message_stop\n",
    r#"data: {"type":"message_stop"}"#,
    "\n\n"
);

#[test]
fn a_streamed_answer_with_text_and_tool_use() -> Result<(), (bool, String)> {
    let (reply, shown) = run(TOOL_STREAM)?;
    assert_eq!(shown, ["Looking ", "it up."]);
    assert_eq!(reply.text, "Looking it up.");
    assert_eq!(reply.model, "claude-test");
    assert_eq!(reply.stop, StopReason::ToolUse);
    assert_eq!(
        reply.tool_calls,
        [
            ToolCall {
                id: "toolu_9".into(),
                name: "get_stock_price".into(),
                arguments: r#"{"symbol": "AAPL"}"#.into(),
            },
            ToolCall {
                id: "toolu_10".into(),
                name: "list_symbols".into(),
                arguments: "{}".into(),
            }
        ]
    );
    Ok(())
}

#[test]
fn an_error_event_is_the_endpoints_error() {
    let stream = concat!(
        "event: message_start\n",
        r#"data: {"type":"message_start","message":{"model":"claude-test","content":[]}}"#,
        "\n\nevent: error\n",
        r#"data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
        "\n\n"
    );
    assert_eq!(
        run(stream).map(|_| ()),
        Err((true, "overloaded_error: Overloaded".into()))
    );
}

#[test]
fn malformed_streams_are_unreadable_not_panics() {
    // Data that is no JSON.
    let err = run("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n");
    assert!(
        matches!(&err, Err((false, m)) if m.contains("no JSON")),
        "{err:?}"
    );
    // Tool input for a block that was never started, and an absurd index.
    let err = run(concat!(
        r#"data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
        "\n\n"
    ));
    assert!(
        matches!(&err, Err((false, m)) if m.contains("no tool_use block")),
        "{err:?}"
    );
    let err = run(concat!(
        r#"data: {"type":"content_block_start","index":99999999999,"content_block":{"type":"text","text":""}}"#,
        "\n\n"
    ));
    assert!(
        matches!(&err, Err((false, m)) if m.contains("index")),
        "{err:?}"
    );
    // A stream cut off before the message ended.
    let cut = &TOOL_STREAM[..TOOL_STREAM.find("event: message_delta").unwrap_or(0)];
    let err = run(cut);
    assert!(
        matches!(&err, Err((false, m)) if m.contains("message_stop")),
        "{err:?}"
    );
    // An event that never ends is cut off at the bound.
    let mut parser = SseParser::default();
    let err = parser.push(&vec![b'x'; MAX_EVENT_BYTES + 1]);
    assert!(matches!(&err, Err(m) if m.contains("KiB")), "{err:?}");
}

#[test]
fn a_whole_answer_and_api_errors() -> Result<(), String> {
    let body = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_stock_price",
             "input": {"symbol": "AAPL"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 1, "output_tokens": 1}
    });
    let reply = whole_reply(&body, "default")?;
    assert_eq!(reply.text, "Checking.");
    assert_eq!(reply.stop, StopReason::ToolUse);
    assert_eq!(reply.tool_calls[0].arguments, r#"{"symbol":"AAPL"}"#);
    assert!(whole_reply(&json!({"type": "message"}), "d").is_err());
    assert_eq!(
        http_error(
            401,
            br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
        ),
        "HTTP 401: authentication_error: invalid x-api-key (check the API key)"
    );
    assert_eq!(
        http_error(502, b"<html>bad gateway</html>"),
        "HTTP 502: <html>bad gateway</html>"
    );
    Ok(())
}
