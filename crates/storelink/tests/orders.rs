//! Orders into OCC through the partner API: created once per Idempotency-Key, 422 naming the
//! problem, 503 with Retry-After and nothing created when OCC fails, cancel via PUT.

mod common;

use std::time::Duration;

use common::{merchant_id_from, spawn_app, wait_for};
use serde_json::{Value, json};
use storelink_occ_sim::{Fault, FaultKind};

fn order(sku: &str, quantity: i64, method: &str) -> Value {
    json!({"partner_order_reference": "PO-77", "items": [{"sku_id": sku, "quantity": quantity}],
           "shipping_method": method,
           "shipping_address": {"first_name": "Jean", "last_name": "Smith", "line1": "1 Main St", "city": "Austin",
                                "region": "TX", "postal_code": "78701", "country": "US"}})
}

#[tokio::test]
async fn orders_are_created_once_refused_clearly_and_cancelled() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let (sku, stock): (String, i64) =
        sqlx::query_as("SELECT sku_id, stock_level FROM inventory WHERE stock_level >= 2 ORDER BY sku_id LIMIT 1")
            .fetch_one(&app.db.pool)
            .await
            .expect("a SKU in stock");
    let orders_before = app.sim.count("POST", "/ccappagent/v1/orders");

    // Refusals name the problem and create nothing.
    let cases = [
        (order("nope-1", 1, "ship1"), "unknown_sku"),
        (order(&sku, stock + 1, "ship1"), "out_of_stock"),
        (order(&sku, 1, "ship3"), "invalid_shipping_method"),
        (order(&sku, 1, "no-such-method"), "invalid_shipping_method"),
    ];
    for (body, code) in &cases {
        let (status, problem, _) = common::place_order(&app, &bearer, &merchant, "k-refused", body).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some(*code)), "{problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let (status, _, _) = common::place_order(&app, &bearer, &merchant, "k-refused", &json!({"items": []})).await;
    assert_eq!(status, 400, "malformed body");
    let mut no_city = order(&sku, 1, "ship1");
    no_city["shipping_address"]["city"] = json!(" ");
    let (status, problem, _) = common::place_order(&app, &bearer, &merchant, "k-refused", &no_city).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("shipping_address.city")), "{problem}");

    // OCC rate-limits: nothing was created, 503 with Retry-After, the key is free.
    let fault = app.sim.inject(Fault::new(
        Some("POST"),
        "/ccappagent/v1/orders",
        FaultKind::RateLimited { retry_after_secs: 7 },
    ));
    let body = order(&sku, 1, "ship1");
    let (status, problem, retry_after) = common::place_order(&app, &bearer, &merchant, "k-1", &body).await;
    assert_eq!((status, problem["code"].as_str(), retry_after.as_deref()), (503, Some("store_unavailable"), Some("7")));
    app.sim.remove_fault(fault);

    // OCC fails (500): it may or may not have created the order, so 503 `order_outcome_unknown` with
    // Retry-After; the key is kept and the retry looks the order up (none here) before creating.
    let fault = app.sim.inject(Fault::new(Some("POST"), "/ccappagent/v1/orders", FaultKind::Status(500)));
    let (status, problem, retry_after) = common::place_order(&app, &bearer, &merchant, "k-1", &body).await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("order_outcome_unknown")), "{problem}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)));
    assert!(app.sim.order_ids().len() == 10, "no order created");
    app.sim.remove_fault(fault);

    let (status, first, _) = common::place_order(&app, &bearer, &merchant, "k-1", &body).await;
    assert_eq!(status, 201, "{first}");
    let order_id = first["order_id"].as_str().expect("order id").to_owned();
    assert_eq!(first["partner_order_reference"], "PO-77");
    for _ in 0..3 {
        let (status, again, _) = common::place_order(&app, &bearer, &merchant, "k-1", &body).await;
        assert_eq!((status, &again), (201, &first), "a retry returns the same order");
    }
    let (status, problem, _) = common::place_order(&app, &bearer, &merchant, "k-1", &order(&sku, 2, "ship1")).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("idempotency_key_reused")));
    assert_eq!(app.sim.order_ids().len(), 11, "exactly one order created in the store");
    assert_eq!(
        app.sim.count("POST", "/ccappagent/v1/orders") - orders_before,
        3,
        "one rate-limited try, one failed, one success"
    );
    let sim_order = app.sim.order(&order_id).expect("in the store");
    assert_eq!(sim_order["externalOrderReference"], "PO-77");
    let local: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE order_id = $1")
        .bind(&order_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(local, 1, "visible in the API at once");

    // OCC creates the order but its answer is lost: the retry finds it by its reference and creates
    // no second one.
    let fault = app.sim.inject(Fault::new(Some("POST"), "/ccappagent/v1/orders", FaultKind::ApplyThenDrop).times(1));
    let mut lost = order(&sku, 1, "ship1");
    lost["partner_order_reference"] = json!("PO-78");
    let (status, problem, _) = common::place_order(&app, &bearer, &merchant, "k-2", &lost).await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("order_outcome_unknown")), "{problem}");
    assert_eq!(app.sim.order_ids().len(), 12, "the store did create it");
    // As if the attempt's process had stopped mid-create: while the key is freshly `pending` a retry
    // is told it is in progress; long after, the retry reconciles it like an unknown outcome.
    let age = |sql: &'static str| sqlx::query(sql).execute(&app.db.pool);
    age("UPDATE partner_orders SET state = 'pending', updated_at = now() WHERE idempotency_key = 'k-2'")
        .await
        .expect("set");
    let (status, problem, _) = common::place_order(&app, &bearer, &merchant, "k-2", &lost).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("request_in_progress")), "{problem}");
    age("UPDATE partner_orders SET updated_at = now() - interval '20 minutes' WHERE idempotency_key = 'k-2'")
        .await
        .expect("age");
    let (status, found, _) = common::place_order(&app, &bearer, &merchant, "k-2", &lost).await;
    assert_eq!((status, found["partner_order_reference"].as_str()), (201, Some("PO-78")), "{found}");
    assert_eq!(app.sim.order_ids().len(), 12, "no second order");
    let found_id = found["order_id"].as_str().expect("order id");
    assert_eq!(app.sim.order(found_id).expect("in the store")["externalOrderReference"], "PO-78");
    let (status, again, _) = common::place_order(&app, &bearer, &merchant, "k-2", &lost).await;
    assert_eq!((status, &again), (201, &found), "later retries replay it");
    app.sim.remove_fault(fault);

    // An attempt that outlives its key: OCC is slow to answer, the key ages meanwhile as if the
    // attempt had been abandoned, and a retry takes it over and places the order (the slow one is
    // not in the store yet, so this is the duplicate a takeover risks). The slow attempt's late
    // answer must not overwrite the key: later retries replay the retry's order.
    let slow_fault = app
        .sim
        .inject(Fault::new(Some("POST"), "/ccappagent/v1/orders", FaultKind::Delay(Duration::from_secs(5))).times(1));
    let mut slow = order(&sku, 1, "ship1");
    slow["partner_order_reference"] = json!("PO-79");
    let creates = app.sim.count("POST", "/ccappagent/v1/orders");
    let takeover = async {
        let reached =
            wait_for(Duration::from_secs(10), || async { app.sim.count("POST", "/ccappagent/v1/orders") > creates })
                .await;
        assert!(reached, "the slow attempt reached OCC");
        age("UPDATE partner_orders SET updated_at = now() - interval '20 minutes' WHERE idempotency_key = 'k-3'")
            .await
            .expect("age");
        common::place_order(&app, &bearer, &merchant, "k-3", &slow).await
    };
    let ((slow_status, slow_answer, _), (status, retried, _)) =
        tokio::join!(common::place_order(&app, &bearer, &merchant, "k-3", &slow), takeover);
    assert_eq!((status, slow_status), (201, 201), "{retried} {slow_answer}");
    assert_ne!(retried["order_id"], slow_answer["order_id"], "two attempts, two orders");
    let (status, again, _) = common::place_order(&app, &bearer, &merchant, "k-3", &slow).await;
    assert_eq!((status, &again), (201, &retried), "the key keeps the retry's order");
    app.sim.remove_fault(slow_fault);

    // Cancel: the documented PUT, then the order is REMOVED here and in the store.
    let cancel = |id: String| {
        let (http, base, bearer, merchant) = (app.http.clone(), app.base.clone(), bearer.clone(), merchant.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/merchants/{merchant}/orders/{id}/cancel"))
                .bearer_auth(bearer)
                .send()
                .await
                .expect("cancel");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, cancelled) = cancel(order_id.clone()).await;
    assert_eq!(
        (status, cancelled["status"].as_str(), cancelled["platform_status"].as_str()),
        (200, Some("cancelled"), Some("REMOVED")),
        "{cancelled}"
    );
    assert_eq!(app.sim.order(&order_id).expect("order")["state"], "REMOVED");
    assert!(app.sim.count("PUT", &format!("/ccadmin/v1/orders/{order_id}")) == 1);
    let shipped: String = sqlx::query_scalar("SELECT order_id FROM orders WHERE state = 'NO_PENDING_ACTION' LIMIT 1")
        .fetch_one(&app.db.pool)
        .await
        .expect("a shipped order");
    let (status, problem) = cancel(shipped).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("order_not_cancellable")));
    assert_eq!(cancel("o-missing".into()).await.0, 404);
    app.stop().await;
}

/// An order on a real store names its shopper (a profile, or a guest checkout with the buyer's
/// email), pays by invoice (no card data) and lands on the chosen site, else the default one; the
/// store's refusals of a profile or site reach the partner with the store's words.
#[tokio::test]
async fn orders_name_the_shopper_pay_by_invoice_and_choose_the_site() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let sku = app.sku_in_stock().await;
    let with = |reference: &str, extra: Value| {
        let mut body = order(&sku, 1, "ship1");
        body["partner_order_reference"] = json!(reference);
        for (k, v) in extra.as_object().expect("object") {
            body[k.as_str()] = v.clone();
        }
        body
    };

    let guest = with("PO-GUEST", json!({"shopper_email": "jean@example.com", "guest_checkout": true}));
    let (status, placed, _) = common::place_order(&app, &bearer, &merchant, "k-guest", &guest).await;
    assert_eq!(status, 201, "{placed}");
    let doc = app.sim.order(placed["order_id"].as_str().expect("id")).expect("in the store");
    assert_eq!((doc["isAnonymous"].as_bool(), doc["siteId"].as_str()), (Some(true), Some("siteUS")), "{doc}");
    assert_eq!(doc["shippingGroups"][0]["shippingAddress"]["email"], "jean@example.com");
    assert_eq!(
        (doc["paymentGroups"][0]["paymentMethod"].as_str(), doc["paymentGroups"][0]["PONumber"].as_str()),
        (Some("invoice"), Some("PO-GUEST"))
    );

    let named = with("PO-PROFILE", json!({"shopper_profile_id": "sp2", "site": "siteUS"}));
    let (status, placed, _) = common::place_order(&app, &bearer, &merchant, "k-profile", &named).await;
    assert_eq!(status, 201, "{placed}");
    let doc = app.sim.order(placed["order_id"].as_str().expect("id")).expect("in the store");
    assert_eq!((doc["profileId"].as_str(), doc["siteId"].as_str()), (Some("sp2"), Some("siteUS")), "{doc}");

    let creates = app.sim.count("POST", "/ccappagent/v1/orders");
    for (key, extra, named) in [
        ("k-no-profile", json!({"shopper_profile_id": "sp99"}), "sp99"),
        ("k-no-site", json!({"site": "siteXX"}), "siteXX"),
    ] {
        let (status, problem, _) = common::place_order(&app, &bearer, &merchant, key, &with(key, extra)).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("order_rejected")), "{problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains(named)), "{problem}");
    }
    assert_eq!(app.sim.count("POST", "/ccappagent/v1/orders"), creates + 2, "each refusal was the store's");
    app.stop().await;
}

/// An order naming its buyer by email only is placed for the store's shopper profile holding that
/// email: an existing one is found (any case), a new buyer's is created once from the shipping
/// address's names, and the next order finds it. `guest_checkout` keeps such a buyer a guest.
#[tokio::test]
async fn an_order_by_email_finds_or_creates_the_shoppers_profile_once() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let sku = app.sku_in_stock().await;
    let by = |reference: &str, email: &str| {
        let mut body = order(&sku, 1, "ship1");
        body["partner_order_reference"] = json!(reference);
        body["shopper_email"] = json!(email);
        body
    };
    let placed_for = |placed: &Value| {
        let doc = app.sim.order(placed["order_id"].as_str().expect("id")).expect("in the store");
        (doc["profileId"].as_str().map(str::to_owned), doc["isAnonymous"].as_bool())
    };
    let creates = || app.sim.count("POST", "/ccadmin/v1/profiles");

    let (status, placed, _) =
        common::place_order(&app, &bearer, &merchant, "k-known", &by("PO-K", "Shopper3@Example.com")).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed_for(&placed).0.as_deref(), Some("sp3"), "the store's own profile");
    assert_eq!(creates(), 0);

    let (status, placed, _) =
        common::place_order(&app, &bearer, &merchant, "k-new", &by("PO-N1", "new.buyer@example.com")).await;
    assert_eq!(status, 201, "{placed}");
    let profile = app.sim.profile_by_email("new.buyer@example.com").expect("created in the store");
    assert_eq!((profile["firstName"].as_str(), profile["lastName"].as_str()), (Some("Jean"), Some("Smith")));
    assert_eq!(placed_for(&placed).0.as_deref(), profile["id"].as_str());
    assert_eq!(creates(), 1);

    let (status, again, _) =
        common::place_order(&app, &bearer, &merchant, "k-again", &by("PO-N2", "NEW.buyer@example.com")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(placed_for(&again).0.as_deref(), profile["id"].as_str(), "found, not created twice");
    assert_eq!(creates(), 1);

    let mut guest = by("PO-G", "other.buyer@example.com");
    guest["guest_checkout"] = json!(true);
    let (status, placed, _) = common::place_order(&app, &bearer, &merchant, "k-guest", &guest).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed_for(&placed), (None, Some(true)));
    assert!(app.sim.profile_by_email("other.buyer@example.com").is_none() && creates() == 1);
    app.stop().await;
}
