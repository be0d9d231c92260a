//! The guard applies to the address a request actually connects to: a public-looking host name that
//! resolves to loopback is refused before any connection is made.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use storelink_netguard::{
    BlockedAddress, GuardedResolver, Policy, UrlError, http_client_builder_with, normalize_store_url,
    resolve_checked_with,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn fixed(entries: &[(&str, &[&str])], policy: Policy) -> GuardedResolver {
    let map: HashMap<String, Vec<IpAddr>> = entries
        .iter()
        .map(|(host, ips)| (host.to_string(), ips.iter().map(|ip| ip.parse().expect("ip")).collect()))
        .collect();
    GuardedResolver::with_fixed(policy, map)
}

/// A loopback HTTP server that counts connections and answers 200.
async fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        }
    });
    (port, connections)
}

fn find_blocked(error: &reqwest::Error) -> Option<&BlockedAddress> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedAddress>() {
            return Some(blocked);
        }
        source = e.source();
    }
    None
}

#[tokio::test]
async fn host_resolving_to_loopback_is_refused_without_connecting() {
    let (port, connections) = counting_server().await;
    let resolver = fixed(&[("shop.example.com", &["127.0.0.1"])], Policy::strict());
    let client = http_client_builder_with(resolver).build().expect("client");
    let error = client.get(format!("http://shop.example.com:{port}/")).send().await.expect_err("must be refused");
    let blocked = find_blocked(&error).expect("BlockedAddress in the error chain");
    assert_eq!(blocked.host, "shop.example.com");
    assert_eq!(blocked.ip, "127.0.0.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn dev_policy_connects_to_the_same_host() {
    let (port, connections) = counting_server().await;
    let resolver = fixed(&[("shop.example.com", &["127.0.0.1"])], Policy::insecure());
    let client = http_client_builder_with(resolver).build().expect("client");
    let response = client.get(format!("http://shop.example.com:{port}/")).send().await.expect("allowed in dev");
    assert_eq!(response.status(), 200);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_private_address_in_the_answer_refuses_the_host() {
    // DNS rebinding style answer: a public address alongside a metadata address.
    let resolver = fixed(&[("mixed.example.com", &["8.8.8.8", "169.254.169.254"])], Policy::strict());
    let store = normalize_store_url("mixed.example.com", &Policy::strict()).expect("normalizes");
    assert_eq!(resolve_checked_with(&store, &resolver).await, Err(UrlError::PrivateNetwork));
}

#[tokio::test]
async fn preflight_tells_missing_private_and_public_hosts_apart() {
    let resolver = fixed(
        &[("gone.example.com", &[]), ("private.example.com", &["10.1.2.3"]), ("shop.example.com", &["93.184.216.34"])],
        Policy::strict(),
    );
    let check = |host: &str| {
        let store = normalize_store_url(host, &Policy::strict()).expect("normalizes");
        let resolver = resolver.clone();
        async move { resolve_checked_with(&store, &resolver).await }
    };
    assert_eq!(check("gone.example.com").await, Err(UrlError::DoesNotResolve("gone.example.com".into())));
    assert_eq!(check("private.example.com").await, Err(UrlError::PrivateNetwork));
    assert_eq!(check("shop.example.com").await, Ok(()));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let reply = "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n";
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    let client = http_client_builder_with(GuardedResolver::new(Policy::insecure())).build().expect("client");
    let response = client.get(format!("http://127.0.0.1:{port}/")).send().await.expect("response");
    assert_eq!(response.status(), 302, "the redirect is returned, not followed");
}

/// Names under `localhost` resolve to loopback without DNS (RFC 6761), which the system resolver
/// here does not do: refused outside development mode, reached in it (one loopback simulator serves
/// many stores by name).
#[tokio::test]
async fn names_under_localhost_are_loopback_and_refused_unless_insecure() {
    let (port, connections) = counting_server().await;
    for host in ["s17.localhost", "LOCALHOST", "a.b.localhost."] {
        let strict = GuardedResolver::new(Policy::strict());
        assert!(matches!(strict.lookup(host, port).await, Err(storelink_netguard::LookupError::Blocked(_))), "{host}");
        let dev = GuardedResolver::new(Policy::insecure());
        let addrs = dev.lookup(host, port).await.expect("resolved");
        assert_eq!(addrs, vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))], "{host}");
    }
    let client = http_client_builder_with(GuardedResolver::new(Policy::insecure())).build().expect("client");
    let answer = client.get(format!("http://s17.localhost:{port}/")).send().await.expect("reached");
    assert_eq!(answer.status(), 200);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    let refused = http_client_builder_with(GuardedResolver::new(Policy::strict())).build().expect("client");
    assert!(refused.get(format!("http://s17.localhost:{port}/")).send().await.is_err());
    assert_eq!(connections.load(Ordering::SeqCst), 1, "no connection made");
}
