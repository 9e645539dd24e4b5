//! Tool definitions pinned by hash, for rug-pull detection: a server that changes a tool after
//! it was approved. [`fingerprint`] hashes exactly what the model reads (name, title,
//! description, input schema, annotations) in a canonical form, so reordered JSON keys do not
//! count as a change; [`describe_change`] tells a person what changed, as a unified diff.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::poisoning::Tool;

/// The SHA-256 (hex) of the tool's definition in canonical JSON (keys sorted, no spaces).
pub fn fingerprint(tool: &Tool) -> String {
    let mut text = String::new();
    canonical(&definition(tool), &mut text, 0);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A readable account of what changed from `old` to `new`: one unified diff of their
/// definitions as sorted, indented JSON (empty when nothing the model reads changed).
pub fn describe_change(old: &Tool, new: &Tool) -> String {
    let (a, b) = (pretty(&definition(old)), pretty(&definition(new)));
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(2)
        .header(
            &format!("{} (pinned)", old.name),
            &format!("{} (now)", new.name),
        )
        .to_string()
}

fn definition(tool: &Tool) -> Value {
    serde_json::json!({
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "annotations": tool.annotations,
    })
}

/// Deeper than this a value is written as `null` (no unbounded recursion on hostile input).
const MAX_DEPTH: usize = 64;

fn canonical(value: &Value, out: &mut String, depth: usize) {
    match value {
        _ if depth > MAX_DEPTH => out.push_str("null"),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out, depth + 1);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out, depth + 1);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Sorted keys, two-space indent, one member per line, and long strings broken at their
/// newlines, so a diff shows the changed sentence rather than one changed line.
fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write_pretty(value, 0, &mut out);
    out.push('\n');
    out
}

fn write_pretty(value: &Value, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth + 1);
    match value {
        _ if depth > MAX_DEPTH => out.push_str("null"),
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                write_pretty(&map[*k], depth + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                out.push_str(&pad);
                write_pretty(v, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(depth));
            out.push(']');
        }
        Value::String(s) if s.contains('\n') => {
            // One JSON string per line of the text, joined with `+` so it stays readable.
            let parts: Vec<String> = s
                .split_inclusive('\n')
                .map(|l| Value::String(l.to_owned()).to_string())
                .collect();
            out.push_str(&parts.join(&format!("\n{pad}+ ")));
        }
        other => out.push_str(&other.to_string()),
    }
}
