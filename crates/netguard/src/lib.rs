//! Outbound-network safety for merchant-supplied addresses: store URL normalization and the SSRF guard
//! (which IP addresses Storelink may connect to, checked on the address actually resolved and used).
//! Also who an inbound client is behind trusted proxies (`client_addr`). Must not make product
//! decisions or hold state; it only says "this address is safe" (or whose it is) or why not.

mod address;
mod client_addr;
mod policy;
pub mod reply;
mod resolver;
mod store_url;

pub use address::{BlockedAddress, check_ip, check_remote_addr};
pub use client_addr::{BadProxyEntry, ClientIp, TrustedProxies};
pub use policy::Policy;
pub use resolver::{
    GuardedResolver, LookupError, http_client_builder, http_client_builder_with, resolve_checked, resolve_checked_with,
};
pub use store_url::{StoreUrl, UrlError, endpoint_url, normalize_store_url};

#[cfg(test)]
mod properties;
