//! DNS resolution that refuses private addresses, plugged into reqwest so the check applies to the very
//! addresses the connection uses (no resolve-then-connect gap for DNS rebinding to slip through).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{BlockedAddress, Policy, StoreUrl, UrlError, check_ip};

/// A reqwest resolver that drops the whole answer when any address in it is refused by `policy`.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    policy: Policy,
    /// Fixed answers that replace DNS for the named hosts (tests; pinned hosts in special deployments).
    fixed: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl GuardedResolver {
    pub fn new(policy: Policy) -> Self {
        Self { policy, fixed: Arc::default() }
    }

    /// Answer these hosts from the map instead of DNS; the guard still applies to them.
    pub fn with_fixed(policy: Policy, fixed: HashMap<String, Vec<IpAddr>>) -> Self {
        Self { policy, fixed: Arc::new(fixed) }
    }

    /// Resolve `host` and check every address.
    pub async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, LookupError> {
        let addrs: Vec<SocketAddr> = match self.fixed.get(host) {
            Some(ips) => ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
            None if is_localhost_name(host) => vec![SocketAddr::from(([127, 0, 0, 1], port))],
            None => tokio::net::lookup_host((host, port)).await.map_err(|_| LookupError::NotFound)?.collect(),
        };
        if addrs.is_empty() {
            return Err(LookupError::NotFound);
        }
        for addr in &addrs {
            check_ip(addr.ip(), &self.policy)
                .map_err(|_| LookupError::Blocked(BlockedAddress { host: host.to_owned(), ip: addr.ip() }))?;
        }
        Ok(addrs)
    }
}

/// `localhost` and every name under it: RFC 6761 (section 6.3) has resolvers answer them with the
/// loopback address themselves, never from DNS. The answer is then checked like any other, so
/// outside development mode it is refused; in development one loopback simulator can serve many
/// stores by name (`s1.localhost`, `s2.localhost`, ...), which the system resolver may not know.
fn is_localhost_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Why a lookup produced no usable address.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("host name not found")]
    NotFound,
    #[error(transparent)]
    Blocked(BlockedAddress),
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            match resolver.lookup(name.as_str(), 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // The BlockedAddress itself is the boxed error, so callers can find it with downcast_ref.
                Err(LookupError::Blocked(blocked)) => {
                    Err(Box::new(blocked) as Box<dyn std::error::Error + Send + Sync>)
                }
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// A reqwest builder for calls to merchant-controlled addresses: guarded DNS, no redirects, no proxy.
pub fn http_client_builder(policy: &Policy) -> reqwest::ClientBuilder {
    http_client_builder_with(GuardedResolver::new(*policy))
}

/// As `http_client_builder`, with a given resolver (e.g. fixed answers in tests).
pub fn http_client_builder_with(resolver: GuardedResolver) -> reqwest::ClientBuilder {
    reqwest::Client::builder().dns_resolver(Arc::new(resolver)).redirect(reqwest::redirect::Policy::none()).no_proxy()
}

/// Pre-flight for the onboarding form: the store's host resolves, and only to allowed addresses.
/// The guarded resolver checks again on every connection; this gives the merchant a clear message first.
pub async fn resolve_checked(store: &StoreUrl, policy: &Policy) -> Result<(), UrlError> {
    resolve_checked_with(store, &GuardedResolver::new(*policy)).await
}

pub async fn resolve_checked_with(store: &StoreUrl, resolver: &GuardedResolver) -> Result<(), UrlError> {
    if resolver.policy.allow_insecure {
        return Ok(());
    }
    let host = store.host().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return check_ip(ip, &resolver.policy).map_err(|_| UrlError::PrivateNetwork);
    }
    let port = store.url().port_or_known_default().unwrap_or(443);
    match resolver.lookup(host, port).await {
        Ok(_) => Ok(()),
        Err(LookupError::NotFound) => Err(UrlError::DoesNotResolve(host.to_owned())),
        Err(LookupError::Blocked(_)) => Err(UrlError::PrivateNetwork),
    }
}
