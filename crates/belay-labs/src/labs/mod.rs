//! The labs, one module each: a vulnerable server, its fixed twin and the exploit.

pub mod over_sharing;
pub mod privilege_escalation;
pub mod rce;
pub mod rug_pull;
pub mod token_mismanagement;
pub mod tool_poisoning;
pub mod tool_shadowing;
pub mod xpia;

use std::{fmt, str::FromStr};

use belay_client::{ConnectOptions, Target};
use belay_mcp::{HttpOptions, Transport};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{ExploitError, Report, owasp::Risk};

/// Which server of a lab to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The server with the flaw.
    Vulnerable,
    /// Its fixed twin.
    Fixed,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::Vulnerable => "vulnerable",
            Variant::Fixed => "fixed",
        })
    }
}

/// The labs `belay lab` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum LabName {
    /// A fetched e-mail that tells the model to mail the user's credentials away.
    Xpia,
    /// A tool that passes its input to a shell.
    Rce,
    /// A tool description that tells the model to read a secret file and pass it in a side
    /// parameter.
    ToolPoisoning,
    /// A tool that turns malicious after it was approved.
    RugPull,
    /// A malicious server whose description changes how a trusted server's tool is used.
    ToolShadowing,
    /// A customer service that returns whole records, anyone's, where one field was asked.
    OverSharing,
    /// A server that takes any token or none, from the URL too, and passes it downstream.
    TokenMismanagement,
    /// A read scope that reaches write tools.
    PrivilegeEscalation,
}

impl From<LabName> for &'static str {
    fn from(name: LabName) -> Self {
        name.as_str()
    }
}

/// What `belay lab list` shows of a lab, and what its page says in one line each.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lab {
    /// Its name.
    pub name: LabName,
    /// A few words.
    pub title: &'static str,
    /// The OWASP MCP Top 10 risks it shows.
    pub risks: &'static [Risk],
    /// The attack, in one sentence.
    pub attack: &'static str,
    /// The fixed twin's fix, in one sentence.
    pub fix: &'static str,
    /// Which Belay defence stops the attack when the vulnerable server runs behind the
    /// gateway.
    pub defence: &'static str,
    /// The transports it can be served on (some attacks only exist over HTTP).
    #[serde(skip)]
    pub transports: &'static [Transport],
}

impl LabName {
    /// Every lab, in the order `belay lab list` shows them.
    pub const ALL: &'static [LabName] = &[
        LabName::Xpia,
        LabName::Rce,
        LabName::ToolPoisoning,
        LabName::RugPull,
        LabName::ToolShadowing,
        LabName::TokenMismanagement,
        LabName::PrivilegeEscalation,
        LabName::OverSharing,
    ];

    /// The name typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LabName::Xpia => "xpia",
            LabName::Rce => "rce",
            LabName::ToolPoisoning => "tool-poisoning",
            LabName::RugPull => "rug-pull",
            LabName::ToolShadowing => "tool-shadowing",
            LabName::OverSharing => "over-sharing",
            LabName::TokenMismanagement => "token-mismanagement",
            LabName::PrivilegeEscalation => "privilege-escalation",
        }
    }

    /// The lab's description.
    pub fn lab(self) -> &'static Lab {
        match self {
            LabName::Xpia => &xpia::LAB,
            LabName::Rce => &rce::LAB,
            LabName::ToolPoisoning => &tool_poisoning::LAB,
            LabName::RugPull => &rug_pull::LAB,
            LabName::ToolShadowing => &tool_shadowing::LAB,
            LabName::OverSharing => &over_sharing::LAB,
            LabName::TokenMismanagement => &token_mismanagement::LAB,
            LabName::PrivilegeEscalation => &privilege_escalation::LAB,
        }
    }

    /// Serves the lab's `variant` on `transport` until `shutdown` (as `belay serve` does).
    pub async fn serve(
        self,
        variant: Variant,
        transport: Transport,
        options: &HttpOptions,
        shutdown: CancellationToken,
        on_ready: impl FnOnce(String),
    ) -> Result<(), belay_mcp::Error> {
        match self {
            LabName::Xpia => xpia::serve(variant, transport, options, shutdown, on_ready).await,
            LabName::Rce => rce::serve(variant, transport, options, shutdown, on_ready).await,
            LabName::ToolPoisoning => {
                tool_poisoning::serve(variant, transport, options, shutdown, on_ready).await
            }
            LabName::RugPull => {
                rug_pull::serve(variant, transport, options, shutdown, on_ready).await
            }
            LabName::ToolShadowing => {
                let server = tool_shadowing::Server::Facts;
                tool_shadowing::serve(server, variant, transport, options, shutdown, on_ready).await
            }
            LabName::OverSharing => {
                let (vulnerable, fixed) = (
                    over_sharing::OverSharing::new(),
                    over_sharing::Minimal::new(),
                );
                serve_variant(
                    variant, vulnerable, fixed, transport, options, shutdown, on_ready,
                )
                .await
            }
            LabName::TokenMismanagement => {
                token_mismanagement::serve(variant, transport, options, shutdown, on_ready).await
            }
            LabName::PrivilegeEscalation => {
                let (vulnerable, fixed) = (
                    privilege_escalation::DoorOnly::new(),
                    privilege_escalation::PerTool::new(),
                );
                serve_variant(
                    variant, vulnerable, fixed, transport, options, shutdown, on_ready,
                )
                .await
            }
        }
    }

    /// The lab's servers, when it has several (`belay lab run NAME --server S`), the one
    /// served by default first; empty for a lab of one server.
    pub fn servers(self) -> &'static [&'static str] {
        match self {
            LabName::ToolShadowing => tool_shadowing::SERVERS,
            _ => &[],
        }
    }

    /// Serves one of the lab's [`LabName::servers`] (`None`: the default one), as
    /// [`LabName::serve`] does.
    pub async fn serve_server(
        self,
        server: Option<&str>,
        variant: Variant,
        transport: Transport,
        options: &HttpOptions,
        shutdown: CancellationToken,
        on_ready: impl FnOnce(String),
    ) -> Result<(), belay_mcp::Error> {
        let unknown = || {
            belay_mcp::Error::Setup(format!(
                "the {self} lab has no server `{}`; it has: {}",
                server.unwrap_or_default(),
                match self.servers() {
                    [] => "one server, unnamed".to_owned(),
                    names => names.join(", "),
                }
            ))
        };
        match self {
            LabName::ToolShadowing => {
                let server = tool_shadowing::Server::named(server).ok_or_else(unknown)?;
                tool_shadowing::serve(server, variant, transport, options, shutdown, on_ready).await
            }
            _ if server.is_some() => Err(unknown()),
            _ => {
                self.serve(variant, transport, options, shutdown, on_ready)
                    .await
            }
        }
    }

    /// Runs the lab's exploit against `targets` (the lab's server, or a gateway in front of
    /// it).
    pub async fn exploit(
        self,
        targets: &[Target],
        options: &ConnectOptions,
    ) -> Result<Report, ExploitError> {
        match self {
            LabName::Xpia => xpia::exploit(targets, options).await,
            LabName::Rce => rce::exploit(targets, options).await,
            LabName::ToolPoisoning => tool_poisoning::exploit(targets, options).await,
            LabName::RugPull => rug_pull::exploit(targets, options).await,
            LabName::ToolShadowing => tool_shadowing::exploit(targets, options).await,
            LabName::OverSharing => over_sharing::exploit(targets, options).await,
            LabName::TokenMismanagement => token_mismanagement::exploit(targets, options).await,
            LabName::PrivilegeEscalation => privilege_escalation::exploit(targets, options).await,
        }
    }
}

/// Serves `vulnerable` or `fixed`, as `variant` says, on `transport` until `shutdown`.
async fn serve_variant<V, F>(
    variant: Variant,
    vulnerable: V,
    fixed: F,
    transport: Transport,
    options: &HttpOptions,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(String),
) -> Result<(), belay_mcp::Error>
where
    V: rmcp::ServerHandler + Clone,
    F: rmcp::ServerHandler + Clone,
{
    match variant {
        Variant::Vulnerable => {
            belay_mcp::serve(vulnerable, transport, options, shutdown, on_ready).await
        }
        Variant::Fixed => belay_mcp::serve(fixed, transport, options, shutdown, on_ready).await,
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LabName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|n| n.as_str()).collect();
                format!("unknown lab `{s}`: expected one of {}", known.join(", "))
            })
    }
}

/// A tool result holding `text`.
pub(crate) fn answer(text: impl Into<String>) -> rmcp::model::CallToolResult {
    rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(text.into())])
}

/// A tool error saying `why`, for the model to read.
pub(crate) fn refuse(why: impl Into<String>) -> rmcp::model::CallToolResult {
    rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(why.into())])
}

/// Serving a lab in-process for the labs' own tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::agent::Agent;

    /// Serves `name`'s `variant` over Streamable HTTP on a free loopback port until the
    /// returned guard drops; returns its URL.
    pub(crate) async fn serve_http(
        name: LabName,
        variant: Variant,
    ) -> (String, tokio_util::sync::DropGuard) {
        serve_server_http(name, None, variant).await
    }

    /// [`serve_http`] for one of the lab's [`LabName::servers`].
    pub(crate) async fn serve_server_http(
        name: LabName,
        server: Option<&'static str>,
        variant: Variant,
    ) -> (String, tokio_util::sync::DropGuard) {
        let shutdown = CancellationToken::new();
        let (ready, url) = tokio::sync::oneshot::channel();
        let options = HttpOptions {
            host: "127.0.0.1".into(),
            port: 0,
            ..HttpOptions::default()
        };
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = name
                .serve_server(server, variant, Transport::Http, &options, stop, |url| {
                    let _ = ready.send(url);
                })
                .await;
            if let Err(e) = served {
                panic!("the lab server failed: {e}");
            }
        });
        let url = match url.await {
            Ok(url) => url,
            Err(_) => panic!("the lab server did not start"),
        };
        (url, shutdown.drop_guard())
    }

    /// The target for a served lab.
    pub(crate) fn target(url: &str) -> Target {
        named_target("lab", url)
    }

    fn named_target(name: &str, url: &str) -> Target {
        Target {
            name: name.into(),
            transport: belay_client::Transport::Http {
                url: url.to_owned(),
                headers: Default::default(),
            },
        }
    }

    /// Runs `name`'s exploit against its `variant` (every server of it), served in-process.
    pub(crate) async fn exploit_against(name: LabName, variant: Variant) -> Report {
        let mut targets = Vec::new();
        let mut served = Vec::new();
        if name.servers().is_empty() {
            let (url, guard) = serve_http(name, variant).await;
            targets.push(target(&url));
            served.push(guard);
        }
        for server in name.servers() {
            let (url, guard) = serve_server_http(name, Some(server), variant).await;
            targets.push(named_target(server, &url));
            served.push(guard);
        }
        match name.exploit(&targets, &ConnectOptions::default()).await {
            Ok(report) => report,
            Err(e) => panic!("the exploit could not run: {e}"),
        }
    }

    /// The tool `tool` as `name`'s `variant` lists it.
    pub(crate) async fn listed_tool(
        name: LabName,
        variant: Variant,
        tool: &str,
    ) -> rmcp::model::Tool {
        let (url, _served) = serve_http(name, variant).await;
        let agent = match Agent::connect(&[target(&url)], &ConnectOptions::default()).await {
            Ok(agent) => agent,
            Err(e) => panic!("cannot connect: {e}"),
        };
        let found = agent.tools().into_iter().find(|t| t.name == tool);
        agent.close().await;
        match found {
            Some(tool) => tool,
            None => panic!("`{tool}` is not listed"),
        }
    }
}
