//! Store URL normalization, table-driven: what merchants type and what Storelink makes of it.

use storelink_netguard::{Policy, UrlError, normalize_store_url};

const STRICT: Policy = Policy::strict();
const DEV: Policy = Policy::insecure();

#[test]
fn accepted_inputs_normalize_to_the_store_origin() {
    let cases = [
        ("MyStore.Oracle.com/", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com/occs-admin", "https://mystore.oracle.com"),
        (" mystore.oracle.com ", "https://mystore.oracle.com"),
        ("mystore.oracle.com", "https://mystore.oracle.com"),
        ("\tmystore.oracle.com\n", "https://mystore.oracle.com"),
        ("HTTPS://MYSTORE.ORACLE.COM", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com/", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com/occs-admin/", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com/ccadmin/v1/login", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com/?locale=en", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com/#/home", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com.", "https://mystore.oracle.com"),
        ("https://mystore.oracle.com:443", "https://mystore.oracle.com"),
        ("mystore.oracle.com:443/occs-admin", "https://mystore.oracle.com"),
        ("https://ccadmin-z123.oracleoutsourcing.com", "https://ccadmin-z123.oracleoutsourcing.com"),
        ("https://shop-admin.example.co.uk/x/y/z", "https://shop-admin.example.co.uk"),
        ("https://a.b.c.d.example.com", "https://a.b.c.d.example.com"),
        ("https://xn--mnchen-3ya.example", "https://xn--mnchen-3ya.example"),
        ("https://münchen.example/", "https://xn--mnchen-3ya.example"),
        ("https://store_1.example.com", "https://store_1.example.com"),
        ("//mystore.oracle.com", "https://mystore.oracle.com"),
    ];
    for (input, expected) in cases {
        let store = normalize_store_url(input, &STRICT).unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
        assert_eq!(store.as_str(), expected, "input {input:?}");
        assert_eq!(store.to_string(), expected);
        assert_eq!(store.url().as_str(), format!("{expected}/"));
    }
}

#[test]
fn refused_inputs_name_the_problem() {
    use UrlError::*;
    let cases: Vec<(&str, UrlError)> = vec![
        ("", Empty),
        ("   ", Empty),
        ("http://mystore.oracle.com", UnsupportedScheme("http".into())),
        ("ftp://mystore.oracle.com", UnsupportedScheme("ftp".into())),
        ("file:///etc/passwd", UnsupportedScheme("file".into())),
        ("gopher://mystore.oracle.com", UnsupportedScheme("gopher".into())),
        ("javascript:alert(1)", UnsupportedScheme("javascript".into())),
        ("mailto:ops@mystore.com", UnsupportedScheme("mailto".into())),
        ("https://admin:secret@mystore.oracle.com", Credentials),
        ("https://admin@mystore.oracle.com", Credentials),
        ("https://127.0.0.1", IpLiteral),
        ("https://10.0.0.8", IpLiteral),
        ("https://169.254.169.254/latest/meta-data", IpLiteral),
        ("https://[::1]", IpLiteral),
        ("https://[fd00:ec2::254]", IpLiteral),
        ("https://2130706433", IpLiteral),
        ("https://0x7f.1", IpLiteral),
        ("127.0.0.1:8080", IpLiteral),
        ("https://mystore.oracle.com:8443", Port),
        ("https://mystore.oracle.com:22", Port),
        ("https://localhost", NotPublicHost("localhost".into())),
        ("localhost:443", NotPublicHost("localhost".into())),
        ("https://intranet", NotPublicHost("intranet".into())),
        ("https://db.internal", NotPublicHost("db.internal".into())),
        ("https://printer.local", NotPublicHost("printer.local".into())),
        ("https://app.localhost", NotPublicHost("app.localhost".into())),
        ("https://metadata.google.internal", NotPublicHost("metadata.google.internal".into())),
        ("https://my store.oracle.com", Invalid),
        ("https://mystore.oracle.com\\@evil.com", Invalid),
        ("https://-bad-.example.com", Invalid),
        ("https://mystore..oracle.com", Invalid),
        ("https://mystore.oracle.com:99999", Invalid),
        ("https://", Invalid),
        ("https://mystore.oracle.com:abc", Invalid),
        ("https://%00.example.com", Invalid),
    ];
    assert!(cases.len() >= 30);
    for (input, expected) in cases {
        let error = normalize_store_url(input, &STRICT).expect_err(input);
        assert_eq!(error, expected, "input {input:?}");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(normalize_store_url(&"a".repeat(3000), &STRICT), Err(TooLong));
}

#[test]
fn dev_switch_allows_the_local_simulator() {
    let cases = [
        ("http://127.0.0.1:41234", "http://127.0.0.1:41234"),
        ("http://127.0.0.1:41234/", "http://127.0.0.1:41234"),
        ("http://localhost:8081/occs-admin", "http://localhost:8081"),
        ("https://10.0.0.8", "https://10.0.0.8"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("mystore.oracle.com", "https://mystore.oracle.com"),
    ];
    for (input, expected) in cases {
        let store = normalize_store_url(input, &DEV).unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
        assert_eq!(store.as_str(), expected);
    }
    // Still refused in dev: other schemes and credentials.
    assert_eq!(normalize_store_url("ftp://127.0.0.1", &DEV), Err(UrlError::UnsupportedScheme("ftp".into())));
    assert_eq!(normalize_store_url("http://u:p@127.0.0.1:1", &DEV), Err(UrlError::Credentials));
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let errors = [
        UrlError::Empty,
        UrlError::TooLong,
        UrlError::Invalid,
        UrlError::UnsupportedScheme("ftp".into()),
        UrlError::Credentials,
        UrlError::IpLiteral,
        UrlError::Port,
        UrlError::NotPublicHost("x".into()),
        UrlError::PrivateNetwork,
        UrlError::DoesNotResolve("x".into()),
    ];
    let codes: std::collections::HashSet<_> = errors.iter().map(UrlError::code).collect();
    assert_eq!(codes.len(), errors.len());
    assert_eq!(UrlError::private_network().code(), "store_url_private_network");
}
