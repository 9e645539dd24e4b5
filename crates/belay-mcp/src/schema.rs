//! Tool schemas every MCP client reads without complaint.
//!
//! rmcp derives input and output schemas with schemars, which writes formats of its own
//! (`uint32`, `uint`, `int64`, `double`…) and nullable fields as `"type": ["string", "null"]`.
//! Both are legal JSON Schema, but the TypeScript SDK's validator (Ajv) warns about every
//! format it does not know, and the MCP Inspector's `--strict` flags type arrays, which
//! clients mapping schemas onto one-`type` dialects (Gemini's function declarations) reject.
//! [`Portable`] rewrites a schema into the portable subset without changing what it
//! accepts; [`portable_tools`] applies it to every tool of a server, in one place.
//!
//! | schemars writes | becomes |
//! |---|---|
//! | `"format": "uint32"`, `"minimum": 0` | `"minimum": 0, "maximum": 4294967295` |
//! | `"format": "int32"` | `"minimum": -2147483648, "maximum": 2147483647` |
//! | `"format": "uint64"` / `"uint"`, `"minimum": 0` | `"minimum": 0` |
//! | `"format": "int64"`, `"double"`, `"float"`, `"ip"` | (dropped) |
//! | `"format": "date-time"`, `"uri"`, `"email"`… | kept: JSON Schema 2020-12 §7.3 |
//! | `"type": ["string", "null"], "minLength": 1` | `"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]` |

use std::sync::Arc;

use rmcp::{
    handler::server::router::tool::ToolRouter,
    model::{JsonObject, Tool},
};
use schemars::{
    Schema,
    transform::{Transform, transform_subschemas},
};
use serde_json::{Map, Value};

/// The formats JSON Schema 2020-12 defines (Validation §7.3); validators know them all.
pub const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Rewrites a schema and all its subschemas into the portable subset: standard formats
/// only (integer widths become `minimum`/`maximum`) and one `type` per schema (a type array
/// becomes `anyOf`, one branch per type). What the schema accepts does not change.
#[derive(Debug, Clone, Copy, Default)]
pub struct Portable;

impl Transform for Portable {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if let Some(object) = schema.as_object_mut() {
            standard_format(object);
            split_type_array(object);
        }
    }
}

/// `tool` with portable input and output schemas.
pub fn portable_tool(mut tool: Tool) -> Tool {
    tool.input_schema = Arc::new(portable(&tool.input_schema));
    tool.output_schema = tool.output_schema.map(|schema| Arc::new(portable(&schema)));
    tool
}

/// `router` with every tool's schemas made portable: call it on `Self::tool_router()`.
pub fn portable_tools<S>(mut router: ToolRouter<S>) -> ToolRouter<S> {
    for route in router.map.values_mut() {
        route.attr = portable_tool(route.attr.clone());
    }
    router
}

fn portable(object: &JsonObject) -> JsonObject {
    let mut schema = Schema::from(object.clone());
    Portable.transform(&mut schema);
    std::mem::take(schema.ensure_object())
}

/// Keeps a standard `format`; turns an integer width into the bounds it stands for (where
/// the schema has none tighter already) and drops every other format.
fn standard_format(object: &mut Map<String, Value>) {
    let Some(format) = object.get("format").and_then(Value::as_str) else {
        return;
    };
    if STANDARD_FORMATS.contains(&format) {
        return;
    }
    let (minimum, maximum): (Option<i64>, Option<i64>) = match format {
        "int8" => (Some(i8::MIN.into()), Some(i8::MAX.into())),
        "int16" => (Some(i16::MIN.into()), Some(i16::MAX.into())),
        "int32" => (Some(i32::MIN.into()), Some(i32::MAX.into())),
        "uint8" => (Some(0), Some(u8::MAX.into())),
        "uint16" => (Some(0), Some(u16::MAX.into())),
        "uint32" => (Some(0), Some(u32::MAX.into())),
        // Wider than JSON numbers stay exact (2^53): only the sign is worth saying.
        "uint64" | "uint128" | "uint" => (Some(0), None),
        _ => (None, None),
    };
    object.remove("format");
    for (keyword, bound) in [("minimum", minimum), ("maximum", maximum)] {
        if let Some(bound) = bound {
            object.entry(keyword).or_insert(bound.into());
        }
    }
}

/// Keywords that constrain only values of one JSON type, by that type.
fn keyword_type(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "multipleOf" | "maximum" | "exclusiveMaximum" | "minimum" | "exclusiveMinimum" => "number",
        "maxLength" | "minLength" | "pattern" | "format" | "contentEncoding"
        | "contentMediaType" | "contentSchema" => "string",
        "items" | "prefixItems" | "additionalItems" | "unevaluatedItems" | "contains"
        | "minContains" | "maxContains" | "maxItems" | "minItems" | "uniqueItems" => "array",
        "properties"
        | "patternProperties"
        | "additionalProperties"
        | "unevaluatedProperties"
        | "propertyNames"
        | "required"
        | "dependentRequired"
        | "dependentSchemas"
        | "dependencies"
        | "maxProperties"
        | "minProperties" => "object",
        _ => return None,
    })
}

/// Keywords that constrain values of every type.
const ANY_TYPE_KEYWORDS: &[&str] = &[
    "enum",
    "const",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "$ref",
    "$dynamicRef",
];

/// Whether `value` is an instance of the JSON Schema type `name`.
fn is_of_type(value: &Value, name: &str) -> bool {
    match (name, value) {
        ("null", Value::Null)
        | ("boolean", Value::Bool(_))
        | ("string", Value::String(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_))
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// `"type": [A, B]` becomes `"anyOf": [{"type": A, …}, {"type": B, …}]`: each branch gets
/// the assertions that apply to its type (`minLength` to strings, `enum` values of its
/// type…), annotations (`description`, `default`, `$defs`…) stay outside. A branch no value
/// can satisfy (an `enum` without a value of its type) is left out.
fn split_type_array(object: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = object.get("type") else {
        return;
    };
    let types: Vec<String> = types
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if types.len() == 1 {
        object.insert("type".into(), Value::String(types[0].clone()));
        return;
    }
    object.remove("type");
    let keywords: Vec<String> = object
        .keys()
        .filter(|k| keyword_type(k).is_some() || ANY_TYPE_KEYWORDS.contains(&k.as_str()))
        .cloned()
        .collect();
    let assertions: Vec<(String, Value)> = keywords
        .into_iter()
        .filter_map(|k| object.remove(&k).map(|v| (k, v)))
        .collect();
    let mut branches = Vec::new();
    for name in &types {
        let mut branch = Map::new();
        branch.insert("type".into(), Value::String(name.clone()));
        let mut satisfiable = true;
        for (keyword, value) in &assertions {
            let applies = match keyword_type(keyword) {
                Some("number") => name == "number" || name == "integer",
                Some(only) => name == only,
                None => true,
            };
            if !applies {
                continue;
            }
            let value = match (keyword.as_str(), value) {
                ("enum", Value::Array(values)) => {
                    let kept: Vec<Value> = values
                        .iter()
                        .filter(|v| is_of_type(v, name))
                        .cloned()
                        .collect();
                    satisfiable &= !kept.is_empty();
                    // `{"type": "null", "enum": [null]}` says nothing `{"type": "null"}` does not.
                    if name == "null" {
                        continue;
                    }
                    Value::Array(kept)
                }
                ("const", value) => {
                    satisfiable &= is_of_type(value, name);
                    value.clone()
                }
                (_, value) => value.clone(),
            };
            branch.insert(keyword.clone(), value);
        }
        if satisfiable {
            branches.push(Value::Object(branch));
        }
    }
    match branches.len() {
        // Nothing can satisfy the schema, as before; say so with the one-`type` spelling.
        0 => {
            object.insert("not".into(), Value::Object(Map::new()));
        }
        1 => {
            if let Some(Value::Object(only)) = branches.pop() {
                object.extend(only);
            }
        }
        _ => {
            object.insert("anyOf".into(), Value::Array(branches));
        }
    }
}

#[cfg(test)]
mod tests {
    use schemars::{JsonSchema, generate::SchemaSettings};
    use serde_json::json;

    use super::*;

    fn made_portable(schema: Value) -> Value {
        let Value::Object(object) = schema else {
            panic!("not an object: {schema}");
        };
        Value::Object(portable(&object))
    }

    #[test]
    fn integer_widths_become_bounds_and_other_formats_go() {
        let schema = json!({
            "type": "object",
            "properties": {
                "count": {"type": "integer", "format": "uint32", "minimum": 0},
                "small": {"type": "integer", "format": "int32"},
                "byte": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255},
                "big": {"type": "integer", "format": "uint64", "minimum": 0},
                "size": {"type": "integer", "format": "uint"},
                "signed": {"type": "integer", "format": "int64"},
                "ratio": {"type": "number", "format": "double"},
                "percent": {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 100},
                "when": {"type": "string", "format": "date-time"},
                "site": {"type": "string", "format": "uri"},
            },
        });
        assert_eq!(
            made_portable(schema),
            json!({
                "type": "object",
                "properties": {
                    "count": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u32},
                    "small": {"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX},
                    "byte": {"type": "integer", "minimum": 0, "maximum": 255},
                    "big": {"type": "integer", "minimum": 0},
                    "size": {"type": "integer", "minimum": 0},
                    "signed": {"type": "integer"},
                    "ratio": {"type": "number"},
                    "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                    "when": {"type": "string", "format": "date-time"},
                    "site": {"type": "string", "format": "uri"},
                },
            })
        );
    }

    #[test]
    fn a_type_array_becomes_one_branch_per_type() {
        let schema = json!({
            "description": "Two-letter code, or null for all.",
            "type": ["string", "null"],
            "minLength": 2,
            "default": null,
        });
        assert_eq!(
            made_portable(schema),
            json!({
                "description": "Two-letter code, or null for all.",
                "default": null,
                "anyOf": [{"type": "string", "minLength": 2}, {"type": "null"}],
            })
        );
        // Integer widths inside a nullable integer are mapped first.
        let schema = json!({"type": ["integer", "null"], "format": "uint32", "minimum": 0});
        assert_eq!(
            made_portable(schema),
            json!({"anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u32},
                {"type": "null"},
            ]})
        );
    }

    #[test]
    fn enums_are_split_by_type_and_unsatisfiable_branches_dropped() {
        let with_null = json!({"type": ["string", "null"], "enum": ["a", "b", null]});
        assert_eq!(
            made_portable(with_null),
            json!({"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]})
        );
        // Null is in the type but not in the enum: null was never accepted.
        let without_null = json!({"type": ["string", "null"], "enum": ["a"]});
        assert_eq!(
            made_portable(without_null),
            json!({"type": "string", "enum": ["a"]})
        );
        let single = json!({"type": ["boolean"]});
        assert_eq!(made_portable(single), json!({"type": "boolean"}));
    }

    #[test]
    fn nested_and_referenced_subschemas_are_rewritten_too() {
        #[derive(JsonSchema)]
        #[allow(dead_code)] // Only the schema is used.
        struct Inner {
            count: u32,
            note: Option<String>,
        }
        #[derive(JsonSchema)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
            many: Vec<Option<f64>>,
            maybe: Option<Inner>,
        }
        let generated = serde_json::to_value(
            SchemaSettings::draft2020_12()
                .into_generator()
                .into_root_schema_for::<Outer>(),
        )
        .unwrap_or_default();
        let portable = made_portable(generated);
        let text = portable.to_string();
        assert!(!text.contains("\"format\""), "{portable:#}");
        assert!(!text.contains("[\"string\",\"null\"]"), "{portable:#}");
        assert_eq!(
            portable["$defs"]["Inner"]["properties"]["count"],
            json!({"type": "integer", "minimum": 0, "maximum": 4_294_967_295_u32})
        );
        assert_eq!(
            portable["properties"]["many"]["items"],
            json!({"anyOf": [{"type": "number"}, {"type": "null"}]})
        );
    }
}
