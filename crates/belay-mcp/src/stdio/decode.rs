//! Decoding one client message from its JSON text, with JSON-RPC's error codes.
//!
//! rmcp's `ClientRequest` is an untagged enum of twenty-odd request types, so serde tries
//! them in order until one accepts the `method`: a `tools/call` fails thirteen times
//! first, and each failure formats an error message (measured on `belay serve stock`
//! over stdio: about half of the server's instructions per call went to decoding). Here
//! one pass reads the envelope (`jsonrpc`, `id`, `method`, `params`); for the methods a
//! server sees most, the request is built straight from it, as the variant the untagged
//! enum would have picked (every earlier one is a request type with a different constant
//! method). Anything else, and anything the direct decode refuses, goes through rmcp's
//! own decoding, so its answers and error messages stay the reference; the tests check
//! that both decodings agree on thousands of mutated requests.

use std::fmt;

use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorCode, JsonObject, JsonRpcMessage, JsonRpcRequest,
    JsonRpcVersion2_0, Request, RequestId, RequestMetaObject,
};
use serde::{
    Deserialize, Deserializer,
    de::{DeserializeOwned, Error as _, IgnoredAny, MapAccess, Visitor},
};
use serde_json::Value;
use serde_json::error::Category;

/// A message that cannot be served, with the JSON-RPC error to answer it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({})", code.0)]
pub struct Malformed {
    /// Parse error (not JSON) or invalid request (JSON, but not a message MCP understands).
    pub code: ErrorCode,
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
                Ok(_) => (ErrorCode::INVALID_REQUEST, e),
                Err(syntax) => (ErrorCode::PARSE_ERROR, syntax),
            },
            Category::Syntax | Category::Eof | Category::Io => (ErrorCode::PARSE_ERROR, e),
        };
        let message = if code == ErrorCode::PARSE_ERROR {
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
    let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
    // A request: `method` and `id`, neither `result` nor `error` (rmcp's shape rule).
    if envelope.result || envelope.error {
        return None;
    }
    let id = envelope.id?;
    let request = match Method::from_name(envelope.method.as_deref()?)? {
        Method::CallTool => ClientRequest::CallToolRequest(with_params(envelope.params)?),
        Method::ReadResource => ClientRequest::ReadResourceRequest(with_params(envelope.params)?),
        Method::GetPrompt => ClientRequest::GetPromptRequest(with_params(envelope.params)?),
        // Optional or absent params: rare enough per call that rmcp's own decoding of the
        // one type (and its quirks, e.g. invalid optional params read as none) is kept.
        Method::ListTools => return typed(bytes, ClientRequest::ListToolsRequest),
        Method::Ping => return typed(bytes, ClientRequest::PingRequest),
    };
    Some(JsonRpcMessage::Request(JsonRpcRequest::new(id, request)))
}

/// A `Request` from its `params` object, as rmcp builds it: `_meta` goes to the request's
/// extensions, every other key to the params type. rmcp gets there through two layers of
/// `#[serde(flatten)]`, which buffer the whole message twice; here the object is read once
/// (by [`Envelope`]) and the params type is decoded from it. `None` (no params, params that
/// are not an object, a `_meta` that is not one, params the type refuses) leaves the
/// message to rmcp, so the error the client sees is rmcp's.
fn with_params<M: Default, P: DeserializeOwned>(
    params: Option<JsonObject>,
) -> Option<Request<M, P>> {
    let mut params = params?;
    let meta = match params.remove("_meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(meta)) => Some(meta),
        Some(_) => return None,
    };
    let mut request = Request::new(P::deserialize(Value::Object(params)).ok()?);
    if let Some(meta) = meta {
        request.extensions.insert(RequestMetaObject::from(meta));
    }
    Some(request)
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

/// The parts of a message that decide what it is, read in one pass: `jsonrpc` must be
/// "2.0" and `id` a valid request id (as rmcp requires), `params` is kept as an object, and
/// any other key is skipped. A key given twice is an error, as it is for rmcp's derived
/// decoding, and so is a `params` object with a repeated key.
#[derive(Debug, Default)]
struct Envelope {
    id: Option<RequestId>,
    method: Option<String>,
    params: Option<JsonObject>,
    result: bool,
    error: bool,
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope::default();
        let mut version = false;
        while let Some(key) = map.next_key::<Key>()? {
            let repeated = match key {
                Key::Jsonrpc => {
                    map.next_value::<JsonRpcVersion2_0>()?;
                    std::mem::replace(&mut version, true)
                }
                Key::Id => envelope.id.replace(map.next_value()?).is_some(),
                Key::Method => envelope.method.replace(map.next_value()?).is_some(),
                Key::Params => {
                    let UniqueKeys(params) = map.next_value()?;
                    envelope.params.replace(params).is_some()
                }
                Key::Result => {
                    map.next_value::<IgnoredAny>()?;
                    std::mem::replace(&mut envelope.result, true)
                }
                Key::Error => {
                    map.next_value::<IgnoredAny>()?;
                    std::mem::replace(&mut envelope.error, true)
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    false
                }
            };
            if repeated {
                return Err(A::Error::custom("a key is given twice"));
            }
        }
        if !version {
            return Err(A::Error::missing_field("jsonrpc"));
        }
        Ok(envelope)
    }
}

/// A JSON object whose keys are all distinct (`serde_json::Map` would keep the last).
struct UniqueKeys(JsonObject);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut object = JsonObject::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if let Some(_earlier) = object.insert(key, value) {
                        return Err(A::Error::custom("a key is given twice"));
                    }
                }
                Ok(UniqueKeys(object))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// An object key, classified without allocating.
enum Key {
    Jsonrpc,
    Method,
    Id,
    Params,
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
                    "jsonrpc" => Key::Jsonrpc,
                    "method" => Key::Method,
                    "id" => Key::Id,
                    "params" => Key::Params,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","_meta":null,"arguments":null}}"#,
            r#"{"params":{"arguments":{"n":[1,-2,3.5,1e300,18446744073709551615,-9223372036854775808,"\u00e9"]},"name":"t"},"method":"tools/call","id":8,"jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","inputResponses":{"a":{"action":"decline"}},"requestState":"s","other":1}}"#,
            r#"{"jsonrpc":"2.0","id":10,"method":"resources/read","params":{"uri":"stock://AAPL","_meta":{"progressToken":"p"}}}"#,
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
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","name":"u"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{},"_meta":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"},"params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"id":1,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["t"]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
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

    /// Thousands of near-misses of real requests (bytes dropped, repeated, replaced by JSON
    /// punctuation): whatever the direct decoding accepts, rmcp decodes to the same message.
    #[test]
    fn mutated_requests_decode_as_rmcp_decodes_them_or_are_left_to_rmcp() {
        let seeds = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_stock_price","arguments":{"symbol":"AAPL"},"_meta":{"progressToken":3}}}"#,
            r#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"stock://AAPL","_meta":{}}}"#,
            r#"{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"p","arguments":{"symbol":"MSFT"}}}"#,
        ];
        const PUNCTUATION: &[u8] = br#"{}[]",:0 a_-\"#;
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = |below: usize| {
            // xorshift64: deterministic, so a failure names an input that reproduces.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % below as u64).unwrap_or(0)
        };
        let (mut accepted, mut total) = (0, 0);
        for seed in seeds {
            for _ in 0..4000 {
                let mut bytes = seed.as_bytes().to_vec();
                for _ in 0..1 + next(3) {
                    let at = next(bytes.len());
                    let len = 1 + next(12).min(bytes.len() - at - 1);
                    match next(4) {
                        0 => drop(bytes.drain(at..at + len)),
                        // Repeat the member before a comma: `{"a":1,` becomes `{"a":1,"a":1,`.
                        3 => {
                            if let Some(end) = bytes[at..].iter().position(|&b| b == b',') {
                                let end = at + end + 1;
                                let start = bytes[..end - 1]
                                    .iter()
                                    .rposition(|&b| b == b',' || b == b'{')
                                    .map_or(0, |p| p + 1);
                                let member = bytes[start..end].to_vec();
                                bytes.splice(end..end, member);
                            }
                        }
                        1 => {
                            let copy = bytes[at..at + len].to_vec();
                            let to = next(bytes.len());
                            bytes.splice(to..to, copy);
                        }
                        _ => bytes[at] = PUNCTUATION[next(PUNCTUATION.len())],
                    }
                }
                total += 1;
                if let Some(decoded) = fast(&bytes) {
                    accepted += 1;
                    let text = String::from_utf8_lossy(&bytes);
                    assert_eq!(Some(decoded), generic(&bytes), "{text}");
                }
            }
        }
        // The mutations must leave enough requests intact for the check to mean something.
        assert!(accepted * 20 > total, "only {accepted} of {total} accepted");
    }

    #[test]
    fn errors_carry_json_rpc_codes() {
        let code = |bytes: &[u8]| client_message(bytes).err().map(|e| e.code.0);
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
