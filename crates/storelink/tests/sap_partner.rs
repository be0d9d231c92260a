//! Partners see no difference but `merchant.platform` (issue 17, items 5 and 6): one partner client
//! reads an OCC merchant and a SAP merchant (sap-sim) side by side through the same typed resources,
//! places an order on the SAP merchant with the Idempotency-Key guarantees (a retry answers the same
//! order; a POST whose answer was lost resolves through `find_order`, with no second order), and a
//! SAP merchant without the order integration object has no `create_orders` and answers 409
//! `not_supported_by_platform`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{AppOptions, TestApp, merchant_id_from, place_order, spawn_app_with, wait_for};
use serde_json::{Value, json};
use storelink_connector_sap::{SapConfig, SapConnector, SapCredentials};
use storelink_netguard::Policy;
use storelink_sap_sim::{Fault, FaultKind, GROUP_STORELINK, ORDER, SapSim, SimOptions};

const SAP_ORDERS: &str = "/odata2webservices/StorelinkOrder/Orders";

/// A SAP store with the ImpEx's user and OAuth client.
async fn sap_store(options: SimOptions) -> SapSim {
    let sim = SapSim::spawn(options).await.expect("sap-sim");
    sim.add_user("storelink", "pw", &[GROUP_STORELINK]);
    sim.add_oauth_client("storelink-client", "client-secret", "storelink");
    sim
}

/// Connect the SAP store for the test partner with the ImpEx's OAuth client.
async fn connect_sap(app: &TestApp, sim: &SapSim) -> String {
    let credentials = SapCredentials::oauth("storelink-client", "client-secret").to_secret();
    app.connect_sap(&sim.base_url(), credentials).await.merchant_id.to_string()
}

/// Wait until the merchant's initial syncs of these kinds finished.
async fn wait_synced(app: &TestApp, merchant: &str, kinds: &[&str]) {
    let pool = &app.db.pool;
    let synced = "SELECT count(*) FROM sync_state WHERE merchant_id = $1::uuid AND kind = ANY($2)
                  AND last_success_at IS NOT NULL";
    let done = wait_for(Duration::from_secs(30), || async {
        let done = sqlx::query_scalar::<_, i64>(synced).bind(merchant).bind(kinds).fetch_one(pool).await;
        done.unwrap_or(0) == kinds.len() as i64
    })
    .await;
    if !done {
        let jobs: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT kind, state, last_error FROM jobs WHERE merchant_id = $1::uuid ORDER BY kind")
                .bind(merchant)
                .fetch_all(pool)
                .await
                .unwrap_or_default();
        panic!("the initial syncs of {merchant} did not finish: {jobs:?}");
    }
}

async fn get(app: &TestApp, bearer: &str, path: &str) -> (u16, Value) {
    let response = app.http.get(format!("{}{path}", app.base)).bearer_auth(bearer).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The field names of a resource's first item (the typed shape a partner's client decodes).
async fn shape(app: &TestApp, bearer: &str, merchant: &str, resource: &str) -> BTreeSet<String> {
    let (status, page) = get(app, bearer, &format!("/v1/merchants/{merchant}/{resource}?limit=1")).await;
    assert_eq!(status, 200, "{resource}: {page}");
    let first = page["items"].get(0).and_then(Value::as_object).unwrap_or_else(|| panic!("{resource}: {page}"));
    first.keys().cloned().collect()
}

fn capabilities(merchant: &Value) -> Vec<&str> {
    merchant["capabilities"].as_array().expect("capabilities").iter().filter_map(Value::as_str).collect()
}

fn order_body(reference: &str, sku: &str, method: &str) -> Value {
    json!({"partner_order_reference": reference, "items": [{"sku_id": sku, "quantity": 1}],
           "shipping_method": method, "shopper_email": "grace@example.com",
           "shipping_address": {"first_name": "Grace", "last_name": "Hopper", "line1": "1 Navy Way",
                                "city": "Arlington", "postal_code": "22202", "country": "US"}})
}

#[tokio::test]
async fn one_partner_client_reads_occ_and_sap_alike_and_orders_on_sap_once() {
    // The built-in SAP connector with a short timeout, so a slow store loses a POST's answer quickly.
    let config = SapConfig { request_timeout: Duration::from_secs(2), ..SapConfig::default() };
    let sap = SapConnector::with_config(config, Policy::insecure()).expect("connector");
    let app = spawn_app_with(AppOptions { connectors: vec![Arc::new(sap)], ..AppOptions::default() }).await;
    let occ = merchant_id_from(&app.connect().await);
    let sim = sap_store(SimOptions::default()).await;
    let sap = connect_sap(&app, &sim).await;
    let no_orders_sim = sap_store(SimOptions { hidden_objects: vec![ORDER.to_owned()], ..SimOptions::default() }).await;
    let no_orders = connect_sap(&app, &no_orders_sim).await;
    let all = ["catalog", "inventory", "shipping", "orders"];
    // A store without the order object has no orders to read: its orders sync finishes empty.
    for merchant in [&occ, &sap, &no_orders] {
        wait_synced(&app, merchant, &all).await;
    }
    let bearer = app.bearer().await;

    // One client, one merchant type: only `platform` (and what the store supports) differs.
    let (status, list) = get(&app, &bearer, "/v1/merchants").await;
    assert_eq!(status, 200, "{list}");
    let merchants = list["items"].as_array().expect("items");
    let find = |id: &str| merchants.iter().find(|m| m["merchant_id"] == id).cloned().expect("merchant listed");
    let (occ_view, sap_view, no_orders_view) = (find(&occ), find(&sap), find(&no_orders));
    assert_eq!((occ_view["platform"].as_str(), sap_view["platform"].as_str()), (Some("occ"), Some("sap")));
    let keys = |v: &Value| v.as_object().expect("merchant").keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&occ_view), keys(&sap_view), "the same Merchant type");
    assert!(capabilities(&occ_view).contains(&"create_orders"), "OCC is unaffected: {occ_view}");
    assert!(capabilities(&sap_view).contains(&"create_orders"), "{sap_view}");
    assert!(!capabilities(&no_orders_view).contains(&"create_orders"), "{no_orders_view}");
    let (_, single) = get(&app, &bearer, &format!("/v1/merchants/{no_orders}")).await;
    assert_eq!(capabilities(&single), capabilities(&no_orders_view), "one answer for one merchant");
    for resource in ["products", "skus", "inventory", "shipping-methods", "orders"] {
        assert_eq!(
            shape(&app, &bearer, &occ, resource).await,
            shape(&app, &bearer, &sap, resource).await,
            "{resource} have one shape on both platforms"
        );
    }

    // An order on the SAP merchant, with a SKU and delivery mode its syncs brought.
    let pool = &app.db.pool;
    let first_of = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).bind(&sap).fetch_one(pool);
    let sku = first_of(
        "SELECT sku_id FROM inventory WHERE merchant_id = $1::uuid AND stock_level >= 3 ORDER BY sku_id LIMIT 1",
    );
    let method = first_of(
        "SELECT method_id FROM shipping_methods WHERE merchant_id = $1::uuid AND enabled ORDER BY method_id LIMIT 1",
    );
    let (sku, method) = (sku.await.expect("a SAP SKU in stock"), method.await.expect("a SAP delivery mode"));
    let body = order_body("SAP-PO-1", &sku, &method);
    let (status, first, _) = place_order(&app, &bearer, &sap, "sap-key-1", &body).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["order_id"], "SAP-PO-1", "the partner reference is the SAP order's code");
    assert_eq!(first["partner_order_reference"], "SAP-PO-1");
    assert_eq!((first["status"].as_str(), first["platform_status"].as_str()), (Some("submitted"), Some("CREATED")));
    assert_eq!(first["currency"], "USD");
    assert!(first["totals"]["total"].as_str().is_some_and(|t| t.parse::<f64>().is_ok_and(|t| t > 0.0)), "{first}");
    for _ in 0..2 {
        let (status, again, _) = place_order(&app, &bearer, &sap, "sap-key-1", &body).await;
        assert_eq!((status, &again), (201, &first), "a retry answers the same order");
    }
    assert_eq!(sim.count("POST", SAP_ORDERS), 1, "one order in SAP");
    // The same events: the new order goes out as `order.created`, and both merchants' events have
    // one data shape.
    let event = "SELECT data FROM partner_events WHERE merchant_id = $1::uuid AND type = $2 ORDER BY event_id";
    let events = |merchant: &str, kind: &str| {
        sqlx::query_scalar::<_, Value>(event).bind(merchant.to_owned()).bind(kind.to_owned()).fetch_all(pool)
    };
    let created = events(&sap, "order.created").await.expect("events");
    assert!(created.iter().any(|e| e["order_id"] == "SAP-PO-1"), "{created:?}");
    let (occ_connected, sap_connected) =
        (events(&occ, "merchant.connected").await, events(&sap, "merchant.connected").await);
    let (occ_connected, sap_connected) = (occ_connected.expect("OCC events"), sap_connected.expect("SAP events"));
    assert_eq!((occ_connected.len(), sap_connected.len()), (1, 1));
    assert_eq!(occ_connected.iter().map(keys).collect::<Vec<_>>(), sap_connected.iter().map(keys).collect::<Vec<_>>());
    let (status, order) = get(&app, &bearer, &format!("/v1/merchants/{sap}/orders/SAP-PO-1")).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["lines"][0]["variant_id"].as_str(), Some(sku.as_str()), "{order}");
    let (status, problem, _) =
        place_order(&app, &bearer, &sap, "sap-key-1", &order_body("SAP-PO-9", &sku, &method)).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("idempotency_key_reused")), "{problem}");

    // SAP creates the order but answers after Storelink gave up: the outcome is unknown, and the
    // retry finds the order by its reference instead of placing a second one.
    sim.inject(Fault::new(Some("POST"), SAP_ORDERS, FaultKind::Delay(Duration::from_secs(3))).times(1));
    let body = order_body("SAP-PO-2", &sku, &method);
    let (status, problem, retry_after) = place_order(&app, &bearer, &sap, "sap-key-2", &body).await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("order_outcome_unknown")), "{problem}");
    assert!(retry_after.is_some());
    let created =
        wait_for(Duration::from_secs(10), || async { sim.keys(ORDER).contains(&"SAP-PO-2".to_owned()) }).await;
    assert!(created, "the slow POST created the order in SAP");
    let (status, resolved, _) = place_order(&app, &bearer, &sap, "sap-key-2", &body).await;
    assert_eq!(status, 201, "{resolved}");
    assert_eq!(resolved["order_id"], "SAP-PO-2");
    assert_eq!(sim.count("POST", SAP_ORDERS), 2, "the retry found the order: no second POST");
    let (status, again, _) = place_order(&app, &bearer, &sap, "sap-key-2", &body).await;
    assert_eq!((status, &again), (201, &resolved));

    // Cancelling is not offered on SAP; the order stays as it is.
    let cancel = app
        .http
        .post(format!("{}/v1/merchants/{sap}/orders/SAP-PO-1/cancel", app.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status(), 422);

    // A SAP store without the order integration object: 409 before anything is checked or written.
    let (status, problem, _) = place_order(&app, &bearer, &no_orders, "sap-key-3", &body).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("not_supported_by_platform")), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("StorelinkOrder")), "{problem}");
    assert_eq!(no_orders_sim.count("POST", SAP_ORDERS), 0);
    let keys_kept: i64 = sqlx::query_scalar("SELECT count(*) FROM partner_orders WHERE merchant_id = $1::uuid")
        .bind(&no_orders)
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(keys_kept, 0, "the refused request left no Idempotency-Key behind");

    sim.stop().await;
    no_orders_sim.stop().await;
    app.stop().await;
}
