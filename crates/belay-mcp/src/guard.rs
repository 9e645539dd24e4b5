//! Protection against DNS rebinding for every HTTP transport.
//!
//! A web page can make a browser send requests to `http://127.0.0.1:PORT` by pointing a
//! name it controls at loopback. Such requests carry the attacker's `Host` and `Origin`, so
//! the MCP spec requires servers to check both. This guard runs in front of all routes
//! (Streamable HTTP and legacy SSE alike) so the rule is written once.

use rmcp::model::ErrorCode;
use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::Response,
};

/// Which `Host` and `Origin` values are accepted.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// Extra host names (without port) accepted besides loopback, e.g. `mcp.example.com`.
    pub hosts: Vec<String>,
    /// Extra origins accepted besides loopback, exactly as browsers send them,
    /// e.g. `https://app.example.com`.
    pub origins: Vec<String>,
}

impl AllowList {
    fn host_allowed(&self, host_header: &str) -> bool {
        let host = strip_port(host_header);
        is_loopback_name(host) || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return true;
        }
        // Loopback pages (a local inspector, a dev UI) may call a local server.
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| is_loopback_name(strip_port(authority)))
    }

    /// Checks the request's headers; `Err` carries the reason to send back.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        // HTTP/1.1 requires Host; a request without one is not from a browser we protect
        // against, but it is also malformed, so refuse it rather than guess.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or("missing or non-ASCII Host header")?;
        if !self.host_allowed(host) {
            return Err("Host header is not allowed (DNS rebinding protection); \
                        add the name with --allowed-host");
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| "non-ASCII Origin header")?;
            if !self.origin_allowed(origin) {
                return Err("Origin is not allowed (DNS rebinding protection); \
                            add it with --allowed-origin");
            }
        }
        Ok(())
    }
}

/// Axum middleware: 403 with a JSON-RPC error body when `Host` or `Origin` is not allowed.
pub async fn dns_rebinding_guard(
    State(allow): State<Arc<AllowList>>,
    request: Request,
    next: Next,
) -> Response {
    match allow.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::warn!(reason, "request refused by DNS rebinding guard");
            forbidden(reason)
        }
    }
}

fn forbidden(reason: &str) -> Response {
    crate::http::jsonrpc_error(StatusCode::FORBIDDEN, ErrorCode::INVALID_REQUEST, reason)
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal: "[::1]:8000" → "::1"
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        h
    }

    #[test]
    fn loopback_hosts_and_origins_pass() {
        let allow = AllowList::default();
        for host in [
            "localhost:8000",
            "127.0.0.1:1",
            "[::1]:9",
            "127.0.0.1",
            "LOCALHOST",
        ] {
            assert!(allow.check(&headers(host, None)).is_ok(), "{host}");
        }
        assert!(
            allow
                .check(&headers("127.0.0.1:8000", Some("http://localhost:6274")))
                .is_ok()
        );
    }

    #[test]
    fn rebinding_hosts_and_foreign_origins_are_refused() {
        let allow = AllowList::default();
        assert!(allow.check(&headers("evil.example:8000", None)).is_err());
        assert!(
            allow
                .check(&headers("127.0.0.1.evil.example", None))
                .is_err()
        );
        assert!(
            allow
                .check(&headers("127.0.0.1:8000", Some("https://evil.example")))
                .is_err()
        );
        assert!(
            allow
                .check(&headers(
                    "127.0.0.1:8000",
                    Some("http://localhost.evil.example")
                ))
                .is_err()
        );
        assert!(allow.check(&HeaderMap::new()).is_err());
    }

    #[test]
    fn configured_names_pass() {
        let allow = AllowList {
            hosts: vec!["mcp.example.com".into()],
            origins: vec!["https://app.example.com".into()],
        };
        assert!(
            allow
                .check(&headers(
                    "mcp.example.com:443",
                    Some("https://app.example.com")
                ))
                .is_ok()
        );
        assert!(
            allow
                .check(&headers(
                    "mcp.example.com",
                    Some("https://other.example.com")
                ))
                .is_err()
        );
    }
}
