//! SAP webhooks end to end: the connect registers a consumed destination and a webhook configuration
//! per order slot in the SAP simulator's WebhookService (keeping the merchant's own), the simulator
//! really delivers order changes to Storelink's inbound route, deliveries are authenticated by the
//! generated Basic credential and stored once per `ce-id`, revoke removes only ours; a store that
//! refuses registration (no `integrationadmingroup`) gets the values to enter by hand, and the slot
//! turns registered with its first authenticated delivery.

mod common;

use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use storelink_connector_sap::{Auth, Objects, SapCredentials};
use storelink_onboarding::Connected;
use storelink_registrar::SlotStatus;
use storelink_sap_sim::{GROUP_ADMIN, GROUP_STORELINK, InboundAuth, SapSim, SimOptions};

use common::{TestApp, count, spawn_app, wait_for};

const USER: &str = "storelink";
const PASSWORD: &str = "storelink-password-1";
const ADMIN: &str = "admin";

async fn sap_sim() -> SapSim {
    let sim =
        SapSim::spawn(SimOptions { inbound_auth: InboundAuth::Basic, ..SimOptions::default() }).await.expect("sim");
    sim.add_user(ADMIN, "admin-password-1", &[GROUP_ADMIN]);
    sim
}

/// Connects the simulator's store as a SAP merchant through the connect pipeline, with Basic
/// credentials of `USER` (in `groups`).
async fn connect(app: &TestApp, sim: &SapSim, groups: &[&str]) -> Connected {
    sim.add_user(USER, PASSWORD, groups);
    let credentials = SapCredentials {
        auth: Auth::Basic { user: USER.into(), password: PASSWORD.into() },
        objects: Objects::default(),
    };
    app.connect_sap(&sim.base_url(), credentials.to_secret()).await
}

/// A POST to the simulator's WebhookService as its administrator (the merchant in Backoffice).
async fn admin_post(sim: &SapSim, set: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/odata2webservices/WebhookService/{set}", sim.base_url()))
        .basic_auth(ADMIN, Some("admin-password-1"))
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 201, "{set}: {}", response.text().await.unwrap_or_default());
}

/// The merchant's own webhook: a destination and an `ItemSavedEvent` configuration on orders.
async fn erp_webhook(sim: &SapSim, id: &str, url: &str, username: &str, password: &str, event: &str) {
    admin_post(
        sim,
        "ConsumedDestinations",
        json!({"id": id, "url": url, "destinationTarget": {"id": "webhookServices"},
               "endpoint": {"id": id, "version": "unknown", "name": id},
               "credentialBasic": {"id": id, "username": username, "password": password}}),
    )
    .await;
    admin_post(
        sim,
        "WebhookConfigurations",
        json!({"eventType": format!("de.hybris.platform.webhookservices.event.{event}"),
               "integrationObject": {"code": "StorelinkOrder"},
               "destination": {"id": id, "destinationTarget": {"id": "webhookServices"}}}),
    )
    .await;
}

fn ids(items: &[Value], path: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> =
        items.iter().map(|i| path.iter().fold(i, |v, p| &v[*p]).as_str().unwrap_or_default().to_owned()).collect();
    ids.sort();
    ids
}

async fn wait_for_order(app: &TestApp, merchant: &str, order: &str, state: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM orders WHERE merchant_id = '{merchant}' AND order_id = '{order}' AND state = '{state}'"
    );
    let pool = app.db.pool.clone();
    wait_for(Duration::from_secs(20), || {
        let (pool, sql) = (pool.clone(), sql.clone());
        async move { count(&pool, &sql).await == 1 }
    })
    .await
}

/// POSTs `body` to our URL as SAP would, with `authorization` and `ce-id`.
async fn deliver(app: &TestApp, url: &str, body: &Value, authorization: Option<&str>, ce_id: &str) -> u16 {
    let mut request = app
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("ce-specversion", "1.0")
        .header("ce-id", ce_id)
        .header("ce-source", "/eu10/sap.cx.commerce/sapsim")
        .header("ce-type", "sap.cx.commerce.StorelinkOrder.Created.v1")
        .json(body);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.expect("deliver").status().as_u16()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn registration_keeps_the_merchants_webhooks_deliveries_become_orders_once_and_revoke_removes_only_ours() {
    let app = spawn_app().await;
    let sim = sap_sim().await;
    erp_webhook(&sim, "erp", "http://127.0.0.1:9/erp", "erp", "erp-password", "ItemSavedEvent").await;

    let connected = connect(&app, &sim, &[GROUP_STORELINK, GROUP_ADMIN]).await;
    let merchant = connected.merchant_id.to_string();
    let status = |slot: &str| connected.slots.iter().find(|s| s.slot.as_str() == slot).map(|s| s.status);
    assert_eq!(status("order-submit"), Some(SlotStatus::Registered), "{:?}", connected.slots);
    assert_eq!(status("order-update"), Some(SlotStatus::Registered));
    for slot in ["shipment-create", "shipment-update", "return-request-update"] {
        assert_eq!(status(slot), Some(SlotStatus::Unsupported), "{slot}");
    }
    let ours = |slot: &str| format!("storelink-{merchant}-{slot}");
    let destinations = sim.consumed_destinations();
    assert_eq!(ids(&destinations, &["id"]), vec!["erp".to_owned(), ours("order-submit"), ours("order-update")]);
    let erp = destinations.iter().find(|d| d["id"] == "erp").expect("erp");
    assert_eq!(erp["credentialBasic"]["password"], "erp-password", "the merchant's destination is untouched");
    let submit = destinations.iter().find(|d| d["id"] == ours("order-submit").as_str()).expect("ours");
    let url = format!("{}/webhooks/sap/{merchant}/order-submit", app.base);
    assert_eq!(submit["url"], url.as_str());
    let (user, password) = (
        submit["credentialBasic"]["username"].as_str().expect("user").to_owned(),
        submit["credentialBasic"]["password"].as_str().expect("password").to_owned(),
    );
    assert!(password.len() >= 32, "a strong generated password");
    assert_eq!(sim.webhook_configurations().len(), 3);

    // A new order and a status change in the store are really delivered and become the order.
    let (code, deliveries) = sim.add_order().await;
    let to_us: Vec<_> = deliveries.iter().filter(|d| d.url.starts_with(&app.base)).collect();
    assert_eq!(to_us.len(), 1, "one delivery (created) to order-submit: {deliveries:?}");
    assert_eq!(to_us[0].result, Ok(200));
    assert!(wait_for_order(&app, &merchant, &code, "CREATED").await, "the delivered order was processed");
    let updated = sim.set_order_status(&code, "COMPLETED").await.expect("order");
    assert!(updated.iter().any(|d| d.url.ends_with("/order-update") && d.result == Ok(200)), "{updated:?}");
    assert!(wait_for_order(&app, &merchant, &code, "COMPLETED").await, "the update was processed");

    // The same delivery twice is stored once; wrong or missing credentials are refused, nothing stored.
    let body = to_us[0].body.clone();
    let stored = || count(&app.db.pool, "SELECT count(*) FROM inbound_events");
    let before = stored().await;
    let good = basic(&user, &password);
    assert_eq!(deliver(&app, &url, &body, Some(&good), "replayed-1").await, 200);
    assert_eq!(deliver(&app, &url, &body, Some(&good), "replayed-1").await, 200);
    assert_eq!(stored().await, before + 1, "one ce-id, one stored delivery");
    for authorization in [None, Some(basic(&user, "wrong-password")), Some(basic("erp", "erp-password"))] {
        assert_eq!(deliver(&app, &url, &body, authorization.as_deref(), "refused-1").await, 401);
    }
    assert_eq!(stored().await, before + 1, "nothing stored for refused deliveries");

    // Revoke deletes our configurations and destinations, and only those.
    let revoked =
        app.services.ops().revoke(&storelink_ops::Actor::cli(), connected.merchant_id, false).await.expect("revoke");
    assert!(revoked.slots_left.is_empty(), "{revoked:?}");
    assert_eq!(ids(&sim.consumed_destinations(), &["id"]), vec!["erp".to_owned()]);
    assert_eq!(ids(&sim.webhook_configurations(), &["destination", "id"]), vec!["erp".to_owned()]);
    sim.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_store_refusing_registration_gets_the_values_to_enter_and_the_first_delivery_registers_the_slot() {
    let app = spawn_app().await;
    let sim = sap_sim().await;
    let connected = connect(&app, &sim, &[GROUP_STORELINK]).await;
    let merchant = connected.merchant_id.to_string();
    assert!(sim.consumed_destinations().is_empty() && sim.webhook_configurations().is_empty());
    let submit = connected.slots.iter().find(|s| s.slot.as_str() == "order-submit").expect("slot");
    assert_eq!(submit.status, SlotStatus::Manual, "{:?}", connected.slots);
    let detail = submit.error.clone().expect("the values to enter");
    let (label, secret) = submit.secret.clone().expect("the password, for the connect summary");
    let password = secret.expose_secret().to_owned();
    let id = format!("storelink-{merchant}-order-submit");
    let url = format!("{}/webhooks/sap/{merchant}/order-submit", app.base);
    assert_eq!(label, "password");
    assert!(detail.contains(&id) && detail.contains(&url) && detail.contains("ItemCreatedEvent"), "{detail}");
    assert!(!detail.contains(&password), "the password is never recorded");
    let user = detail.split("username: ").nth(1).and_then(|r| r.split(';').next()).expect("username").to_owned();

    // The ops tenant page shows the values, never the password; the slot is not retried.
    let slots = storelink_registrar::list_slots(&app.db.pool, connected.merchant_id).await.expect("slots");
    let recorded = slots.iter().find(|s| s.slot.as_str() == "order-submit").expect("slot");
    assert_eq!((recorded.status, recorded.next_attempt_at), (SlotStatus::Manual, None));
    let pool = &app.db.pool;
    let admin_password = SecretString::from("correct horse battery".to_owned());
    storelink_ops_console::users::add(pool, "ada", &admin_password, storelink_ops_console::users::Role::Admin)
        .await
        .expect("admin");
    let login = app
        .http
        .post(format!("{}/ops/login", app.base))
        .form(&[("username", "ada"), ("password", "correct horse battery")])
        .send()
        .await
        .expect("login");
    let cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    let page = app
        .http
        .get(format!("{}/ops/tenants/{merchant}", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("manual") && page.contains(&id) && page.contains(&user), "the ops page shows the values");
    assert!(!page.contains(&password), "never the password");

    // A delivery before the merchant entered anything is refused; then the merchant enters the values
    // in Backoffice, the store delivers, and the slot is registered.
    let slot_status = format!(
        "SELECT count(*) FROM webhook_slots WHERE merchant_id = '{merchant}' AND slot = 'order-submit' AND status = 'registered'"
    );
    assert_eq!(deliver(&app, &url, &json!({"code": "x"}), Some(&basic(&user, "guess")), "early").await, 401);
    assert_eq!(count(pool, &slot_status).await, 0, "a refused delivery confirms nothing");
    erp_webhook(&sim, &id, &url, &user, &password, "ItemCreatedEvent").await;
    let (code, deliveries) = sim.add_order().await;
    assert!(deliveries.iter().any(|d| d.url == url && d.result == Ok(200)), "{deliveries:?}");
    assert!(wait_for_order(&app, &merchant, &code, "CREATED").await, "the order was processed");
    assert_eq!(count(pool, &slot_status).await, 1, "the first authenticated delivery registered the slot");
    sim.stop().await;
    app.stop().await;
}
