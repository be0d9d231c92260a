//! Who the client is when Storelink runs behind reverse proxies. `X-Forwarded-For` (or, when a proxy
//! sends none, `Forwarded`) is believed only from a peer in `STORELINK_TRUSTED_PROXIES`; the client is
//! then the rightmost address that is not itself a trusted proxy, since everything left of it may have
//! been written by the client. Every limiter, log line and audit row takes its address from here.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The client address of a request as resolved by [`TrustedProxies::client_ip`]; the web server puts
/// it into each request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client as limiter keys and audit rows name it: the resolved address, else the TCP peer's
    /// (a request that bypassed the resolving middleware), else `unknown`.
    pub fn describe(resolved: Option<&ClientIp>, peer: Option<std::net::SocketAddr>) -> String {
        resolved.map(|c| c.0).or_else(|| peer.map(|a| a.ip())).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

/// The networks whose forwarding headers are believed. Empty (the default): none, the TCP peer is the
/// client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR range (expected e.g. 10.0.0.0/8, 192.0.2.7 or fd00::/8)")]
pub struct BadProxyEntry(pub String);

impl TrustedProxies {
    /// A comma- or space-separated list of addresses and CIDR ranges.
    pub fn parse(list: &str) -> Result<Self, BadProxyEntry> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| BadProxyEntry(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's `Forwarded` and `X-Forwarded-For` header lines
    /// in the order received. A hop a trusted proxy could not name (`unknown`, an obfuscated id, junk)
    /// ends the walk at that proxy.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a str>,
        x_forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // X-Forwarded-For is what proxies append to by default; a client's own `Forwarded` passes
        // through most of them untouched, so it is read only when no X-Forwarded-For came with it.
        let mut hops: Vec<&str> = x_forwarded_for.into_iter().flat_map(|line| line.split(',')).collect();
        if hops.is_empty() {
            hops = forwarded.into_iter().flat_map(|line| line.split(',')).filter_map(forwarded_for).collect();
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { return client };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// The `for=` parameter of one `Forwarded` element (RFC 7239), quotes removed.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
    })
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = hop.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    #[test]
    fn the_list_parses_addresses_and_ranges_and_names_a_bad_entry() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7 fd00::/8").expect("valid");
        assert!(proxies.trusts(ip("10.1.2.3")) && proxies.trusts(ip("192.0.2.7")) && proxies.trusts(ip("fd00::1")));
        assert!(proxies.trusts(ip("::ffff:10.0.0.1")), "an IPv4-mapped peer is its IPv4 address");
        assert!(!proxies.trusts(ip("192.0.2.8")) && !proxies.trusts(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        assert_eq!(TrustedProxies::parse("10.0.0.0/8,nope"), Err(BadProxyEntry("nope".into())));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_peers() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        let none = TrustedProxies::default();
        // (peer, Forwarded lines, X-Forwarded-For lines, client for `proxies`)
        let cases: [(&str, &[&str], &[&str], &str); 14] = [
            ("203.0.113.9", &[], &["1.2.3.4"], "203.0.113.9"),
            ("203.0.113.9", &["for=1.2.3.4"], &[], "203.0.113.9"),
            ("10.0.0.2", &[], &[], "10.0.0.2"),
            ("10.0.0.2", &[], &["198.51.100.7"], "198.51.100.7"),
            ("10.0.0.2", &[], &["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
            ("10.0.0.2", &[], &["6.6.6.6", "198.51.100.7, 10.0.0.5"], "198.51.100.7"),
            ("10.0.0.2", &[], &["10.0.0.9, 10.0.0.5"], "10.0.0.9"),
            ("10.0.0.2", &[], &["6.6.6.6, unknown"], "10.0.0.2"),
            ("10.0.0.2", &[], &["198.51.100.7:4711"], "198.51.100.7"),
            ("10.0.0.2", &[], &["[2001:db8::7]:4711"], "2001:db8::7"),
            ("10.0.0.2", &["for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https"], &[], "2001:db8::7"),
            ("10.0.0.2", &["For=198.51.100.7;by=10.0.0.2"], &[], "198.51.100.7"),
            ("10.0.0.2", &["for=6.6.6.6"], &["198.51.100.7"], "198.51.100.7"),
            ("::ffff:10.0.0.2", &[], &["198.51.100.7"], "198.51.100.7"),
        ];
        for (peer, forwarded, xff, expected) in cases {
            let got = proxies.client_ip(ip(peer), forwarded.iter().copied(), xff.iter().copied());
            assert_eq!(got, ip(expected), "peer {peer}, Forwarded {forwarded:?}, X-Forwarded-For {xff:?}");
            let untrusted = none.client_ip(ip(peer), forwarded.iter().copied(), xff.iter().copied());
            assert_eq!(untrusted, ip(peer).to_canonical(), "with no trusted proxy the peer is the client");
        }
    }
}
