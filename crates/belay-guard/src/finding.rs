//! What every guard reports: a [`Finding`] with its rule, kind, severity, score, span and a
//! one-line explanation.

use serde::Serialize;

/// How bad a finding is, from `info` to `critical` (ordered, so `>=` compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action expected.
    Info,
    /// Unusual, rarely harmful.
    Low,
    /// Suspicious: a person should look.
    Medium,
    /// Very likely an attack or a leak.
    High,
    /// An attack or leak beyond reasonable doubt.
    Critical,
}

impl Severity {
    /// The severity a score in `0.0..=1.0` maps to (the same scale for every guard).
    pub fn from_score(score: f32) -> Self {
        match score {
            s if s >= 0.97 => Self::Critical,
            s if s >= 0.8 => Self::High,
            s if s >= 0.5 => Self::Medium,
            s if s >= 0.25 => Self::Low,
            _ => Self::Info,
        }
    }

    /// The lowercase name (`"high"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "info" => Self::Info,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => {
                return Err(crate::Error::Severity(s.to_owned()));
            }
        })
    }
}

/// What a finding is about. Metrics and audit records count detections by this name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// Text aimed at the model rather than the user: hidden instructions, overrides, role play,
    /// concealment from the user.
    HiddenInstruction,
    /// A request to read files or secrets (keys, tokens, `~/.ssh`, `.env`, `mcp.json`).
    SecretAccess,
    /// A request to pass data through a side parameter.
    SideChannel,
    /// A request to send data to an address or URL.
    Exfiltration,
    /// A request to call, alter or replace other tools.
    ToolShadowing,
    /// A request to run a shell command.
    CommandExecution,
    /// Invisible, bidirectional-control or tag Unicode characters.
    InvisibleUnicode,
    /// A name or word mixing scripts so that it looks like another one.
    Homoglyph,
    /// Base64, hex or URL-escaped text that decodes to something flagged.
    EncodedPayload,
    /// A description far longer than any tool needs.
    Oversize,
    /// The same or a look-alike tool name on two servers, or a description naming another
    /// server's tools.
    CrossServerShadowing,
    /// Instructions planted in a tool result or resource content.
    PromptInjection,
    /// Personal data: e-mail, phone, card, IBAN, SSN, IP address.
    Pii,
    /// A credential: private key, token, cloud or SaaS key.
    Secret,
    /// Arguments that break the tool's input schema.
    SchemaViolation,
    /// A path argument that climbs out of its folder or names a sensitive file.
    PathTraversal,
    /// Shell metacharacters in a command or path argument.
    ShellInjection,
    /// A link or image pointing outside the allow-list.
    ExfiltrationLink,
}

impl Kind {
    /// The snake_case name (`"prompt_injection"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HiddenInstruction => "hidden_instruction",
            Self::SecretAccess => "secret_access",
            Self::SideChannel => "side_channel",
            Self::Exfiltration => "exfiltration",
            Self::ToolShadowing => "tool_shadowing",
            Self::CommandExecution => "command_execution",
            Self::InvisibleUnicode => "invisible_unicode",
            Self::Homoglyph => "homoglyph",
            Self::EncodedPayload => "encoded_payload",
            Self::Oversize => "oversize",
            Self::CrossServerShadowing => "cross_server_shadowing",
            Self::PromptInjection => "prompt_injection",
            Self::Pii => "pii",
            Self::Secret => "secret",
            Self::SchemaViolation => "schema_violation",
            Self::PathTraversal => "path_traversal",
            Self::ShellInjection => "shell_injection",
            Self::ExfiltrationLink => "exfiltration_link",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding is: a byte range of the text that was scanned and a printable excerpt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Byte offset of the first matched byte.
    pub start: usize,
    /// Byte offset just past the match.
    pub end: usize,
    /// The matched text, cut to [`EXCERPT_CHARS`] characters, with invisible and control
    /// characters shown as `\u{…}` escapes so a person can see them.
    pub excerpt: String,
}

/// The longest excerpt a span carries.
pub const EXCERPT_CHARS: usize = 160;

impl Span {
    /// The span of `range` in `text` (clamped to char boundaries, never panics).
    pub fn of(text: &str, start: usize, end: usize) -> Self {
        let start = floor_char(text, start.min(text.len()));
        let end = floor_char(text, end.clamp(start, text.len()));
        Self {
            start,
            end,
            excerpt: excerpt(&text[start..end]),
        }
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `text` made printable and short: invisible, bidi and control characters escaped.
pub fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if crate::unicode::is_hidden(c) || (c.is_control() && c != ' ') {
            out.push_str(&format!("\\u{{{:X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable rule id, `family.name` (`poisoning.conceal_from_user`, `pii.card`).
    pub rule: &'static str,
    /// What the finding is about.
    pub kind: Kind,
    /// How bad it is.
    pub severity: Severity,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
    /// Which part of the scanned object holds the span: `""` for plain text, `name`,
    /// `description`, a JSON pointer into the input schema (`/inputSchema/properties/x/description`)
    /// or into the arguments.
    pub field: String,
    /// The matched text.
    pub span: Span,
    /// One line a person understands.
    pub explanation: String,
}

impl Finding {
    /// A finding whose severity follows from its score.
    pub(crate) fn new(
        rule: &'static str,
        kind: Kind,
        score: f32,
        span: Span,
        explanation: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            kind,
            severity: Severity::from_score(score),
            score,
            field: String::new(),
            span,
            explanation: explanation.into(),
        }
    }

    /// The same finding, placed in `field`.
    pub(crate) fn in_field(mut self, field: &str) -> Self {
        self.field = field.to_owned();
        self
    }
}

/// The highest severity among `findings` (`None` when there are none).
pub fn max_severity(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}
