//! Request bodies that are not valid MCP messages, and the refusal each must get: one
//! table, played against every HTTP front (the harness, `belay serve`, the gateway) so
//! they all answer malformed input the same way.

use serde_json::Value;

/// JSON-RPC's "parse error": the body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's "invalid request": JSON, but not a message MCP understands.
pub const INVALID_REQUEST: i64 = -32600;

/// One malformed body and the answer it must get.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// What is wrong with it, for assertion messages.
    pub name: &'static str,
    pub body: Vec<u8>,
    /// The HTTP status of the refusal.
    pub status: u16,
    /// The JSON-RPC error code of the refusal.
    pub code: i64,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, code: i64) -> Malformed {
    Malformed {
        name,
        body: body.into(),
        status: 400,
        code,
    }
}

/// `depth` nested arrays around `inner`.
fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Every malformed body: broken JSON gets -32700, JSON that is no message -32600, all
/// with 400.
pub fn malformed_bodies() -> Vec<Malformed> {
    let deep_argument = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":{}}}}}}}"#,
        nested(200, "1")
    );
    let mut invalid_utf8 = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#""}}"#);
    vec![
        case("200 nested arrays", nested(200, ""), PARSE_ERROR),
        case(
            "200 nested arrays inside a call",
            deep_argument,
            PARSE_ERROR,
        ),
        case("invalid UTF-8 in a string", invalid_utf8, PARSE_ERROR),
        case(
            "a lone surrogate escape",
            r#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#,
            PARSE_ERROR,
        ),
        case(
            "truncated JSON",
            r#"{"jsonrpc":"2.0","id":1,"method":"#,
            PARSE_ERROR,
        ),
        case("an empty body", "", PARSE_ERROR),
        case("whitespace only", " \r\n\t ", PARSE_ERROR),
        case(
            "trailing garbage",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#,
            PARSE_ERROR,
        ),
        case(
            "a number too large for a double",
            r#"{"jsonrpc":"2.0","id":1e999999,"method":"ping"}"#,
            PARSE_ERROR,
        ),
        case("a bare number", "42", INVALID_REQUEST),
        case("a bare string", r#""initialize""#, INVALID_REQUEST),
        case("null", "null", INVALID_REQUEST),
        case("an array of numbers", "[1,2,3]", INVALID_REQUEST),
        case(
            "a method that is a number",
            r#"{"jsonrpc":"2.0","id":1,"method":42}"#,
            INVALID_REQUEST,
        ),
        case(
            "an id that is an object",
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            INVALID_REQUEST,
        ),
        case(
            "JSON-RPC 1.0",
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            INVALID_REQUEST,
        ),
        case(
            "no jsonrpc member",
            r#"{"id":1,"method":"ping"}"#,
            INVALID_REQUEST,
        ),
        case(
            "params that are a string",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"echo"}"#,
            INVALID_REQUEST,
        ),
    ]
}

/// The JSON-RPC message of an HTTP response body, plain JSON or SSE: the first `data:` event
/// holding an object, else the whole body.
pub fn message_text(body: &str) -> &str {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.starts_with('{'))
        .unwrap_or(body)
}

/// Checks one refusal: `status`, then a JSON-RPC error object with `case.code` and a
/// message in `body` (a JSON document, or an event stream carrying one). `Err` says what
/// was wrong, naming the case.
pub fn check_refusal(case: &Malformed, status: u16, body: &str) -> Result<(), String> {
    let answer: Value = serde_json::from_str(message_text(body)).map_err(|e| {
        format!(
            "{}: {status} with a body that is not JSON ({e}): {body:?}",
            case.name
        )
    })?;
    let code = answer["error"]["code"].as_i64();
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    if status != case.status
        || code != Some(case.code)
        || answer["jsonrpc"] != "2.0"
        || message.is_empty()
    {
        return Err(format!(
            "{}: expected {} with code {}, got {status}: {answer}",
            case.name, case.status, case.code
        ));
    }
    Ok(())
}
