//! The official MCP Registry API's OpenAPI document as a response checker.
//!
//! The document is the registry project's portable `docs/reference/api/openapi.yaml`
//! (OpenAPI 3.1, JSON Schema 2020-12 dialect), which `scripts/setup` takes from a pinned PyPI
//! sdist into `.tools/registry-api/openapi.yaml`; nothing of it is written here. Every
//! response the tests receive is looked up by method, path template and status in that
//! document, and its body is validated against the documented schema (with the document's
//! `components`, formats asserted). The official document only describes `/v0.1`; Belay's
//! `/v0` paths are the same API and are checked against the same entries.
//!
//! A status the document does not list for an operation (a 400 for a bad query parameter,
//! a 413 for a huge body, ...) has no schema to check; it must still be a client error with
//! the `{"error": "..."}` body every documented error has, and it is reported so a test can
//! tell what was and was not covered by the document.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use serde_json::{Value, json};

/// Where `scripts/setup` puts the document; `BELAY_REGISTRY_OPENAPI` overrides.
fn document_path() -> PathBuf {
    if let Some(path) = std::env::var_os("BELAY_REGISTRY_OPENAPI") {
        return PathBuf::from(path);
    }
    let tools = std::env::var_os("BELAY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools"));
    tools.join("registry-api/openapi.yaml")
}

/// How one response fared against the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Checked {
    /// Its body matched the schema documented for `(method, template, status)`.
    Documented {
        method: String,
        template: String,
        status: u16,
    },
    /// The document lists no such status for the operation; the body had the error shape.
    Undocumented {
        method: String,
        template: String,
        status: u16,
    },
    /// No operation of the document matches the request (an unknown path).
    NoOperation { method: String, path: String },
}

pub struct Contract {
    document: Value,
    seen: Mutex<BTreeSet<Checked>>,
}

impl Contract {
    /// The document, loaded once per test process. `None` (after a note) when it is missing
    /// and the tests do not run under `scripts/test`; under it (`BELAY_TOOLS` set) a missing
    /// document is a failure, so CI can never pass without the check.
    pub fn get() -> Option<&'static Contract> {
        static CONTRACT: OnceLock<Option<Contract>> = OnceLock::new();
        CONTRACT
            .get_or_init(|| {
                let path = document_path();
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) => {
                        assert!(
                            std::env::var_os("BELAY_TOOLS").is_none(),
                            "the registry API's OpenAPI document {}: {e} (scripts/setup installs it)",
                            path.display()
                        );
                        eprintln!(
                            "not checking responses against the OpenAPI document: {} ({e}); run scripts/setup",
                            path.display()
                        );
                        return None;
                    }
                };
                let document: Value = yaml_serde::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
                assert_eq!(
                    document["info"]["title"], "MCP Server Registry API",
                    "{} is not the registry API's document",
                    path.display()
                );
                Some(Contract {
                    document,
                    seen: Mutex::new(BTreeSet::new()),
                })
            })
            .as_ref()
    }

    /// Checks one response; panics with the failing places when it breaks the document.
    pub fn check(&self, method: &str, uri: &str, status: u16, body: &Value) {
        let method = method.to_ascii_lowercase();
        let path = uri.split('?').next().unwrap_or(uri);
        let Some((template, operation)) = self.operation(&method, path) else {
            self.record(Checked::NoOperation {
                method,
                path: path.to_owned(),
            });
            expect_error_shape(uri, status, body);
            return;
        };
        let documented =
            &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
        if documented.is_null() {
            expect_error_shape(uri, status, body);
            self.record(Checked::Undocumented {
                method,
                template,
                status,
            });
            return;
        }
        let mut schema = documented.clone();
        if let Some(object) = schema.as_object_mut() {
            object.insert("components".into(), self.document["components"].clone());
            object.insert(
                "$schema".into(),
                json!("https://json-schema.org/draft/2020-12/schema"),
            );
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| {
                panic!("the document's schema for {method} {template} {status}: {e}")
            });
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} {uri} answered {status} against the official OpenAPI document ({template}):\n  {}\nbody: {body}",
            method.to_ascii_uppercase(),
            errors.join("\n  ")
        );
        self.record(Checked::Documented {
            method,
            template,
            status,
        });
    }

    /// Every response checked so far in this process.
    pub fn seen(&self) -> BTreeSet<Checked> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn record(&self, checked: Checked) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(checked);
        }
    }

    /// The document's operation for `method` on `path` (`/v0/…` read as `/v0.1/…`).
    fn operation(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let path = match path.strip_prefix("/v0/") {
            Some(rest) => format!("/v0.1/{rest}"),
            None => path.to_owned(),
        };
        let paths = self.document["paths"].as_object()?;
        paths.iter().find_map(|(template, item)| {
            let operation = item.get(method)?;
            matches_template(template, &path).then(|| (template.clone(), operation))
        })
    }
}

/// `/v0.1/servers/{serverName}/versions` matches `/v0.1/servers/a%2Fb/versions`: each
/// `{…}` stands for one non-empty segment.
fn matches_template(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

fn expect_error_shape(uri: &str, status: u16, body: &Value) {
    assert!(
        (400..500).contains(&status),
        "{uri} answered {status}, which the OpenAPI document does not list for it"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{uri} answered {status} without the documented error shape: {body}"
    );
}

#[test]
fn templates_match_one_segment_per_parameter() {
    let t = "/v0.1/servers/{serverName}/versions/{version}";
    assert!(matches_template(t, "/v0.1/servers/a%2Fb/versions/1.0.0"));
    assert!(!matches_template(t, "/v0.1/servers/a/b/versions/1.0.0"));
    assert!(!matches_template(t, "/v0.1/servers//versions/1.0.0"));
    assert!(!matches_template(t, "/v0.1/servers/a%2Fb/versions"));
}

/// The checker can fail: answers that break the document in the ways a registry could
/// (an extra field where the official metadata allows none, a wrong type, an undocumented
/// server error, an error without its message) are each refused.
#[test]
fn answers_that_break_the_document_are_refused() {
    let Some(contract) = Contract::get() else {
        return;
    };
    let good = json!({
        "server": { "name": "com.example/w", "description": "d", "version": "1.0.0" },
        "_meta": { "io.modelcontextprotocol.registry/official": {
            "status": "active", "isLatest": true,
            "publishedAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z" } },
    });
    let uri = "/v0.1/servers/com.example%2Fw/versions/1.0.0";
    contract.check("GET", uri, 200, &good);
    let mut extra = good.clone();
    extra["_meta"]["io.modelcontextprotocol.registry/official"]["approvedBy"] = json!("x");
    let mut wrong_type = good.clone();
    wrong_type["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"] = json!("yes");
    let mut bad_time = good;
    bad_time["_meta"]["io.modelcontextprotocol.registry/official"]["publishedAt"] =
        json!("yesterday");
    let list_without_servers = json!({ "metadata": { "count": 0 } });
    let refused = |uri: &str, status: u16, body: &Value| {
        std::panic::catch_unwind(|| contract.check("GET", uri, status, body)).is_err()
    };
    assert!(refused(uri, 200, &extra), "an extra official field");
    assert!(refused(uri, 200, &wrong_type), "isLatest as a string");
    assert!(refused(uri, 200, &bad_time), "a time that is not RFC 3339");
    assert!(
        refused("/v0/servers", 200, &list_without_servers),
        "no servers"
    );
    assert!(
        refused(uri, 500, &json!({ "error": "boom" })),
        "an undocumented 500"
    );
    assert!(
        refused(uri, 400, &json!({ "message": "x" })),
        "an error without `error`"
    );
}
