//! Browser tests in headless Chromium (Debian `chromium` + `chromium-driver`, driven with
//! fantoccini): onboarding with a wrong key then the right one on a store with three sites, the
//! summary page, choosing sites and continuing to the partner, then a reconnect whose summary
//! continues on its own after five seconds; ops sign-in,
//! rotating a key and revoking a tenant. A screenshot of every step is kept in
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
    let partner = partners::create(
        &app.db.pool,
        NewPartner { name: "Browser Partner", redirect_uris: std::slice::from_ref(&callback) },
    )
    .await
    .expect("partner");
    let (_driver, client) = browser().await;

    // Onboarding: a wrong key is refused with a message at the field, then the right key connects.
    let link = format!(
        "{}/connect?partner_id={}&redirect_uri={}&state=s1",
        app.base,
        partner.partner_id,
        url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
    );
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
