//! Reading an OpenAPI document into the few facts a tool needs per operation.
//!
//! Two maintained crates give the document model, one per version, because neither reads
//! both: `openapiv3` models 3.0 (its `nullable`, boolean `exclusiveMinimum`, one `type`
//! per schema) and refuses 3.1's type arrays, while `oas3` models 3.1 (JSON Schema 2020-12
//! schemas, `webhooks`) and declares 3.0 out of its range. Each parses its version, which
//! checks the document's shape (a parameter without `in`, a response that is not an object
//! are refused with the crate's message); the operations then become [`RawOperation`]s,
//! one shape for both. Schemas are kept as JSON: they are emitted as JSON Schema anyway,
//! and their `$ref`s are resolved by [`crate::schema`] against the whole document.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// The OpenAPI version a document declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    /// 3.0.x (schemas are OpenAPI's JSON Schema dialect: `nullable`, boolean exclusives).
    #[serde(rename = "3.0")]
    V30,
    /// 3.1.x (schemas are JSON Schema 2020-12).
    #[serde(rename = "3.1")]
    V31,
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// A `{name}` segment of the path template.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie (not supported: operations that require one are skipped).
    Cookie,
}

/// One parameter of an operation.
#[derive(Debug, Clone)]
pub(crate) struct RawParameter {
    pub(crate) name: String,
    pub(crate) location: Location,
    pub(crate) required: bool,
    pub(crate) description: Option<String>,
    /// Its schema, `$ref`s not yet resolved; `{}` when the document gives none.
    pub(crate) schema: Value,
}

/// One operation as read from the document.
#[derive(Debug, Clone)]
pub(crate) struct RawOperation {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) operation_id: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) deprecated: bool,
    /// Path-level parameters merged with the operation's (which win on name and location).
    pub(crate) parameters: Vec<RawParameter>,
    /// The JSON request body: whether it is required and its schema.
    pub(crate) body: Option<(bool, Value)>,
    /// Whether the document gives a request body in no JSON media type (form, binary...).
    pub(crate) non_json_body: Option<String>,
    /// The schema of the first 2xx response with a JSON body.
    pub(crate) response: Option<Value>,
}

/// A parsed document: its version, the raw JSON (for `$ref`s), its servers and operations.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) version: Version,
    pub(crate) title: String,
    pub(crate) raw: Value,
    /// Server URLs with their variables set to their defaults.
    pub(crate) servers: Vec<String>,
    pub(crate) operations: Vec<RawOperation>,
}

/// Parses `text` (JSON or YAML) as an OpenAPI 3.0 or 3.1 document.
pub(crate) fn parse(text: &str) -> Result<Document, Error> {
    let raw: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| Error::Document(format!("not valid JSON: {e}")))?
    } else {
        yaml_serde::from_str(text)
            .map_err(|e| Error::Document(format!("not valid YAML or JSON: {e}")))?
    };
    let declared = raw
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            let swagger = raw.get("swagger").is_some();
            Error::Document(if swagger {
                "this is a Swagger 2.0 document; convert it to OpenAPI 3 first".into()
            } else {
                "no `openapi` version field: not an OpenAPI 3 document".into()
            })
        })?
        .to_owned();
    if declared.starts_with("3.0.") || declared == "3.0" {
        from_v30(raw)
    } else if declared.starts_with("3.1.") || declared == "3.1" {
        from_v31(raw)
    } else {
        Err(Error::Document(format!(
            "OpenAPI {declared} is not supported (3.0.x and 3.1.x are)"
        )))
    }
}

/// The value at a local `$ref` (`#/components/...`), read as `T`.
pub(crate) fn lookup<'a>(raw: &'a Value, reference: &str) -> Result<&'a Value, Error> {
    let pointer = reference.strip_prefix('#').ok_or_else(|| {
        Error::Document(format!(
            "`$ref: {reference}` points outside the document; only local references \
             (`#/...`) are followed"
        ))
    })?;
    raw.pointer(pointer)
        .ok_or_else(|| Error::Document(format!("`$ref: {reference}` points at nothing")))
}

/// Follows a chain of `$ref`s to a component and reads it as `T` (at most 16 hops).
fn component<T: DeserializeOwned>(raw: &Value, reference: &str) -> Result<T, Error> {
    let mut target = lookup(raw, reference)?;
    for _ in 0..16 {
        match target.get("$ref").and_then(Value::as_str) {
            Some(next) => target = lookup(raw, next)?,
            None => {
                return serde_json::from_value(target.clone())
                    .map_err(|e| Error::Document(format!("`$ref: {reference}`: {e}")));
            }
        }
    }
    Err(Error::Document(format!(
        "`$ref: {reference}`: more than 16 references in a row"
    )))
}

fn is_json(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

/// The JSON schema of the first JSON media type in `content`, and the first media type.
fn json_schema_of<'a, M: 'a>(
    content: impl IntoIterator<Item = (&'a String, &'a M)>,
    schema: impl Fn(&M) -> Option<Value>,
) -> (Option<Value>, Option<String>) {
    let mut first = None;
    for (media_type, item) in content {
        first.get_or_insert_with(|| media_type.clone());
        if is_json(media_type) {
            return (
                Some(schema(item).unwrap_or_else(|| Value::Object(Default::default()))),
                first,
            );
        }
    }
    (None, first)
}

/// Whether a response key (`200`, `2XX`) is a success.
fn is_success(status: &str) -> bool {
    status.starts_with('2')
}

fn merge_parameters(path_level: Vec<RawParameter>, own: Vec<RawParameter>) -> Vec<RawParameter> {
    let mut merged = path_level;
    for parameter in own {
        merged.retain(|p| !(p.name == parameter.name && p.location == parameter.location));
        merged.push(parameter);
    }
    merged
}

fn server_url(url: &str, defaults: impl Iterator<Item = (String, String)>) -> String {
    let mut url = url.to_owned();
    for (name, default) in defaults {
        url = url.replace(&format!("{{{name}}}"), &default);
    }
    url
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|_| Value::Object(Default::default()))
}

fn from_v30(raw: Value) -> Result<Document, Error> {
    use openapiv3::{
        OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, RequestBody, Response,
    };
    let spec: OpenAPI = serde_json::from_value(raw.clone())
        .map_err(|e| Error::Document(format!("not a valid OpenAPI 3.0 document: {e}")))?;
    let parameter = |p: &ReferenceOr<Parameter>| -> Result<RawParameter, Error> {
        let p: Parameter = match p {
            ReferenceOr::Reference { reference } => component(&raw, reference)?,
            ReferenceOr::Item(p) => p.clone(),
        };
        let location = match &p {
            Parameter::Path { .. } => Location::Path,
            Parameter::Query { .. } => Location::Query,
            Parameter::Header { .. } => Location::Header,
            Parameter::Cookie { .. } => Location::Cookie,
        };
        let data = p.parameter_data();
        let schema = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => to_json(schema),
            ParameterSchemaOrContent::Content(content) => {
                json_schema_of(content.iter(), |m| m.schema.as_ref().map(to_json))
                    .0
                    .unwrap_or_else(|| Value::Object(Default::default()))
            }
        };
        Ok(RawParameter {
            name: data.name,
            // Path parameters are always required (OpenAPI 3.0 §4.7.12.1).
            required: data.required || location == Location::Path,
            location,
            description: data.description,
            schema,
        })
    };
    let mut operations = Vec::new();
    for (path, item) in spec.paths.iter() {
        let item = match item {
            ReferenceOr::Reference { reference } => component(&raw, reference)?,
            ReferenceOr::Item(item) => item.clone(),
        };
        let shared = item
            .parameters
            .iter()
            .map(parameter)
            .collect::<Result<Vec<_>, _>>()?;
        for (method, operation) in item.iter() {
            let own = operation
                .parameters
                .iter()
                .map(parameter)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.at(method, path))?;
            let (body, non_json_body) = match &operation.request_body {
                None => (None, None),
                Some(body) => {
                    let body: RequestBody = match body {
                        ReferenceOr::Reference { reference } => {
                            component(&raw, reference).map_err(|e| e.at(method, path))?
                        }
                        ReferenceOr::Item(body) => body.clone(),
                    };
                    let (schema, first) =
                        json_schema_of(body.content.iter(), |m| m.schema.as_ref().map(to_json));
                    match schema {
                        Some(schema) => (Some((body.required, schema)), None),
                        None => (None, first),
                    }
                }
            };
            let mut response = None;
            for (status, answer) in &operation.responses.responses {
                if !is_success(&status.to_string()) {
                    continue;
                }
                let answer: Response = match answer {
                    ReferenceOr::Reference { reference } => {
                        component(&raw, reference).map_err(|e| e.at(method, path))?
                    }
                    ReferenceOr::Item(answer) => answer.clone(),
                };
                response =
                    json_schema_of(answer.content.iter(), |m| m.schema.as_ref().map(to_json)).0;
                if response.is_some() {
                    break;
                }
            }
            operations.push(RawOperation {
                method: method.to_owned(),
                path: path.clone(),
                operation_id: operation.operation_id.clone(),
                summary: operation.summary.clone(),
                description: operation.description.clone(),
                tags: operation.tags.clone(),
                deprecated: operation.deprecated,
                parameters: merge_parameters(shared.clone(), own),
                body,
                non_json_body,
                response,
            });
        }
    }
    let servers = spec
        .servers
        .iter()
        .map(|s| {
            let defaults = s.variables.iter().flatten();
            server_url(
                &s.url,
                defaults.map(|(k, v)| (k.clone(), v.default.clone())),
            )
        })
        .collect();
    Ok(Document {
        version: Version::V30,
        title: spec.info.title,
        raw,
        servers,
        operations,
    })
}

fn from_v31(raw: Value) -> Result<Document, Error> {
    use oas3::spec::{ObjectOrReference, Parameter, ParameterIn, PathItem, RequestBody, Response};
    let spec: oas3::Spec = serde_json::from_value(raw.clone())
        .map_err(|e| Error::Document(format!("not a valid OpenAPI 3.1 document: {e}")))?;
    let parameter = |p: &ObjectOrReference<Parameter>| -> Result<RawParameter, Error> {
        let p: Parameter = match p {
            ObjectOrReference::Ref { ref_path, .. } => component(&raw, ref_path)?,
            ObjectOrReference::Object(p) => p.clone(),
        };
        let location = match p.location {
            ParameterIn::Path => Location::Path,
            ParameterIn::Query => Location::Query,
            ParameterIn::Header => Location::Header,
            ParameterIn::Cookie => Location::Cookie,
        };
        let schema = match (&p.schema, &p.content) {
            (Some(schema), _) => to_json(schema),
            (None, Some(content)) => {
                json_schema_of(content.iter(), |m| m.schema.as_ref().map(to_json))
                    .0
                    .unwrap_or_else(|| Value::Object(Default::default()))
            }
            (None, None) => Value::Object(Default::default()),
        };
        Ok(RawParameter {
            required: p.required.unwrap_or(false) || location == Location::Path,
            name: p.name,
            location,
            description: p.description,
            schema,
        })
    };
    let mut operations = Vec::new();
    for (path, item) in spec.paths.iter().flatten() {
        let item: PathItem = match &item.reference {
            Some(reference) => component(&raw, reference)?,
            None => item.clone(),
        };
        let shared = item
            .parameters
            .iter()
            .map(parameter)
            .collect::<Result<Vec<_>, _>>()?;
        for (method, operation) in item.methods() {
            let method = method.as_str().to_ascii_lowercase();
            let own = operation
                .parameters
                .iter()
                .map(parameter)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.at(&method, path))?;
            let (body, non_json_body) = match &operation.request_body {
                None => (None, None),
                Some(body) => {
                    let body: RequestBody = match body {
                        ObjectOrReference::Ref { ref_path, .. } => {
                            component(&raw, ref_path).map_err(|e| e.at(&method, path))?
                        }
                        ObjectOrReference::Object(body) => body.clone(),
                    };
                    let (schema, first) =
                        json_schema_of(body.content.iter(), |m| m.schema.as_ref().map(to_json));
                    match schema {
                        Some(schema) => (Some((body.required.unwrap_or(false), schema)), None),
                        None => (None, first),
                    }
                }
            };
            let mut response = None;
            for (status, answer) in operation.responses.iter().flatten() {
                if !is_success(status) {
                    continue;
                }
                let answer: Response = match answer {
                    ObjectOrReference::Ref { ref_path, .. } => {
                        component(&raw, ref_path).map_err(|e| e.at(&method, path))?
                    }
                    ObjectOrReference::Object(answer) => answer.clone(),
                };
                response =
                    json_schema_of(answer.content.iter(), |m| m.schema.as_ref().map(to_json)).0;
                if response.is_some() {
                    break;
                }
            }
            operations.push(RawOperation {
                method,
                path: path.clone(),
                operation_id: operation.operation_id.clone(),
                summary: operation.summary.clone(),
                description: operation.description.clone(),
                tags: operation.tags.clone(),
                deprecated: operation.deprecated.unwrap_or(false),
                parameters: merge_parameters(shared.clone(), own),
                body,
                non_json_body,
                response,
            });
        }
    }
    let servers = spec
        .servers
        .iter()
        .map(|s| {
            server_url(
                &s.url,
                s.variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.default.clone())),
            )
        })
        .collect();
    Ok(Document {
        version: Version::V31,
        title: spec.info.title,
        raw,
        servers,
        operations,
    })
}
