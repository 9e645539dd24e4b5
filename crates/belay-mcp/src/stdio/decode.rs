//! Decoding one client message from its JSON text, with JSON-RPC's error codes.
//!
//! rmcp's `ClientRequest` is an untagged enum of twenty-odd request types, so serde tries
//! them in order until one accepts the `method`: a `tools/call` fails thirteen times
//! first, and each failure formats an error message (measured on `belay serve stock`
//! over stdio: about half of the server's instructions per call went to decoding). Here a
//! cheap first pass reads the object's keys and its `method`; for the methods a server
//! sees most, the message is decoded straight into that request type and wrapped in its
//! variant, which is the variant the untagged enum would have picked (every earlier one
//! is a request type with a different constant method). Anything else, and anything the
//! direct decode refuses, goes through rmcp's own decoding, so its answers and error
//! messages stay the reference.

use std::fmt;

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, JsonRpcRequest};
use serde::{
    Deserialize, Deserializer,
    de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor},
};
use serde_json::error::Category;

/// A message that cannot be served, with the JSON-RPC error to answer it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct Malformed {
    /// -32700 (not JSON) or -32600 (JSON, but not a message MCP understands).
    pub code: i32,
    /// What is wrong, for the client to fix.
    pub message: String,
}

/// Decodes one JSON-RPC message a client sent.
pub fn client_message(bytes: &[u8]) -> Result<ClientJsonRpcMessage, Malformed> {
    if let Some(message) = known_request(bytes) {
        return Ok(message);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        // A message is refused as soon as its first value is read, before trailing bytes
        // are seen: check the whole text, so that what is not JSON is always -32700.
        let (code, e) = match e.classify() {
            Category::Data => match serde_json::from_slice::<IgnoredAny>(bytes) {
                Ok(_) => (-32600, e),
                Err(syntax) => (-32700, syntax),
            },
            Category::Syntax | Category::Eof | Category::Io => (-32700, e),
        };
        let message = if code == -32700 {
            format!("parse error: the body is not valid JSON: {e}")
        } else {
            format!("invalid request: not a JSON-RPC 2.0 message MCP understands: {e}")
        };
        Malformed { code, message }
    })
}

/// The request decoded directly when `bytes` is a request for one of the methods below;
/// `None` sends it to rmcp's generic decoding.
fn known_request(bytes: &[u8]) -> Option<ClientJsonRpcMessage> {
    let shape: Shape = serde_json::from_slice(bytes).ok()?;
    // A request: `method` and `id`, neither `result` nor `error` (rmcp's shape rule).
    if !(shape.id && !shape.result && !shape.error) {
        return None;
    }
    match shape.method? {
        Method::CallTool => typed(bytes, ClientRequest::CallToolRequest),
        Method::ListTools => typed(bytes, ClientRequest::ListToolsRequest),
        Method::Ping => typed(bytes, ClientRequest::PingRequest),
        Method::ReadResource => typed(bytes, ClientRequest::ReadResourceRequest),
        Method::GetPrompt => typed(bytes, ClientRequest::GetPromptRequest),
    }
}

fn typed<T: DeserializeOwned>(
    bytes: &[u8],
    variant: fn(T) -> ClientRequest,
) -> Option<ClientJsonRpcMessage> {
    let JsonRpcRequest {
        jsonrpc,
        id,
        request,
    } = serde_json::from_slice::<JsonRpcRequest<T>>(bytes).ok()?;
    Some(JsonRpcMessage::Request(JsonRpcRequest {
        jsonrpc,
        id,
        request: variant(request),
    }))
}

/// Methods decoded without the untagged enum. Each is decoded as the payload type of its
/// `ClientRequest` variant, so the type always follows rmcp's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    CallTool,
    ListTools,
    Ping,
    ReadResource,
    GetPrompt,
}

impl Method {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "tools/call" => Self::CallTool,
            "tools/list" => Self::ListTools,
            "ping" => Self::Ping,
            "resources/read" => Self::ReadResource,
            "prompts/get" => Self::GetPrompt,
            _ => return None,
        })
    }
}

/// Which of the keys that decide a message's kind are present, and the method when it is
/// one of [`Method`]. Values other than `method` are skipped without being built.
#[derive(Debug, Default)]
struct Shape {
    method: Option<Method>,
    id: bool,
    result: bool,
    error: bool,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut shape = Shape::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Method => shape.method = map.next_value::<MethodName>()?.0,
                Key::Id => {
                    shape.id = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Result => {
                    shape.result = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Error => {
                    shape.error = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(shape)
    }
}

/// An object key, classified without allocating.
enum Key {
    Method,
    Id,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "method" => Key::Method,
                    "id" => Key::Id,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A `method` value: `Some` for the methods of [`Method`]. Anything but a string is an
/// error, which leaves the message to rmcp's decoding and its error message.
struct MethodName(Option<Method>);

impl<'de> Deserialize<'de> for MethodName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = MethodName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a method name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<MethodName, E> {
                Ok(MethodName(Method::from_name(name)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{Discriminant, discriminant};

    use super::*;

    /// The message as JSON, and which request variant it is (a `CustomRequest` and a
    /// `CallToolRequest` can print the same).
    type Decoded = (serde_json::Value, Option<Discriminant<ClientRequest>>);

    fn describe(message: ClientJsonRpcMessage) -> Option<Decoded> {
        let variant = match &message {
            JsonRpcMessage::Request(request) => Some(discriminant(&request.request)),
            _ => None,
        };
        Some((serde_json::to_value(message).ok()?, variant))
    }

    /// rmcp's own decoding, the reference.
    fn generic(bytes: &[u8]) -> Option<Decoded> {
        describe(serde_json::from_slice(bytes).ok()?)
    }

    fn fast(bytes: &[u8]) -> Option<Decoded> {
        describe(known_request(bytes)?)
    }

    #[test]
    fn direct_decoding_matches_rmcp_on_every_fast_method() {
        let requests = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_stock_price","arguments":{"symbol":"AAPL"}}}"#,
            r#"{"id":"x-7","method":"tools/call","jsonrpc":"2.0","params":{"name":"t","arguments":{},"_meta":{"progressToken":3}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}},"extra":[1,{"a":null}]}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"abc"}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"stock://AAPL"}}"#,
            r#"{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"p","arguments":{"symbol":"MSFT"}}}"#,
            r#"{"jsonrpc":"2.0","id":6,"method":"tools\/call","params":{"name":"escaped method"}}"#,
        ];
        for request in requests {
            let reference = generic(request.as_bytes());
            assert!(reference.is_some(), "rmcp refuses {request}");
            assert_eq!(fast(request.as_bytes()), reference, "{request}");
        }
    }

    #[test]
    fn everything_else_is_left_to_rmcp() {
        let others = [
            // Not requests, or requests of other methods.
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/cal","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            // Requests rmcp refuses: the direct decoding must refuse them too.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"},"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"},"error":{}}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7,"params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read"}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        ];
        for other in others {
            let decoded = fast(other.as_bytes());
            assert!(
                decoded.is_none() || decoded == generic(other.as_bytes()),
                "{other}"
            );
        }
        for refused in &others[4..] {
            assert_eq!(fast(refused.as_bytes()), None, "{refused}");
        }
    }

    #[test]
    fn errors_carry_json_rpc_codes() {
        let code = |bytes: &[u8]| client_message(bytes).err().map(|e| e.code);
        assert_eq!(code(b"{not json"), Some(-32700));
        assert_eq!(code(br#"{"jsonrpc": "2.0", "id": "#), Some(-32700));
        assert_eq!(code(b"\xff\xfe"), Some(-32700));
        assert_eq!(code(br#"{"id":1} trailing"#), Some(-32700));
        assert_eq!(code(b"[1,2]"), Some(-32600));
        assert_eq!(code(br#"{"id":2}"#), Some(-32600));
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            Some(-32600)
        );
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        let nested = "[".repeat(10_000);
        assert_eq!(code(nested.as_bytes()), Some(-32700));
    }
}
