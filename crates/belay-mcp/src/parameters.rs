//! Tool arguments whose errors name the argument at fault.
//!
//! rmcp's `Parameters<T>` reports `invalid type: integer 42, expected a string` without
//! saying *which* argument, which leaves a model (or a person) guessing on tools with
//! several. This drop-in keeps the same name (rmcp's `#[tool]` macro finds the input schema
//! by the type name `Parameters`) and the same schema, and adds the JSON path to the error:
//! ``failed to deserialize parameters: argument `holdings.AAPL`: invalid type: string
//! "ten", expected f64``.

use rmcp::{
    ErrorData,
    handler::server::{common::FromContextPart, tool::ToolCallContext},
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

/// The deserialised arguments of a tool call; use as `Parameters(args): Parameters<Args>`.
#[derive(Debug, Clone)]
pub struct Parameters<P>(pub P);

impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

impl<S, P: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<P> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        let arguments = serde_json::Value::Object(context.arguments.take().unwrap_or_default());
        parse_arguments(arguments).map(Parameters)
    }
}

/// rmcp's marker for "the arguments did not deserialise" (`router/tool.rs`).
const ARGUMENT_ERROR_PREFIX: &str = "failed to deserialize parameters:";

/// Deserialises `arguments`, naming the path of the first bad argument in the error.
pub fn parse_arguments<P: DeserializeOwned>(arguments: serde_json::Value) -> Result<P, ErrorData> {
    serde_path_to_error::deserialize(arguments).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // rmcp turns invalid-params errors with this prefix into an `isError` tool result
        // (SEP-1303: the model reads it and retries), so the prefix is load-bearing.
        let message = if path == "." {
            // The top level: usually a missing required argument, which serde names itself.
            format!("{ARGUMENT_ERROR_PREFIX} {inner}; see the tool's inputSchema")
        } else {
            format!(
                "{ARGUMENT_ERROR_PREFIX} argument `{path}`: {inner}; see the tool's inputSchema"
            )
        };
        ErrorData::invalid_params(message, None)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // Fields exist to be deserialised.
    struct Portfolio {
        owner: String,
        holdings: BTreeMap<String, f64>,
    }

    fn error_of(value: serde_json::Value) -> String {
        parse_arguments::<Portfolio>(value)
            .err()
            .map(|e| e.message.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn errors_name_the_argument_at_fault() {
        let nested = error_of(json!({"owner": "a", "holdings": {"AAPL": "ten"}}));
        assert!(
            nested.contains("argument `holdings.AAPL`: invalid type: string"),
            "{nested}"
        );
        let top = error_of(json!({"owner": 7, "holdings": {}}));
        assert!(
            top.contains("argument `owner`: invalid type: integer `7`"),
            "{top}"
        );
        let missing = error_of(json!({"owner": "a"}));
        assert!(missing.contains("missing field `holdings`"), "{missing}");
        assert!(
            parse_arguments::<Portfolio>(json!({"owner": "a", "holdings": {"X": 1.0}})).is_ok()
        );
    }
}
