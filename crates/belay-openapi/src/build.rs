//! From an operation to a [`Tool`]: which operations the configuration leaves out, the tool's
//! name, its input schema from the operation's parameters and body, and its description.

use serde_json::{Map, Value, json};

use crate::{
    ApiCredentialSpec, Argument, KeyLocation, Location, Tool, document, request, schema,
    spec::OpenApiSpec,
};

/// Headers the HTTP client sets itself or that carry credentials and framing: a parameter
/// may not set them (OpenAPI itself ignores `Accept`, `Content-Type` and `Authorization`
/// parameters).
pub(crate) const RESERVED_HEADERS: [&str; 14] = [
    "accept",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why `spec`'s include/exclude lists leave `operation` out, if they do.
pub(crate) fn filtered_out(
    spec: &OpenApiSpec,
    operation: &document::RawOperation,
    name: &str,
) -> Option<String> {
    let named = |list: &[String]| {
        list.iter()
            .any(|id| Some(id.as_str()) == operation.operation_id.as_deref() || id == name)
    };
    let tagged = |list: &[String]| operation.tags.iter().any(|t| list.contains(t));
    if named(&spec.exclude_operations) {
        return Some("excluded by exclude_operations".into());
    }
    if tagged(&spec.exclude_tags) {
        return Some("excluded by exclude_tags".into());
    }
    if !spec.include_operations.is_empty() && !named(&spec.include_operations) {
        return Some("not in include_operations".into());
    }
    if !spec.include_tags.is_empty() && !tagged(&spec.include_tags) {
        return Some("no tag in include_tags".into());
    }
    None
}

/// Letters, digits, `_`, `-` and `.`, at most 64: what every MCP client and model API takes.
pub(crate) fn safe_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    let name = name.trim_matches('_');
    name.chars().take(64).collect()
}

pub(crate) fn tool_name(operation: &document::RawOperation) -> String {
    let from_id = operation.operation_id.as_deref().map(safe_name);
    match from_id {
        Some(name) if !name.is_empty() => name,
        _ => {
            let path = operation.path.replace(['{', '}'], "");
            let name = safe_name(&format!("{}_{path}", operation.method));
            if name.is_empty() {
                operation.method.clone()
            } else {
                name
            }
        }
    }
}

pub(crate) fn build_tool(
    document: &document::Document,
    operation: &document::RawOperation,
    name: String,
    spec: &OpenApiSpec,
) -> Result<Tool, String> {
    let mut resolver = schema::Resolver::new(&document.raw, document.version);
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut arguments = Vec::new();
    // The credential's own header or query parameter is the gateway's, never an argument's.
    let (credential_header, credential_query) = match &spec.credential {
        ApiCredentialSpec::ApiKey {
            location: KeyLocation::Header,
            name,
            ..
        } => (Some(name.to_ascii_lowercase()), None),
        ApiCredentialSpec::ApiKey {
            location: KeyLocation::Query,
            name,
            ..
        } => (None, Some(name.as_str())),
        _ => (None, None),
    };
    for parameter in &operation.parameters {
        let lower = parameter.name.to_ascii_lowercase();
        let unsendable = match parameter.location {
            Location::Cookie => Some("cookie parameters are not sent".to_owned()),
            Location::Header
                if RESERVED_HEADERS.contains(&lower.as_str())
                    || credential_header.as_deref() == Some(lower.as_str()) =>
            {
                Some(format!(
                    "header `{}` is set by the gateway, not by arguments",
                    parameter.name
                ))
            }
            Location::Query if credential_query == Some(parameter.name.as_str()) => Some(format!(
                "query parameter `{}` carries the API key, set by the gateway",
                parameter.name
            )),
            Location::Header
                if http::HeaderName::from_bytes(parameter.name.as_bytes()).is_err() =>
            {
                Some(format!("`{}` is not a valid header name", parameter.name))
            }
            _ => None,
        };
        if let Some(reason) = unsendable {
            if parameter.required {
                return Err(format!("needs {reason}"));
            }
            continue;
        }
        if parameter.location == Location::Path
            && !operation.path.contains(&format!("{{{}}}", parameter.name))
        {
            return Err(format!(
                "path parameter `{}` is not in the path template",
                parameter.name
            ));
        }
        let key = if properties.contains_key(&parameter.name) {
            format!("{}_{}", location_name(parameter.location), parameter.name)
        } else {
            parameter.name.clone()
        };
        let mut property = resolver
            .resolve(&parameter.schema)
            .map_err(|e| e.to_string())?;
        if let (Some(description), Value::Object(object)) = (&parameter.description, &mut property)
        {
            object
                .entry("description")
                .or_insert_with(|| Value::String(description.clone()));
        }
        if parameter.required {
            required.push(Value::String(key.clone()));
        }
        properties.insert(key.clone(), property);
        arguments.push(Argument {
            key,
            name: parameter.name.clone(),
            location: parameter.location,
            required: parameter.required,
        });
    }
    // Every `{name}` in the template must be fillable, or the request could not be built.
    for placeholder in request::placeholders(&operation.path) {
        if !arguments
            .iter()
            .any(|a| a.location == Location::Path && a.name == placeholder)
        {
            return Err(format!(
                "`{{{placeholder}}}` in the path has no path parameter"
            ));
        }
    }
    if let Some(media_type) = &operation.non_json_body {
        return Err(format!(
            "its request body is {media_type}; only JSON bodies are sent"
        ));
    }
    let body = match &operation.body {
        None => None,
        Some((body_required, body_schema)) => {
            let key = ["body", "requestBody", "_body"]
                .into_iter()
                .find(|k| !properties.contains_key(*k))
                .unwrap_or("_body")
                .to_owned();
            let schema = resolver.resolve(body_schema).map_err(|e| e.to_string())?;
            properties.insert(key.clone(), schema);
            if *body_required {
                required.push(Value::String(key.clone()));
            }
            Some(Argument {
                key,
                name: String::new(),
                location: Location::Query,
                required: *body_required,
            })
        }
    };
    let mut input_schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        input_schema["required"] = Value::Array(required);
    }
    let (output_schema, wrap_output) = match &operation.response {
        None => (None, false),
        Some(response) => {
            let resolved = resolver.resolve(response).map_err(|e| e.to_string())?;
            if is_object_schema(&resolved) {
                // MCP wants `type: object` at the root of an output schema, stated (clients
                // drop one that only implies it through `allOf`).
                let mut resolved = resolved;
                if let Value::Object(root) = &mut resolved {
                    root.entry("type").or_insert_with(|| json!("object"));
                }
                (Some(resolved), false)
            } else {
                (
                    Some(json!({
                        "type": "object",
                        "properties": { "result": resolved },
                        "required": ["result"],
                    })),
                    true,
                )
            }
        }
    };
    Ok(Tool {
        name,
        description: describe(operation),
        method: operation.method.to_ascii_uppercase(),
        path: operation.path.clone(),
        operation_id: operation.operation_id.clone(),
        tags: operation.tags.clone(),
        deprecated: operation.deprecated,
        input_schema,
        output_schema,
        arguments,
        body,
        wrap_output,
    })
}

pub(crate) fn location_name(location: Location) -> &'static str {
    match location {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
        Location::Cookie => "cookie",
    }
}

/// A schema whose instances are JSON objects for sure: `type: object`, or an `allOf` of
/// such schemas (how documents extend one object with another).
pub(crate) fn is_object_schema(schema: &Value) -> bool {
    if schema.get("type") == Some(&Value::String("object".into())) {
        return true;
    }
    match schema.get("allOf").and_then(Value::as_array) {
        Some(parts) => {
            !parts.is_empty()
                && parts.iter().any(is_object_schema)
                && parts
                    .iter()
                    .all(|p| is_object_schema(p) || p.get("type").is_none())
        }
        None => false,
    }
}

pub(crate) fn describe(operation: &document::RawOperation) -> String {
    let mut parts = Vec::new();
    if let Some(summary) = operation.summary.as_deref().map(str::trim)
        && !summary.is_empty()
    {
        parts.push(summary.to_owned());
    }
    if let Some(description) = operation.description.as_deref().map(str::trim)
        && !description.is_empty()
        && Some(description) != operation.summary.as_deref().map(str::trim)
    {
        parts.push(description.to_owned());
    }
    if parts.is_empty() {
        parts.push(format!(
            "{} {}",
            operation.method.to_ascii_uppercase(),
            operation.path
        ));
    }
    if operation.deprecated {
        parts.push("(Deprecated.)".into());
    }
    parts.join("\n\n")
}
