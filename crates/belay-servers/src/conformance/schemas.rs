//! JSON Schemas written out by hand, because the suite checks keywords a schema derived
//! from a Rust type cannot carry (`$anchor`, `if`/`then`/`else`, `x-mcp-header`, titled
//! enums, defaults). rmcp sends a tool's `inputSchema` object as given, byte for byte.

use rmcp::{
    ErrorData,
    model::{ElicitationSchema, JsonObject},
};
use serde_json::{Value, json};

/// The object in `value`; every caller passes an object literal.
fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// A tool that takes no arguments.
pub(super) fn no_arguments() -> JsonObject {
    object(json!({ "type": "object", "properties": {} }))
}

/// A tool taking one required string argument `name`.
pub(super) fn one_string(name: &str, description: &str) -> JsonObject {
    object(json!({
        "type": "object",
        "properties": { name: { "type": "string", "description": description } },
        "required": [name],
    }))
}

/// `json_schema_2020_12_tool`: the 2020-12 keywords SEP-2106 says must survive `tools/list`.
pub(super) fn json_schema_2020_12() -> JsonObject {
    object(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    }))
}

/// `test_custom_header`: a string argument mirrored into an `Mcp-Param-Region` header (SEP-2243).
pub(super) fn custom_header() -> JsonObject {
    object(json!({
        "type": "object",
        "properties": {
            "region": {
                "type": "string",
                "description": "Region to report; clients also send it as Mcp-Param-Region",
                "x-mcp-header": "Region"
            }
        },
        "required": ["region"]
    }))
}

/// The form `test_elicitation` asks for.
pub(super) fn contact_form() -> Result<ElicitationSchema, ErrorData> {
    form(json!({
        "type": "object",
        "properties": {
            "username": { "type": "string", "description": "User's response" },
            "email": { "type": "string", "description": "User's email address" }
        },
        "required": ["username", "email"]
    }))
}

/// SEP-1034: a default for every primitive type.
pub(super) fn defaults_form() -> Result<ElicitationSchema, ErrorData> {
    form(json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User's name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User's age", "default": 30 },
            "score": { "type": "number", "description": "User's score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User's status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Whether user is verified", "default": true }
        }
    }))
}

/// SEP-1330: every enum style, single and multi select, titled and untitled.
pub(super) fn enums_form() -> Result<ElicitationSchema, ErrorData> {
    form(json!({
        "type": "object",
        "properties": {
            "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        }
    }))
}

/// A form with one required field `field` of JSON type `kind`.
pub(super) fn single_field(field: &str, kind: &str) -> Result<ElicitationSchema, ErrorData> {
    form(json!({
        "type": "object",
        "properties": { field: { "type": kind } },
        "required": [field]
    }))
}

fn form(schema: Value) -> Result<ElicitationSchema, ErrorData> {
    serde_json::from_value(schema)
        .map_err(|e| ErrorData::internal_error(format!("bad elicitation schema: {e}"), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_a_valid_elicitation_schema() {
        for form in [contact_form(), defaults_form(), enums_form()] {
            assert!(form.is_ok(), "{form:?}");
        }
        assert!(single_field("ok", "boolean").is_ok());
    }

    // rmcp's ElicitationSchema has typed properties; a lossy round trip would drop the
    // titles and defaults the suite checks.
    #[test]
    fn forms_reach_the_client_unchanged() -> Result<(), serde_json::Error> {
        let enums = serde_json::to_value(enums_form().map_err(serde::de::Error::custom)?)?;
        let props = &enums["properties"];
        assert_eq!(props["legacyEnum"]["enumNames"][2], "Option Three");
        assert_eq!(props["titledSingle"]["oneOf"][0]["title"], "First Option");
        assert_eq!(props["titledMulti"]["items"]["anyOf"][1]["const"], "value2");
        assert!(props["titledMulti"]["items"].get("enum").is_none());
        let defaults = serde_json::to_value(defaults_form().map_err(serde::de::Error::custom)?)?;
        assert_eq!(defaults["properties"]["score"]["default"], 95.5);
        assert_eq!(defaults["properties"]["status"]["default"], "active");
        Ok(())
    }

    #[test]
    fn the_2020_12_schema_keeps_its_keywords() {
        let schema = json_schema_2020_12();
        for key in ["$schema", "$defs", "allOf", "if", "then", "else"] {
            assert!(schema.contains_key(key), "{key}");
        }
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["address"]["$anchor"], "addressDef");
    }
}
