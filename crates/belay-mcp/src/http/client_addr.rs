//! Who a request comes from: the TCP peer, or, behind a reverse proxy the operator trusts,
//! the client that proxy names in `X-Forwarded-For` or `Forwarded` (RFC 7239).
//!
//! The server loop resolves this once per request ([`TrustedProxies::client_of`]) and
//! puts the answer in the request's extensions ([`ClientAddr`], beside axum's
//! `ConnectInfo<SocketAddr>` with the TCP peer); everything that limits or logs per
//! address reads it with [`client_ip`]. Forwarding headers are believed only from a peer
//! in `[http] trusted_proxies`, and only up to the rightmost hop that is not itself a
//! trusted proxy: anything left of it was written by the client and proves nothing.
//!
//! Hand-written rather than taken from a crate: the only part is a few lines of header
//! splitting, and the crates that do it (axum-client-ip and the like) pick the leftmost or
//! the rightmost entry without the trusted-hop walk, or trust any peer.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

use axum::extract::ConnectInfo;
use http::{Extensions, HeaderMap, HeaderName, header};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The address of the client a request came from, as the server loop resolved it: the
/// TCP peer, or the client a trusted proxy forwarded for. Read it with [`client_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The address of the client `extensions` (a request's) came from: the server loop's
/// [`ClientAddr`], else the TCP peer of axum's `ConnectInfo<SocketAddr>` (a router served
/// some other way, which trusts no proxy). `None` when neither is there (a router called
/// in process): callers limiting per address then share one bucket.
pub fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(ip)) = extensions.get::<ClientAddr>() {
        return Some(*ip);
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_canonical())
}

/// `[http]` in belay.toml: settings of the HTTP front every server Belay runs shares
/// (`belay serve --transport http|sse`, `belay auth serve`, `belay gateway serve`, `belay up`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSpec {
    /// Reverse proxies whose forwarding header names the client: addresses (`"10.0.0.5"`)
    /// or ranges (`"10.0.0.0/8"`, `"fd00::/8"`). Empty (the default): no header is
    /// believed, the TCP peer is the client. Connections from these addresses are also
    /// exempt from the per-address connection cap (one proxy carries many clients).
    #[serde(deserialize_with = "proxy_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// The header those proxies set: `"x-forwarded-for"` (the default) or `"forwarded"`
    /// (RFC 7239). Only one is read, so a client cannot slip in the other one, which the
    /// proxy passes through untouched.
    pub forwarded_header: ForwardedHeader,
}

impl HttpSpec {
    /// The proxies to trust, as the server loop takes them
    /// ([`super::HttpServerOptions::trusted_proxies`]).
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.clone(), self.forwarded_header)
    }
}

/// The header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, Caddy, Traefik, cloud
    /// load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    fn name(self) -> HeaderName {
        match self {
            Self::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => header::FORWARDED,
        }
    }
}

/// A proxy address or range in belay.toml: a CIDR range, or one address.
fn proxy_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| {
            let text = text.trim();
            IpNet::from_str(text)
                .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "trusted proxy `{text}` is neither an IP address nor a CIDR range \
                         (e.g. \"10.0.0.5\" or \"10.0.0.0/8\")"
                    ))
                })
        })
        .collect()
}

/// The proxies whose forwarding header is believed; none by default. Cheap to clone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Arc<[IpNet]>,
    header: ForwardedHeader,
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedProxies")
            .field("nets", &self.nets)
            .field("header", &self.header)
            .finish()
    }
}

impl TrustedProxies {
    /// Trusts `nets` to name the client in `header`.
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        // A range written with host bits (`10.0.0.5/8`) means its network.
        let nets: Vec<IpNet> = nets.iter().map(IpNet::trunc).collect();
        Self {
            nets: nets.into(),
            header,
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request from `peer` with `headers`: `peer` itself unless it is
    /// a trusted proxy; then the rightmost hop of the forwarding header that is not a
    /// trusted proxy (or the leftmost, if all are). A hop that is not an address
    /// (`unknown`, an obfuscated name, garbage) ends the walk at the last address known.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let mut hops: Vec<Option<IpAddr>> = Vec::new();
        for value in headers.get_all(self.header.name()) {
            let Ok(value) = value.to_str() else {
                hops.push(None);
                continue;
            };
            match self.header {
                ForwardedHeader::XForwardedFor => {
                    hops.extend(value.split(',').map(node_address));
                }
                ForwardedHeader::Forwarded => hops.extend(value.split(',').map(forwarded_for)),
            }
        }
        for hop in hops.iter().rev() {
            let Some(ip) = hop else {
                return client;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.1;proto=https`); `None`
/// without one, or when it is not an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| node_address(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write one: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some(ip);
    }
    if let Ok(socket) = SocketAddr::from_str(node) {
        return Some(socket.ip());
    }
    let bracketed = node.strip_prefix('[')?.split(']').next()?;
    IpAddr::from_str(bracketed).ok()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn proxies(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
        let nets = nets
            .iter()
            .filter_map(|n| IpNet::from_str(n).ok())
            .collect();
        TrustedProxies::new(nets, header)
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_str(name), HeaderValue::from_str(value))
            {
                map.append(name, value);
            }
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        IpAddr::from_str(text).unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_claims() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let claims = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            trusted.client_of(ip("198.51.100.1"), &claims),
            ip("198.51.100.1")
        );
        // No proxies configured: nobody is believed, not even loopback.
        let none = TrustedProxies::default();
        assert_eq!(none.client_of(ip("127.0.0.1"), &claims), ip("127.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // The client wrote "1.1.1.1" itself; the proxy appended the address it saw.
        let spoofed = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.9"]);
        assert_eq!(
            trusted.client_of(ip("10.0.0.2"), &spoofed),
            ip("203.0.113.9")
        );
        // Two proxies deep, the second header line continuing the list.
        let chained = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(
            trusted.client_of(ip("10.0.0.2"), &chained),
            ip("203.0.113.9")
        );
        // All hops trusted: the leftmost is as far as anyone knows.
        let internal = headers("x-forwarded-for", &["10.9.9.9, 10.1.1.1"]);
        assert_eq!(trusted.client_of(ip("10.0.0.2"), &internal), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            trusted.client_of(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
        // Garbage stops the walk at the last address known.
        let garbage = headers("x-forwarded-for", &["203.0.113.9, nonsense, 10.1.1.1"]);
        assert_eq!(trusted.client_of(ip("10.0.0.2"), &garbage), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_only_when_configured_and_in_all_its_forms() {
        let trusted = proxies(&["127.0.0.1/32"], ForwardedHeader::Forwarded);
        let rfc = headers(
            "forwarded",
            &["for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\""],
        );
        assert_eq!(
            trusted.client_of(ip("127.0.0.1"), &rfc),
            ip("2001:db8:cafe::17")
        );
        let unknown = headers("forwarded", &["for=192.0.2.60, for=unknown"]);
        assert_eq!(
            trusted.client_of(ip("127.0.0.1"), &unknown),
            ip("127.0.0.1")
        );
        // X-Forwarded-For is not the configured header: ignored.
        let other = headers("x-forwarded-for", &["192.0.2.60"]);
        assert_eq!(trusted.client_of(ip("127.0.0.1"), &other), ip("127.0.0.1"));
    }

    #[test]
    fn mapped_addresses_and_ports_are_understood() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let forwarded = headers("x-forwarded-for", &["203.0.113.9:5000"]);
        assert_eq!(
            trusted.client_of(ip("::ffff:10.0.0.2"), &forwarded),
            ip("203.0.113.9")
        );
        assert_eq!(node_address("[2001:db8::1]:80"), Some(ip("2001:db8::1")));
        assert_eq!(node_address("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(node_address("_hidden"), None);
    }

    #[test]
    fn the_config_takes_addresses_and_ranges_and_names_a_bad_one() {
        #[derive(Deserialize)]
        struct File {
            http: HttpSpec,
        }
        let file: Result<File, _> = toml_like(
            r#"{"http": {"trusted_proxies": ["10.0.0.5", "fd00::/8"], "forwarded_header": "forwarded"}}"#,
        );
        let spec = file.map(|f| f.http).unwrap_or_default();
        let trusted = spec.trusted_proxies();
        assert!(trusted.trusts(ip("10.0.0.5")) && !trusted.trusts(ip("10.0.0.6")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert_eq!(spec.forwarded_header, ForwardedHeader::Forwarded);
        let bad: Result<File, _> = toml_like(r#"{"http": {"trusted_proxies": ["10.0.0/8"]}}"#);
        let error = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("trusted proxy `10.0.0/8`"), "{error}");
    }

    fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }
}
