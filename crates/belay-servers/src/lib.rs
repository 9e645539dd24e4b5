//! Belay's reference MCP servers, one module each.
//!
//! Each server is an [`rmcp::ServerHandler`] that knows nothing of transports: run it with
//! [`belay_mcp::serve`]. Data is bundled and deterministic (no network), so tests can assert
//! exact values. [`ServerName`] is the list `belay serve NAME` accepts; the names are part
//! of Belay's interface.
#![deny(missing_docs)]

pub mod conformance;
pub mod matheval;
pub mod news;
mod results;
pub mod stock;
pub mod weather;
pub mod whoami;

use std::{fmt, str::FromStr};

use belay_mcp::{HttpOptions, Transport};
use tokio_util::sync::CancellationToken;

/// The reference servers `belay serve` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerName {
    /// Mock stock market data with elicitation and sampling.
    Stock,
    /// Mock weather for bundled cities.
    Weather,
    /// Safe arithmetic evaluation.
    Matheval,
    /// Mock news headlines and search.
    News,
    /// The fixture the MCP conformance suite drives (not started by `belay up`).
    Conformance,
    /// Who the caller is, via a token exchange (needs `--auth`; not started by `belay up`).
    Whoami,
}

impl ServerName {
    /// Every server `belay serve` accepts.
    pub const ALL: &'static [ServerName] = &[
        ServerName::Stock,
        ServerName::Weather,
        ServerName::Matheval,
        ServerName::News,
        ServerName::Conformance,
        ServerName::Whoami,
    ];

    /// The servers `belay up` starts, in order (the conformance server is a test fixture).
    pub const UP: &'static [ServerName] = &[
        ServerName::Stock,
        ServerName::Weather,
        ServerName::Matheval,
        ServerName::News,
    ];

    /// The name typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerName::Stock => "stock",
            ServerName::Weather => "weather",
            ServerName::Matheval => "matheval",
            ServerName::News => "news",
            ServerName::Conformance => "conformance",
            ServerName::Whoami => "whoami",
        }
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|n| n.as_str()).collect();
                format!("unknown server `{s}`: expected one of {}", known.join(", "))
            })
    }
}

/// Binds `$server` to a fresh instance of the server `$name` names, then evaluates `$body`.
/// One match for every place that needs a concrete server type.
macro_rules! with_server {
    ($name:expr, |$server:ident| $body:expr) => {
        match $name {
            ServerName::Stock => {
                let $server = stock::StockServer::new();
                $body
            }
            ServerName::Weather => {
                let $server = weather::WeatherServer::new();
                $body
            }
            ServerName::Matheval => {
                let $server = matheval::MathEvalServer::new();
                $body
            }
            ServerName::News => {
                let $server = news::NewsServer::new();
                $body
            }
            ServerName::Conformance => {
                let $server = conformance::ConformanceServer::new();
                $body
            }
            // Without --auth: its tool says what it needs. `belay serve --auth` builds a
            // connected one with `whoami::WhoamiServer::connect`.
            ServerName::Whoami => {
                let $server = whoami::WhoamiServer::new();
                $body
            }
        }
    };
}

/// Runs the server `name` on `transport` until `shutdown` (see [`belay_mcp::serve`]).
pub async fn serve(
    name: ServerName,
    transport: Transport,
    options: &HttpOptions,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(String),
) -> Result<(), belay_mcp::Error> {
    with_server!(name, |server| belay_mcp::serve(
        server, transport, options, shutdown, on_ready
    )
    .await)
}

/// The Streamable HTTP router of server `name` at `path`, for mounting beside others.
pub fn streamable_router(
    name: ServerName,
    path: &str,
    stateless: bool,
    shutdown: CancellationToken,
) -> axum::Router {
    with_server!(name, |server| belay_mcp::http::streamable_router(
        server, path, stateless, shutdown
    ))
}
