//! Browser tests in headless Chromium (Debian `chromium` + `chromium-driver`, driven with
//! fantoccini): onboarding with a wrong key then the right one on a store with three sites, the
//! summary page, choosing sites and continuing to the partner, then a reconnect whose summary
//! continues on its own after five seconds; ops sign-in,
//! rotating a key and revoking a tenant; the ops console at 10,000 tenants (counts, a status filter,
//! needs-attention order, paging, a search, a tenant's last day, an action, a narrow screen); a SAP
//! store's onboarding (the platform choice, OAuth or Basic fields, a missing password, a refused one,
//! the summary).
//! A screenshot of every step is kept in
//! `target/browser-artifacts/`. `.ci/run` installs Chromium; without it this test fails and says how
//! to install it.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::{AppOptions, spawn_app_with, wait_for};
use fantoccini::{Client, ClientBuilder, Locator};
use secrecy::SecretString;
use storelink_ops_console::users::{self, Role};
use storelink_tenants::{NewPartner, partners};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn browser() -> (Driver, Client) {
    // reqwest and fantoccini both link rustls; pick its crypto provider once for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver = ["chromedriver", "/usr/bin/chromedriver"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok())
        .expect("chromedriver not found: `apt-get install chromium chromium-driver` (.ci/run does this)");
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let up = wait_for(Duration::from_secs(10), || {
        let url = url.clone();
        async move { reqwest::get(format!("{url}/status")).await.is_ok() }
    })
    .await;
    assert!(up, "chromedriver answers");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"]}),
    );
    let client = ClientBuilder::rustls().expect("tls").capabilities(caps).connect(&url).await.expect("session");
    (driver, client)
}

async fn shot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// The partner's page the merchant is sent back to.
async fn partner_site() -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = HttpServer::new(|| {
        App::new().route(
            "/partner/callback",
            web::get().to(|req: HttpRequest| async move {
                HttpResponse::Ok()
                    .content_type("text/html")
                    .body(format!("<h1 id=\"partner\">Partner received {}</h1>", req.query_string().replace('<', "")))
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("{base}/partner/callback"), handle)
}

/// A partner returning to `callback`, and its connect link with `query` added.
async fn browser_partner(
    app: &common::TestApp,
    callback: &str,
    query: &str,
) -> (storelink_tenants::PartnerCredentials, String) {
    let uris = [callback.to_owned()];
    let partner = partners::create(&app.db.pool, NewPartner { name: "Browser Partner", redirect_uris: &uris })
        .await
        .expect("partner");
    let link = format!(
        "{}/connect?partner_id={}&redirect_uri={}&{query}",
        app.base,
        partner.partner_id,
        url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
    );
    (partner, link)
}

#[tokio::test]
async fn onboarding_and_ops_in_a_real_browser() {
    let app = spawn_app_with(AppOptions {
        sim: storelink_occ_sim::SimOptions {
            sites: storelink_occ_sim::SimSite::three(),
            allow_http_callbacks: true,
            ..storelink_occ_sim::SimOptions::default()
        },
        ..AppOptions::default()
    })
    .await;
    let (callback, partner_handle) = partner_site().await;
    let (partner, link) = browser_partner(&app, &callback, "platform=occ&state=s1").await;
    let (_driver, client) = browser().await;

    // Onboarding: a wrong key is refused with a message at the field, then the right key connects.
    client.goto(&link).await.expect("open connect");
    shot(&client, "01-connect-form").await;
    client
        .find(Locator::Id("store_url"))
        .await
        .expect("store field")
        .send_keys(&app.sim.base_url())
        .await
        .expect("type");
    client.find(Locator::Id("app_key")).await.expect("key field").send_keys("not-the-key").await.expect("type");
    client.find(Locator::Css("form button[type=submit]")).await.expect("submit").click().await.expect("click");
    let error = client.wait().for_element(Locator::Id("app_key-error")).await.expect("key error shown");
    assert!(!error.text().await.expect("text").is_empty());
    assert!(!client.source().await.expect("html").contains("not-the-key"), "the key is not echoed");
    shot(&client, "02-connect-wrong-key").await;
    client.find(Locator::Id("app_key")).await.expect("key field").send_keys(&app.key).await.expect("type");
    client.find(Locator::Css("form button[type=submit]")).await.expect("submit").click().await.expect("click");

    // The summary: what was found, and the store's sites with the enabled ones selected. Changing the
    // selection stops the auto-continue; saving continues to the partner.
    client.wait().for_element(Locator::Id("summary-title")).await.expect("the summary page");
    let site_eu = client.find(Locator::Id("site-siteEU")).await.expect("siteEU box");
    assert_eq!(site_eu.prop("checked").await.expect("checked").as_deref(), Some("true"));
    let site_uk = client.find(Locator::Id("site-siteUK")).await.expect("siteUK box");
    assert_eq!(site_uk.prop("disabled").await.expect("disabled").as_deref(), Some("true"));
    assert!(!client.source().await.expect("html").contains(&app.key), "no secret on the summary");
    shot(&client, "03-connect-summary").await;
    site_eu.click().await.expect("uncheck siteEU");
    let paused = client.find(Locator::Id("auto-continue")).await.expect("note").text().await.expect("text");
    assert!(paused.contains("when you are ready"), "{paused}");
    shot(&client, "04-sites-chosen").await;
    client.find(Locator::Id("save-sites")).await.expect("save").click().await.expect("click");
    let landed = client.wait().for_element(Locator::Id("partner")).await.expect("back at the partner");
    let text = landed.text().await.expect("text");
    assert!(text.contains("merchant_id=") && text.contains("state=s1"), "{text}");
    assert!(client.current_url().await.expect("url").as_str().starts_with(&callback));
    shot(&client, "05-back-at-partner").await;
    let merchant: String = sqlx::query_scalar("SELECT merchant_id::text FROM merchants WHERE partner_id = $1")
        .bind(partner.partner_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("merchant");
    let selected: Vec<String> =
        sqlx::query_scalar("SELECT site_id FROM merchant_sites WHERE selected ORDER BY site_id")
            .fetch_all(&app.db.pool)
            .await
            .expect("sites");
    assert_eq!(selected, ["siteUS"]);

    // A reconnect left alone: the summary continues to the partner by itself.
    client.goto(&link).await.expect("open connect");
    client.find(Locator::Id("store_url")).await.expect("store").send_keys(&app.sim.base_url()).await.expect("type");
    client.find(Locator::Id("app_key")).await.expect("key field").send_keys(&app.key).await.expect("type");
    client.find(Locator::Css("form button[type=submit]")).await.expect("submit").click().await.expect("click");
    client.wait().for_element(Locator::Id("summary-title")).await.expect("the summary page");
    let started = std::time::Instant::now();
    client.wait().for_element(Locator::Id("partner")).await.expect("auto-continued to the partner");
    assert!(started.elapsed() >= Duration::from_secs(3), "not before the countdown: {:?}", started.elapsed());
    shot(&client, "06-auto-continued").await;

    // Ops: sign in, open the tenant, rotate its key, revoke it.
    users::add(&app.db.pool, "ada", &SecretString::from("correct horse battery".to_owned()), Role::Admin)
        .await
        .expect("user");
    client.goto(&format!("{}/ops", app.base)).await.expect("open ops");
    client.find(Locator::Id("username")).await.expect("user").send_keys("ada").await.expect("type");
    client
        .find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys("correct horse battery")
        .await
        .expect("type");
    shot(&client, "07-ops-login").await;
    client.find(Locator::Css("form button[type=submit]")).await.expect("sign in").click().await.expect("click");
    client.wait().for_element(Locator::Id("tenants")).await.expect("tenants list");
    shot(&client, "08-ops-tenants").await;
    client.goto(&format!("{}/ops/tenants/{merchant}", app.base)).await.expect("tenant page");
    let new_key = app.sim.add_key(storelink_occ_sim::Permissions::all());
    client.find(Locator::Id("new_key")).await.expect("key").send_keys(&new_key).await.expect("type");
    client.find(Locator::Id("action-rotate")).await.expect("rotate").click().await.expect("click");
    let notice = client.wait().for_element(Locator::Id("notice")).await.expect("notice");
    assert!(notice.text().await.expect("text").contains("Key rotated"));
    shot(&client, "09-ops-rotated").await;
    client.find(Locator::Id("confirm")).await.expect("confirm").send_keys(&app.sim.base_url()).await.expect("type");
    client.find(Locator::Id("action-revoke")).await.expect("revoke").click().await.expect("click");
    // The rotate page's notice is still there until the revoke answer replaces the page.
    let revoked = async {
        loop {
            if let Ok(notice) = client.find(Locator::Id("notice")).await
                && notice.text().await.is_ok_and(|t| t.starts_with("Revoked"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), revoked).await.expect("the revoke notice");
    let status = client.find(Locator::Id("tenant-status")).await.expect("status").text().await.expect("text");
    assert_eq!(status, "revoked");
    shot(&client, "10-ops-revoked").await;

    client.close().await.expect("close");
    partner_handle.stop(false).await;
    app.stop().await;
}

/// Whether the element is shown (the stylesheet hides the fields of the authentication not chosen).
async fn displayed(client: &Client, id: &str) -> bool {
    client.find(Locator::Id(id)).await.expect("element").is_displayed().await.expect("displayed")
}

#[tokio::test]
async fn sap_onboarding_in_a_real_browser() {
    use storelink_sap_sim::{InboundAuth, SapSim, SimOptions};
    let app = spawn_app_with(AppOptions::default()).await;
    let sap = SapSim::spawn(SimOptions { products: 5, inbound_auth: InboundAuth::Basic, ..SimOptions::default() })
        .await
        .expect("SAP simulator");
    let secret = "browser-sap-secret-0123456789";
    storelink::demo::add_sap_access(&sap, secret);
    let (callback, partner_handle) = partner_site().await;
    let (partner, link) = browser_partner(&app, &callback, "state=sap1").await;
    let (_driver, client) = browser().await;

    // A link naming no platform: the form asks which.
    client.goto(&link).await.expect("open connect");
    client.wait().for_element(Locator::Id("choose-platform")).await.expect("the platform choice");
    shot(&client, "sap-01-choose-platform").await;
    client.find(Locator::Id("platform-sap")).await.expect("SAP").click().await.expect("click");
    client.find(Locator::Id("choose")).await.expect("continue").click().await.expect("click");

    // The SAP form: API base URL, OAuth by default, the ImpEx to import first.
    client.wait().for_element(Locator::Id("sap_auth-oauth")).await.expect("the SAP form");
    let impex = client.find(Locator::Id("setup-file-1")).await.expect("ImpEx link");
    assert!(impex.attr("href").await.expect("href").is_some_and(|h| h.ends_with(".impex")));
    assert!(displayed(&client, "sap_client_id").await && !displayed(&client, "sap_user").await);
    shot(&client, "sap-02-form-oauth").await;
    // Basic: the user and password are asked instead, no script involved.
    client.find(Locator::Id("sap_auth-basic")).await.expect("basic").click().await.expect("click");
    assert!(displayed(&client, "sap_user").await && !displayed(&client, "sap_client_id").await);
    client.find(Locator::Id("store_url")).await.expect("API URL").send_keys(&sap.base_url()).await.expect("type");
    client.find(Locator::Id("sap_user")).await.expect("user").send_keys("storelink").await.expect("type");
    shot(&client, "sap-03-form-basic").await;

    // No password: the message is beside the field.
    client.find(Locator::Css("form button[type=submit]")).await.expect("submit").click().await.expect("click");
    let error = client.wait().for_element(Locator::Id("sap_password-error")).await.expect("password error");
    assert!(error.text().await.expect("text").contains("password"));
    assert!(displayed(&client, "sap_user").await, "Basic is still chosen");
    shot(&client, "sap-04-missing-password").await;

    // A wrong password is refused in SAP's words and never echoed.
    client.find(Locator::Id("sap_password")).await.expect("password").send_keys("wrong-password").await.expect("type");
    client.find(Locator::Css("form button[type=submit]")).await.expect("submit").click().await.expect("click");
    let refused = async {
        loop {
            if let Ok(error) = client.find(Locator::Id("sap_password-error")).await
                && error.text().await.is_ok_and(|t| t.contains("refused these credentials"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), refused).await.expect("the refusal");
    assert!(!client.source().await.expect("html").contains("wrong-password"), "the password is not echoed");
    shot(&client, "sap-05-refused").await;

    // The right password connects; the summary continues to the partner.
    client.find(Locator::Id("sap_password")).await.expect("password").send_keys(secret).await.expect("type");
    client.find(Locator::Css("form button[type=submit]")).await.expect("submit").click().await.expect("click");
    client.wait().for_element(Locator::Id("summary-title")).await.expect("the summary page");
    assert!(!client.source().await.expect("html").contains(secret), "no secret on the summary");
    shot(&client, "sap-06-summary").await;
    let landed = client.wait().for_element(Locator::Id("partner")).await.expect("back at the partner");
    assert!(landed.text().await.expect("text").contains("state=sap1"));
    shot(&client, "sap-07-back-at-partner").await;
    let platform: String = sqlx::query_scalar("SELECT platform FROM merchants WHERE partner_id = $1")
        .bind(partner.partner_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("merchant");
    assert_eq!(platform, "sap");

    client.close().await.expect("close");
    partner_handle.stop(false).await;
    sap.stop().await;
    app.stop().await;
}

/// Fills the ops sign-in form and waits for the tenants list.
async fn ops_sign_in(client: &Client, base: &str, user: &str, password: &str) {
    client.goto(&format!("{base}/ops")).await.expect("open ops");
    client.find(Locator::Id("username")).await.expect("user").send_keys(user).await.expect("type");
    client.find(Locator::Id("password")).await.expect("password").send_keys(password).await.expect("type");
    client.find(Locator::Css("form button[type=submit]")).await.expect("sign in").click().await.expect("click");
    client.wait().for_element(Locator::Id("tenants")).await.expect("tenants list");
}

async fn text_of(client: &Client, locator: Locator<'_>) -> String {
    client.find(locator).await.expect("element").text().await.expect("text")
}

/// The store URLs of the list's rows, top to bottom.
async fn listed_stores(client: &Client) -> Vec<String> {
    let mut stores = Vec::new();
    for cell in client.find_all(Locator::Css("#tenants tbody th[scope=row] a")).await.expect("rows") {
        stores.push(cell.text().await.expect("text"));
    }
    stores
}

/// Waits until the page's `#matching` line says `text` (the click's page replaced the last one).
async fn wait_for_matching(client: &Client, text: &str) {
    let found = async {
        loop {
            if let Ok(line) = client.find(Locator::Id("matching")).await
                && line.text().await.is_ok_and(|t| t.contains(text))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), found).await.unwrap_or_else(|_| panic!("the list says {text:?}"));
}

#[tokio::test]
async fn ops_console_at_ten_thousand_tenants() {
    let app = spawn_app_with(AppOptions::default()).await;
    // The fleet's stores do not exist: no worker may try to sync them.
    app.stop_workers();
    let pool = &app.db.pool;
    storelink_testkit::fleet::seed_fleet(pool, 10_000).await.expect("fleet");
    // Store 58 (a failed slot) had a busy day: syncs every 20 minutes, deliveries, a few failures.
    let busy: String = sqlx::query_scalar("SELECT merchant_id::text FROM merchants WHERE store_url = $1")
        .bind(storelink_testkit::fleet::store_url(58))
        .fetch_one(pool)
        .await
        .expect("store 58");
    sqlx::query(
        "INSERT INTO jobs (merchant_id, kind, mode, state, attempts, last_error, created_at, finished_at, updated_at)
         SELECT $1::uuid, k, 'incremental', 'succeeded', CASE WHEN g % 17 = 0 THEN 1 ELSE 0 END,
                CASE WHEN g % 17 = 0 THEN 'the store answered 503' END,
                now() - make_interval(mins => g * 20), now() - make_interval(mins => g * 20),
                now() - make_interval(mins => g * 20)
         FROM generate_series(0, 71) g, unnest(ARRAY['catalog', 'orders']) k",
    )
    .bind(&busy)
    .execute(pool)
    .await
    .expect("job history");
    sqlx::query(
        "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body, received_at, processed_at, last_error)
         SELECT $1::uuid, 'order-submit', 'fleet-' || g, '\\x7b7d'::bytea, now() - make_interval(mins => g * 7 + g % 5),
                now() - make_interval(mins => g * 7), CASE WHEN g % 40 = 0 THEN 'unknown order' END
         FROM generate_series(0, 200) g",
    )
    .bind(&busy)
    .execute(pool)
    .await
    .expect("deliveries");
    users::add(pool, "ada", &SecretString::from("correct horse battery".to_owned()), Role::Admin).await.expect("user");
    let (_driver, client) = browser().await;
    client.set_window_size(1400, 1000).await.expect("window");

    // The counts at the top: 10,000 in all, every 50th credentials-invalid (200).
    ops_sign_in(&client, &app.base, "ada", "correct horse battery").await;
    let all = text_of(&client, Locator::Css("#count-all .count-n")).await;
    assert_eq!(all, "10000");
    assert_eq!(text_of(&client, Locator::Css("#count-credentials_invalid .count-n")).await, "200");
    let flagged: i64 = text_of(&client, Locator::Css("#count-needs_attention .count-n")).await.parse().expect("n");
    assert!(flagged > 500, "failed slots, syncs and dead letters: {flagged}");
    let rows = listed_stores(&client).await;
    assert_eq!(rows.len(), 50, "one page");
    // Needs attention first: the credentials-invalid tenants (720 points) lead.
    let badges = client.find_all(Locator::Css("#tenants tbody .badge")).await.expect("badges");
    assert_eq!(badges[0].text().await.expect("text"), "credentials invalid");
    shot(&client, "11-ops-10k-tenants").await;

    // A count is a filter link.
    client.find(Locator::Id("count-paused")).await.expect("paused").click().await.expect("click");
    wait_for_matching(&client, "tenant(s) match").await;
    let paused = text_of(&client, Locator::Css("#count-paused .count-n")).await;
    wait_for_matching(&client, &format!("{paused} tenant(s) match")).await;
    for badge in client.find_all(Locator::Css("#tenants tbody .badge")).await.expect("badges") {
        assert_eq!(badge.text().await.expect("text"), "paused");
    }
    assert_eq!(
        client.find(Locator::Id("count-paused")).await.expect("link").attr("aria-current").await.expect("attr"),
        Some("page".to_owned())
    );
    shot(&client, "12-ops-filter-paused").await;

    // Needs attention, most urgent first, then the next page.
    client.find(Locator::Id("count-needs_attention")).await.expect("link").click().await.expect("click");
    wait_for_matching(&client, &format!("{flagged} tenant(s) match, needs attention first")).await;
    let first_page = listed_stores(&client).await;
    assert_eq!(first_page.len(), 50);
    let scores = client.find_all(Locator::Css("#tenants tbody .score")).await.expect("scores");
    assert_eq!(scores.len(), 50, "every row needs attention");
    shot(&client, "13-ops-needs-attention").await;
    client.find(Locator::Id("next-page")).await.expect("next").click().await.expect("click");
    client.wait().for_element(Locator::Id("first-page")).await.expect("a later page");
    let second_page = listed_stores(&client).await;
    assert_eq!(second_page.len(), 50);
    assert!(second_page.iter().all(|s| !first_page.contains(s)), "the next page holds other tenants");
    assert!(client.current_url().await.expect("url").as_str().contains("after=a."));
    shot(&client, "14-ops-next-page").await;

    // Ordered by store host instead.
    client.find(Locator::Css("#sort option[value=store]")).await.expect("option").click().await.expect("select");
    client.find(Locator::Id("apply")).await.expect("apply").click().await.expect("click");
    wait_for_matching(&client, "by store host").await;
    let by_host = listed_stores(&client).await;
    let mut sorted = by_host.clone();
    sorted.sort();
    assert_eq!(by_host, sorted);

    // A search by store host, then the tenant's page with its last day.
    client.goto(&format!("{}/ops", app.base)).await.expect("list");
    client.find(Locator::Id("q")).await.expect("search").send_keys("store-00058").await.expect("type");
    client.find(Locator::Id("apply")).await.expect("apply").click().await.expect("click");
    wait_for_matching(&client, "Matches for").await;
    assert_eq!(listed_stores(&client).await, [storelink_testkit::fleet::store_url(58)]);
    shot(&client, "15-ops-search").await;
    client.find(Locator::Css("#tenants tbody th a")).await.expect("row").click().await.expect("open");
    client.wait().for_element(Locator::Id("chart-syncs")).await.expect("the last day");
    assert!(client.current_url().await.expect("url").as_str().ends_with(&busy));
    let total = |id: &'static str| {
        let client = client.clone();
        async move {
            let text = text_of(&client, Locator::Css(&format!("#chart-{id} .chart-total"))).await;
            text.parse::<i64>().expect("a number")
        }
    };
    // 72 runs of each of two sync kinds in 24 hours, 20 minutes apart (one at the very edge may drop).
    let syncs = total("syncs").await;
    assert!((140..=144).contains(&syncs), "{syncs}");
    let inbound = total("inbound").await;
    assert!((195..=201).contains(&inbound), "{inbound}");
    assert!(total("failures").await >= 8);
    let bars = client.find_all(Locator::Css("#chart-syncs svg rect")).await.expect("bars");
    assert_eq!(bars.len(), 24, "one bar an hour");
    let score = text_of(&client, Locator::Id("tenant-score")).await;
    assert!(score.starts_with("24") && score.contains("1 failed slot"), "{score}");
    shot(&client, "16-ops-tenant-last-day").await;

    // The actions still work at this size (CSRF form, audited).
    client.find(Locator::Id("action-pause")).await.expect("pause").click().await.expect("click");
    let notice = client.wait().for_element(Locator::Id("notice")).await.expect("notice");
    assert!(notice.text().await.expect("text").starts_with("Paused"));
    assert_eq!(text_of(&client, Locator::Id("tenant-status")).await, "paused");
    shot(&client, "17-ops-tenant-paused").await;

    // A phone-sized screen: the list still reads, the counts wrap.
    client.set_window_size(420, 900).await.expect("window");
    client.goto(&format!("{}/ops", app.base)).await.expect("list");
    client.wait().for_element(Locator::Id("tenants")).await.expect("tenants");
    shot(&client, "18-ops-narrow").await;

    client.close().await.expect("close");
    app.stop().await;
}
