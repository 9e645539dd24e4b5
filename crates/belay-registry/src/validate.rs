//! `server.json` checks: the official JSON Schema first (`schema/server.schema.json`, version
//! 2025-12-11), then the registry's own rules. Every problem names its field as a JSON
//! pointer and says what to fix.

use std::fmt;

use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;

use crate::Error;

/// The official schema, vendored unchanged (see `schema/README.md` for its source).
const SCHEMA: &str = include_str!("../schema/server.schema.json");

/// The `_meta` key the official registry keeps for itself; a publisher may not set it.
pub const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// Belay's own `_meta` key on responses (governance status, owner); a publisher may not set it.
pub const GOVERNANCE_META: &str = "belay.registry/governance";

/// At most this many problems are reported for one document.
const MAX_PROBLEMS: usize = 20;

/// How deep the explanation of an `anyOf` failure goes into its alternatives.
const MAX_DEPTH: usize = 3;

/// One thing wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where: a JSON pointer into the document (`/` for the document itself).
    pub field: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Remote `$ref`s are never fetched: the schema is self-contained.
struct NoRetrieve;

impl jsonschema::Retrieve for NoRetrieve {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("remote $ref {uri} is not fetched").into())
    }
}

/// The compiled checks; build once, share.
#[derive(Debug)]
pub struct DocumentValidator {
    schema: jsonschema::Validator,
}

impl DocumentValidator {
    /// Compiles the vendored schema.
    pub fn new() -> Result<Self, Error> {
        let schema: Value = serde_json::from_str(SCHEMA)
            .map_err(|e| Error::Config(format!("the vendored server.json schema: {e}")))?;
        let schema = jsonschema::options()
            .with_retriever(NoRetrieve)
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| Error::Config(format!("the vendored server.json schema: {e}")))?;
        Ok(Self { schema })
    }

    /// Every problem with `document`, schema first, then the registry's rules; empty when
    /// it may be published.
    pub fn problems(&self, document: &Value) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self
            .schema
            .iter_errors(document)
            .take(MAX_PROBLEMS)
            .map(|e| explain(&e, 0))
            .collect();
        problems.extend(registry_rules(document));
        problems.truncate(MAX_PROBLEMS);
        problems
    }

    /// [`Self::problems`] as a result.
    pub fn check(&self, document: &Value) -> Result<(), Error> {
        let problems = self.problems(document);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }
}

/// A JSON pointer: `/` for the root, else the location as is.
fn pointer(location: &str) -> String {
    if location.is_empty() {
        "/".into()
    } else {
        location.to_owned()
    }
}

/// `base` + `/key`, escaped per RFC 6901.
fn child(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The value as a short quoted string for a message.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn explain(error: &jsonschema::ValidationError<'_>, depth: usize) -> Problem {
    let at = error.instance_path().as_str().to_owned();
    let value = error.instance();
    let (field, message) = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            (child(&at, key), "is required: add it".to_owned())
        }
        ValidationErrorKind::Pattern { pattern } if at == "/name" => (
            at,
            format!(
                "{} does not match {pattern}: use `namespace/name` with the namespace in \
                 reverse-DNS form, e.g. `io.github.user/weather` or `com.example/weather`",
                shown(value)
            ),
        ),
        ValidationErrorKind::Pattern { pattern } => (
            at,
            format!("{} does not match the pattern {pattern}", shown(value)),
        ),
        ValidationErrorKind::MaxLength { limit } => (
            at,
            format!(
                "is {} characters long; the limit is {limit}: shorten it",
                value.as_str().map_or(0, |s| s.chars().count())
            ),
        ),
        ValidationErrorKind::MinLength { limit } => {
            (at, format!("must be at least {limit} character(s) long"))
        }
        ValidationErrorKind::Not { schema }
            if schema.get("const") == Some(&Value::from("latest")) =>
        {
            (
                at,
                "`latest` is not a version: pin the exact version, e.g. `1.0.2`".to_owned(),
            )
        }
        ValidationErrorKind::Format { format } => (
            at,
            format!(
                "{} is not a valid {format}: give a full URL such as `https://example.com/x`",
                shown(value)
            ),
        ),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let mut message = String::from("matches none of the allowed forms");
            if depth < MAX_DEPTH {
                let branches: Vec<String> = context
                    .iter()
                    .filter(|branch| !branch.is_empty())
                    .map(|branch| {
                        let parts: Vec<String> = branch
                            .iter()
                            .take(2)
                            .map(|e| explain(e, depth + 1).to_string())
                            .collect();
                        parts.join(", ")
                    })
                    .collect();
                if !branches.is_empty() {
                    message.push_str(": either ");
                    message.push_str(&branches.join("; or "));
                }
            }
            (at, message)
        }
        _ => (at, error.to_string()),
    };
    Problem {
        field: pointer(&field),
        message,
    }
}

/// What the registry requires beyond the schema.
fn registry_rules(document: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(version) = document.get("version").and_then(Value::as_str) {
        if version.trim().is_empty() {
            problems.push(Problem {
                field: "/version".into(),
                message: "is empty: give the server's version, e.g. `1.0.2`".into(),
            });
        } else if crate::version::is_range(version) {
            problems.push(Problem {
                field: "/version".into(),
                message: format!(
                    "`{version}` is a range or a floating tag: publish one exact version, \
                     e.g. `1.0.2`"
                ),
            });
        }
    }
    if let Some(meta) = document.get("_meta").and_then(Value::as_object) {
        for key in [OFFICIAL_META, GOVERNANCE_META] {
            if meta.contains_key(key) {
                problems.push(Problem {
                    field: child("/_meta", key),
                    message: "is set by the registry, not the publisher: remove it".into(),
                });
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(path: &str) -> Value {
        let file = format!("{}/tests/data/examples/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    fn validator() -> DocumentValidator {
        DocumentValidator::new().expect("the vendored schema compiles")
    }

    #[test]
    fn the_official_valid_examples_pass() {
        let validator = validator();
        for file in ["minimal.json", "with-package.json", "with-remote.json"] {
            let problems = validator.problems(&example(&format!("valid/{file}")));
            assert!(problems.is_empty(), "{file}: {problems:?}");
        }
    }

    /// Each official invalid example fails, naming the field its file name is about.
    #[test]
    fn each_official_invalid_example_fails_naming_its_field() {
        let validator = validator();
        let cases = [
            ("bad-name-pattern.json", "/name", "reverse-DNS"),
            (
                "description-too-long.json",
                "/description",
                "the limit is 100",
            ),
            ("missing-name.json", "/name", "is required"),
            (
                "package-version-latest.json",
                "/packages/0/version",
                "pin the exact version",
            ),
            (
                "positional-argument-missing-value.json",
                "/packages/0/packageArguments/0",
                "valueHint",
            ),
        ];
        for (file, field, hint) in cases {
            let problems = validator.problems(&example(&format!("invalid/{file}")));
            let named = problems
                .iter()
                .find(|p| p.field == field)
                .unwrap_or_else(|| panic!("{file}: no problem at {field}: {problems:?}"));
            assert!(named.message.contains(hint), "{file}: {named}");
        }
    }

    #[test]
    fn the_registry_refuses_floating_versions_and_its_own_metadata() {
        let validator = validator();
        let mut document = example("valid/minimal.json");
        document["version"] = "latest".into();
        document["_meta"] = serde_json::json!({
            OFFICIAL_META: {"status": "active"},
            "com.example/extra": {"fine": true},
        });
        let problems = validator.problems(&document);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "/version",
                "/_meta/io.modelcontextprotocol.registry~1official"
            ],
            "{problems:?}"
        );
        document["version"] = "^1.2.0".into();
        document["_meta"] = serde_json::json!({});
        assert_eq!(validator.problems(&document)[0].field, "/version");
    }

    #[test]
    fn wrong_types_bad_urls_and_non_objects_are_named() {
        let validator = validator();
        let mut document = example("valid/with-remote.json");
        document["websiteUrl"] = "not a url".into();
        document["remotes"][0]["url"] = "ftp://example.com/mcp".into();
        document["description"] = 42.into();
        let problems = validator.problems(&document);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        for field in ["/websiteUrl", "/remotes/0", "/description"] {
            assert!(fields.contains(&field), "{field} not in {problems:?}");
        }
        let problems = validator.problems(&serde_json::json!([1, 2]));
        assert_eq!(problems[0].field, "/", "{problems:?}");
    }
}
