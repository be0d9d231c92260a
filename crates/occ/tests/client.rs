//! The OCC client against the simulator over real HTTP: logins, paging, errors, retries, timeouts,
//! the SSRF guard, and secrets kept out of errors and Debug output.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use storelink_netguard::Policy;
use storelink_occ::{ListParams, OccClient, OccConfig, OccError, Resource};
use storelink_occ_sim::{Fault, FaultKind, OccSim, Permissions, SimOptions};
use url::Url;

fn config() -> OccConfig {
    OccConfig {
        retry_base: Duration::from_millis(10),
        retry_cap: Duration::from_millis(40),
        max_retries: 3,
        ..OccConfig::default()
    }
}

struct Setup {
    sim: OccSim,
    occ: OccClient,
    store: Url,
    key: SecretString,
}

async fn setup(options: SimOptions) -> Setup {
    let sim = OccSim::spawn(options).await.expect("sim");
    let key = SecretString::from(sim.add_key(Permissions::all()));
    let occ = OccClient::new(config(), Policy::insecure()).expect("client");
    let store = Url::parse(&sim.base_url()).expect("url");
    Setup { sim, occ, store, key }
}

#[tokio::test]
async fn login_and_rejected_keys() {
    let s = setup(SimOptions::default()).await;
    let token = s.occ.login(&s.store, &s.key).await.expect("login");
    assert_eq!(token.expires_in, Duration::from_secs(300));
    assert!(!format!("{token:?}").contains(token.token.expose_secret()));
    // The agent API is served by the storefront origin only (issue 16 item 4).
    let storefront = url::Url::parse(&s.sim.storefront_url()).expect("storefront");
    assert!(s.occ.agent_login(&storefront.join("/ccappagent/v1/login").expect("url"), &s.key).await.is_ok());
    let on_admin = s
        .occ
        .agent_login(&s.store.join("/ccappagent/v1/login").expect("url"), &s.key)
        .await
        .expect_err("no agent API on the admin host");
    assert!(matches!(on_admin, OccError::NoLoginEndpoint { status: 404 }), "{on_admin:?}");
    let on_store = s.occ.login(&storefront, &s.key).await.expect_err("no Admin API on the storefront");
    assert!(matches!(on_store, OccError::NoLoginEndpoint { status: 404 }), "{on_store:?}");

    let wrong = SecretString::from("eyJ.not-a-key.sig".to_owned());
    let err = s.occ.login(&s.store, &wrong).await.expect_err("rejected");
    assert!(matches!(err, OccError::KeyRejected { status: 401 }), "{err:?}");
    assert!(!err.to_string().contains("not-a-key"));
    assert_eq!(
        s.sim.calls().iter().filter(|c| c.path == "/ccadmin/v1/login").count(),
        3,
        "a refused key is not retried (the storefront's refusal above is one call)"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let nowhere = Url::parse(&format!("http://127.0.0.1:{closed}")).expect("url");
    let err = s.occ.login(&nowhere, &s.key).await.expect_err("no store");
    assert!(matches!(err, OccError::Transient { .. }), "{err:?}");
    assert!(!err.to_string().contains(s.key.expose_secret()));
}

#[tokio::test]
async fn expired_tokens_and_missing_permissions_are_told_apart() {
    let s = setup(SimOptions::default()).await;
    let token = s.occ.login(&s.store, &s.key).await.expect("login").token;
    s.sim.expire_tokens();
    let params = ListParams { limit: 1, ..ListParams::default() };
    let err =
        s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect_err("expired");
    assert!(matches!(err, OccError::Unauthorized));
    assert_eq!(err.kind_code(), "unauthorized");

    let limited = SecretString::from(s.sim.add_key(Permissions { orders: false, ..Permissions::all() }));
    let token = s.occ.login(&s.store, &limited).await.expect("login").token;
    let err =
        s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Orders, &params).await.expect_err("forbidden");
    assert!(matches!(&err, OccError::Forbidden { path, .. } if path == "/ccadmin/v1/orders"), "{err:?}");
    assert!(!err.to_string().contains(token.expose_secret()));
}

#[tokio::test]
async fn paging_walks_every_item_once_and_filters_pass_through() {
    let s = setup(SimOptions { products: 600, ..SimOptions::default() }).await;
    let token = s.occ.login(&s.store, &s.key).await.expect("login").token;
    let mut ids = std::collections::HashSet::new();
    let mut offset = 0;
    loop {
        let params = ListParams { offset, limit: 250, ..ListParams::default() };
        let page = s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect("page");
        for item in &page.items {
            assert!(ids.insert(item["id"].as_str().expect("id").to_owned()));
        }
        if page.is_last(offset) {
            break;
        }
        offset += page.items.len() as u64;
    }
    assert_eq!(ids.len(), 600);
    let id = s.sim.product_ids()[42].clone();
    let params = ListParams { q: Some(format!("id eq \"{id}\"")), ..ListParams::default() };
    let page = s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect("filtered");
    assert_eq!(page.total_results, Some(1));
    assert_eq!(page.items[0]["id"], id.as_str());
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let s = setup(SimOptions::default()).await;
    let token = s.occ.login(&s.store, &s.key).await.expect("login").token;
    let params = ListParams { limit: 1, ..ListParams::default() };
    let path = "/ccadmin/v1/products";

    s.sim.inject(Fault::new(Some("GET"), path, FaultKind::Status(500)).times(2));
    s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect("third attempt works");
    assert_eq!(s.sim.count("GET", path), 3);

    s.sim.clear_calls();
    let fault = s.sim.inject(Fault::new(Some("GET"), path, FaultKind::Status(503)));
    let err =
        s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect_err("gives up");
    assert!(matches!(err, OccError::Transient { .. }));
    assert_eq!(s.sim.count("GET", path), 4, "first attempt + 3 retries");
    s.sim.remove_fault(fault);

    s.sim.inject(Fault::new(Some("GET"), path, FaultKind::RateLimited { retry_after_secs: 1 }).times(1));
    let started = Instant::now();
    s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect("after waiting");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");

    let fault = s.sim.inject(Fault::new(Some("GET"), path, FaultKind::RateLimited { retry_after_secs: 3600 }));
    let started = Instant::now();
    let err =
        s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect_err("too long");
    assert!(matches!(err, OccError::RateLimited { retry_after: Some(d) } if d.as_secs() == 3600));
    assert!(started.elapsed() < Duration::from_secs(1), "did not wait an hour");
    s.sim.remove_fault(fault);

    s.sim.inject(Fault::new(Some("GET"), path, FaultKind::Drop).times(1));
    s.occ
        .list::<serde_json::Value>(&s.store, &token, Resource::Products, &params)
        .await
        .expect("a dropped connection is retried");
}

#[tokio::test]
async fn slow_answers_time_out() {
    let s = setup(SimOptions::default()).await;
    let occ = OccClient::new(
        OccConfig { request_timeout: Duration::from_millis(200), max_retries: 1, ..config() },
        Policy::insecure(),
    )
    .expect("client");
    let token = occ.login(&s.store, &s.key).await.expect("login").token;
    s.sim.inject(Fault::new(None, "/ccadmin/v1/shippingMethods", FaultKind::Delay(Duration::from_millis(600))));
    let err = occ.shipping_methods(&s.store, &token, true, None).await.expect_err("timeout");
    assert!(matches!(&err, OccError::Transient { detail } if detail.contains("timed out")), "{err:?}");
}

#[tokio::test]
async fn shipping_webhooks_and_orders() {
    let s = setup(SimOptions::default()).await;
    let token = s.occ.login(&s.store, &s.key).await.expect("login").token;
    assert_eq!(s.occ.shipping_methods(&s.store, &token, true, None).await.expect("enabled").len(), 2);
    let all = s.occ.shipping_methods(&s.store, &token, false, None).await.expect("all");
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].enabled, Some(false));

    let plain = s.occ.get_webhook(&s.store, &token, "production-submitOrder", false).await.expect("webhook");
    assert!(plain.secret_key.is_none());
    let secret = s.occ.get_webhook(&s.store, &token, "production-submitOrder", true).await.expect("webhook");
    assert_eq!(
        secret.secret_key.as_ref().map(|k| k.expose_secret().to_owned()),
        s.sim.webhook("production-submitOrder").expect("sim")["secretKey"].as_str().map(str::to_owned)
    );
    let urls =
        vec!["https://oms.example/hook".to_owned(), "https://storelink.example/webhooks/occ/m/order-submit".to_owned()];
    let written = s.occ.put_webhook_urls(&s.store, &token, "production-submitOrder", &urls).await.expect("put");
    assert_eq!(written.urls, urls);
    assert_eq!(s.sim.webhook("production-submitOrder").expect("sim")["urls"], json!(urls));
    let err = s.occ.get_webhook(&s.store, &token, "no-such-hook", false).await.expect_err("404");
    assert!(matches!(err, OccError::NotFound { .. }));

    let order = s.occ.get_order(&s.store, &token, "o10001").await.expect("order");
    assert_eq!(order["id"], "o10001");
    let updated =
        s.occ.update_order(&s.store, &token, "o10001", &json!({"state": "PROCESSING"})).await.expect("update");
    assert_eq!(updated["state"], "PROCESSING");
    let value = s.occ.get_json(&s.store, &token, "/ccadmin/v1/orders", &[("limit", "2")]).await.expect("json");
    assert_eq!(value["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_guard_blocks_private_addresses_before_any_request() {
    let s = setup(SimOptions::default()).await;
    let strict = OccClient::new(config(), Policy::strict()).expect("client");
    let err = strict.login(&s.store, &s.key).await.expect_err("blocked");
    assert!(matches!(err, OccError::Blocked(_)), "{err:?}");
    assert_eq!(err.kind_code(), "blocked");
    assert!(s.sim.calls().is_empty(), "nothing reached the simulator");
    let localhost = Url::parse(&format!("http://localhost:{}", s.sim.addr().port())).expect("url");
    let err = strict.login(&localhost, &s.key).await.expect_err("blocked by the resolver");
    assert!(matches!(err, OccError::Blocked(_)), "{err:?}");
    assert!(s.sim.calls().is_empty());
}

/// A merchant-controlled store answers with a 1 GiB body, streamed and generated on the fly: the
/// client stops at the call's cap, fails with `ResponseTooLarge` without retrying, and the process
/// never holds more than a few chunks (whole-body reads took a web process to 5.8 GB).
#[tokio::test]
async fn huge_answers_stop_at_the_cap_and_memory_stays_flat() {
    use storelink_occ::ReplyLimit;
    use storelink_testkit::memory;
    const HUGE: u64 = 1 << 30;
    let s = setup(SimOptions::default()).await;
    let token = s.occ.login(&s.store, &s.key).await.expect("login").token;
    let params = ListParams { limit: 5, ..ListParams::default() };
    s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect("a normal page");

    let idle = memory::rss();
    memory::reset_peak();
    s.sim.inject(Fault::new(Some("POST"), "/ccadmin/v1/login", FaultKind::HugeBody { bytes: HUGE }));
    s.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::HugeBody { bytes: HUGE }));
    let started = Instant::now();
    let err = s.occ.login(&s.store, &s.key).await.expect_err("login answer too large");
    assert!(
        matches!(&err, OccError::ResponseTooLarge { path, limit } if path == "/ccadmin/v1/login" && *limit == ReplyLimit::Login.bytes()),
        "{err:?}"
    );
    assert_eq!(err.kind_code(), "response_too_large");
    let err = s.occ.list::<serde_json::Value>(&s.store, &token, Resource::Products, &params).await.expect_err("page");
    assert!(matches!(&err, OccError::ResponseTooLarge { limit, .. } if *limit == ReplyLimit::Page.bytes()), "{err:?}");
    let elapsed = started.elapsed();
    let peak = memory::peak();
    eprintln!(
        "huge answers: RSS idle {:.1} MiB, peak {:.1} MiB ({:.1} MiB over idle), {elapsed:?}",
        memory::mib(idle),
        memory::mib(peak),
        memory::mib(peak.saturating_sub(idle))
    );
    assert!(peak < idle + 40 * 1024 * 1024, "peak {peak} against idle {idle}");
    assert_eq!(s.sim.count("POST", "/ccadmin/v1/login"), 2, "a huge answer is not retried");
    assert!(elapsed < Duration::from_secs(10), "reading stops at the cap, not at the end: {elapsed:?}");
}
