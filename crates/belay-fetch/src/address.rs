//! Which IP addresses count as public, i.e. safe targets for a fetch someone else asked for.
//!
//! Hand-written because no maintained crate does the whole job: the standard library's
//! `Ipv6Addr::is_global` is unstable, and none of them judges the IPv4 addresses that
//! transition forms (6to4, Teredo, NAT64, ISATAP) carry, which is how a private target
//! hides in a public-looking IPv6 literal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for globally routable unicast addresses; false for loopback, private (RFC 1918,
/// unique local, deprecated site-local), link-local (cloud metadata lives at
/// 169.254.169.254), shared (CGNAT), documentation, benchmarking, multicast, broadcast,
/// reserved and unspecified ones. IPv6 addresses outside global unicast (`2000::/3`) are
/// never public, nor are IETF protocol assignments (`2001::/23`). IPv6 forms that carry
/// IPv4 addresses (mapped, NAT64 `64:ff9b::/96`, 6to4, Teredo, ISATAP) are public only if
/// every IPv4 address they carry is; forms whose embedding cannot be read from the address
/// (IPv4-compatible `::/96`, local-use NAT64 `64:ff9b:1::/48`) are refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// The address as an error message shows it: IPv6 forms that carry IPv4 addresses name
/// them, e.g. `2002:a00:1::1 (6to4 for 10.0.0.1)`, so the reason for a refusal is visible.
pub(crate) fn describe(ip: IpAddr) -> String {
    let IpAddr::V6(v6) = ip else {
        return ip.to_string();
    };
    match carried_ipv4(v6) {
        Some(Carried::One(form, v4)) => format!("{v6} ({} for {v4})", form.name()),
        Some(Carried::Teredo { server, client }) => {
            format!("{v6} (Teredo: client {client}, server {server})")
        }
        None => v6.to_string(),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast, deprecated (RFC 7526)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let carried = carried_ipv4(ip);
    let carried_public = match carried {
        None => true,
        Some(Carried::One(_, v4)) => is_public_v4(v4),
        // Packets go through the server to the client: both must be public.
        Some(Carried::Teredo { server, client }) => is_public_v4(server) && is_public_v4(client),
    };
    // IPv4-mapped and NAT64 addresses lie outside 2000::/3 and are routed by the IPv4
    // address alone; every other form must also have a public IPv6 prefix.
    let routed_as_ipv4 = matches!(carried, Some(Carried::One(Form::Mapped | Form::Nat64, _)));
    carried_public && (routed_as_ipv4 || is_public_prefix(ip))
}

/// Global unicast (`2000::/3`) minus the special blocks inside it. Outside it: `::/8`
/// (unspecified, loopback, IPv4-compatible and -translated), `64:ff9b:1::/48` (local-use
/// NAT64, RFC 8215, whose embedding the operator chooses), `100::/64` (discard), `fc00::/7`
/// (unique local), `fe80::/10` (link-local), `fec0::/10` (site-local: deprecated, still
/// routed inside some sites) and `ff00::/8` (multicast).
fn is_public_prefix(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    let teredo = first == 0x2001 && second == 0;
    first & 0xe000 == 0x2000
        && !(first == 0x2001 && second < 0x200 && !teredo) // IETF protocol assignments (RFC 2928)
        && !(first == 0x2001 && second == 0x0db8) // documentation (RFC 3849)
        && !(first == 0x3fff && second < 0x1000) // documentation (RFC 9637)
}

/// An IPv6 form that carries an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Mapped,
    Nat64,
    SixToFour,
    Isatap,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Mapped => "IPv4-mapped",
            Form::Nat64 => "NAT64",
            Form::SixToFour => "6to4",
            Form::Isatap => "ISATAP",
        }
    }
}

/// The IPv4 addresses an IPv6 form delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carried {
    /// One address, and the form that carries it.
    One(Form, Ipv4Addr),
    /// Teredo (RFC 4380): the server relays to the client behind its NAT.
    Teredo { server: Ipv4Addr, client: Ipv4Addr },
}

/// The IPv4 addresses `ip` carries, for the forms whose packets end up at them.
fn carried_ipv4(ip: Ipv6Addr) -> Option<Carried> {
    let bits = u128::from(ip);
    // Truncation intended: the 32 bits starting at `shift`.
    let v4_at = |shift: u32| Ipv4Addr::from((bits >> shift) as u32);
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(Carried::One(Form::Mapped, v4));
    }
    // NAT64 well-known prefix (RFC 6052): the IPv4 address is the low 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Carried::One(Form::Nat64, v4_at(0)));
    }
    // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 is the site behind IPv4 AA.BB.CC.DD.
    if segments[0] == 0x2002 {
        return Some(Carried::One(Form::SixToFour, v4_at(80)));
    }
    // Teredo (RFC 4380): 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, with the server's IPv4 in
    // bits 32..64 and the client's (its NAT's public side) inverted in the last 32 bits.
    if segments[..2] == [0x2001, 0] {
        return Some(Carried::Teredo {
            server: v4_at(64),
            client: Ipv4Addr::from(!v4_at(0).to_bits()),
        });
    }
    // ISATAP (RFC 5214): interface identifier 0000:5efe or 0200:5efe (u/g bits aside)
    // then the IPv4 address, which the prefix's ISATAP router delivers to.
    if segments[4] & 0xfcff == 0 && segments[5] == 0x5efe {
        return Some(Carried::One(Form::Isatap, v4_at(0)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per address form: (address, public?, why).
    const TABLE: &[(&str, bool, &str)] = &[
        // IPv4.
        ("8.8.8.8", true, "public"),
        ("93.184.215.14", true, "public"),
        ("127.0.0.1", false, "loopback"),
        ("10.0.0.1", false, "RFC 1918"),
        ("172.16.5.4", false, "RFC 1918"),
        ("192.168.1.1", false, "RFC 1918"),
        ("169.254.169.254", false, "link-local (cloud metadata)"),
        ("100.64.0.1", false, "shared (CGNAT)"),
        ("100.128.0.1", true, "just past the shared range"),
        ("0.1.2.3", false, "this network"),
        ("192.0.0.8", false, "IETF protocol assignments"),
        ("192.88.99.1", false, "6to4 relay anycast"),
        ("198.18.0.1", false, "benchmarking"),
        ("224.0.0.1", false, "multicast"),
        ("255.255.255.255", false, "broadcast"),
        ("240.0.0.1", false, "reserved"),
        // Plain IPv6.
        ("2606:4700::1111", true, "global unicast"),
        ("::1", false, "loopback"),
        ("::", false, "unspecified"),
        ("fe80::1", false, "link-local"),
        ("fc00::1", false, "unique local"),
        ("fd12:3456::1", false, "unique local"),
        ("fec0::1", false, "site-local (deprecated)"),
        ("fec0:0:0:1::10", false, "site-local (deprecated)"),
        ("feff:ffff::1", false, "site-local, top of the range"),
        ("ff02::1", false, "multicast"),
        ("100::1", false, "discard-only"),
        ("5f00::1", false, "SRv6 SIDs, outside 2000::/3"),
        ("4000::1", false, "outside 2000::/3"),
        ("2001:db8::1", false, "documentation"),
        ("3fff::1", false, "documentation (RFC 9637)"),
        ("2001:2::1", false, "benchmarking, in 2001::/23"),
        ("2001:1::1", false, "PCP anycast, in 2001::/23"),
        ("2001:200::1", true, "first global block after 2001::/23"),
        // IPv4-mapped (::ffff:0:0/96).
        ("::ffff:10.0.0.1", false, "mapped private"),
        ("::ffff:169.254.169.254", false, "mapped link-local"),
        ("::ffff:8.8.8.8", true, "mapped public"),
        // IPv4-compatible (::/96, deprecated) and IPv4-translated (::ffff:0:0:0/96).
        ("::10.0.0.1", false, "compatible private"),
        ("::8.8.8.8", false, "compatible public: deprecated, refused"),
        ("::ffff:0:8.8.8.8", false, "translated (SIIT)"),
        // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
        ("64:ff9b::a9fe:a9fe", false, "NAT64 of 169.254.169.254"),
        ("64:ff9b::10.0.0.1", false, "NAT64 of 10.0.0.1"),
        ("64:ff9b::808:808", true, "NAT64 of 8.8.8.8"),
        (
            "64:ff9b:1::808:808",
            false,
            "local-use NAT64: embedding unknown",
        ),
        ("64:ff9b:1:abcd::1", false, "local-use NAT64"),
        // 6to4 2002::/16: the IPv4 address is bits 16..48.
        ("2002:a00:1::1", false, "6to4 of 10.0.0.1"),
        ("2002:7f00:1::1", false, "6to4 of 127.0.0.1"),
        ("2002:a9fe:a9fe::1", false, "6to4 of 169.254.169.254"),
        ("2002:c0a8:101:1::1", false, "6to4 of 192.168.1.1"),
        ("2002:6440:1::1", false, "6to4 of 100.64.0.1"),
        ("2002::1", false, "6to4 of 0.0.0.0"),
        ("2002:808:808::1", true, "6to4 of 8.8.8.8"),
        // Teredo 2001:0::/32: server IPv4 in bits 32..64, client IPv4 inverted at the end.
        (
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            false,
            "Teredo client 10.0.0.1",
        ),
        (
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            false,
            "Teredo client 127.0.0.1",
        ),
        (
            "2001:0:4136:e378:8000:63bf:5601:5601",
            false,
            "Teredo client 169.254.169.254",
        ),
        (
            "2001:0:a01:101:8000:63bf:f7f7:f7f7",
            false,
            "Teredo server 10.1.1.1",
        ),
        (
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            true,
            "Teredo client 8.8.8.8 via 65.54.227.120",
        ),
        // ISATAP interface identifiers (::0:5efe:V4, ::200:5efe:V4) on a global prefix.
        ("2606:4700::5efe:a00:1", false, "ISATAP of 10.0.0.1"),
        (
            "2606:4700::200:5efe:a9fe:a9fe",
            false,
            "ISATAP of 169.254.169.254",
        ),
        ("2606:4700::200:5efe:808:808", true, "ISATAP of 8.8.8.8"),
        (
            "2001:db8::5efe:808:808",
            false,
            "ISATAP-like, documentation prefix",
        ),
        (
            "fe80::5efe:808:808",
            false,
            "ISATAP-like, link-local prefix",
        ),
    ];

    #[test]
    fn the_address_table() {
        let mut wrong = Vec::new();
        for &(text, public, why) in TABLE {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            if is_public(ip) != public {
                wrong.push(format!("{text} ({why}): expected public={public}"));
            }
        }
        assert!(wrong.is_empty(), "misjudged:\n{}", wrong.join("\n"));
    }

    #[test]
    fn descriptions_name_the_carried_ipv4_addresses() {
        let of = |text: &str| describe(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")));
        assert_eq!(of("10.0.0.1"), "10.0.0.1");
        assert_eq!(of("fec0::1"), "fec0::1");
        assert_eq!(of("2002:a00:1::1"), "2002:a00:1::1 (6to4 for 10.0.0.1)");
        assert_eq!(
            of("2001:0:4136:e378:8000:63bf:f5ff:fffe"),
            "2001:0:4136:e378:8000:63bf:f5ff:fffe (Teredo: client 10.0.0.1, server 65.54.227.120)"
        );
        assert_eq!(
            of("64:ff9b::a9fe:a9fe"),
            "64:ff9b::a9fe:a9fe (NAT64 for 169.254.169.254)"
        );
    }
}
