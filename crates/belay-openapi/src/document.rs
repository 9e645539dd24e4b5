//! Reading an OpenAPI document into the few facts a tool needs per operation.
//!
//! Two maintained crates give the document model, one per version, because neither reads
//! both: `openapiv3` models 3.0 (its `nullable`, boolean `exclusiveMinimum`, one `type`
//! per schema) and refuses 3.1's type arrays, while `oas3` models 3.1 (JSON Schema 2020-12
//! schemas, `webhooks`) and declares 3.0 out of its range. Each parses its version, which
//! checks the document's shape (a parameter without `in`, a response that is not an object
//! are refused with the crate's message). One walk then turns either model's paths and
//! operations into [`RawOperation`]s, one shape for both, through the [`versions::Model`]
//! each crate's model implements: what differs between the versions is there. Schemas are kept as JSON: they are emitted as JSON Schema anyway,
//! and their `$ref`s are resolved by [`crate::schema`] against the whole document.

mod versions;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use versions::{Content, Model, OperationView, Ref};

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

impl Version {
    /// `3.0` or `3.1`, as messages say it.
    pub(crate) fn number(self) -> &'static str {
        match self {
            Self::V30 => "3.0",
            Self::V31 => "3.1",
        }
    }
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
        read::<openapiv3::OpenAPI>(raw)
    } else if declared.starts_with("3.1.") || declared == "3.1" {
        read::<oas3::Spec>(raw)
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

/// The schema of the first JSON media type in `content` (`{}` if it gives none), and the
/// first media type of all.
fn json_schema_of<S: Serialize>(content: Content<'_, S>) -> (Option<Value>, Option<String>) {
    let mut first = None;
    for (media_type, schema) in content {
        first.get_or_insert_with(|| media_type.clone());
        if is_json(media_type) {
            return (Some(schema.map(to_json).unwrap_or_else(empty)), first);
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

fn server_url(url: &str, defaults: &[(&str, &str)]) -> String {
    let mut url = url.to_owned();
    for (name, default) in defaults {
        url = url.replace(&format!("{{{name}}}"), default);
    }
    url
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|_| empty())
}

/// The open schema `{}`.
fn empty() -> Value {
    Value::Object(Default::default())
}

impl<T: DeserializeOwned + Clone> Ref<'_, T> {
    /// The component itself, following `$ref`s in `raw`.
    fn resolve(self, raw: &Value) -> Result<T, Error> {
        match self {
            Ref::To(reference) => component(raw, reference),
            Ref::Here(item) => Ok(item.clone()),
        }
    }
}

/// Reads `raw` as a document of `M`'s version: one walk over paths and operations for both.
fn read<M: Model>(raw: Value) -> Result<Document, Error> {
    let spec: M = serde_json::from_value(raw.clone()).map_err(|e| {
        let version = M::VERSION.number();
        Error::Document(format!("not a valid OpenAPI {version} document: {e}"))
    })?;
    let mut operations = Vec::new();
    for (path, item) in spec.paths() {
        let item = item.resolve(&raw)?;
        let shared = M::path_parameters(&item)
            .into_iter()
            .map(|p| parameter::<M>(&raw, p))
            .collect::<Result<Vec<_>, _>>()?;
        for view in M::operations(&item) {
            let method = view.method.clone();
            let operation =
                operation::<M>(&raw, path, view, &shared).map_err(|e| e.at(&method, path))?;
            operations.push(operation);
        }
    }
    let servers = (spec.servers().iter())
        .map(|(url, defaults)| server_url(url, defaults))
        .collect();
    Ok(Document {
        version: M::VERSION,
        title: spec.title(),
        raw,
        servers,
        operations,
    })
}

fn operation<M: Model>(
    raw: &Value,
    path: &str,
    view: OperationView<'_, M>,
    shared: &[RawParameter],
) -> Result<RawOperation, Error> {
    let own = (view.parameters.into_iter())
        .map(|p| parameter::<M>(raw, p))
        .collect::<Result<Vec<_>, _>>()?;
    let (body, non_json_body) = match view.request_body {
        None => (None, None),
        Some(body) => {
            let body = body.resolve(raw)?;
            let (required, content) = M::request_body(&body);
            match json_schema_of(content) {
                (Some(schema), _) => (Some((required, schema)), None),
                (None, first) => (None, first),
            }
        }
    };
    let mut response = None;
    for (status, answer) in view.responses {
        if !is_success(&status) {
            continue;
        }
        let answer = answer.resolve(raw)?;
        response = json_schema_of(M::response(&answer)).0;
        if response.is_some() {
            break;
        }
    }
    Ok(RawOperation {
        method: view.method,
        path: path.to_owned(),
        operation_id: view.operation_id,
        summary: view.summary,
        description: view.description,
        tags: view.tags,
        deprecated: view.deprecated,
        parameters: merge_parameters(shared.to_vec(), own),
        body,
        non_json_body,
        response,
    })
}

fn parameter<M: Model>(
    raw: &Value,
    parameter: Ref<'_, M::Parameter>,
) -> Result<RawParameter, Error> {
    let parameter = parameter.resolve(raw)?;
    let view = M::parameter(&parameter);
    let schema = match view.schema {
        Some(schema) => to_json(schema),
        None => json_schema_of(view.content).0.unwrap_or_else(empty),
    };
    Ok(RawParameter {
        name: view.name,
        // Path parameters are always required (OpenAPI 3.0 §4.7.12.1; 3.1 says the same).
        required: view.required || view.location == Location::Path,
        location: view.location,
        description: view.description,
        schema,
    })
}
