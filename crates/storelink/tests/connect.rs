//! The merchant connect flow end to end: real server, real Postgres, OCC simulator over HTTP.

mod common;

use common::{
    AppOptions, ORDER_SUBMIT_HOOK, REDIRECT_URI, RETURN_UPDATE_HOOK, count, merchant_id_from, spawn_app,
    spawn_app_with, wait_for,
};
use std::time::Duration;
use storelink_occ_sim::{Fault, FaultKind, Permissions, SimOptions, SimSite};

async fn slot_statuses(pool: &sqlx::PgPool, merchant: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT slot, status FROM webhook_slots WHERE merchant_id = $1::uuid ORDER BY slot")
        .bind(merchant)
        .fetch_all(pool)
        .await
        .expect("slots")
}

/// Every text value in every user table, and every bytea value, as one haystack per row.
async fn all_rows(pool: &sqlx::PgPool) -> Vec<Vec<u8>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let mut rows = Vec::new();
    for table in tables {
        // The row's text form holds bytea as hex; the raw bytes are checked separately below.
        let text: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM {table} t")).fetch_all(pool).await.expect("rows");
        rows.extend(text.into_iter().map(String::into_bytes));
    }
    let blobs: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT ciphertext FROM vault_secrets UNION ALL SELECT sealed_dek FROM vault_data_keys")
            .fetch_all(pool)
            .await
            .expect("blobs");
    rows.extend(blobs);
    rows
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn happy_path_connects_registers_the_discovered_slots_and_redirects() {
    let app = spawn_app().await;
    app.sim.set_webhook_urls(ORDER_SUBMIT_HOOK, vec!["https://oms.example/occ/orders".into()]);

    let response = app.connect().await;
    assert_eq!(response.status(), 200, "the summary page");
    let location = common::continue_url(&response);
    assert!(location.starts_with(&format!("{REDIRECT_URI}?merchant_id=")), "{location}");
    assert!(location.ends_with("&state=xyz-123"), "no warnings expected: {location}");
    let merchant = merchant_id_from(&response);

    // The initial syncs were enqueued in the transaction that made the merchant active (`now()` is
    // the transaction's start): the scheduler never sees the merchant without them, so it cannot add
    // a second run of a kind beside them.
    let with_merchant = count(
        &app.db.pool,
        "SELECT count(*) FROM jobs j JOIN merchants m USING (merchant_id) WHERE j.created_at = m.connected_at",
    )
    .await;
    assert_eq!(with_merchant, 4, "the four initial syncs commit with the merchant");

    // The initial syncs start at once and reuse the connect's token: still exactly one login.
    let pool = app.db.pool.clone();
    let synced = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL").await == 4 }
    })
    .await;
    assert!(synced, "catalog, inventory, shipping and orders synced after the connect");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM products").await, 50);

    // One login, one listing of the store's production webhooks (discovery), and a write to each
    // webhook a slot was mapped to: the non-PCI Order Submit and Return Request Update.
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), 1);
    let listed = app.sim.calls().into_iter().filter(|c| c.method == "GET" && c.path == "/ccadmin/v1/webhooks").count();
    assert_eq!(listed, 1, "discovery lists the webhooks once");
    let puts: Vec<_> = app
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT" && c.path.starts_with("/ccadmin/v1/webhooks/"))
        .collect();
    assert_eq!(puts.len(), 2);
    for (slot, hook) in [("order-submit", ORDER_SUBMIT_HOOK), ("return-request-update", RETURN_UPDATE_HOOK)] {
        let put = puts.iter().find(|c| c.path == format!("/ccadmin/v1/webhooks/{hook}")).expect("PUT for slot");
        let body: serde_json::Value = serde_json::from_str(&put.body).expect("JSON body");
        let urls = body["urls"].as_array().expect("urls in body");
        let ours = format!("{}/webhooks/occ/{merchant}/{slot}", app.base);
        assert!(urls.iter().any(|u| u == &ours), "{slot}: {urls:?}");
    }
    assert_eq!(app.sim.webhook("production-submitOrder").expect("full")["urls"], serde_json::json!([]), "no card data");
    // Read, merge, write: the merchant's OMS receiver is still there.
    let webhook = app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook");
    let urls: Vec<String> = serde_json::from_value(webhook["urls"].clone()).expect("urls");
    assert_eq!(
        urls,
        vec!["https://oms.example/occ/orders".to_owned(), format!("{}/webhooks/occ/{merchant}/order-submit", app.base)]
    );

    let unsupported = |slot: &str| (slot.to_owned(), "unsupported".to_owned());
    let registered = |slot: &str| (slot.to_owned(), "registered".to_owned());
    assert_eq!(
        slot_statuses(&app.db.pool, &merchant).await,
        vec![
            registered("order-submit"),
            unsupported("order-update"),
            registered("return-request-update"),
            unsupported("shipment-create"),
            unsupported("shipment-update"),
        ]
    );
    // Each slot records the store webhook it was mapped to; a slot OCC has no webhook for says how
    // its events arrive instead, and how fresh they are.
    let ids: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT slot, occ_webhook_id, last_error FROM webhook_slots WHERE merchant_id = $1::uuid ORDER BY slot",
    )
    .bind(&merchant)
    .fetch_all(&app.db.pool)
    .await
    .expect("slots");
    assert_eq!(ids[0].1, ORDER_SUBMIT_HOOK);
    assert_eq!(ids[2].1, RETURN_UPDATE_HOOK);
    let statement = ids[1].2.clone().expect("statement");
    assert!(statement.contains("OCC has no order update webhook"), "{statement}");
    assert!(statement.contains("orders sync") && statement.contains("5 minutes"), "{statement}");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchant_checks WHERE NOT ok").await, 0);

    // The key is sealed: decryptable through the vault, absent from every stored byte.
    let opened = app
        .services
        .vault
        .open_string(merchant.parse().expect("uuid"), storelink_connector_occ::APP_KEY_PURPOSE)
        .await
        .expect("open")
        .expect("sealed key");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), app.key);
    for row in all_rows(&app.db.pool).await {
        assert!(!contains(&row, app.key.as_bytes()), "plaintext key found in the database");
        assert!(!contains(&row, &app.key.as_bytes()[..24]), "part of the key found in the database");
    }
    app.stop().await;
}

#[tokio::test]
async fn rejected_key_is_422_and_nothing_is_saved() {
    let app = spawn_app().await;
    let response = app.connect_with(&app.sim.base_url(), "eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln").await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("Your store rejected this Application Key"), "{page}");
    assert!(!page.contains("not an OCC admin address"), "an OCC error answer is a refused key: {page}");
    assert!(page.contains(&format!("value=\"{}\"", app.sim.base_url())), "the store URL is kept");
    assert!(!page.contains("eyJhbGciOiJSUzI1NiJ9.bm9wZQ"), "the key is never echoed");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM vault_secrets").await, 0);
    assert_eq!(app.sim.calls().iter().filter(|c| c.path.contains("webhooks")).count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn revoked_key_is_rejected() {
    let app = spawn_app().await;
    app.sim.revoke_key(&app.key);
    let response = app.connect().await;
    assert_eq!(response.status(), 422);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_slot_does_not_fail_the_connection_and_is_retried() {
    let app = spawn_app().await;
    let path = format!("/ccadmin/v1/webhooks/{RETURN_UPDATE_HOOK}");
    let fault = app.sim.inject(Fault::new(Some("PUT"), &path, FaultKind::Status(500)));

    let response = app.connect().await;
    assert_eq!(response.status(), 200);
    let merchant = merchant_id_from(&response);
    let statuses = slot_statuses(&app.db.pool, &merchant).await;
    assert_eq!(statuses.iter().filter(|(_, s)| s == "registered").count(), 1, "{statuses:?}");
    assert!(statuses.contains(&("return-request-update".into(), "failed".into())), "{statuses:?}");
    let error: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM webhook_slots WHERE slot = 'return-request-update'")
            .fetch_one(&app.db.pool)
            .await
            .expect("error");
    assert!(error.is_some_and(|e| !e.is_empty()));
    // The connect's token is in the token cache: the retry passes take it instead of logging in.
    let logins_after_connect = app.sim.count("POST", "/ccadmin/v1/login");

    // The store recovers; the background retry registers the slot.
    app.sim.remove_fault(fault);
    let pool = app.db.pool.clone();
    let registered = wait_for(Duration::from_secs(10), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM webhook_slots WHERE status = 'registered'").await == 2 }
    })
    .await;
    assert!(registered, "the failed slot was registered by the retry");
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), logins_after_connect, "the retry made no login of its own");
    let urls = app.sim.webhook(RETURN_UPDATE_HOOK).expect("webhook")["urls"].clone();
    assert_eq!(urls, serde_json::json!([format!("{}/webhooks/occ/{merchant}/return-request-update", app.base)]));
    app.stop().await;
}

#[tokio::test]
async fn reconnecting_keeps_the_merchant_and_replaces_the_key() {
    let app = spawn_app().await;
    let first = merchant_id_from(&app.connect().await);
    let new_key = app.sim.add_key(Permissions::all());
    let second = app.connect_with(&format!("{}/occs-admin/", app.sim.base_url()), &new_key).await;
    assert_eq!(second.status(), 200);
    assert_eq!(merchant_id_from(&second), first);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 1);
    let opened = app
        .services
        .vault
        .open_string(first.parse().expect("uuid"), storelink_connector_occ::APP_KEY_PURPOSE)
        .await
        .expect("open")
        .expect("key");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), new_key);
    // Our URL is already on each webhook: no duplicate entries after the second connect.
    let urls = app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook")["urls"].as_array().expect("urls").len();
    assert_eq!(urls, 1);
    app.stop().await;
}

#[tokio::test]
async fn missing_shipping_methods_and_permission_are_warnings() {
    let app = spawn_app_with(AppOptions {
        sim: SimOptions { shipping_methods: 0, allow_http_callbacks: true, ..SimOptions::default() },
        ..AppOptions::default()
    })
    .await;
    let limited = app.sim.add_key(Permissions { orders: false, ..Permissions::all() });
    let response = app.connect_with(&app.sim.base_url(), &limited).await;
    assert_eq!(response.status(), 200);
    let location = common::continue_url(&response);
    assert!(location.contains("warnings=no_shipping_methods%2Cmissing_permission%3Aorders"), "{location}");
    let warnings: Vec<(String, String)> =
        sqlx::query_as("SELECT check_name, detail FROM merchant_checks WHERE NOT ok ORDER BY check_name")
            .fetch_all(&app.db.pool)
            .await
            .expect("checks");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].0, "permission:orders");
    assert!(warnings[0].1.contains("does not allow reading orders"));
    assert_eq!(warnings[1].0, "shipping_methods");
    assert!(warnings[1].1.contains("no enabled shipping methods"));
    app.stop().await;
}

#[tokio::test]
async fn csrf_token_missing_or_wrong_is_403() {
    let app = spawn_app().await;
    let session = app.open_form().await;
    let fields = [("store_url", app.sim.base_url()), ("app_key", app.key.clone())];

    let wrong = common::FormSession { cookie: session.cookie.clone(), token: "AAAA".into() };
    assert_eq!(app.post_connect(&wrong, &fields).await.status(), 403);
    let no_cookie = common::FormSession { cookie: "other=1".into(), token: session.token.clone() };
    assert_eq!(app.post_connect(&no_cookie, &fields).await.status(), 403);
    let other_session = app.open_form().await;
    let mixed = common::FormSession { cookie: other_session.cookie.clone(), token: session.token.clone() };
    // Both sessions share nothing but the server key, so tokens are not interchangeable.
    if other_session.cookie != session.cookie {
        assert_eq!(app.post_connect(&mixed, &fields).await.status(), 403);
    }
    let missing = app
        .http
        .post(format!("{}/connect", app.base))
        .header("cookie", &session.cookie)
        .form(&[
            ("partner_id", app.partner.partner_id.to_string()),
            ("redirect_uri", REDIRECT_URI.into()),
            ("store_url", app.sim.base_url()),
            ("app_key", app.key.clone()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status(), 403);
    assert_eq!(app.sim.calls().len(), 0, "no OCC call without a valid token");
    assert_eq!(app.post_connect(&session, &fields).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn redirect_uri_not_registered_is_400_without_redirect() {
    let app = spawn_app().await;
    let evil = "https://evil.example/steal";
    let response = app
        .http
        .get(format!("{}/connect", app.base))
        .query(&[
            ("partner_id", app.partner.partner_id.to_string()),
            ("redirect_uri", evil.into()),
            ("state", "s".into()),
        ])
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.expect("page").contains("not registered for Acme Marketplace"));

    let unknown = app
        .http
        .get(format!("{}/connect", app.base))
        .query(&[("partner_id", uuid::Uuid::new_v4().to_string()), ("redirect_uri", REDIRECT_URI.into())])
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), 400);

    let session = app.open_form().await;
    let response = app
        .post_connect(
            &session,
            &[("redirect_uri", evil.into()), ("store_url", app.sim.base_url()), ("app_key", app.key.clone())],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0);
    assert_eq!(app.sim.calls().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn too_many_attempts_from_one_client_is_429() {
    let app = spawn_app_with(AppOptions { per_client_per_minute: 2, ..AppOptions::default() }).await;
    let session = app.open_form().await;
    let bad = [("store_url", app.sim.base_url()), ("app_key", "wrong".to_owned())];
    assert_eq!(app.post_connect(&session, &bad).await.status(), 422);
    assert_eq!(app.post_connect(&session, &bad).await.status(), 422);
    let limited = app.post_connect(&session, &bad).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert!(limited.text().await.expect("page").contains("Too many attempts"));
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), 2, "a limited attempt reaches no store");
    app.stop().await;
}

#[tokio::test]
async fn too_many_attempts_for_one_store_is_429() {
    let app = spawn_app_with(AppOptions { per_store_per_minute: 1, ..AppOptions::default() }).await;
    let session = app.open_form().await;
    let bad = [("store_url", app.sim.base_url()), ("app_key", "wrong".to_owned())];
    assert_eq!(app.post_connect(&session, &bad).await.status(), 422);
    assert_eq!(app.post_connect(&session, &bad).await.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn private_store_addresses_are_refused_without_the_dev_switch() {
    let app = spawn_app_with(AppOptions { allow_insecure: false, ..AppOptions::default() }).await;
    let port = app.sim.addr().port();
    for store in [
        app.sim.base_url(),
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        "https://10.0.0.8".into(),
        "https://169.254.169.254".into(),
    ] {
        let response = app.connect_with(&store, &app.key).await;
        assert_eq!(response.status(), 422, "{store}");
        let page = response.text().await.expect("page");
        assert!(page.contains("aria-invalid=\"true\""), "{store}: the store field is marked invalid");
    }
    assert_eq!(app.sim.calls().len(), 0, "no request reached the private address");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn bad_store_url_and_missing_key_are_specific_422s() {
    let app = spawn_app().await;
    let session = app.open_form().await;
    let r = app
        .post_connect(&session, &[("store_url", "ftp://mystore.oracle.com".into()), ("app_key", app.key.clone())])
        .await;
    assert_eq!(r.status(), 422);
    let r = app.post_connect(&session, &[("store_url", app.sim.base_url()), ("app_key", "   ".into())]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("Paste your OCC Application Key"));
    // A port nobody listens on: unreachable store, named as such.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let r = app
        .post_connect(&session, &[("store_url", format!("http://127.0.0.1:{closed}")), ("app_key", app.key.clone())])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("We could not reach a store"));
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(health.headers().get("x-request-id").is_some());
    let ready = app.http.get(format!("{}/readyz", app.base)).send().await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let css = app.http.get(format!("{}/static/storelink.css", app.base)).send().await.expect("css");
    assert_eq!(css.status(), 200);
    app.stop().await;
}

async fn selected_sites(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT site_id FROM merchant_sites WHERE selected ORDER BY site_id")
        .fetch_all(pool)
        .await
        .expect("sites")
}

/// `POST /connect/sites` with the given form fields (site ids as repeated `site` fields).
async fn post_sites(app: &common::TestApp, cookie: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(format!("{}/connect/sites", app.base))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .expect("POST /connect/sites")
}

#[tokio::test]
async fn the_summary_page_shows_what_was_found_and_saves_the_merchants_sites() {
    let app = spawn_app_with(AppOptions {
        sim: SimOptions {
            sites: SimSite::three(),
            shipping_methods: 0,
            allow_http_callbacks: true,
            ..SimOptions::default()
        },
        ..AppOptions::default()
    })
    .await;
    let session = app.open_form().await;
    let fields = [("store_url", app.sim.base_url()), ("app_key", app.key.clone())];
    let response = app.post_connect(&session, &fields).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let target = common::continue_url(&response);
    assert!(target.starts_with(REDIRECT_URI) && target.contains("warnings=no_shipping_methods"), "{target}");
    let merchant = merchant_id_from(&response);
    let html = response.text().await.expect("html");

    // What was found: the key, the missing shipping methods with what to do, each slot.
    assert!(html.contains("Valid: the test login succeeded"), "{html}");
    assert!(html.contains("id=\"check-shipping_methods\""), "{html}");
    assert!(html.contains("id=\"check-permission-orders\""), "{html}");
    for slot in ["order-submit", "order-update", "shipment-create", "shipment-update"] {
        assert!(html.contains(&format!("id=\"slot-{slot}\"")), "{slot}: {html}");
    }
    assert!(!html.contains(&app.key) && !html.contains(&app.key[..24]), "no secret on the page");
    // The way back: a Continue now link, the auto-continue script, and a no-script refresh.
    assert!(html.contains("id=\"continue\"") && html.contains("Continue now"));
    assert!(html.contains("src=\"/static/connect-summary.js\"") && html.contains("http-equiv=\"refresh\""));
    let script = app.http.get(format!("{}/static/connect-summary.js", app.base)).send().await.expect("script");
    assert_eq!(script.status(), 200);
    assert!(script.text().await.expect("js").contains("sites-form"));

    // The sites: the enabled ones are selected, the disabled one cannot be chosen.
    assert_eq!(app.sim.count("GET", "/ccadmin/v1/sites"), 1);
    assert_eq!(selected_sites(&app.db.pool).await, ["siteEU", "siteUS"]);
    assert!(html.contains("id=\"site-siteUS\" name=\"site\" value=\"siteUS\" checked"), "{html}");
    assert!(html.contains("id=\"site-siteUK\" name=\"site\" value=\"siteUK\" disabled"), "{html}");
    let token = storelink_testkit::extract_csrf_token(&html).expect("the sites form's token");
    assert_ne!(token, session.token, "the site form has a token of its own");
    let partner = app.partner.partner_id.to_string();
    let form = |token: &str, sites: &[&'static str]| {
        let mut fields: Vec<(&str, String)> = vec![
            ("csrf_token", token.to_owned()),
            ("merchant_id", merchant.clone()),
            ("partner_id", partner.clone()),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("state", "xyz-123".to_owned()),
        ];
        fields.extend(sites.iter().map(|s| ("site", (*s).to_owned())));
        fields
    };
    let send = |fields: Vec<(&'static str, String)>, cookie: String| {
        let app = &app;
        async move {
            let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_sites(app, &cookie, &borrowed).await
        }
    };

    // Refused: another browser's cookie, the connect form's token, no site, a disabled site.
    let other = app.open_form().await;
    assert_eq!(send(form(&token, &["siteUS"]), other.cookie.clone()).await.status(), 403);
    assert_eq!(send(form(&session.token, &["siteUS"]), session.cookie.clone()).await.status(), 403);
    assert_eq!(send(form(&token, &[]), session.cookie.clone()).await.status(), 422);
    assert_eq!(send(form(&token, &["siteUK"]), session.cookie.clone()).await.status(), 422);
    assert_eq!(selected_sites(&app.db.pool).await, ["siteEU", "siteUS"], "nothing refused was saved");

    // Saved: back to the partner, with the same continue target.
    let saved = send(form(&token, &["siteUS"]), session.cookie.clone()).await;
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"].to_str().expect("location"), target);
    assert_eq!(selected_sites(&app.db.pool).await, ["siteUS"]);

    // A reconnect keeps the merchant's choice.
    let again = app.connect().await;
    assert_eq!(again.status(), 200);
    assert_eq!(selected_sites(&app.db.pool).await, ["siteUS"]);
    app.stop().await;
}

/// Saving another site selection queues a full resync: the dropped site's catalog, stock and shipping
/// rows are removed and announced deleted; the kept site's stay.
#[tokio::test]
async fn changing_the_site_selection_resyncs_without_the_dropped_site() {
    let app = spawn_app_with(AppOptions {
        sim: SimOptions { sites: SimSite::three(), products: 20, allow_http_callbacks: true, ..SimOptions::default() },
        ..AppOptions::default()
    })
    .await;
    let session = app.open_form().await;
    let fields = [("store_url", app.sim.base_url()), ("app_key", app.key.clone())];
    let response = app.post_connect(&session, &fields).await;
    assert_eq!(response.status(), 200);
    let merchant = merchant_id_from(&response);
    let html = response.text().await.expect("html");
    app.wait_synced().await;
    let eu_rows = "SELECT (SELECT count(*) FROM products WHERE site_id = 'siteEU')
                        + (SELECT count(*) FROM inventory WHERE site_id = 'siteEU')
                        + (SELECT count(*) FROM shipping_methods WHERE site_id = 'siteEU')";
    let synced =
        "SELECT count(*) FROM sync_state WHERE kind IN ('inventory', 'shipping') AND last_success_at IS NOT NULL";
    assert!(common::wait_for_count(&app.db.pool, synced, 2, Duration::from_secs(30)).await);
    let by_site: Vec<(String, i64)> =
        sqlx::query_as("SELECT site_id, count(*) FROM products GROUP BY site_id ORDER BY site_id")
            .fetch_all(&app.db.pool)
            .await
            .expect("rows");
    assert_eq!(by_site, [("siteEU".to_owned(), 18), ("siteUS".to_owned(), 20)]);
    assert!(sqlx::query_scalar::<_, i64>(eu_rows).fetch_one(&app.db.pool).await.expect("rows") > 18);

    let token = storelink_testkit::extract_csrf_token(&html).expect("the sites form's token");
    let partner = app.partner.partner_id.to_string();
    let fields = [
        ("csrf_token", token.as_str()),
        ("merchant_id", merchant.as_str()),
        ("partner_id", partner.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("state", "xyz-123"),
        ("site", "siteUS"),
    ];
    assert_eq!(post_sites(&app, &session.cookie, &fields).await.status(), 303);
    assert!(
        common::wait_for_count(&app.db.pool, eu_rows, 0, Duration::from_secs(30)).await,
        "the dropped site's rows are gone"
    );
    let announced =
        "SELECT count(*) FROM change_events WHERE entity = 'product' AND change = 'deleted' AND site_id = 'siteEU'";
    assert!(common::wait_for_count(&app.db.pool, announced, 18, Duration::from_secs(10)).await, "and announced");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE site_id = 'siteUS'")
        .fetch_one(&app.db.pool)
        .await
        .expect("kept");
    assert_eq!(kept, 20);
    app.stop().await;
}

#[tokio::test]
async fn a_store_whose_sites_cannot_be_listed_still_connects_and_says_so() {
    let app = spawn_app().await;
    app.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/sites", FaultKind::Status(403)));
    let response = app.connect().await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"sites-error\""), "{html}");
    assert!(html.contains("uses your default site"), "{html}");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchant_sites").await, 0);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants WHERE status = 'active'").await, 1);
    app.stop().await;
}
/// Issue 16 item 8: an address answering the login path with a web page (a storefront, a custom
/// domain) is not a refused key; the merchant is told which address to enter instead.
#[tokio::test]
async fn an_address_without_an_occ_login_is_not_a_rejected_key() {
    let app = spawn_app().await;
    for status in [404, 200] {
        let fault = app.sim.inject(Fault::new(Some("POST"), "/ccadmin/v1/login", FaultKind::Html(status)));
        let response = app.connect().await;
        assert_eq!(response.status(), 422, "HTML {status}");
        let page = response.text().await.expect("page");
        assert!(page.contains("it is not an OCC admin address"), "HTML {status}: {page}");
        assert!(page.contains("-admin.occa.ocs.oraclecloud.com"), "names the address to enter: {page}");
        assert!(!page.contains("rejected this Application Key"), "HTML {status}: {page}");
        app.sim.remove_fault(fault);
    }
    // The simulator's storefront origin (no Admin API there, as on a real storefront host).
    let response = app.connect_with(&app.sim.storefront_url(), &app.key).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("it is not an OCC admin address"), "a storefront address: {page}");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0);
    app.stop().await;
}

/// Issue 16 item 8: a store that answers its login with 5xx is down, not refusing the key.
#[tokio::test]
async fn a_store_answering_5xx_is_down_not_refusing_the_key() {
    let app = spawn_app().await;
    app.sim.inject(Fault::new(Some("POST"), "/ccadmin/v1/login", FaultKind::Status(503)));
    let response = app.connect().await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("your store may be down"), "{page}");
    assert!(!page.contains("rejected this Application Key") && !page.contains("not an OCC admin address"), "{page}");
    app.stop().await;
}

async fn hosts_of(pool: &sqlx::PgPool, merchant: &str) -> (String, String, String) {
    sqlx::query_as(
        "SELECT COALESCE(admin_override, admin_url), COALESCE(storefront_override, storefront_url), storefront_source
         FROM merchant_hosts WHERE merchant_id = $1::uuid",
    )
    .bind(merchant)
    .fetch_one(pool)
    .await
    .expect("merchant_hosts")
}

/// Issue 16 item 4: the storefront (agent API) is found from the store's default site, probed at
/// connect, stored with the admin host, and orders are placed on it (the simulator's admin origin
/// refuses the agent API, its storefront origin the Admin API).
#[tokio::test]
async fn the_storefront_host_is_found_from_the_sites_probed_and_used_for_orders() {
    let app = spawn_app().await;
    let response = app.connect().await;
    assert_eq!(response.status(), 200, "the summary page");
    let location = common::continue_url(&response);
    assert!(!location.contains("warnings="), "the storefront answered: {location}");
    let merchant = merchant_id_from(&response);
    let (admin, storefront, source) = hosts_of(&app.db.pool, &merchant).await;
    assert_eq!(
        (admin.trim_end_matches('/'), storefront.trim_end_matches('/')),
        (app.sim.base_url().as_str(), app.sim.storefront_url().as_str())
    );
    assert_eq!(source, "sites");
    assert_eq!(app.sim.count("GET", "/ccadmin/v1/sites"), 1);
    assert_eq!(app.sim.count("POST", "/ccappagent/v1/login"), 1, "the storefront probe");
    let probe: i64 =
        count(&app.db.pool, "SELECT count(*) FROM merchant_checks WHERE check_name = 'storefront' AND ok").await;
    assert_eq!(probe, 1);

    // An order goes to the storefront: a wrong host would get the admin origin's 404.
    app.wait_synced().await;
    let sku = app.sku_in_stock().await;
    let bearer = app.bearer().await;
    let body = serde_json::json!({"partner_order_reference": "PO-hosts", "items": [{"sku_id": sku, "quantity": 1}],
        "shipping_method": "ship1",
        "shipping_address": {"first_name": "Jean", "last_name": "Smith", "line1": "1 Main St", "city": "Austin",
                             "region": "TX", "postal_code": "78701", "country": "US"}});
    let (status, placed, _) = common::place_order(&app, &bearer, &merchant, "k-hosts", &body).await;
    assert_eq!(status, 201, "{placed}");
    assert!(app.sim.calls().iter().any(|c| c.path == "/ccappagent/v1/orders" && c.status == 201));
    assert!(app.sim.calls().iter().all(|c| c.status != 404), "no call went to the wrong host");
    app.stop().await;
}

/// Issue 16 item 4: a storefront that refuses the agent API is a warning naming what to fix, not a
/// failed connection; ops can then point the merchant at the right storefront (audited).
#[tokio::test]
async fn a_failing_storefront_probe_is_a_warning_and_ops_can_override_the_host() {
    let app = spawn_app().await;
    let fault = app.sim.inject(Fault::new(Some("POST"), "/ccappagent/v1/login", FaultKind::Html(404)));
    let response = app.connect().await;
    assert_eq!(response.status(), 200, "the summary page");
    let location = common::continue_url(&response);
    assert!(location.contains("storefront"), "the partner hears of it: {location}");
    let merchant = merchant_id_from(&response);
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM merchant_checks WHERE merchant_id = $1::uuid AND check_name = 'storefront' AND NOT ok",
    )
    .bind(&merchant)
    .fetch_one(&app.db.pool)
    .await
    .expect("storefront warning");
    assert!(detail.contains("Partners cannot place orders yet") && detail.contains("production URL"), "{detail}");
    app.sim.remove_fault(fault);

    let id: storelink_core::MerchantId = merchant.parse().expect("merchant id");
    let ops = app.services.ops();
    let actor = storelink_ops::Actor::cli();
    let invalid = ops.set_store_hosts(&actor, id, None, Some("ftp://store.example"), false).await;
    assert!(matches!(invalid, Err(storelink_ops::OpsError::Invalid(_))), "{invalid:?}");
    let set = ops
        .set_store_hosts(&actor, id, None, Some("https://shop-store.occa.ocs.oraclecloud.com/any/path"), false)
        .await
        .expect("override");
    assert_eq!(set.storefront, "https://shop-store.occa.ocs.oraclecloud.com/");
    let (_, storefront, _) = hosts_of(&app.db.pool, &merchant).await;
    assert_eq!(storefront, "https://shop-store.occa.ocs.oraclecloud.com/");
    let audited =
        count(&app.db.pool, "SELECT count(*) FROM audit_log WHERE action = 'set_store_hosts' AND outcome = 'ok'").await;
    assert_eq!(audited, 1);
    let cleared = ops.set_store_hosts(&actor, id, None, None, true).await.expect("clear");
    assert_eq!(cleared.storefront.trim_end_matches('/'), app.sim.storefront_url(), "back to what connect found");
    app.stop().await;
}
/// OCC refuses callback URLs that are not HTTPS, and so does the simulator unless told otherwise:
/// the connect still succeeds, and each slot is recorded failed with the store's reason.
#[tokio::test]
async fn a_store_refusing_plain_http_callbacks_fails_the_slots_with_its_reason() {
    let app = spawn_app_with(AppOptions { sim: SimOptions::default(), ..AppOptions::default() }).await;
    let response = app.connect().await;
    assert_eq!(response.status(), 200, "the summary page");
    let merchant = merchant_id_from(&response);
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "SELECT status, last_error FROM webhook_slots WHERE merchant_id = $1::uuid AND slot = 'order-submit'",
    )
    .bind(&merchant)
    .fetch_one(&app.db.pool)
    .await
    .expect("slot");
    assert_eq!(status, "failed");
    let error = error.expect("reason");
    assert!(error.contains("HTTPS"), "the store's reason is recorded: {error}");
    assert_eq!(app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook")["urls"], serde_json::json!([]));
    app.stop().await;
}

/// `STORELINK_WEBHOOK_IDS` still overrides discovery: against the simulator's old Violet ids, each
/// slot is read by the id it names, and no listing is needed.
#[tokio::test]
async fn webhook_id_overrides_replace_discovery() {
    let webhook_ids = "order-submit=order-submit,order-update=order-update,shipment-create=shipment-create,\
                       shipment-update=shipment-update,return-request-update=production-returnRequestUpdate";
    let sim = SimOptions { violet_webhook_ids: true, allow_http_callbacks: true, ..SimOptions::default() };
    let app = spawn_app_with(AppOptions { sim, webhook_ids: webhook_ids.into(), ..AppOptions::default() }).await;
    let merchant = merchant_id_from(&app.connect().await);
    let statuses = slot_statuses(&app.db.pool, &merchant).await;
    assert!(statuses.iter().all(|(_, s)| s == "registered"), "{statuses:?}");
    assert_eq!(app.sim.calls().iter().filter(|c| c.path == "/ccadmin/v1/webhooks").count(), 0, "no discovery");
    let urls = app.sim.webhook("order-update").expect("webhook")["urls"].clone();
    assert_eq!(urls, serde_json::json!([format!("{}/webhooks/occ/{merchant}/order-update", app.base)]));
    let id: String =
        sqlx::query_scalar("SELECT occ_webhook_id FROM webhook_slots WHERE slot = 'return-request-update'")
            .fetch_one(&app.db.pool)
            .await
            .expect("id");
    assert_eq!(id, "production-returnRequestUpdate");
    app.stop().await;
}
