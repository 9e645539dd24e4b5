//! MCP03 tool poisoning: every offered tool's metadata through belay-guard's metadata guard.
//! A tool with a high or critical finding that reaches the client is the attack succeeding
//! (a gateway's guard hides such tools).

use belay_guard::{MetadataGuard, Severity};
use rmcp::model::Tool;

use crate::{Attempt, Outcome, Risk};

pub(crate) fn run(target: &str, tools: &[Tool], guard: &MetadataGuard) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for tool in tools {
        let Some(plain) = serde_json::to_value(tool)
            .ok()
            .and_then(|v| serde_json::from_value::<belay_guard::Tool>(v).ok())
        else {
            continue;
        };
        let mut findings = guard.scan_tool(&plain);
        findings.retain(|f| f.severity >= Severity::High);
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if let Some(worst) = findings.first() {
            attempts.push(Attempt::new(
                Risk::ToolPoisoning,
                format!("poisoned tool `{}` offered", tool.name),
                target,
                Outcome::Succeeded,
                format!(
                    "{} ({}, {}): {} — \"{}\"",
                    worst.rule,
                    worst.severity.as_str(),
                    if worst.field.is_empty() {
                        "metadata"
                    } else {
                        &worst.field
                    },
                    worst.explanation,
                    worst.span.excerpt
                ),
            ));
        }
    }
    if attempts.is_empty() {
        attempts.push(Attempt::new(
            Risk::ToolPoisoning,
            "poisoned tool metadata",
            target,
            Outcome::Blocked,
            format!(
                "{} tools offered, none with high-severity instructions for the model",
                tools.len()
            ),
        ));
    }
    attempts
}
