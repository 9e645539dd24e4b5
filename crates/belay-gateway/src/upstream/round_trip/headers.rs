//! The HTTP headers of a 2026-07-28 request (SEP-2243): `MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name` and, for a `tools/call`, one `Mcp-Param-NAME` for each argument
//! its tool's input schema marks with `x-mcp-header`. The server checks them against the
//! body and refuses a request whose headers are missing or differ (-32020), so they are made
//! from the very request sent. rmcp makes them only inside its own transport, so the
//! gateway's POSTs ([`super::Posts`]) make them here, by the same rules.

use std::collections::HashMap;

use base64::{Engine, prelude::BASE64_STANDARD};
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientRequest, JsonObject, ProtocolVersion};
use serde_json::Value;

/// How a header value that cannot travel as it is (outer blanks, control or non-ASCII
/// characters) is wrapped: `=?base64?…?=`.
const BASE64_PREFIX: &str = "=?base64?";
const BASE64_SUFFIX: &str = "?=";

/// The headers of `request`, sent in era `version`; `tool_schema` is the input schema of
/// the tool a `tools/call` calls, if the upstream listed it.
pub(super) fn standard(
    request: &ClientRequest,
    version: &ProtocolVersion,
    tool_schema: Option<&JsonObject>,
) -> HashMap<HeaderName, HeaderValue> {
    let mut headers = HashMap::new();
    let mut put = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    };
    put("mcp-protocol-version", version.as_str());
    put("mcp-method", request.method());
    let name = match request {
        ClientRequest::CallToolRequest(r) => Some(r.params.name.as_ref()),
        ClientRequest::GetPromptRequest(r) => Some(r.params.name.as_str()),
        ClientRequest::ReadResourceRequest(r) => Some(r.params.uri.as_str()),
        ClientRequest::SubscribeRequest(r) => Some(r.params.uri.as_str()),
        ClientRequest::UnsubscribeRequest(r) => Some(r.params.uri.as_str()),
        ClientRequest::GetTaskRequest(r) => Some(r.params.task_id.as_str()),
        ClientRequest::UpdateTaskRequest(r) => Some(r.params.task_id.as_str()),
        ClientRequest::CancelTaskRequest(r) => Some(r.params.task_id.as_str()),
        _ => None,
    };
    if let Some(name) = name {
        put("mcp-name", &encoded(name));
    }
    if let (ClientRequest::CallToolRequest(r), Some(schema)) = (request, tool_schema)
        && let Some(arguments) = &r.params.arguments
    {
        let mut annotated = Vec::new();
        annotations(schema.get("properties"), &mut Vec::new(), &mut annotated);
        for (path, header) in annotated {
            let value = path.split_first().and_then(|(first, rest)| {
                rest.iter()
                    .try_fold(arguments.get(*first)?, |value, key| value.get(*key))
            });
            if let Some(text) = value.and_then(primitive) {
                put(&format!("mcp-param-{header}"), &encoded(&text));
            }
        }
    }
    headers
}

/// Every well-formed `x-mcp-header` annotation reached from `properties` through
/// `properties` keys alone, nested ones included: (the argument's path, the header's name).
fn annotations<'a>(
    properties: Option<&'a Value>,
    path: &mut Vec<&'a str>,
    out: &mut Vec<(Vec<&'a str>, &'a str)>,
) {
    let Some(Value::Object(properties)) = properties else {
        return;
    };
    for (name, schema) in properties {
        path.push(name);
        if let Some(Value::String(header)) = schema.get("x-mcp-header")
            && !header.is_empty()
        {
            out.push((path.clone(), header));
        }
        annotations(schema.get("properties"), path, out);
        path.pop();
    }
}

/// A string, number or boolean as its header text; anything else has none.
fn primitive(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `value` as it can travel in a header: as it is, or Base64-wrapped.
fn encoded(value: &str) -> String {
    let blank = |c: Option<char>| matches!(c, Some(' ' | '\t'));
    let wrap = blank(value.chars().next())
        || blank(value.chars().last())
        || value.chars().any(|c| !(' '..='~').contains(&c))
        || (value.starts_with(BASE64_PREFIX) && value.ends_with(BASE64_SUFFIX));
    if wrap {
        format!(
            "{BASE64_PREFIX}{}{BASE64_SUFFIX}",
            BASE64_STANDARD.encode(value)
        )
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolRequestParams, Request};
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        }
    }

    fn header<'a>(
        headers: &'a HashMap<HeaderName, HeaderValue>,
        name: &'static str,
    ) -> Option<&'a str> {
        headers
            .get(&HeaderName::from_static(name))
            .and_then(|v| v.to_str().ok())
    }

    #[test]
    fn a_tool_call_names_its_method_tool_and_annotated_arguments() {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "nested": {"type": "object", "properties": {
                    "flag": {"type": "boolean", "x-mcp-header": "Flag"},
                }},
                "count": {"type": "integer", "x-mcp-header": "Count"},
                "plain": {"type": "string"},
            },
        }));
        let params = CallToolRequestParams::new("weather").with_arguments(object(json!({
            "region": " eu-west ",
            "nested": {"flag": true},
            "plain": "not a header",
        })));
        let request = ClientRequest::CallToolRequest(Request::new(params));
        let headers = standard(&request, &ProtocolVersion::V_2026_07_28, Some(&schema));
        assert_eq!(header(&headers, "mcp-protocol-version"), Some("2026-07-28"));
        assert_eq!(header(&headers, "mcp-method"), Some("tools/call"));
        assert_eq!(header(&headers, "mcp-name"), Some("weather"));
        // Outer blanks would be lost on the wire: wrapped.
        let region = BASE64_STANDARD.encode(" eu-west ");
        assert_eq!(
            header(&headers, "mcp-param-region"),
            Some(format!("=?base64?{region}?=").as_str())
        );
        assert_eq!(header(&headers, "mcp-param-flag"), Some("true"));
        assert_eq!(header(&headers, "mcp-param-count"), None, "not given");
        assert_eq!(headers.len(), 5, "{headers:?}");
    }

    #[test]
    fn values_that_cannot_travel_as_they_are_are_wrapped() {
        assert_eq!(encoded("stock://tickers"), "stock://tickers");
        assert_eq!(
            encoded("Zürich"),
            format!("=?base64?{}?=", BASE64_STANDARD.encode("Zürich"))
        );
        assert!(encoded("a\nb").starts_with(BASE64_PREFIX));
        assert!(encoded("=?base64?abc?=").ends_with("?="));
        assert_ne!(encoded("=?base64?abc?="), "=?base64?abc?=");
    }
}
