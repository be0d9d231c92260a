//! Turns what a merchant types into the store's canonical origin, `https://host[:port]`.
//! `MyStore.Oracle.com/`, `https://mystore.oracle.com/occs-admin` and ` mystore.oracle.com ` all become
//! `https://mystore.oracle.com`. Errors are written for the merchant filling in the form.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::Policy;

const MAX_INPUT: usize = 2048;

/// A normalized store origin (scheme, host, optional port; no path, query or trailing slash).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreUrl {
    url: Url,
    text: String,
}

impl StoreUrl {
    /// The origin without a trailing slash, e.g. `https://mystore.oracle.com`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The origin as a `Url` (with its root path `/`), ready for `join`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// Re-read a value that was normalized before (e.g. from the database), under `policy`.
    pub fn parse_normalized(text: &str, policy: &Policy) -> Result<Self, UrlError> {
        normalize_store_url(text, policy)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({})", self.text)
    }
}

/// Why a store URL was refused. `Display` is the message shown to the merchant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("Enter your store's URL, for example https://mystore.oracle.com.")]
    Empty,
    #[error("That URL is too long to be a store address.")]
    TooLong,
    #[error("That doesn't look like a web address. Enter it like https://mystore.oracle.com.")]
    Invalid,
    #[error("Store URLs must start with https:// (\"{0}\" addresses are not supported).")]
    UnsupportedScheme(String),
    #[error("Remove the user name and password from the URL; Storelink only needs the store address.")]
    Credentials,
    #[error("Enter your store's host name, not an IP address.")]
    IpLiteral,
    #[error("Store URLs must use the standard HTTPS port (443).")]
    Port,
    #[error("\"{0}\" is not a public host name. Enter your store's full address, like mystore.oracle.com.")]
    NotPublicHost(String),
    #[error("This address points to a private or internal network, which Storelink cannot connect to.")]
    PrivateNetwork,
    #[error("We couldn't find a store at {0}. Check the spelling of the address.")]
    DoesNotResolve(String),
}

impl UrlError {
    /// The address resolved to (or connected to) a refused network.
    pub fn private_network() -> Self {
        UrlError::PrivateNetwork
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            UrlError::Empty => "store_url_missing",
            UrlError::TooLong => "store_url_too_long",
            UrlError::Invalid => "store_url_invalid",
            UrlError::UnsupportedScheme(_) => "store_url_scheme",
            UrlError::Credentials => "store_url_credentials",
            UrlError::IpLiteral => "store_url_ip_literal",
            UrlError::Port => "store_url_port",
            UrlError::NotPublicHost(_) => "store_url_host",
            UrlError::PrivateNetwork => "store_url_private_network",
            UrlError::DoesNotResolve(_) => "store_url_unresolvable",
        }
    }
}

/// Normalize and vet a merchant-entered store URL. No network access; see `resolve_checked` for DNS.
pub fn normalize_store_url(input: &str, policy: &Policy) -> Result<StoreUrl, UrlError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(UrlError::Empty);
    }
    if input.len() > MAX_INPUT {
        return Err(UrlError::TooLong);
    }
    if input.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
        return Err(UrlError::Invalid);
    }
    let with_scheme = match explicit_scheme(input) {
        Some(_) => input.to_owned(),
        None => format!("https://{input}"),
    };
    let url = Url::parse(&with_scheme).map_err(|_| UrlError::Invalid)?;
    let host = vet_url(&url, policy)?;
    if url.port().is_some() && !policy.allow_insecure {
        return Err(UrlError::Port);
    }
    let text = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    let url = Url::parse(&text).map_err(|_| UrlError::Invalid)?;
    Ok(StoreUrl { url, text })
}

/// Vet a partner's webhook endpoint URL with the same rules as store URLs (https, no credentials, a
/// public host name, no IP literal), keeping its port, path and query. No network access; the guarded
/// resolver checks the address actually connected to on every delivery.
pub fn endpoint_url(input: &str, policy: &Policy) -> Result<Url, UrlError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(UrlError::Empty);
    }
    if input.len() > MAX_INPUT {
        return Err(UrlError::TooLong);
    }
    let url = Url::parse(input).map_err(|_| UrlError::Invalid)?;
    vet_url(&url, policy)?;
    if url.fragment().is_some() {
        return Err(UrlError::Invalid);
    }
    Ok(url)
}

/// Scheme, credentials and host checks shared by store and endpoint URLs; returns the vetted host.
fn vet_url(url: &Url, policy: &Policy) -> Result<String, UrlError> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_insecure => {}
        other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    match url.host() {
        None => Err(UrlError::Invalid),
        Some(Host::Ipv4(ip)) => vet_ip(IpAddr::V4(ip), policy),
        Some(Host::Ipv6(ip)) => vet_ip(IpAddr::V6(ip), policy),
        Some(Host::Domain(domain)) => vet_domain(domain, policy),
    }
}

/// The scheme the merchant typed, if any. `mystore.com:443` has a port, not a scheme.
fn explicit_scheme(input: &str) -> Option<&str> {
    if let Some((scheme, _)) = input.split_once("://") {
        return Some(scheme);
    }
    let (head, rest) = input.split_once(':')?;
    let looks_like_scheme = head.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && head.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let port_follows = rest.chars().next().is_some_and(|c| c.is_ascii_digit());
    (looks_like_scheme && !port_follows).then_some(head)
}

fn vet_ip(ip: IpAddr, policy: &Policy) -> Result<String, UrlError> {
    if !policy.allow_insecure {
        return Err(UrlError::IpLiteral);
    }
    Ok(match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    })
}

fn vet_domain(domain: &str, policy: &Policy) -> Result<String, UrlError> {
    let domain = domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase();
    let labels_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !labels_ok {
        return Err(UrlError::Invalid);
    }
    if policy.allow_insecure {
        return Ok(domain);
    }
    let internal_suffix = [".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp"]
        .iter()
        .any(|suffix| domain.ends_with(suffix));
    let tld_numeric = domain.rsplit('.').next().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()));
    if !domain.contains('.') || internal_suffix || tld_numeric {
        return Err(UrlError::NotPublicHost(domain));
    }
    Ok(domain)
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    #[test]
    fn endpoint_urls_follow_the_store_rules_but_keep_their_path() {
        let strict = Policy::strict();
        let ok = endpoint_url("https://hooks.partner.example:8443/storelink?x=1", &strict).expect("ok");
        assert_eq!(ok.as_str(), "https://hooks.partner.example:8443/storelink?x=1");
        let cases = [
            ("http://hooks.partner.example/", UrlError::UnsupportedScheme("http".into())),
            ("https://user:pw@hooks.partner.example/", UrlError::Credentials),
            ("https://127.0.0.1/hook", UrlError::IpLiteral),
            ("https://[::1]/hook", UrlError::IpLiteral),
            ("https://169.254.169.254/latest", UrlError::IpLiteral),
            ("https://metadata.internal/", UrlError::NotPublicHost("metadata.internal".into())),
            ("https://localhost/", UrlError::NotPublicHost("localhost".into())),
            ("ftp://hooks.partner.example/", UrlError::UnsupportedScheme("ftp".into())),
            ("https://hooks.partner.example/#frag", UrlError::Invalid),
            ("not a url", UrlError::Invalid),
            ("", UrlError::Empty),
        ];
        for (input, expected) in cases {
            assert_eq!(endpoint_url(input, &strict), Err(expected), "{input}");
        }
        assert!(endpoint_url("http://127.0.0.1:9000/hook", &Policy::insecure()).is_ok());
    }
}
