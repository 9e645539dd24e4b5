//! Where the text a model reads sits in a result, so the guards read (and rewrite) only that:
//! never URIs, MIME types or `_meta`.

use serde_json::Value;

/// Every string leaf under `value`, with its JSON pointer (bounded depth).
pub(super) fn strings_mut<'a>(
    value: &'a mut Value,
    at: String,
    out: &mut Vec<(String, &'a mut String)>,
) {
    fn walk<'a>(
        value: &'a mut Value,
        at: String,
        out: &mut Vec<(String, &'a mut String)>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        match value {
            Value::String(s) => out.push((at, s)),
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    walk(v, format!("{at}/{i}"), out, depth + 1);
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(v, format!("{at}/{key}"), out, depth + 1);
                }
            }
            _ => {}
        }
    }
    walk(value, at, out, 0);
}

/// The texts of a result a model reads: text content, embedded resources' text, structured
/// content's strings (`tools/call`); resource contents (`resources/read`); message texts
/// (`prompts/get`). Never URIs, MIME types or `_meta`.
pub(super) fn texts_mut<'a>(method: &str, result: &'a mut Value) -> Vec<(String, &'a mut String)> {
    let mut out = Vec::new();
    let Value::Object(map) = result else {
        return out;
    };
    let text_of = |item: &'a mut Value, at: String, out: &mut Vec<(String, &'a mut String)>| {
        let Value::Object(item) = item else { return };
        let (field, holder) = match item.contains_key("text") {
            true => ("text", Some(item)),
            false => (
                "resource/text",
                match item.get_mut("resource") {
                    Some(Value::Object(resource)) => Some(resource),
                    _ => None,
                },
            ),
        };
        if let Some(Value::String(text)) = holder.and_then(|h| h.get_mut("text")) {
            out.push((format!("{at}/{field}"), text));
        }
    };
    for (key, value) in map.iter_mut() {
        match (method, key.as_str(), value) {
            ("tools/call", "content", Value::Array(items))
            | ("resources/read", "contents", Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    text_of(item, format!("/{key}/{i}"), &mut out);
                }
            }
            ("tools/call", "structuredContent", value) => {
                strings_mut(value, "/structuredContent".into(), &mut out);
            }
            ("prompts/get", "messages", Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let Value::Object(message) = item
                        && let Some(content) = message.get_mut("content")
                    {
                        text_of(content, format!("/messages/{i}/content"), &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    out
}
