//! Proof of the connector seam: "Loopback", a second platform that exists only in this test
//! (`second_platform/loopback.rs`: its own little HTTP store and its `Connector`), plugs into the real
//! server through `AppOptions::connectors` alone. A merchant connects through the onboarding form,
//! its catalog, stock and shipping methods sync, the partner API serves them, and the store's signed
//! webhook delivery is accepted on `/webhooks/loopback/...` and processed through the connector (a
//! forged one is refused).

mod common;
#[path = "second_platform/loopback.rs"]
mod loopback;

use std::sync::Arc;
use std::time::Duration;

use common::{AppOptions, count, merchant_id_from, spawn_app_with, wait_for};
use loopback::{LoopbackConnector, LoopbackStore, PLATFORM};
use serde_json::Value;

#[tokio::test]
async fn a_second_platform_connects_syncs_serves_and_receives_webhooks() {
    let store = LoopbackStore::spawn(7).await;
    let opts = AppOptions { connectors: vec![Arc::new(LoopbackConnector::new())], ..AppOptions::default() };
    let app = spawn_app_with(opts).await;

    // The partner's link names the platform: the form asks for that connector's fields and carries
    // the platform; a platform nobody serves is an invalid link.
    let mut query = app.link_query();
    query.push(("platform", PLATFORM.to_owned()));
    let page = app.http.get(format!("{}/connect", app.base)).query(&query).send().await.expect("GET /connect");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(page.contains("Connect your Loopback Commerce store"), "{page}");
    assert!(page.contains(r#"name="api_key""#) && !page.contains(r#"name="app_key""#), "the connector's own field");
    assert!(page.contains(r#"name="platform" value="loopback""#), "the form carries the platform");
    query.retain(|(k, _)| *k != "platform");
    query.push(("platform", "nope".to_owned()));
    let unknown = app.http.get(format!("{}/connect", app.base)).query(&query).send().await.expect("GET /connect");
    assert_eq!(unknown.status(), 400, "a platform nobody serves");

    // Connect through the onboarding form, naming the platform.
    let form = app.open_form().await;
    let fields = [("platform", PLATFORM.to_owned()), ("store_url", store.base.clone()), ("api_key", store.key.clone())];
    let response = app.post_connect(&form, &fields).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let merchant = merchant_id_from(&response);
    let platform: String = sqlx::query_scalar("SELECT platform FROM merchants WHERE merchant_id = $1::uuid")
        .bind(&merchant)
        .fetch_one(&app.db.pool)
        .await
        .expect("merchant");
    assert_eq!(platform, PLATFORM);
    let ours = format!("{}/webhooks/loopback/{merchant}/order-submit", app.base);
    assert_eq!(store.hook_urls("order-submit"), vec![ours.clone()], "the registrar subscribed through the connector");
    let registered = count(&app.db.pool, "SELECT count(*) FROM webhook_slots WHERE status = 'registered'").await;
    assert_eq!(registered, storelink_core::Slot::ALL.len() as i64, "the default discovery reads every slot");

    // The initial syncs ran through the connector.
    app.wait_synced().await;
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM products").await, 7);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM skus").await, 7);
    assert_eq!(count(&app.db.pool, "SELECT sum(stock_level)::bigint FROM inventory").await, 28);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM shipping_methods").await, 1);

    // The partner API serves the synced catalog.
    let bearer = app.bearer().await;
    let products: Value = app
        .http
        .get(format!("{}/v1/merchants/{merchant}/products", app.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("products")
        .json()
        .await
        .expect("json");
    let items = products["items"].as_array().expect("items");
    assert_eq!(items.len(), 7, "{products}");
    assert_eq!(items[0]["product_id"], "lb-001", "{products}");

    // A delivery signed by the store is accepted; a forged one is not.
    let body = br#"{"order":{"id":"lb-order-1"}}"#;
    let deliver =
        |signature: String| app.http.post(&ours).header("X-Loopback-Signature", signature).body(body.to_vec()).send();
    let accepted = deliver(store.sign(body)).await.expect("delivery");
    assert_eq!(accepted.status(), 200);
    let forged = deliver("00".repeat(32)).await.expect("forged delivery");
    assert_eq!(forged.status(), 401);
    // The OCC path does not serve a Loopback merchant.
    let occ_path = format!("{}/webhooks/occ/{merchant}/order-submit", app.base);
    let wrong = app.http.post(occ_path).header("X-Loopback-Signature", store.sign(body)).body(body.to_vec());
    assert_eq!(wrong.send().await.expect("wrong platform").status(), 404);
    // Stored once, then read by the Loopback connector (`delivery_records`) and marked processed.
    let processed = "SELECT count(*) FROM inbound_events WHERE processed_at IS NOT NULL AND last_error IS NULL";
    let done = wait_for(Duration::from_secs(10), || async { count(&app.db.pool, processed).await == 1 }).await;
    assert!(done, "the signed delivery was stored and processed through the connector");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM inbound_events").await, 1, "only the signed one");
    app.stop().await;
}
