//! A document's schemas as self-contained JSON Schemas: every local `$ref` inlined, 3.0's
//! dialect turned into JSON Schema, recursion cut.
//!
//! Inlining (rather than `$defs`) is what MCP clients handle everywhere: some SDKs and
//! model APIs do not follow `$ref` at all. A reference already being expanded further up
//! (a tree of `Node { children: [Node] }`) is replaced by an open schema `{}` that says why,
//! and so is anything nested deeper than [`MAX_DEPTH`]; a schema that grows past
//! [`MAX_NODES`] (references fanning out: each of ten properties referring to a schema with
//! ten more...) is refused, so a hostile document cannot make the gateway build a huge list.

use serde_json::{Map, Value, json};

use crate::{Error, document::Version, document::lookup};

/// Deepest nesting of inlined references kept.
pub(crate) const MAX_DEPTH: usize = 12;
/// Most JSON values one tool's schema may hold once references are inlined.
pub(crate) const MAX_NODES: usize = 20_000;

/// Keywords of OpenAPI's schema dialect that JSON Schema does not have.
const OPENAPI_ONLY: [&str; 4] = ["discriminator", "xml", "externalDocs", "example"];

/// Resolves and converts one schema of the document.
pub(crate) struct Resolver<'a> {
    raw: &'a Value,
    version: Version,
    nodes: usize,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(raw: &'a Value, version: Version) -> Self {
        Self {
            raw,
            version,
            nodes: 0,
        }
    }

    /// `schema` with its references inlined and in JSON Schema's dialect.
    pub(crate) fn resolve(&mut self, schema: &Value) -> Result<Value, Error> {
        let mut stack = Vec::new();
        self.walk(schema, &mut stack, 0)
    }

    fn walk(
        &mut self,
        schema: &Value,
        stack: &mut Vec<String>,
        depth: usize,
    ) -> Result<Value, Error> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Error::Document(format!(
                "a schema grows past {MAX_NODES} values once its references are inlined"
            )));
        }
        match schema {
            Value::Object(object) => {
                if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                    return self.reference(object, reference, stack, depth);
                }
                let mut out = Map::new();
                for (key, value) in object {
                    if OPENAPI_ONLY.contains(&key.as_str()) {
                        continue;
                    }
                    // Values that are data, not schemas: copied as they are.
                    let data = matches!(
                        key.as_str(),
                        "enum"
                            | "const"
                            | "default"
                            | "examples"
                            | "required"
                            | "description"
                            | "title"
                            | "format"
                            | "pattern"
                            | "type"
                    ) || key.starts_with("x-");
                    let value = if data {
                        value.clone()
                    } else if key == "properties" || key == "patternProperties" || key == "$defs" {
                        let mut properties = Map::new();
                        for (name, property) in value.as_object().into_iter().flatten() {
                            properties.insert(name.clone(), self.walk(property, stack, depth)?);
                        }
                        Value::Object(properties)
                    } else {
                        self.walk(value, stack, depth)?
                    };
                    out.insert(key.clone(), value);
                }
                if self.version == Version::V30 {
                    from_openapi_30(&mut out);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|item| self.walk(item, stack, depth))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn reference(
        &mut self,
        object: &Map<String, Value>,
        reference: &str,
        stack: &mut Vec<String>,
        depth: usize,
    ) -> Result<Value, Error> {
        let name = reference.rsplit('/').next().unwrap_or(reference).to_owned();
        if stack.iter().any(|r| r == reference) {
            return Ok(json!({
                "description": format!("{name} (recursive: not expanded further)")
            }));
        }
        if depth >= MAX_DEPTH {
            return Ok(json!({
                "description": format!("{name} (nested too deep: not expanded)")
            }));
        }
        let target = lookup(self.raw, reference)?;
        stack.push(reference.to_owned());
        let resolved = self.walk(target, stack, depth + 1);
        stack.pop();
        let mut resolved = resolved?;
        // 3.1 allows siblings of `$ref` (a description that overrides the target's).
        if let Value::Object(out) = &mut resolved {
            for (key, value) in object {
                if key != "$ref" && (key == "description" || key == "summary") {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(resolved)
    }
}

/// OpenAPI 3.0's schema dialect to JSON Schema: `nullable` becomes a `null` type, boolean
/// `exclusiveMinimum`/`exclusiveMaximum` become the numeric form.
fn from_openapi_30(schema: &mut Map<String, Value>) {
    if schema.remove("nullable") == Some(Value::Bool(true)) {
        match schema.get_mut("type") {
            Some(Value::String(one)) => {
                let one = one.clone();
                schema.insert("type".into(), json!([one, "null"]));
            }
            Some(_) => {}
            None => {
                // No type: anything already goes, null included.
            }
        }
        if let Some(Value::Array(choices)) = schema.get_mut("enum")
            && !choices.contains(&Value::Null)
        {
            choices.push(Value::Null);
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(exclusive)) = schema.get(flag).cloned() {
            schema.remove(flag);
            if exclusive && let Some(limit) = schema.remove(bound) {
                schema.insert(flag.into(), limit);
            }
        }
    }
}
