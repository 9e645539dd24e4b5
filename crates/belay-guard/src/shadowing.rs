//! Shadowing across servers: the same or a look-alike tool name on two servers (a client that
//! merges tool lists may call the wrong one), and a description that names another server's
//! tool (the usual way one server rewrites how another's tools are used).

use crate::finding::{Finding, Kind, Severity, Span};
use crate::poisoning::{MetadataGuard, Tool};
use crate::unicode::skeleton;

/// One server's tools, as plain data.
#[derive(Debug, Clone, Default)]
pub struct ServerTools {
    /// The server's name (an upstream name, a config entry).
    pub server: String,
    /// Its tools.
    pub tools: Vec<Tool>,
}

/// A shadowing finding and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowFinding {
    /// The server whose tool the finding is about.
    pub server: String,
    /// That tool's name.
    pub tool: String,
    /// The finding (its `field` is `name` or `description`).
    pub finding: Finding,
}

/// Names this short, or made only of letters (`search`, `fetch`), are common words: a
/// description mentioning them is not evidence of shadowing.
fn distinctive(name: &str) -> bool {
    name.chars().count() >= 5
        && (name.contains(['_', '-', '.']) || name.chars().skip(1).any(char::is_uppercase))
}

/// Shadowing across `servers`. `guard` tells whether a description that names another
/// server's tool also tries to control it (high) or only mentions it (medium).
pub fn find_shadowing(servers: &[ServerTools], guard: &MetadataGuard) -> Vec<ShadowFinding> {
    let mut out = Vec::new();
    for (i, a) in servers.iter().enumerate() {
        for tool in &a.tools {
            let skel = skeleton(&tool.name);
            for b in servers.iter().skip(i + 1) {
                for other in &b.tools {
                    let (rule, score, what) = if other.name == tool.name {
                        ("shadowing.same_name", 0.6, "the same name as")
                    } else if skeleton(&other.name) == skel {
                        ("shadowing.lookalike_name", 0.9, "a name that looks like")
                    } else {
                        continue;
                    };
                    for (server, this, that, that_server) in [
                        (&a.server, tool, other, &b.server),
                        (&b.server, other, tool, &a.server),
                    ] {
                        out.push(ShadowFinding {
                            server: server.clone(),
                            tool: this.name.clone(),
                            finding: Finding::new(rule, Kind::CrossServerShadowing, score, Span::of(&this.name, 0, this.name.len()), format!("{what} {:?} on server {that_server:?}; a client may call the wrong one", that.name)).in_field("name"),
                        });
                    }
                }
            }
        }
    }
    for a in servers {
        for tool in &a.tools {
            let Some(desc) = &tool.description else {
                continue;
            };
            let controls = guard.scan_tool(tool).iter().any(|f| {
                matches!(f.kind, Kind::ToolShadowing | Kind::HiddenInstruction)
                    && f.severity >= Severity::Medium
            });
            for b in servers.iter().filter(|b| b.server != a.server) {
                for other in b
                    .tools
                    .iter()
                    .filter(|o| distinctive(&o.name) && o.name != tool.name)
                {
                    let Some(at) = find_word(desc, &other.name) else {
                        continue;
                    };
                    let (score, how) = if controls {
                        (0.9, "and tries to change how it is used")
                    } else {
                        (0.5, "")
                    };
                    out.push(ShadowFinding {
                        server: a.server.clone(),
                        tool: tool.name.clone(),
                        finding: Finding::new(
                            "shadowing.names_other_server_tool",
                            Kind::CrossServerShadowing,
                            score,
                            Span::of(desc, at, at + other.name.len()),
                            format!(
                                "the description names {:?}, a tool of server {:?}{}{how}",
                                other.name,
                                b.server,
                                if how.is_empty() { "" } else { ", " }
                            ),
                        )
                        .in_field("description"),
                    });
                }
            }
        }
    }
    out
}

/// The offset of `name` in `text` as a whole identifier (not inside a longer one).
fn find_word(text: &str, name: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}
