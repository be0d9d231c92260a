//! Partners that fulfil push order status and shipments into OCC (`PUT /ccadmin/v1/orders/{id}`
//! with the whole shipping-group list, read fresh first), idempotently; OCC's resulting order, read
//! back by the orders sync, is the version already recorded: no conflict, no second change.

mod common;

use std::time::Duration;

use common::{merchant_id_from, spawn_app, wait_for};
use reqwest::Method;
use serde_json::{Value, json};
use storelink_core::{MerchantId, SyncKind};
use storelink_ops::Actor;

async fn send(app: &common::TestApp, bearer: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let request = app.http.request(method, format!("{}{path}", app.base)).bearer_auth(bearer);
    let r = request.header("idempotency-key", "fulfil-1").json(&body).send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn partners_push_status_and_shipments_and_the_store_echo_is_no_conflict() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let sku = app.sku_in_stock().await;
    let order = json!({"partner_order_reference": "PO-FULFIL", "items": [{"sku_id": sku, "quantity": 1}],
        "shipping_method": "ship1",
        "shipping_address": {"first_name": "Jean", "last_name": "Smith", "line1": "1 Main St", "city": "Austin",
                             "region": "TX", "postal_code": "78701", "country": "US"}});
    let (status, placed, _) = common::place_order(&app, &bearer, &merchant, "k-fulfil", &order).await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let puts = || app.sim.count("PUT", &format!("/ccadmin/v1/orders/{id}"));

    // Status: written once; the repeat reads the order and writes nothing.
    let status_path = format!("/v1/merchants/{merchant}/orders/{id}/status");
    for _ in 0..2 {
        let (status, shown) = send(&app, &bearer, Method::PUT, &status_path, json!({"status": "processing"})).await;
        assert_eq!((status, shown["status"].as_str()), (200, Some("processing")), "{shown}");
    }
    assert_eq!(app.sim.order(&id).expect("order")["state"], "PROCESSING");
    assert_eq!(puts(), 1, "the repeat changed nothing");
    let (status, problem) = send(&app, &bearer, Method::PUT, &status_path, json!({"status": "cancelled"})).await;
    assert_eq!(status, 400, "only processing and completed are a fulfiller's to set: {problem}");

    // The store ships the order in two parts: the shipment must name its group, and the PUT must
    // name both groups (the simulator removes a group left out, as OCC does).
    let second = app.sim.add_shipping_group(&id).expect("split");
    let shipments_path = format!("/v1/merchants/{merchant}/orders/{id}/shipments");
    let shipment = |group: Option<&str>| json!({"shipment_id": group, "tracking_number": "1Z999", "carrier": "UPS"});
    let (status, problem) = send(&app, &bearer, Method::POST, &shipments_path, shipment(None)).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("fulfilment_refused")), "{problem}");
    let (status, problem) = send(&app, &bearer, Method::POST, &shipments_path, shipment(Some("sg-nope"))).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("unknown_shipment")), "{problem}");
    for _ in 0..2 {
        let (status, shown) = send(&app, &bearer, Method::POST, &shipments_path, shipment(Some(&second))).await;
        assert_eq!(status, 200, "{shown}");
    }
    assert_eq!(puts(), 2, "one PUT for the shipment, none for its repeat");
    let doc = app.sim.order(&id).expect("order");
    let groups = doc["shippingGroups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "the other shipping group was kept: {doc}");
    assert_eq!(groups[0]["shippingAddress"]["city"], "Austin", "kept whole: {doc}");
    assert_eq!(
        (groups[1]["trackingNumber"].as_str(), groups[1]["state"].as_str()),
        (Some("1Z999"), Some("NO_PENDING_ACTION"))
    );
    let pool = &app.db.pool;
    let merchant_id: MerchantId = merchant.parse().expect("id");
    let tracked: Option<String> =
        sqlx::query_scalar("SELECT tracking_number FROM shipments WHERE merchant_id = $1 AND shipment_id = $2")
            .bind(merchant_id)
            .bind(&second)
            .fetch_optional(pool)
            .await
            .expect("shipment");
    assert_eq!(tracked.as_deref(), Some("1Z999"));

    // OCC's resulting order comes back with the next orders sync: the same version, so nothing
    // changes and no partner event is repeated.
    let changes = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM change_events WHERE merchant_id = $1 AND entity_id = ANY($2)",
        )
        .bind(merchant_id)
        .bind(vec![id.clone(), second.clone()])
        .fetch_one(pool)
        .await
        .expect("count")
    };
    let before = changes().await;
    let synced_at = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT last_success_at FROM sync_state WHERE merchant_id = $1 AND kind = 'orders'",
        )
        .bind(merchant_id)
        .fetch_one(pool)
        .await
        .expect("sync state")
    };
    let last = synced_at().await;
    let actor = Actor { name: "test".into(), source: "127.0.0.1".into() };
    app.services.ops().resync(&actor, merchant_id, SyncKind::Orders).await.expect("resync");
    assert!(wait_for(Duration::from_secs(30), || async { synced_at().await > last }).await, "orders synced again");
    assert_eq!(changes().await, before, "the store's echo is no new change");
    let (status, shown) = send(&app, &bearer, Method::PUT, &status_path, json!({"status": "processing"})).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("processing")));
    assert_eq!(puts(), 2);
    app.stop().await;
}
