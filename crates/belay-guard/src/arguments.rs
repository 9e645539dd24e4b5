//! A call's arguments checked before they reach the upstream: against the tool's own input
//! schema (JSON Schema; 2020-12 unless the schema names another dialect, as MCP specifies),
//! and for path traversal and shell metacharacters in parameters that name paths or commands.

use serde_json::Value;

use crate::finding::{Finding, Kind, Span};

/// Remote `$ref`s are never fetched: a guard makes no network or file access.
struct NoRetrieve;

impl jsonschema::Retrieve for NoRetrieve {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("remote $ref {uri} is not fetched: inline the referenced schema").into())
    }
}

/// At most this many schema errors are reported per call.
const MAX_SCHEMA_ERRORS: usize = 16;

/// One tool's compiled argument checks; build once per tool definition, share.
#[derive(Debug)]
pub struct ArgumentGuard {
    validator: jsonschema::Validator,
}

impl ArgumentGuard {
    /// Compiles `schema` (a tool's `inputSchema`). An invalid schema is an error naming why.
    pub fn new(schema: &Value) -> Result<Self, crate::Error> {
        let draft = match schema.get("$schema").and_then(Value::as_str) {
            Some(_) => None,
            None => Some(jsonschema::Draft::Draft202012),
        };
        let mut options = jsonschema::options().with_retriever(NoRetrieve);
        if let Some(d) = draft {
            options = options.with_draft(d);
        }
        let validator = options
            .build(schema)
            .map_err(|e| crate::Error::Schema(e.to_string()))?;
        Ok(Self { validator })
    }

    /// Every problem with `arguments`: schema errors (high), then path and shell findings.
    pub fn check(&self, arguments: &Value) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .validator
            .iter_errors(arguments)
            .take(MAX_SCHEMA_ERRORS)
            .map(|e| {
                let at = e.instance_path().to_string();
                let message = e.to_string();
                Finding::new(
                    "arguments.schema",
                    Kind::SchemaViolation,
                    0.9,
                    Span::of(&message, 0, message.len()),
                    format!(
                        "argument {} breaks the tool's input schema: {message}",
                        if at.is_empty() { "/" } else { &at }
                    ),
                )
                .in_field(&at)
            })
            .collect();
        walk(arguments, "", "", &mut out, 0);
        out
    }
}

/// Checks `arguments` for path traversal and shell metacharacters without a schema.
pub(crate) fn walk(value: &Value, pointer: &str, key: &str, out: &mut Vec<Finding>, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::String(s) => check_string(key, pointer, s, out),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{pointer}/{i}"), key, out, depth + 1);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                walk(v, &format!("{pointer}/{escaped}"), k, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Splits a parameter or object key into lowercase words at `_`, `-`, `.`, spaces and
/// lower→upper case changes: `apiKey`, `x-api-key` and `API_KEY` all give `api`, `key`.
pub fn key_words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const PATH_WORDS: &[&str] = &[
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "filepath",
    "dir",
    "directory",
    "folder",
    "dest",
    "destination",
    "source",
    "src",
    "target",
    "cwd",
    "root",
];
const COMMAND_WORDS: &[&str] = &[
    "command",
    "cmd",
    "shell",
    "script",
    "exec",
    "args",
    "argv",
    "commandline",
];

/// Sensitive files a path argument should not name.
const SENSITIVE: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/sudoers",
    "/proc/",
    "/.ssh/",
    "~/.ssh",
    "id_rsa",
    "id_ed25519",
    "/.aws/",
    "/.kube/",
    "/.docker/config",
    ".git-credentials",
    ".netrc",
    ".npmrc",
    ".env",
    "mcp.json",
    "claude_desktop_config",
];

fn check_string(key: &str, pointer: &str, s: &str, out: &mut Vec<Finding>) {
    let words = key_words(key);
    let is_path = words.iter().any(|w| PATH_WORDS.contains(&w.as_str()));
    let is_command = words.iter().any(|w| COMMAND_WORDS.contains(&w.as_str()));
    if is_path {
        let lower = s.to_ascii_lowercase();
        let decoded = percent_encoding::percent_decode_str(&lower).decode_utf8_lossy();
        let traversal = decoded.split(['/', '\\']).any(|seg| seg == "..");
        if traversal {
            let at = lower.find("..").or_else(|| lower.find("%2e")).unwrap_or(0);
            out.push(
                Finding::new(
                    "arguments.path_traversal",
                    Kind::PathTraversal,
                    0.85,
                    Span::of(s, at, s.len()),
                    format!("path argument {key:?} climbs out of its folder with `..`"),
                )
                .in_field(pointer),
            );
        }
        if s.contains('\0') {
            out.push(
                Finding::new(
                    "arguments.nul_byte",
                    Kind::PathTraversal,
                    0.85,
                    Span::of(s, 0, s.len()),
                    format!("path argument {key:?} holds a NUL byte, which cuts paths short"),
                )
                .in_field(pointer),
            );
        }
        if let Some(hit) = SENSITIVE.iter().find(|p| decoded.contains(*p)) {
            let at = lower.find(hit).unwrap_or(0);
            out.push(
                Finding::new(
                    "arguments.sensitive_path",
                    Kind::PathTraversal,
                    0.6,
                    Span::of(s, at, at + hit.len()),
                    format!("path argument {key:?} names a sensitive file ({hit})"),
                )
                .in_field(pointer),
            );
        }
    }
    if (is_command || is_path)
        && let Some(at) = shell_meta(s)
    {
        let (rule, score) = if is_path {
            ("arguments.shell_in_path", 0.85)
        } else {
            ("arguments.shell_metacharacters", 0.6)
        };
        out.push(
                Finding::new(rule, Kind::ShellInjection, score, Span::of(s, at, s.len()), format!("argument {key:?} holds shell metacharacters (; | & ` $( > < or a newline) that chain or substitute commands"))
                    .in_field(pointer),
            );
    }
}

/// The byte offset of the first shell metacharacter sequence in `s`.
fn shell_meta(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let next = bytes.get(i + 1).copied();
        let hit = match b {
            b';' | b'|' | b'`' | b'\n' | b'\r' | b'<' | b'>' => true,
            b'&' => true,
            b'$' => matches!(next, Some(b'(' | b'{')),
            _ => false,
        };
        if hit {
            return Some(i);
        }
    }
    None
}
