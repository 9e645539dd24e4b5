//! The OWASP MCP Top 10 risks, as labs and red-team attacks are tagged with them.

use std::fmt;

use serde::Serialize;

/// One risk of the OWASP MCP Top 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Risk {
    /// MCP01: tokens leaked, passed through, accepted for anyone or never checked.
    #[serde(rename = "MCP01")]
    TokenMismanagement,
    /// MCP02: a caller reaches more than its grant allows.
    #[serde(rename = "MCP02")]
    PrivilegeEscalation,
    /// MCP03: instructions for the model hidden in tool metadata.
    #[serde(rename = "MCP03")]
    ToolPoisoning,
    /// MCP04: a dependency or server that changes under you.
    #[serde(rename = "MCP04")]
    SupplyChain,
    /// MCP05: input reaching a shell, an evaluator or a file path.
    #[serde(rename = "MCP05")]
    CommandInjection,
    /// MCP06: instructions for the model in tool results or resources.
    #[serde(rename = "MCP06")]
    PromptInjection,
    /// MCP07: weak or missing authentication and authorization.
    #[serde(rename = "MCP07")]
    WeakAuth,
    /// MCP08: nothing recorded of what agents did.
    #[serde(rename = "MCP08")]
    MissingAudit,
    /// MCP09: servers nobody approved, or one server standing in for another.
    #[serde(rename = "MCP09")]
    ShadowServers,
    /// MCP10: more data returned than the caller needed or may see.
    #[serde(rename = "MCP10")]
    OverSharing,
}

impl Risk {
    /// Every risk, in order.
    pub const ALL: [Risk; 10] = [
        Risk::TokenMismanagement,
        Risk::PrivilegeEscalation,
        Risk::ToolPoisoning,
        Risk::SupplyChain,
        Risk::CommandInjection,
        Risk::PromptInjection,
        Risk::WeakAuth,
        Risk::MissingAudit,
        Risk::ShadowServers,
        Risk::OverSharing,
    ];

    /// `MCP01` to `MCP10`.
    pub fn id(self) -> &'static str {
        match self {
            Risk::TokenMismanagement => "MCP01",
            Risk::PrivilegeEscalation => "MCP02",
            Risk::ToolPoisoning => "MCP03",
            Risk::SupplyChain => "MCP04",
            Risk::CommandInjection => "MCP05",
            Risk::PromptInjection => "MCP06",
            Risk::WeakAuth => "MCP07",
            Risk::MissingAudit => "MCP08",
            Risk::ShadowServers => "MCP09",
            Risk::OverSharing => "MCP10",
        }
    }

    /// The risk's short title.
    pub fn title(self) -> &'static str {
        match self {
            Risk::TokenMismanagement => "Token mismanagement and secret exposure",
            Risk::PrivilegeEscalation => "Privilege escalation via scope creep",
            Risk::ToolPoisoning => "Tool poisoning",
            Risk::SupplyChain => "Supply chain attacks and dependency tampering",
            Risk::CommandInjection => "Command injection and execution",
            Risk::PromptInjection => "Prompt injection via contextual payloads",
            Risk::WeakAuth => "Insufficient authentication and authorization",
            Risk::MissingAudit => "Lack of audit and telemetry",
            Risk::ShadowServers => "Shadow MCP servers",
            Risk::OverSharing => "Context injection and over-sharing",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_run_from_01_to_10_in_order() {
        let ids: Vec<_> = Risk::ALL.iter().map(|r| r.id()).collect();
        let expected: Vec<_> = (1..=10).map(|n| format!("MCP{n:02}")).collect();
        assert_eq!(ids, expected);
        for risk in Risk::ALL {
            assert_eq!(
                serde_json::to_value(risk).ok(),
                Some(serde_json::Value::from(risk.id()))
            );
        }
    }
}
