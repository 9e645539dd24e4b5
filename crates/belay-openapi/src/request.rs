//! A tool call's arguments as one HTTP request to the API's base URL, and nowhere else.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};
use url::Url;

use crate::{Location, Tool};

/// A request ready to send (the credential is added by the client).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
}

/// The `{name}` placeholders of a path template, in order.
pub(crate) fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        names.push(after[..close].to_owned());
        rest = &after[close + 1..];
    }
    names
}

/// Encodes every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`), so a value
/// stays one path segment: `/` becomes `%2F`, `%` becomes `%25` (an already-encoded `%2F`
/// arrives as the text `%2F`, not as a slash), `?` and `#` cannot start a query or fragment.
fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A scalar argument as text; objects and arrays are refused where only text fits.
fn scalar(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(format!("argument `{key}` is null; leave it out instead")),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "argument `{key}` must be a string, number or boolean"
        )),
    }
}

/// Builds the request for `tool` from `arguments`, under `base`.
pub(crate) fn prepare(
    base: &Url,
    tool: &Tool,
    arguments: &Map<String, Value>,
) -> Result<Prepared, String> {
    let known = |key: &str| {
        tool.arguments.iter().any(|a| a.key == key)
            || tool.body.as_ref().is_some_and(|b| b.key == key)
    };
    let mut unknown: Vec<&str> = arguments
        .keys()
        .map(String::as_str)
        .filter(|k| !known(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(format!(
            "{} does not take the argument(s) {}",
            tool.name,
            unknown.join(", ")
        ));
    }
    let missing: Vec<&str> = tool
        .arguments
        .iter()
        .chain(tool.body.iter())
        .filter(|a| a.required && arguments.get(&a.key).is_none_or(Value::is_null))
        .map(|a| a.key.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} needs the argument(s) {}",
            tool.name,
            missing.join(", ")
        ));
    }

    // The path: the template's literal text from the document, each placeholder one
    // encoded segment.
    let mut path = tool.path.clone();
    for argument in tool
        .arguments
        .iter()
        .filter(|a| a.location == Location::Path)
    {
        let Some(value) = arguments.get(&argument.key) else {
            continue;
        };
        let text = scalar(&argument.key, value)?;
        if text.is_empty() || text == "." || text == ".." {
            return Err(format!(
                "argument `{}` cannot be `{text}`: it would not name one path segment",
                argument.key
            ));
        }
        path = path.replace(&format!("{{{}}}", argument.name), &encode_segment(&text));
    }
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    let mut url = base.clone();
    url.set_path(&joined);
    // Nothing above can change these; checked anyway, since this is the line that matters.
    if url.scheme() != base.scheme()
        || url.host() != base.host()
        || url.port_or_known_default() != base.port_or_known_default()
        || url.path() != joined
        || !url.path().starts_with(base.path().trim_end_matches('/'))
    {
        return Err(format!(
            "the request would leave the API's base URL {base}; refused"
        ));
    }

    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut headers = HeaderMap::new();
    for argument in &tool.arguments {
        let Some(value) = arguments.get(&argument.key).filter(|v| !v.is_null()) else {
            continue;
        };
        match argument.location {
            Location::Path | Location::Cookie => {}
            Location::Query => match value {
                // Form style, exploded (OpenAPI's default): one pair per item.
                Value::Array(items) => {
                    for item in items {
                        pairs.push((argument.name.clone(), scalar(&argument.key, item)?));
                    }
                }
                Value::Object(_) => {
                    pairs.push((argument.name.clone(), value.to_string()));
                }
                _ => pairs.push((argument.name.clone(), scalar(&argument.key, value)?)),
            },
            Location::Header => {
                let text = scalar(&argument.key, value)?;
                let name = HeaderName::from_bytes(argument.name.as_bytes())
                    .map_err(|_| format!("`{}` is not a header name", argument.name))?;
                let value = HeaderValue::from_str(&text).map_err(|_| {
                    format!(
                        "argument `{}` has characters a header cannot carry (CR, LF or \
                         other control characters); refused",
                        argument.key
                    )
                })?;
                headers.append(name, value);
            }
        }
    }
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    let body = match &tool.body {
        Some(body) => match arguments.get(&body.key).filter(|v| !v.is_null()) {
            Some(value) => Some(
                serde_json::to_vec(value).map_err(|e| format!("argument `{}`: {e}", body.key))?,
            ),
            None => None,
        },
        None => None,
    };
    let method = Method::from_bytes(tool.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", tool.method))?;
    Ok(Prepared {
        method,
        url,
        headers,
        body,
    })
}
