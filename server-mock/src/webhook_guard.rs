//! Where alert webhooks may go. A webhook's address is chosen by a user of the service, and the
//! server POSTs to it from inside the operator's network: without a check, a rule pointed at
//! `https://127.0.0.1:9464/`, a database's port or a cloud's metadata address would make the
//! server a proxy into places its users must not reach (server-side request forgery). So by
//! default a webhook goes to public addresses only: an address written as an IP literal is
//! checked before sending, and a name is resolved by [`PublicOnly`], which drops every address
//! that is not public, so the connection can only be made to one that is (checking the name once
//! and connecting later would let its DNS answer change in between). An installation whose
//! receivers sit on its own network (on premises) allows private networks with
//! `--webhook-allow-private-networks`.
//!
//! Written here rather than taken from a crate: `IpAddr::is_global` is not stable, and the crates
//! that classify addresses do so for networks, not for a resolver; the ranges are the IANA
//! special-purpose registries' (RFC 6890 and its updates).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is an address on the public Internet: not loopback, private, shared (CGNAT),
/// link-local, documentation, benchmarking, multicast, reserved or unspecified; IPv6 addresses
/// that carry an IPv4 one (mapped, NAT64, 6to4) are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || a == 10                             // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127                            // loopback
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF assignments, documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // private
        || (a == 198 && (b == 18 || b == 19))  // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7])); // NAT64
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2])); // 6to4
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || s[..6] == [0, 0, 0, 0, 0, 0]           // IPv4-compatible (deprecated)
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only
        || (s[0] == 0x2001 && s[1] == 0xdb8)      // documentation
        || (s[0] & 0xfe00) == 0xfc00              // unique local
        || (s[0] & 0xffc0) == 0xfe80              // link-local
        || (s[0] & 0xff00) == 0xff00) // multicast
}

/// Why a webhook's address may not be used, if it is an IP literal that is not public (a name is
/// left to [`PublicOnly`]); `None` for an address that may be tried.
pub fn literal_refusal(url: &str) -> Option<&'static str> {
    let host = url::Url::parse(url).ok()?.host()?.to_owned();
    let ip = match host {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    (!is_public(ip)).then_some(PRIVATE_ADDRESS)
}

/// The reason a delivery to a private address is dropped, as its history shows it.
pub const PRIVATE_ADDRESS: &str = "the webhook's address is on a private network, which this \
                                   service does not send to (--webhook-allow-private-networks)";

/// A resolver that gives only a name's public addresses: a name that resolves to private ones
/// alone fails to connect, saying so.
#[derive(Debug, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() && !found.is_empty() {
                return Err(
                    format!("{host} resolves only to addresses on private networks").into(),
                );
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.10",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_addresses_are_judged_and_names_left_to_the_resolver() {
        assert_eq!(
            literal_refusal("https://127.0.0.1:9464/metrics"),
            Some(PRIVATE_ADDRESS)
        );
        // The WHATWG parser reads a decimal host as the IPv4 address it is.
        assert_eq!(
            literal_refusal("https://2130706433/"),
            Some(PRIVATE_ADDRESS)
        );
        assert_eq!(literal_refusal("https://[::1]/"), Some(PRIVATE_ADDRESS));
        assert_eq!(
            literal_refusal("https://[fd12::1]:8443/x"),
            Some(PRIVATE_ADDRESS)
        );
        assert_eq!(literal_refusal("https://93.184.215.14/hook"), None);
        assert_eq!(literal_refusal("https://hooks.example.com/x"), None);
        assert_eq!(literal_refusal("https://localhost/x"), None);
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = PublicOnly.resolve(name).await;
        let Err(e) = refused else {
            panic!("localhost resolved to a public address");
        };
        assert!(e.to_string().contains("private networks"), "{e}");
    }
}
