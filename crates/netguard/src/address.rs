//! Which IP addresses are public enough to connect to on a merchant's behalf.
//! Refused: loopback, private, link-local (cloud metadata), CGNAT, multicast, documentation,
//! reserved ranges, IPv6 forms that embed one of those IPv4 addresses, every IPv4-mapped address
//! (`::ffff:0:0/96`: a socket never needs one to reach a public IPv4 host, and some stacks route it to
//! the local IPv4 side) and local-use NAT64 (`64:ff9b:1::/48`, RFC 8215: a site's own translator).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::Policy;

/// A refused address. It travels inside reqwest's error chain when the guarded resolver refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {ip}, which is not a public internet address")]
pub struct BlockedAddress {
    pub host: String,
    pub ip: IpAddr,
}

/// Ok when `policy` allows connecting to `ip`.
pub fn check_ip(ip: IpAddr, policy: &Policy) -> Result<(), BlockedAddress> {
    if policy.allow_insecure || is_public(ip) { Ok(()) } else { Err(BlockedAddress { host: ip.to_string(), ip }) }
}

/// Check the peer of an established connection (e.g. after a redirect-free request completed).
pub fn check_remote_addr(addr: SocketAddr, policy: &Policy) -> Result<(), BlockedAddress> {
    check_ip(addr.ip(), policy)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10 (also Alibaba's metadata address)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.to_ipv4_mapped().is_some() || s[..3] == [0x64, 0xff9b, 0x0001] {
        return false;
    }
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]); // discard-only 100::/64
    !refused
}

/// IPv4 addresses hidden in IPv6 forms: compatible, NAT64 and 6to4 (mapped ones are refused whole).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail()); // deprecated IPv4-compatible ::a.b.c.d
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail()); // NAT64 64:ff9b::/96
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_policy_refuses_internal_addresses() {
        let refused = [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.8",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.100.100.200",
            "100.127.255.255",
            "192.0.0.170",
            "192.0.2.10",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "100::1",
            "::ffff:8.8.8.8",
            "::ffff:0:0",
            "::ffff:93.184.216.34",
            "::ffff:255.255.255.255",
            "64:ff9b:1::",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
        ];
        for ip in refused {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert!(check_ip(parsed, &Policy::strict()).is_err(), "{ip} must be refused");
            assert!(check_ip(parsed, &Policy::insecure()).is_ok(), "{ip} is allowed in dev mode");
        }
    }

    #[test]
    fn strict_policy_allows_public_addresses() {
        let allowed = [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "169.255.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2002:0808:0808::1",
            "64:ff9b::808:808",
        ];
        for ip in allowed {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert_eq!(check_ip(parsed, &Policy::strict()), Ok(()), "{ip} is public");
        }
    }

    #[test]
    fn blocked_address_names_host_and_ip() {
        let e = check_remote_addr("10.0.0.1:443".parse().expect("addr"), &Policy::strict()).expect_err("blocked");
        assert_eq!(e.to_string(), "10.0.0.1 resolves to 10.0.0.1, which is not a public internet address");
    }
}
