//! The server harness every Belay MCP server runs on, built on rmcp.
//!
//! A server is any [`rmcp::ServerHandler`]; [`serve`] runs it on the [`Transport`] the user
//! chose: stdio, Streamable HTTP (sessions or stateless) or the legacy 2024-11-05 HTTP+SSE
//! transport that rmcp no longer ships ([`legacy_sse`]). Every HTTP route sits behind the
//! [`guard`] against DNS rebinding. [`interaction::Ask`] lets a tool elicit or sample the
//! same way for handshake-era and 2026-07-28 clients. This crate knows nothing of auth,
//! policy or guardrails: those wrap the router it returns, as tower layers.
#![deny(missing_docs)]

pub mod era;
pub mod guard;
pub mod http;
pub mod interaction;
pub mod legacy_sse;
pub mod parameters;
pub mod schema;
mod serve;
pub mod stdio;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use interaction::{Ask, Elicited, IntoToolResponse, Suspend};
pub use parameters::Parameters;
pub use serve::{HttpOptions, RouterWrap, Transport, serve, serve_stdio};

/// Errors from running a server. An I/O cause is the error's `source`, not part of its
/// message, so a printed chain (`{:#}`) names it once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address we tried.
        addr: String,
        /// Why it failed (`AddrInUse` when another program listens there).
        source: std::io::Error,
    },
    /// Serving stopped with an I/O error.
    #[error("server I/O error")]
    Io(#[from] std::io::Error),
    /// The MCP session could not start (for stdio: the client never initialised).
    #[error("MCP session failed: {0}")]
    Session(String),
    /// The [`HttpOptions::wrap`] hook refused to build the router.
    #[error("cannot set up the HTTP router: {0}")]
    Setup(String),
}
