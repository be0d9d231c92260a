//! Property tests (bounded: a few hundred cases each) for the Store URL normalizer and the SSRF guard:
//! any input gives a canonical URL or a named error, never a panic, and no generated internal address
//! in any of its IPv6 disguises is ever allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use crate::{Policy, UrlError, check_ip, normalize_store_url};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() }
}

/// Internal IPv4 addresses: (network, prefix length) of each refused range.
const INTERNAL_V4: [([u8; 4], u8); 14] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

fn internal_v4() -> impl Strategy<Value = Ipv4Addr> {
    (0..INTERNAL_V4.len(), any::<u32>()).prop_map(|(i, noise)| {
        let (net, prefix) = INTERNAL_V4[i];
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Ipv4Addr::from((u32::from(Ipv4Addr::from(net)) & mask) | (noise & !mask))
    })
}

/// The IPv6 forms that carry an IPv4 address: mapped, compatible, NAT64 (well-known) and 6to4.
fn disguises(v4: Ipv4Addr) -> [Ipv6Addr; 4] {
    let [a, b, c, d] = v4.octets();
    let hi = u16::from_be_bytes([a, b]);
    let lo = u16::from_be_bytes([c, d]);
    [
        v4.to_ipv6_mapped(),
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo),
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
        Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_input_is_a_canonical_store_url_or_a_named_error(input in "\\PC{0,80}|[a-zA-Z0-9.:/@\\[\\]%_ -]{0,60}") {
        for policy in [Policy::strict(), Policy::insecure()] {
            match normalize_store_url(&input, &policy) {
                Ok(store) => {
                    let text = store.as_str();
                    prop_assert!(!text.ends_with('/'), "{text}");
                    prop_assert_eq!(store.url().as_str(), format!("{text}/"));
                    prop_assert_eq!(store.url().path(), "/");
                    prop_assert!(store.url().query().is_none() && store.url().username().is_empty());
                    prop_assert_eq!(text.to_ascii_lowercase(), text);
                    let again = normalize_store_url(text, &policy);
                    prop_assert_eq!(again.as_ref().map(|s| s.as_str()), Ok(text), "normalizing is idempotent");
                    if !policy.allow_insecure {
                        prop_assert!(text.starts_with("https://"), "{text}");
                        prop_assert!(store.url().port().is_none());
                        prop_assert!(!matches!(store.url().host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))));
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty() && !e.code().is_empty()),
            }
        }
    }

    #[test]
    fn what_a_merchant_types_around_a_host_is_dropped(
        labels in proptest::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 2..4),
        upper in any::<bool>(),
        scheme in prop_oneof![Just(""), Just("https://"), Just("HTTPS://")],
        tail in prop_oneof![Just(""), Just("/"), Just("/occs-admin"), Just("/?a=1"), Just("."), Just("#x")],
        pad in "[ \t]{0,3}",
    ) {
        let host = labels.join(".");
        prop_assume!(!host.ends_with(".local") && !host.ends_with(".lan") && !host.ends_with(".corp"));
        // An `xn--` label is punycode, which IDNA checks (and refuses when invalid, as `xn--a`).
        prop_assume!(!labels.iter().any(|l| l.starts_with("xn--")));
        let typed = if upper { host.to_ascii_uppercase() } else { host.clone() };
        let tail = if tail == "." { "./" } else { tail };
        let input = format!("{pad}{scheme}{typed}{tail}{pad}");
        match normalize_store_url(&input, &Policy::strict()) {
            Ok(store) => prop_assert_eq!(store.as_str(), format!("https://{host}")),
            Err(UrlError::NotPublicHost(_)) => {
                let internal = [".localhost", ".internal", ".intranet", ".home.arpa"];
                prop_assert!(internal.iter().any(|s| host.ends_with(s)), "{host} refused")
            }
            Err(e) => prop_assert!(false, "{input:?} refused: {e}"),
        }
    }

    #[test]
    fn no_internal_ipv4_address_passes_in_any_form(v4 in internal_v4()) {
        prop_assert!(check_ip(IpAddr::V4(v4), &Policy::strict()).is_err(), "{v4}");
        for v6 in disguises(v4) {
            prop_assert!(check_ip(IpAddr::V6(v6), &Policy::strict()).is_err(), "{v6} ({v4})");
            prop_assert!(check_ip(IpAddr::V6(v6), &Policy::insecure()).is_ok());
        }
    }

    #[test]
    fn disguised_public_addresses_follow_their_ipv4_address(v4 in any::<u32>().prop_map(Ipv4Addr::from)) {
        let verdict = check_ip(IpAddr::V4(v4), &Policy::strict()).is_ok();
        let [mapped, compatible, nat64, six_to_four] = disguises(v4);
        prop_assert!(check_ip(IpAddr::V6(mapped), &Policy::strict()).is_err(), "::ffff:0:0/96 is refused whole");
        prop_assert_eq!(check_ip(IpAddr::V6(nat64), &Policy::strict()).is_ok(), verdict, "{}", nat64);
        prop_assert_eq!(check_ip(IpAddr::V6(six_to_four), &Policy::strict()).is_ok(), verdict, "{}", six_to_four);
        if !compatible.is_loopback() && !compatible.is_unspecified() {
            prop_assert_eq!(check_ip(IpAddr::V6(compatible), &Policy::strict()).is_ok(), verdict, "{}", compatible);
        }
    }

    #[test]
    fn refused_ipv6_ranges_are_refused_throughout(bits in any::<u128>(), range in 0usize..5) {
        // (network, prefix length)
        let ranges: [(u128, u32); 5] = [
            (0x0064_ff9b_0001_u128 << 80, 48),  // local-use NAT64
            (0xffff_u128 << 32, 96),            // IPv4-mapped
            (0xfc00_u128 << 112, 7),            // unique local
            (0xfe80_u128 << 112, 10),           // link-local
            (0xff00_u128 << 112, 8),            // multicast
        ];
        let (net, prefix) = ranges[range];
        let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
        let ip = Ipv6Addr::from((net & mask) | (bits & !mask));
        prop_assert!(check_ip(IpAddr::V6(ip), &Policy::strict()).is_err(), "{ip}");
    }
}
