//! The outcome of one scan, its exit status and its JSON form.

use belay_guard::Severity;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{collect::Inventory, finding::Finding};

/// One server that was scanned, and how much it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerSummary {
    /// Its name.
    pub name: String,
    /// How it was reached.
    pub target: String,
    /// How many tools it lists.
    pub tools: usize,
    /// How many prompts.
    pub prompts: usize,
    /// How many resources.
    pub resources: usize,
    /// How many resource templates.
    pub resource_templates: usize,
}

impl From<&Inventory> for ServerSummary {
    fn from(inventory: &Inventory) -> Self {
        Self {
            name: inventory.server.clone(),
            target: inventory.target.clone(),
            tools: inventory.tools.len(),
            prompts: inventory.prompts.len(),
            resources: inventory.resources.len(),
            resource_templates: inventory.templates.len(),
        }
    }
}

/// A server that could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Its name.
    pub server: String,
    /// Why, for a person.
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The servers scanned.
    pub servers: Vec<ServerSummary>,
    /// The servers that could not be scanned.
    pub failures: Vec<Failure>,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
    /// The severity at which the scan fails (`--fail-on`).
    pub fail_on: Severity,
    /// The pin file, when one was used, and how many tools it holds now.
    pub pins: Option<(String, usize)>,
}

/// How a scan ended; the exit status follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing at or above `--fail-on`: exit 0.
    Clean,
    /// At least one finding at or above `--fail-on`: exit 1.
    Findings,
    /// The scan itself failed for at least one server (could not start, connect or list):
    /// exit 2, whatever was found on the others.
    Failed,
}

impl Outcome {
    /// The process exit status: 0, 1 or 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Clean => 0,
            Self::Findings => 1,
            Self::Failed => 2,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Findings => "findings",
            Self::Failed => "failed",
        }
    }
}

impl Report {
    /// How the scan ended: failed when any server could not be scanned (an incomplete scan
    /// must not pass), else findings when any is at or above `fail_on`, else clean.
    pub fn outcome(&self) -> Outcome {
        if !self.failures.is_empty() {
            Outcome::Failed
        } else if self.failing().next().is_some() {
            Outcome::Findings
        } else {
            Outcome::Clean
        }
    }

    /// The findings at or above `fail_on`.
    pub fn failing(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.severity >= self.fail_on)
    }

    /// How many findings there are of each severity, worst first (only those with any).
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ]
        .into_iter()
        .map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
    }

    /// The report as JSON: the outcome and exit code, the servers, failures and findings.
    pub fn to_json(&self) -> Value {
        let outcome = self.outcome();
        let counts: serde_json::Map<String, Value> = self
            .counts()
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
            .collect();
        json!({
            "tool": "belay scan",
            "version": env!("CARGO_PKG_VERSION"),
            "outcome": outcome.as_str(),
            "exit_code": outcome.exit_code(),
            "fail_on": self.fail_on,
            "servers": self.servers,
            "failures": self.failures,
            "counts": counts,
            "findings": self.findings,
            "pins": self.pins.as_ref().map(|(file, pinned)| json!({"file": file, "pinned": pinned})),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use belay_guard::Span;

    use super::*;
    use crate::finding::Object;

    pub(crate) fn finding(severity: Severity, rule: &str) -> Finding {
        Finding {
            server: "calc".into(),
            object: Object::Tool,
            name: "add".into(),
            rule: rule.into(),
            kind: "hidden_instruction".into(),
            severity,
            score: 0.9,
            field: "description".into(),
            span: Some(Span::of("do not tell the user", 0, 20)),
            explanation: "hides something from the user".into(),
            diff: None,
        }
    }

    pub(crate) fn report(findings: Vec<Finding>, failures: Vec<Failure>) -> Report {
        Report {
            servers: vec![ServerSummary {
                name: "calc".into(),
                target: "stdio: calc".into(),
                tools: 1,
                prompts: 0,
                resources: 0,
                resource_templates: 0,
            }],
            failures,
            findings,
            fail_on: Severity::High,
            pins: None,
        }
    }

    #[test]
    fn exit_codes_follow_fail_on_and_failures() {
        assert_eq!(report(vec![], vec![]).outcome().exit_code(), 0);
        let medium = report(vec![finding(Severity::Medium, "r")], vec![]);
        assert_eq!(medium.outcome(), Outcome::Clean);
        let mut strict = medium;
        strict.fail_on = Severity::Medium;
        assert_eq!(strict.outcome().exit_code(), 1);
        let high = report(vec![finding(Severity::Critical, "r")], vec![]);
        assert_eq!(high.outcome(), Outcome::Findings);
        // A failed server wins over findings on another: the scan is incomplete.
        let failed = report(
            vec![finding(Severity::Critical, "r")],
            vec![Failure {
                server: "gone".into(),
                reason: "cannot start".into(),
            }],
        );
        assert_eq!(failed.outcome().exit_code(), 2);
    }

    #[test]
    fn json_carries_the_outcome_and_every_finding() {
        let report = report(
            vec![
                finding(Severity::High, "poisoning.conceal_from_user"),
                finding(Severity::Low, "poisoning.other"),
            ],
            vec![],
        );
        let value = report.to_json();
        assert_eq!(value["exit_code"], 1);
        assert_eq!(value["outcome"], "findings");
        assert_eq!(value["fail_on"], "high");
        assert_eq!(value["counts"]["high"], 1);
        assert_eq!(value["findings"][0]["rule"], "poisoning.conceal_from_user");
        assert_eq!(
            value["findings"][0]["span"]["excerpt"],
            "do not tell the user"
        );
        assert_eq!(value["servers"][0]["tools"], 1);
    }
}
