//! The fixture resources: a text, a binary, a subscribable one and a template.

use rmcp::{
    ErrorData,
    model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate},
};
use serde_json::json;

use super::tools::PNG;

const STATIC_TEXT: &str = "test://static-text";
const STATIC_BINARY: &str = "test://static-binary";
const WATCHED: &str = "test://watched-resource";
const TEMPLATE: &str = "test://template/{id}/data";

/// The listed resources; the static text comes first because the suite reads whichever
/// resource is listed first.
pub(super) fn resources() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT, "Static Text Resource")
            .with_description("A fixed line of text")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY, "Static Binary Resource")
            .with_description("A 1x1 PNG image")
            .with_mime_type("image/png"),
        Resource::new(WATCHED, "Watched Resource")
            .with_description("A resource clients may subscribe to")
            .with_mime_type("text/plain"),
    ]
}

pub(super) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE, "Template Resource")
            .with_description("JSON data for any id")
            .with_mime_type("application/json"),
    ]
}

/// Reads `uri`; an unknown one is a -32002 error (rmcp sends -32602 to 2026-07-28
/// clients, SEP-2164) whose data names the uri, never an empty `contents`.
pub(super) fn read(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let contents = match uri {
        STATIC_TEXT => text(
            uri,
            "text/plain",
            "This is the content of the static text resource.",
        ),
        STATIC_BINARY => ResourceContents::BlobResourceContents {
            uri: uri.into(),
            mime_type: Some("image/png".into()),
            blob: PNG.into(),
            meta: None,
        },
        WATCHED => text(uri, "text/plain", "This resource never changes."),
        _ => match template_id(uri) {
            Some(id) => {
                let data =
                    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
                text(uri, "application/json", &data.to_string())
            }
            None => {
                return Err(ErrorData::resource_not_found(
                    format!("no resource at {uri}"),
                    Some(json!({ "uri": uri })),
                ));
            }
        },
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// The `{id}` of a uri matching the template: one non-empty path segment.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix("test://template/")?
        .strip_suffix("/data")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn text(uri: &str, mime_type: &str, text: &str) -> ResourceContents {
    ResourceContents::TextResourceContents {
        uri: uri.into(),
        mime_type: Some(mime_type.into()),
        text: text.into(),
        meta: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_are_one_segment() {
        assert_eq!(template_id("test://template/123/data"), Some("123"));
        assert_eq!(template_id("test://template//data"), None);
        assert_eq!(template_id("test://template/a/b/data"), None);
        assert_eq!(template_id("test://template/123"), None);
    }

    #[test]
    fn unknown_uris_are_errors_naming_the_uri() {
        let uri = "test://nonexistent";
        let error = read(uri).err().map(|e| e.data);
        assert_eq!(error, Some(Some(json!({ "uri": uri }))));
    }
}
