//! SARIF 2.1.0, for code-scanning UIs: one run whose driver lists the rules that fired, and
//! one result per finding, located logically (server, tool or prompt or resource, field).
//! Servers that could not be scanned are tool execution notifications, and the invocation
//! is marked unsuccessful.

use std::collections::BTreeMap;

use belay_guard::Severity;
use serde_json::{Value, json};

use crate::{finding::Finding, report::Report};

/// The schema a SARIF log names.
const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// A SARIF level for a severity: critical and high are errors, medium warnings, the rest
/// notes.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's `security-severity` (0.0 to 10.0) for a severity.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// What a kind of finding means, for the rule's description.
fn kind_description(kind: &str) -> &'static str {
    match kind {
        "hidden_instruction" => {
            "Text aimed at the model rather than the user: hidden instructions, overrides, role play, concealment."
        }
        "secret_access" => {
            "A request to read files or secrets (keys, tokens, ~/.ssh, .env, mcp.json)."
        }
        "side_channel" => "A request to pass data through a side parameter.",
        "exfiltration" => "A request to send data to an address or URL.",
        "tool_shadowing" => "A request to call, alter or replace other tools.",
        "command_execution" => "A request to run a shell command.",
        "invisible_unicode" => "Invisible, bidirectional-control or tag Unicode characters.",
        "homoglyph" => "A name or word mixing scripts so that it looks like another one.",
        "encoded_payload" => "Base64, hex or URL-escaped text that decodes to something flagged.",
        "oversize" => "A description far longer than any tool needs.",
        "cross_server_shadowing" => {
            "The same or a look-alike tool name on two servers, or a description naming another server's tool."
        }
        "rug_pull" => "A tool definition that differs from the one pinned (--pin).",
        _ => "A finding of belay-guard's metadata rules.",
    }
}

/// The report as a SARIF 2.1.0 log.
pub fn sarif(report: &Report) -> Value {
    // Rules in id order, each with the worst severity it was reported at.
    let mut rules: BTreeMap<&str, (&str, Severity)> = BTreeMap::new();
    for f in &report.findings {
        let entry = rules.entry(&f.rule).or_insert((&f.kind, f.severity));
        entry.1 = entry.1.max(f.severity);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, r)| (*r, i)).collect();
    let driver_rules: Vec<Value> = rules
        .iter()
        .map(|(id, (kind, worst))| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": kind_description(kind) },
                "defaultConfiguration": { "level": level(*worst) },
                "properties": {
                    "kind": kind,
                    "tags": ["security", "mcp", kind],
                    "security-severity": security_severity(*worst),
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, index.get(f.rule.as_str()).copied().unwrap_or(0)))
        .collect();
    let notifications: Vec<Value> = report
        .failures
        .iter()
        .map(|failure| {
            json!({
                "level": "error",
                "message": { "text": format!("{}: {}", failure.server, failure.reason) },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "belay scan",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": driver_rules,
                }
            },
            "invocations": [{
                "executionSuccessful": report.failures.is_empty(),
                "exitCode": report.outcome().exit_code(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }]
    })
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let object = format!("{}/{}", f.server, f.name);
    let field = f.field.trim_start_matches('/');
    let mut logical = vec![json!({
        "name": f.name,
        "fullyQualifiedName": object,
        "kind": match f.object {
            crate::Object::Tool => "function",
            _ => "resource",
        },
    })];
    if !field.is_empty() {
        logical.push(json!({
            "name": field,
            "fullyQualifiedName": format!("{object}/{field}"),
            "kind": "member",
        }));
    }
    let mut text = format!(
        "{} {} of server {}: {}",
        f.object.as_str().replace('_', " "),
        f.name,
        f.server,
        f.explanation
    );
    if let Some(span) = f.span.as_ref().filter(|s| !s.excerpt.is_empty()) {
        text.push_str(&format!(" (matched: \"{}\")", span.excerpt));
    }
    let mut properties = json!({
        "server": f.server,
        "object": f.object,
        "severity": f.severity,
        "score": f.score,
        "kind": f.kind,
    });
    if !f.field.is_empty() {
        properties["field"] = json!(f.field);
    }
    if let Some(span) = &f.span {
        properties["excerpt"] = json!(span.excerpt);
    }
    if let Some(diff) = &f.diff {
        properties["diff"] = json!(diff);
    }
    json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": { "text": text },
        "locations": [{ "logicalLocations": logical }],
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        Failure,
        tests::{finding, report},
    };

    fn validator() -> jsonschema::Validator {
        let text = include_str!("../../../tests/data/sarif/sarif-schema-2.1.0.json");
        let schema: Value = serde_json::from_str(text).unwrap_or_default();
        match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(e) => panic!("the SARIF schema does not compile: {e}"),
        }
    }

    fn errors(validator: &jsonschema::Validator, log: &Value) -> Vec<String> {
        validator
            .iter_errors(log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    #[test]
    fn a_log_with_findings_and_failures_is_valid_sarif() {
        let mut changed = finding(Severity::High, "pinning.changed");
        changed.field = String::new();
        changed.span = None;
        changed.kind = "rug_pull".into();
        changed.diff = Some("-a\n+b\n".into());
        let mut schema_field = finding(Severity::Medium, "poisoning.read_secret");
        schema_field.field = "/inputSchema/properties/path/description".into();
        let report = report(
            vec![
                finding(Severity::Critical, "poisoning.conceal_from_user"),
                changed,
                schema_field,
            ],
            vec![Failure {
                server: "gone".into(),
                reason: "cannot start `gone`".into(),
            }],
        );
        let log = sarif(&report);
        let validator = validator();
        assert_eq!(errors(&validator, &log), Vec::<String>::new());
        let run = &log["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().map(Vec::len),
            Some(3)
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
        let first = &run["results"][0];
        assert_eq!(first["ruleId"], "poisoning.conceal_from_user");
        assert_eq!(first["level"], "error");
        let index = first["ruleIndex"].as_u64().unwrap_or(99) as usize;
        assert_eq!(
            run["tool"]["driver"]["rules"][index]["id"],
            "poisoning.conceal_from_user"
        );
        let logical = &first["locations"][0]["logicalLocations"];
        assert_eq!(logical[0]["fullyQualifiedName"], "calc/add");
        assert_eq!(logical[1]["fullyQualifiedName"], "calc/add/description");
        assert_eq!(run["results"][2]["level"], "warning");
        assert_eq!(
            run["results"][2]["locations"][0]["logicalLocations"][1]["name"],
            "inputSchema/properties/path/description"
        );
    }

    #[test]
    fn the_schema_check_can_fail() {
        // The validator really checks: a result without a message is refused.
        let mut log = sarif(&report(vec![finding(Severity::Low, "r")], vec![]));
        log["runs"][0]["results"][0]
            .as_object_mut()
            .map(|r| r.remove("message"));
        log["runs"][0]["results"][0]["level"] = json!("severe");
        assert!(errors(&validator(), &log).len() >= 2);
        let empty = sarif(&report(vec![], vec![]));
        assert_eq!(errors(&validator(), &empty), Vec::<String>::new());
    }
}
