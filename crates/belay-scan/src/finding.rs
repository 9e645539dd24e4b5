//! One thing `belay scan` reports, wherever it came from: a metadata rule, shadowing across
//! servers, or a changed pin.

use belay_guard::{Severity, Span};
use serde::Serialize;

/// What a finding is about on its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    /// A tool.
    Tool,
    /// A prompt.
    Prompt,
    /// A resource.
    Resource,
    /// A resource template.
    ResourceTemplate,
}

impl Object {
    /// The snake_case name (`resource_template`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Prompt => "prompt",
            Self::Resource => "resource",
            Self::ResourceTemplate => "resource_template",
        }
    }
}

/// One finding, placed on a server's tool, prompt, resource or template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The server's name (an `mcp.json` key, the command's name, the URL's host).
    pub server: String,
    /// What kind of object it is on.
    pub object: Object,
    /// The object's name (a resource's name, or its URI when it has none).
    pub name: String,
    /// The rule id: belay-guard's (`poisoning.read_secret`, `shadowing.same_name`) or
    /// `pinning.changed`, `pinning.added`, `pinning.removed`.
    pub rule: String,
    /// What the finding is about (`hidden_instruction`, `cross_server_shadowing`,
    /// `rug_pull`).
    pub kind: String,
    /// How bad it is.
    pub severity: Severity,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
    /// Where in the object: `name`, `description`, a JSON pointer into the input schema;
    /// empty for the whole definition.
    pub field: String,
    /// The matched text, when a rule matched text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// One line a person understands.
    pub explanation: String,
    /// For a changed pin: a unified diff of the definition, pinned to now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Finding {
    /// A belay-guard finding placed on `server`'s `object` called `name`.
    pub fn from_guard(
        server: &str,
        object: Object,
        name: &str,
        finding: belay_guard::Finding,
    ) -> Self {
        Self {
            server: server.to_owned(),
            object,
            name: name.to_owned(),
            rule: finding.rule.to_owned(),
            kind: finding.kind.as_str().to_owned(),
            severity: finding.severity,
            score: finding.score,
            field: finding.field,
            span: Some(finding.span),
            explanation: finding.explanation,
            diff: None,
        }
    }

    /// The order of a report: worst first, then by server, object and rule.
    pub fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.server.cmp(&b.server))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.field.cmp(&b.field))
    }
}
