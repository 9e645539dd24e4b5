//! What differs between the two versions' typed models, and nothing else: where each crate
//! keeps a parameter's location, whether `required`/`deprecated` are booleans or optional,
//! how a path item or a `$ref` is spelled. [`super`] walks the document once, through
//! [`Model`], for both.
//!
//! The schema dialects (3.0's `nullable` and boolean `exclusiveMinimum`, 3.1's type arrays)
//! do not show here: schemas stay JSON until [`crate::schema`] converts them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Location, Version};

/// A component named by `$ref`, or written in place.
pub(super) enum Ref<'a, T> {
    To(&'a str),
    Here(&'a T),
}

/// A `content` map: each media type with its schema, if it gives one.
pub(super) type Content<'a, S> = Vec<(&'a String, Option<&'a S>)>;

/// One operation of a path item, in the walk's terms.
pub(super) struct OperationView<'a, M: Model> {
    /// Lowercase (`get`).
    pub(super) method: String,
    pub(super) operation_id: Option<String>,
    pub(super) summary: Option<String>,
    pub(super) description: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) deprecated: bool,
    pub(super) parameters: Vec<Ref<'a, M::Parameter>>,
    pub(super) request_body: Option<Ref<'a, M::RequestBody>>,
    /// Status keys as written (`200`, `2XX`, `default`), in the document's order.
    pub(super) responses: Vec<(String, Ref<'a, M::Response>)>,
}

/// One parameter, in the walk's terms.
pub(super) struct ParameterView<'a, M: Model> {
    pub(super) name: String,
    pub(super) location: Location,
    /// As the document says (a path parameter is required whatever it says: the walk's rule).
    pub(super) required: bool,
    pub(super) description: Option<String>,
    pub(super) schema: Option<&'a M::Schema>,
    /// The `content` alternative to `schema` (empty when there is none).
    pub(super) content: Content<'a, M::Schema>,
}

/// One version's typed model, seen through the few questions the walk asks of it.
pub(super) trait Model: DeserializeOwned + Sized {
    const VERSION: Version;
    type PathItem: DeserializeOwned + Clone;
    type Parameter: DeserializeOwned + Clone;
    type RequestBody: DeserializeOwned + Clone;
    type Response: DeserializeOwned + Clone;
    /// A schema (or a `$ref` to one), emitted as JSON.
    type Schema: Serialize;

    fn title(&self) -> String;
    /// Each server's URL template and its variables' defaults.
    fn servers(&self) -> Vec<(&str, Vec<(&str, &str)>)>;
    fn paths(&self) -> Vec<(&String, Ref<'_, Self::PathItem>)>;
    /// The parameters a path item gives all its operations.
    fn path_parameters(item: &Self::PathItem) -> Vec<Ref<'_, Self::Parameter>>;
    fn operations(item: &Self::PathItem) -> Vec<OperationView<'_, Self>>;
    fn parameter(parameter: &Self::Parameter) -> ParameterView<'_, Self>;
    /// Whether the body is required, and its content.
    fn request_body(body: &Self::RequestBody) -> (bool, Content<'_, Self::Schema>);
    fn response(response: &Self::Response) -> Content<'_, Self::Schema>;
}

/// OpenAPI 3.0, read by `openapiv3`.
impl Model for openapiv3::OpenAPI {
    const VERSION: Version = Version::V30;
    type PathItem = openapiv3::PathItem;
    type Parameter = openapiv3::Parameter;
    type RequestBody = openapiv3::RequestBody;
    type Response = openapiv3::Response;
    type Schema = openapiv3::ReferenceOr<openapiv3::Schema>;

    fn title(&self) -> String {
        self.info.title.clone()
    }

    fn servers(&self) -> Vec<(&str, Vec<(&str, &str)>)> {
        (self.servers.iter())
            .map(|s| {
                let variables = s.variables.iter().flatten();
                let defaults = variables.map(|(k, v)| (k.as_str(), v.default.as_str()));
                (s.url.as_str(), defaults.collect())
            })
            .collect()
    }

    fn paths(&self) -> Vec<(&String, Ref<'_, Self::PathItem>)> {
        self.paths
            .iter()
            .map(|(path, item)| (path, v30(item)))
            .collect()
    }

    fn path_parameters(item: &Self::PathItem) -> Vec<Ref<'_, Self::Parameter>> {
        item.parameters.iter().map(v30).collect()
    }

    fn operations(item: &Self::PathItem) -> Vec<OperationView<'_, Self>> {
        item.iter()
            .map(|(method, operation)| OperationView {
                method: method.to_owned(),
                operation_id: operation.operation_id.clone(),
                summary: operation.summary.clone(),
                description: operation.description.clone(),
                tags: operation.tags.clone(),
                deprecated: operation.deprecated,
                parameters: operation.parameters.iter().map(v30).collect(),
                request_body: operation.request_body.as_ref().map(v30),
                responses: (operation.responses.responses.iter())
                    .map(|(status, answer)| (status.to_string(), v30(answer)))
                    .collect(),
            })
            .collect()
    }

    fn parameter(parameter: &Self::Parameter) -> ParameterView<'_, Self> {
        use openapiv3::{Parameter, ParameterSchemaOrContent};
        let location = match parameter {
            Parameter::Path { .. } => Location::Path,
            Parameter::Query { .. } => Location::Query,
            Parameter::Header { .. } => Location::Header,
            Parameter::Cookie { .. } => Location::Cookie,
        };
        let data = parameter.parameter_data_ref();
        let (schema, content) = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => (Some(schema), Vec::new()),
            ParameterSchemaOrContent::Content(content) => (None, v30_content(content)),
        };
        ParameterView {
            name: data.name.clone(),
            location,
            required: data.required,
            description: data.description.clone(),
            schema,
            content,
        }
    }

    fn request_body(body: &Self::RequestBody) -> (bool, Content<'_, Self::Schema>) {
        (body.required, v30_content(&body.content))
    }

    fn response(response: &Self::Response) -> Content<'_, Self::Schema> {
        v30_content(&response.content)
    }
}

fn v30<T>(item: &openapiv3::ReferenceOr<T>) -> Ref<'_, T> {
    match item {
        openapiv3::ReferenceOr::Reference { reference } => Ref::To(reference),
        openapiv3::ReferenceOr::Item(item) => Ref::Here(item),
    }
}

fn v30_content(
    content: &openapiv3::Content,
) -> Content<'_, openapiv3::ReferenceOr<openapiv3::Schema>> {
    content
        .iter()
        .map(|(t, m)| (t, m.schema.as_ref()))
        .collect()
}

/// OpenAPI 3.1, read by `oas3`.
impl Model for oas3::Spec {
    const VERSION: Version = Version::V31;
    type PathItem = oas3::spec::PathItem;
    type Parameter = oas3::spec::Parameter;
    type RequestBody = oas3::spec::RequestBody;
    type Response = oas3::spec::Response;
    type Schema = oas3::spec::Schema;

    fn title(&self) -> String {
        self.info.title.clone()
    }

    fn servers(&self) -> Vec<(&str, Vec<(&str, &str)>)> {
        (self.servers.iter())
            .map(|s| {
                let variables = s.variables.iter();
                let defaults = variables.map(|(k, v)| (k.as_str(), v.default.as_str()));
                (s.url.as_str(), defaults.collect())
            })
            .collect()
    }

    fn paths(&self) -> Vec<(&String, Ref<'_, Self::PathItem>)> {
        let paths = self.paths.iter().flatten();
        paths
            .map(|(path, item)| (path, v31_path_item(item)))
            .collect()
    }

    fn path_parameters(item: &Self::PathItem) -> Vec<Ref<'_, Self::Parameter>> {
        item.parameters.iter().map(v31).collect()
    }

    fn operations(item: &Self::PathItem) -> Vec<OperationView<'_, Self>> {
        item.methods()
            .into_iter()
            .map(|(method, operation)| OperationView {
                method: method.as_str().to_ascii_lowercase(),
                operation_id: operation.operation_id.clone(),
                summary: operation.summary.clone(),
                description: operation.description.clone(),
                tags: operation.tags.clone(),
                deprecated: operation.deprecated.unwrap_or(false),
                parameters: operation.parameters.iter().map(v31).collect(),
                request_body: operation.request_body.as_ref().map(v31),
                responses: (operation.responses.iter().flatten())
                    .map(|(status, answer)| (status.clone(), v31(answer)))
                    .collect(),
            })
            .collect()
    }

    fn parameter(parameter: &Self::Parameter) -> ParameterView<'_, Self> {
        use oas3::spec::ParameterIn;
        let location = match parameter.location {
            ParameterIn::Path => Location::Path,
            ParameterIn::Query => Location::Query,
            ParameterIn::Header => Location::Header,
            ParameterIn::Cookie => Location::Cookie,
        };
        ParameterView {
            name: parameter.name.clone(),
            location,
            required: parameter.required.unwrap_or(false),
            description: parameter.description.clone(),
            schema: parameter.schema.as_ref(),
            content: parameter.content.iter().flat_map(v31_content).collect(),
        }
    }

    fn request_body(body: &Self::RequestBody) -> (bool, Content<'_, Self::Schema>) {
        (body.required.unwrap_or(false), v31_content(&body.content))
    }

    fn response(response: &Self::Response) -> Content<'_, Self::Schema> {
        v31_content(&response.content)
    }
}

fn v31<T>(item: &oas3::spec::ObjectOrReference<T>) -> Ref<'_, T> {
    match item {
        oas3::spec::ObjectOrReference::Ref { ref_path, .. } => Ref::To(ref_path),
        oas3::spec::ObjectOrReference::Object(item) => Ref::Here(item),
    }
}

/// A path item's `$ref` is a field of the item itself in this model.
fn v31_path_item(item: &oas3::spec::PathItem) -> Ref<'_, oas3::spec::PathItem> {
    match &item.reference {
        Some(reference) => Ref::To(reference),
        None => Ref::Here(item),
    }
}

fn v31_content<'a>(
    content: impl IntoIterator<Item = (&'a String, &'a oas3::spec::MediaType)>,
) -> Content<'a, oas3::spec::Schema> {
    (content.into_iter())
        .map(|(t, m)| (t, m.schema.as_ref()))
        .collect()
}
