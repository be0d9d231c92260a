//! The platform's edges against strangers and partners: limiters that stay bounded under a flood
//! (ops login, token endpoint), client addresses behind trusted proxies only, a store URL that a
//! stranger cannot lock its merchant out of, the connect form's CSRF cookie, and metrics off the
//! public port. Distinct clients are real TCP peers (127.0.0.x source addresses) or, behind a
//! trusted proxy, distinct `X-Forwarded-For` values.

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use storelink_netguard::TrustedProxies;
use storelink_ops_console::users::{self, Role};

use crate::common::{self, AppOptions, TestApp, spawn_app, spawn_app_with, wait_for};

/// A field of /proc/self/status in kB (`VmRSS`, `VmHWM`). The server runs in this process.
fn proc_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

fn mb(kb: u64) -> u64 {
    kb / 1024
}

/// An HTTP client whose connections come from `source` (any 127.0.0.0/8 address reaches the server).
fn client_from(source: &str) -> reqwest::Client {
    let ip: IpAddr = source.parse().expect("source address");
    reqwest::Client::builder().local_address(ip).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The app restarted with `STORELINK_TRUSTED_PROXIES` set.
async fn behind_proxy(opts: AppOptions, proxies: &str) -> TestApp {
    let mut app = spawn_app_with(opts).await;
    app.services.config.http.trusted_proxies = TrustedProxies::parse(proxies).expect("proxies");
    app.restart().await;
    app
}

/// The CSRF token of a rendered form.
fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).expect("csrf field") + marker.len();
    html[at..].split('"').next().expect("value").to_owned()
}

/// Status codes and how often each came back.
type Tally = BTreeMap<u16, usize>;

#[tokio::test]
async fn an_ops_login_flood_with_huge_user_names_leaves_memory_where_it_was() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let url = format!("{}/ops/login", app.base);
    // Warm up allocator and connection pool, then measure.
    for _ in 0..3 {
        let _ = http.post(&url).form(&[("username", "x"), ("password", "y")]).send().await;
    }
    let idle = proc_kb("VmRSS");
    let padding = "u".repeat(60 * 1024);
    let tally: Tally = futures::stream::iter(0..3_000)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            let username = format!("{i}{padding}");
            async move {
                let response = http.post(&url).form(&[("username", username.as_str()), ("password", "guess")]).send();
                response.await.map(|r| r.status().as_u16()).unwrap_or(0)
            }
        })
        .buffer_unordered(16)
        .fold(Tally::new(), |mut tally, status| async move {
            *tally.entry(status).or_default() += 1;
            tally
        })
        .await;
    let after = proc_kb("VmRSS");
    let peak = proc_kb("VmHWM");
    println!(
        "ops-login flood, 3000 x 60 KB user names: RSS idle {} MB, after {} MB, peak {} MB; {tally:?}",
        mb(idle),
        mb(after),
        mb(peak)
    );
    assert_eq!(tally.values().sum::<usize>(), 3_000);
    assert!(tally.get(&429).copied().unwrap_or(0) >= 2_980, "the client is limited after its first attempts");
    assert!(after < idle + 60 * 1024, "memory stays within 60 MB of idle: {} -> {} MB", mb(idle), mb(after));
    // The real admin, from another address, still signs in.
    users::add(&app.db.pool, "ada", &SecretString::from("correct horse battery".to_owned()), Role::Admin)
        .await
        .expect("admin");
    let admin = client_from("127.0.0.2");
    let signed_in = admin.post(&url).form(&[("username", "ada"), ("password", "correct horse battery")]).send().await;
    assert_eq!(signed_in.expect("login").status(), 303, "the flood did not lock the admin out");
    app.stop().await;
}

async fn token_request(
    http: &reqwest::Client,
    base: &str,
    forwarded_for: &str,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    http.post(format!("{base}/v1/oauth/token"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)])
        .send()
        .await
        .expect("token request")
}

#[tokio::test]
async fn a_token_flood_keeps_memory_bounded_and_the_right_secret_still_gets_a_token() {
    let app = behind_proxy(AppOptions::default(), "127.0.0.1/32").await;
    let http = reqwest::Client::new();
    let client_id = app.partner.client_id.clone();
    let _ = token_request(&http, &app.base, "192.0.2.1", "slp_warmup", "x").await;
    let idle = proc_kb("VmRSS");
    let flood = (0..400).map(|_| {
        let (http, base, id) = (http.clone(), app.base.clone(), client_id.clone());
        async move {
            let response = token_request(&http, &base, "198.51.100.7", &id, "wrong secret").await;
            let status = response.status().as_u16();
            if status == 429 {
                let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
                assert!(retry_after.is_some_and(|s: u64| s >= 1), "429 says when to retry");
                let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                assert_eq!(kind.as_deref(), Some("application/problem+json"));
                let body: serde_json::Value = response.json().await.expect("problem");
                assert_eq!(body["code"], "rate_limited");
            }
            status
        }
    });
    let statuses = futures::future::join_all(flood).await;
    let peak = proc_kb("VmHWM");
    let after = proc_kb("VmRSS");
    let mut tally = Tally::new();
    for status in statuses {
        *tally.entry(status).or_default() += 1;
    }
    println!(
        "token flood, 400 concurrent wrong secrets: RSS idle {} MB, peak {} MB, after {} MB; {tally:?}",
        mb(idle),
        mb(peak),
        mb(after)
    );
    assert!(tally.get(&401).copied().unwrap_or(0) <= 20, "at most the address's limit is hashed: {tally:?}");
    assert_eq!(tally.get(&401).copied().unwrap_or(0) + tally.get(&429).copied().unwrap_or(0), 400, "{tally:?}");
    assert!(peak < idle + 100 * 1024, "peak within 100 MB of idle: {} -> {} MB", mb(idle), mb(peak));
    let granted =
        token_request(&http, &app.base, "203.0.113.5", &client_id, app.partner.client_secret.expose_secret()).await;
    assert_eq!(granted.status(), 200, "the partner still gets a token");
    let body: serde_json::Value = granted.json().await.expect("json");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    app.stop().await;
}

/// POST /connect with a wrong key for `store`, from `http`, with extra headers.
async fn bad_connect(app: &TestApp, http: &reqwest::Client, store: &str, headers: &[(&str, &str)]) -> u16 {
    let session = common::open_form_at(http, &app.base, app.partner.partner_id).await;
    let fields = [("store_url", store.to_owned()), ("app_key", "not-the-key".to_owned())];
    common::post_connect_at(http, &app.base, app.partner.partner_id, &session, &fields, headers).await.status().as_u16()
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app_with(AppOptions { per_client_per_minute: 2, ..AppOptions::default() }).await;
    let store = app.sim.base_url();
    let spoofs: [&[(&str, &str)]; 3] = [
        &[("x-forwarded-for", "198.51.100.1")],
        &[("forwarded", "for=198.51.100.2")],
        &[("x-forwarded-for", "198.51.100.3"), ("x-real-ip", "198.51.100.3")],
    ];
    let mut statuses = Vec::new();
    for headers in spoofs {
        statuses.push(bad_connect(&app, &app.http, &store, headers).await);
    }
    assert_eq!(statuses, [422, 422, 429], "every attempt counted against the real peer");
    let other_peer = client_from("127.0.0.2");
    assert_eq!(bad_connect(&app, &other_peer, &store, &[]).await, 422, "another real peer has its own limit");
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_client_is_used_by_limits_and_the_audit_trail() {
    let app = behind_proxy(AppOptions { per_client_per_minute: 2, ..AppOptions::default() }, "127.0.0.1/32").await;
    let store = app.sim.base_url();
    let from = |client: &'static str| [("x-forwarded-for", client)];
    assert_eq!(bad_connect(&app, &app.http, &store, &from("6.6.6.6, 198.51.100.1")).await, 422);
    assert_eq!(bad_connect(&app, &app.http, &store, &from("7.7.7.7, 198.51.100.1")).await, 422);
    assert_eq!(
        bad_connect(&app, &app.http, &store, &from("198.51.100.1")).await,
        429,
        "the rightmost untrusted address is the client, whatever it put left of it"
    );
    assert_eq!(
        bad_connect(&app, &app.http, &store, &from("198.51.100.2")).await,
        422,
        "another client behind the proxy"
    );
    // A peer that is not a trusted proxy cannot borrow a fresh address.
    let stranger = client_from("127.0.0.3");
    assert_eq!(bad_connect(&app, &stranger, &store, &from("203.0.113.1")).await, 422);
    assert_eq!(bad_connect(&app, &stranger, &store, &from("203.0.113.2")).await, 422);
    assert_eq!(bad_connect(&app, &stranger, &store, &from("203.0.113.3")).await, 429);

    // The audit trail records the forwarded client of an ops action.
    let merchant = common::merchant_id_from(&app.connect_with(&store, &app.key).await);
    users::add(&app.db.pool, "ada", &SecretString::from("correct horse battery".to_owned()), Role::Admin)
        .await
        .expect("admin");
    let proxy = |request: reqwest::RequestBuilder| request.header("x-forwarded-for", "203.0.113.77");
    let login = proxy(app.http.post(format!("{}/ops/login", app.base)))
        .form(&[("username", "ada"), ("password", "correct horse battery")])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 303);
    let cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("session").to_owned();
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    let page = proxy(app.http.get(format!("{}/ops/tenants/{merchant}", app.base)))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = csrf_in(&page);
    let paused = proxy(app.http.post(format!("{}/ops/tenants/{merchant}/pause", app.base)))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("pause");
    assert_eq!(paused.status(), 200);
    let trail = storelink_ops::recent(&app.db.pool, merchant.parse().ok(), 10).await.expect("audit");
    assert_eq!(trail[0].source, "203.0.113.77", "audit_log.source is the client, not the proxy");
    app.stop().await;
}

#[tokio::test]
async fn a_stranger_hammering_a_store_url_cannot_stop_its_merchants_connect() {
    let app = spawn_app_with(AppOptions { per_store_per_minute: 2, ..AppOptions::default() }).await;
    let store = app.sim.base_url();
    let stranger = client_from("127.0.0.9");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(bad_connect(&app, &stranger, &store, &[]).await);
    }
    assert_eq!(&statuses[..2], [422, 422], "the first failed logins are refused by the store");
    assert!(statuses[2..].iter().all(|s| *s == 429), "then the stranger backs off: {statuses:?}");
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), 2, "the store saw two failed logins, not ten");

    let merchant = client_from("127.0.0.10");
    let session = common::open_form_at(&merchant, &app.base, app.partner.partner_id).await;
    let fields = [("store_url", store.clone()), ("app_key", app.key.clone())];
    let connected = common::post_connect_at(&merchant, &app.base, app.partner.partner_id, &session, &fields, &[]).await;
    assert_eq!(connected.status(), 200, "the merchant connects while the stranger is held back");
    // Successes do not count: the merchant reconnects at once, as often as it needs.
    for _ in 0..3 {
        let session = common::open_form_at(&merchant, &app.base, app.partner.partner_id).await;
        let again = common::post_connect_at(&merchant, &app.base, app.partner.partner_id, &session, &fields, &[]).await;
        assert_eq!(again.status(), 200);
    }
    assert_eq!(bad_connect(&app, &stranger, &store, &[]).await, 429, "and the stranger is still held back");
    app.stop().await;
}

#[tokio::test]
async fn the_connect_form_never_adopts_a_csrf_cookie_the_browser_sent() {
    let app = spawn_app().await;
    let tossed = "attacker-chosen-value-that-is-long-enough-0123456789";
    let response = app
        .http
        .get(format!("{}/connect", app.base))
        .query(&app.link_query())
        .header("cookie", format!("sl_csrf={tossed}"))
        .send()
        .await
        .expect("GET /connect");
    assert_eq!(response.status(), 200);
    let set = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("a fresh cookie").to_owned();
    assert!(set.starts_with("sl_csrf=") && !set.contains(tossed), "the server minted its own value: {set}");
    let token = csrf_in(&response.text().await.expect("body"));
    let planted = common::FormSession { cookie: format!("sl_csrf={tossed}"), token };
    let fields = [("store_url", app.sim.base_url()), ("app_key", app.key.clone())];
    assert_eq!(app.post_connect(&planted, &fields).await.status(), 403, "the token is not valid for the tossed cookie");

    // A POST the browser marks as coming from another site (or a sibling subdomain) is refused.
    let session = app.open_form().await;
    for site in ["cross-site", "same-site"] {
        let response = common::post_connect_at(
            &app.http,
            &app.base,
            app.partner.partner_id,
            &session,
            &fields,
            &[("sec-fetch-site", site)],
        )
        .await;
        assert_eq!(response.status(), 403, "Sec-Fetch-Site: {site}");
    }
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), 0);
    assert_eq!(app.post_connect(&session, &fields).await.status(), 200, "the real form still works");
    app.stop().await;
}

#[tokio::test]
async fn under_https_the_csrf_cookie_is_host_prefixed() {
    let app = spawn_app().await;
    let mut config = app.services.config.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    config.http.listen = addr;
    config.http.public_url = "https://storelink.example".parse().expect("url");
    let services =
        storelink::server::Services::new(config, app.db.pool.clone(), app.services.keys.clone()).expect("services");
    let server = storelink::server::http_server(&services, listener, false).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    let response =
        app.http.get(format!("http://{addr}/connect")).query(&app.link_query()).send().await.expect("GET /connect");
    assert_eq!(response.status(), 200);
    let set = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    assert!(set.starts_with("__Host-sl_csrf="), "{set}");
    let attributes: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"Secure") && attributes.contains(&"Path=/"), "{set}");
    assert!(!set.contains("Domain"), "{set}");
    handle.stop(true).await;
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_served_on_their_own_port_only_from_gauges_kept_in_memory() {
    let app = spawn_app().await;
    let public = app.http.get(format!("{}/metrics", app.base)).send().await.expect("public /metrics");
    assert_eq!(public.status(), 404, "the public port serves no metrics");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = storelink::server::metrics_server(&app.services, listener).expect("metrics server");
    let handle = server.handle();
    tokio::spawn(server);
    let scrape =
        || async { app.http.get(format!("{base}/metrics")).send().await.expect("scrape").text().await.expect("text") };
    assert!(
        wait_for(Duration::from_secs(10), || async { scrape().await.contains("storelink_partner_deliveries_pending") })
            .await,
        "the gauges are read at start"
    );
    assert!(scrape().await.contains("storelink_http_requests_total"), "request counters too");
    handle.stop(true).await;
    app.stop().await;
}
