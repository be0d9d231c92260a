//! Returns end to end (issue 16, item 10): a Return Request Update delivery stores the return and
//! announces it; the Return Request Validation function webhook is answered from the partner's
//! policy and the synced orders; partners open and change returns in the store through `/v1`, and the
//! store keeps every item (the simulator applies the PUT list rule).

mod common;

use std::time::Duration;

use common::{merchant_id_from, spawn_app, wait_for};
use serde_json::{Value, json};
use storelink_occ_sim::{Fault, FaultKind};

const ORDER: &str = include_str!("../../../fixtures/occ/order-submit.json");
const RETURN: &str = include_str!("../../../fixtures/occ/return-request-update-body.json");
const FUNCTION_WEBHOOK: &str = "production-returnRequestValidation";

async fn call(
    app: &common::TestApp,
    bearer: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base)).bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST .../returns` with an Idempotency-Key: status, body and whether it was a replay.
async fn open(app: &common::TestApp, bearer: &str, path: &str, key: Option<&str>, body: &Value) -> (u16, Value, bool) {
    let mut request = app.http.post(format!("{}{path}", app.base)).bearer_auth(bearer).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, response.json().await.unwrap_or(Value::Null), replayed)
}

#[tokio::test]
async fn a_return_request_update_stores_the_whole_return_and_announces_it() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let order: Value = serde_json::from_str(ORDER).expect("order fixture");
    let request: Value = serde_json::from_str(RETURN).expect("return fixture");
    let body = json!({"order": order["order"], "returnRequest": request}).to_string();
    // OCC's Return Request Update webhook, which discovery mapped to the `return-request-update` slot.
    let results = app.sim.deliver_webhook(common::RETURN_UPDATE_HOOK, body.as_bytes()).await;
    assert_eq!(results.first().map(|r| r.1.clone()), Some(Ok(200)), "{results:?}");
    let pool = app.db.pool.clone();
    let stored = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { common::count(&pool, "SELECT count(*) FROM returns WHERE return_id = '200001'").await == 1 }
    })
    .await;
    assert!(stored, "the return request was stored");
    let bearer = app.bearer().await;
    let (status, page) =
        call(&app, &bearer, reqwest::Method::GET, &format!("/v1/merchants/{merchant}/returns"), None).await;
    assert_eq!(status, 200, "{page}");
    let r = &page["items"][0];
    assert_eq!(
        (r["return_id"].as_str(), r["order_id"].as_str(), r["platform_status"].as_str(), r["status"].as_str()),
        (Some("200001"), Some("o20005"), Some("PENDING_CUSTOMER_ACTION"), Some("awaiting_items"))
    );
    assert_eq!((r["reason"].as_str(), r["tracking_number"].as_str()), (Some("defective"), Some("178923")));
    assert_eq!(r["refund"]["amount"].as_str(), Some("66.49"), "{r}");
    let line = &r["lines"][0];
    assert_eq!(
        (line["line_id"].as_str(), line["reason"].as_str(), line["platform_status"].as_str()),
        (Some("ci6000446"), Some("defective"), Some("AWAITING_RETURN"))
    );
    assert_eq!(line["refund_amount"].as_str(), Some("49.99"), "{line}");
    let events = common::count(
        &app.db.pool,
        "SELECT count(*) FROM change_events WHERE entity = 'return' AND entity_id = '200001'",
    )
    .await;
    assert_eq!(events, 1, "return.updated is announced once");
    app.stop().await;
}

/// A synced order of the merchant with at least two lines: (order id, [(line id, sku id)]).
async fn order_with_two_lines(app: &common::TestApp) -> (String, Vec<(String, String)>) {
    let (order_id, lines): (String, Value) = sqlx::query_as(
        "SELECT order_id, lines FROM orders WHERE jsonb_array_length(lines) >= 2 ORDER BY order_id LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("an order with two lines");
    let lines = lines
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["line_id"].as_str().unwrap_or_default().to_owned(),
                l["variant_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (order_id, lines)
}

#[tokio::test]
async fn the_return_validation_webhook_answers_from_the_policy_and_the_synced_order() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let (order_id, lines) = order_with_two_lines(&app).await;
    sqlx::query("UPDATE orders SET submitted_at = now() - interval '3 days' WHERE order_id = $1")
        .bind(&order_id)
        .execute(&app.db.pool)
        .await
        .expect("order date");
    // The connect pointed the store's function webhook at us and sealed its secrets.
    let hook = app.sim.function_webhook(FUNCTION_WEBHOOK).expect("function webhook");
    let url = format!("{}/webhooks/occ/{merchant}/return-request-validation", app.base);
    assert_eq!(hook["url"].as_str(), Some(url.as_str()), "{hook}");
    assert_eq!(hook["headers"], json!({}), "the document was written back whole");
    let bearer = app.bearer().await;
    let policy = json!({"window_days": 30, "nonreturnable": [lines[0].1]});
    let (status, set) = call(&app, &bearer, reqwest::Method::PUT, "/v1/return-policy", Some(policy)).await;
    assert_eq!((status, set["source"].as_str()), (200, Some("partner")), "{set}");
    let ask = |context: &str, order: &str| {
        let items: Vec<Value> = lines
            .iter()
            .map(|(line, sku)| {
                json!({"commerceItemId": line, "catalogRefId": sku, "productId": "p",
                "nonreturnable": false, "quantityAvailable": 1, "quantityShipped": 1, "shippingGroupId": "sg1"})
            })
            .collect();
        json!({"context": context, "returnRequests": [{"orderId": order, "returnItemList": items}]}).to_string()
    };
    let post = |body: String, signed: bool| {
        let (http, url, sim) = (app.http.clone(), url.clone(), &app.sim);
        async move {
            if signed {
                return sim.call_function_webhook(FUNCTION_WEBHOOK, body.as_bytes()).await.expect("called");
            }
            let request = http.post(url).header("content-type", "application/json");
            let response = request.body(body).send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(post(ask("Initiate_Return", &order_id), false).await.0, 401, "unsigned calls are refused");
    let (status, answer) = post(ask("Initiate_Return", &order_id), true).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["context"], "Initiate_Return");
    let request = &answer["returnRequests"][0];
    assert_eq!(
        (request["orderId"].as_str(), request["nonreturnable"].as_bool()),
        (Some(order_id.as_str()), Some(false))
    );
    let items = request["returnItemList"].as_array().expect("items");
    assert_eq!(items[0]["nonreturnable"], true, "the listed SKU is not returnable: {answer}");
    assert_eq!(items[0]["nonReturnableReason"], "This item cannot be returned.");
    assert_eq!((items[1]["nonreturnable"].as_bool(), items[1]["quantityAvailable"].as_i64()), (Some(false), Some(1)));

    // The merchant's own policy wins: a 2-day window has passed for an order submitted 3 days ago.
    let own = json!({"window_days": 2});
    let path = format!("/v1/merchants/{merchant}/return-policy");
    assert_eq!(call(&app, &bearer, reqwest::Method::PUT, &path, Some(own)).await.0, 200);
    let (_, read) = call(&app, &bearer, reqwest::Method::GET, &path, None).await;
    assert_eq!((read["window_days"].as_i64(), read["source"].as_str()), (Some(2), Some("merchant")));
    let (_, late) = post(ask("Submit_Return", &order_id), true).await;
    assert_eq!(late["returnRequests"][0]["nonreturnable"], true, "{late}");
    assert!(late["returnRequests"][0]["nonReturnableReason"].as_str().is_some_and(|r| r.contains("2 days")));

    // An order Storelink has not synced: no window; an exchange: not supported, item by item.
    let (_, unknown) = post(ask("CalculateRefund_Return", "o-unknown"), true).await;
    assert_eq!(unknown["returnRequests"][0]["nonreturnable"], false, "{unknown}");
    let (_, exchange) = post(ask("Initiate_Exchange", &order_id), true).await;
    let refused = exchange["returnRequests"][0]["returnItemList"].as_array().expect("items");
    assert!(refused.iter().all(|i| i["nonreturnable"] == true), "{exchange}");
    assert_eq!(post(ask("Unknown_Context", &order_id), true).await.0, 400);
    assert!(app.sim.calls().iter().all(|c| !c.path.contains("returnRequests")), "the store is never asked");
    app.stop().await;
}

#[tokio::test]
async fn a_function_webhook_another_integration_uses_is_left_alone_and_recorded() {
    let app = spawn_app().await;
    let theirs = "https://oms.example/returns/validate";
    app.sim.set_function_webhook_url(FUNCTION_WEBHOOK, Some(theirs));
    let merchant = merchant_id_from(&app.connect().await);
    let hook = app.sim.function_webhook(FUNCTION_WEBHOOK).expect("function webhook");
    assert_eq!(hook["url"].as_str(), Some(theirs), "never overwritten");
    assert!(!app.sim.calls().iter().any(|c| c.method == "PUT" && c.path.contains("functionWebhooks")));
    let id: storelink_core::MerchantId = merchant.parse().expect("merchant id");
    let recorded = storelink_registrar::list_callbacks(&app.db.pool, id).await.expect("callbacks");
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].status.as_str(), recorded[0].detail.as_str()), ("in_use", storelink_registrar::IN_USE));
    app.stop().await;
}

#[tokio::test]
async fn partners_open_and_change_returns_and_the_store_keeps_every_item() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let (order_id, lines) = order_with_two_lines(&app).await;
    let bearer = app.bearer().await;
    let returns = format!("/v1/merchants/{merchant}/returns");
    let open = json!({"order_id": order_id, "reason": "defective",
        "lines": [{"line_id": lines[0].0, "quantity": 1}, {"line_id": lines[1].0, "quantity": 1}]});
    let (status, created, _) = self::open(&app, &bearer, &returns, Some("r-1"), &open).await;
    assert_eq!(status, 201, "{created}");
    let return_id = created["return_id"].as_str().expect("return id").to_owned();
    assert_eq!(
        (created["order_id"].as_str(), created["reason"].as_str()),
        (Some(order_id.as_str()), Some("defective"))
    );
    assert!(app.sim.return_request(&return_id).is_some(), "created in the store");

    let patch = json!({"lines": [{"line_id": lines[1].0, "reason": "incorrectSize", "refund_amount": 5.0}], "refund_amount": 12.5});
    let (status, updated) =
        call(&app, &bearer, reqwest::Method::PATCH, &format!("{returns}/{return_id}"), Some(patch)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["refund"]["amount"].as_str(), Some("12.5"), "{updated}");
    let changed = updated["lines"].as_array().and_then(|l| l.iter().find(|l| l["line_id"] == lines[1].0.as_str()));
    assert_eq!(
        changed.map(|l| (l["reason"].clone(), l["refund_amount"].clone())),
        Some((json!("incorrectSize"), json!("5.0")))
    );
    let stored = app.sim.return_request(&return_id).expect("in the store");
    let items = stored["returnItemList"].as_array().expect("items");
    assert_eq!(items.len(), 2, "the line not changed is still on the return: {stored}");
    let reason = |line: &str| items.iter().find(|i| i["commerceItemId"] == line).map(|i| i["returnReason"].clone());
    assert_eq!(reason(&lines[0].0), Some(json!("defective")));
    assert_eq!(reason(&lines[1].0), Some(json!("incorrectSize")));
    assert_eq!(stored["refundMethodList"][0]["amount"], 12.5);
    let put =
        app.sim.calls().into_iter().find(|c| c.method == "PUT" && c.path.contains("returnRequests")).expect("PUT");
    let sent: Value = serde_json::from_str(&put.body).expect("PUT body");
    assert_eq!(
        (sent["op"].as_str(), sent["returnItems"].as_array().map(Vec::len)),
        (Some("adjustRefundAmounts"), Some(2))
    );

    let unknown_line = json!({"lines": [{"line_id": "ci-nope", "reason": "defective"}]});
    let (status, problem) =
        call(&app, &bearer, reqwest::Method::PATCH, &format!("{returns}/{return_id}"), Some(unknown_line)).await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("return_rejected")), "{problem}");
    let bad = json!({"order_id": order_id, "reason": "defective", "lines": [{"line_id": "ci-nope"}]});
    assert_eq!(self::open(&app, &bearer, &returns, Some("r-bad"), &bad).await.0, 422);
    let events = common::count(
        &app.db.pool,
        &format!("SELECT count(*) FROM change_events WHERE entity = 'return' AND entity_id = '{return_id}'"),
    )
    .await;
    assert_eq!(events, 2, "created, then updated");
    app.stop().await;
}

/// Returns are opened once per Idempotency-Key: a retry replays the answer, the key with another
/// body is refused, no key is a 400, and a create the store carried out without answering is found
/// again once the store has reported it (its returnRequestUpdate webhook), not opened twice.
#[tokio::test]
async fn a_return_is_opened_once_per_idempotency_key() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let (order_id, lines) = order_with_two_lines(&app).await;
    let bearer = app.bearer().await;
    let returns = format!("/v1/merchants/{merchant}/returns");
    let body = |line: usize| json!({"order_id": order_id, "reason": "defective", "lines": [{"line_id": lines[line].0, "quantity": 1}]});
    let creates = || app.sim.count("POST", "/ccappagent/v1/returnRequests");

    let (status, problem, _) = open(&app, &bearer, &returns, None, &body(0)).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("Idempotency-Key")), "{problem}");
    assert_eq!(creates(), 0);

    let (status, first, replayed) = open(&app, &bearer, &returns, Some("r-1"), &body(0)).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = open(&app, &bearer, &returns, Some("r-1"), &body(0)).await;
    assert_eq!((status, replayed, &again), (201, true, &first), "the retry replays the return");
    assert_eq!(creates(), 1);
    let (status, problem, _) = open(&app, &bearer, &returns, Some("r-1"), &body(1)).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("idempotency_key_reused")), "{problem}");
    assert_eq!(creates(), 1);

    // Created, but the answer is lost: 503 return_outcome_unknown and the key is kept. The store's
    // returnRequestUpdate reports the return; the retry finds it instead of opening a second one.
    let fault =
        app.sim.inject(Fault::new(Some("POST"), "/ccappagent/v1/returnRequests", FaultKind::ApplyThenDrop).times(1));
    let (status, problem, _) = open(&app, &bearer, &returns, Some("r-2"), &body(1)).await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("return_outcome_unknown")), "{problem}");
    app.sim.remove_fault(fault);
    assert_eq!(creates(), 2, "the store did open it");
    let opened = app.sim.return_ids().last().cloned().expect("a return in the store");
    let report = json!({"order": app.sim.order(&order_id), "returnRequest": app.sim.return_request(&opened)});
    let results = app.sim.deliver_webhook(common::RETURN_UPDATE_HOOK, report.to_string().as_bytes()).await;
    assert_eq!(results.first().map(|r| r.1.clone()), Some(Ok(200)), "{results:?}");
    let pool = app.db.pool.clone();
    let sql = format!("SELECT count(*) FROM returns WHERE return_id = '{opened}'");
    let stored = wait_for(Duration::from_secs(20), || {
        let (pool, sql) = (pool.clone(), sql.clone());
        async move { common::count(&pool, &sql).await == 1 }
    })
    .await;
    assert!(stored, "the store's report was stored");
    let (status, found, _) = open(&app, &bearer, &returns, Some("r-2"), &body(1)).await;
    assert_eq!((status, found["return_id"].as_str()), (201, Some(opened.as_str())), "{found}");
    assert_eq!(creates(), 2, "no second return");
    app.stop().await;
}
