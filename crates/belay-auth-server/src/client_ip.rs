//! The address a request came from, for every limit kept per address (registrations,
//! user-code lookups, sign-in throttling): one function, so they all agree.
//!
//! The server loop (`belay_mcp::http::run_with`, which [`crate::serve_with`] and `belay up`
//! use) resolves it once per request: the TCP peer, or the client a trusted proxy names
//! (`[http] trusted_proxies` in belay.toml), never a header from anyone else.

use std::net::IpAddr;

/// The client address of the request whose extensions are `extensions`; `None` when the
/// router was called without a server loop (in process), which puts such callers in one
/// shared bucket.
pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    belay_mcp::http::client_ip(extensions)
}
