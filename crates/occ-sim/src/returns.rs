//! Return requests in the simulator: create (agent API), read and update (Admin API), the stricter
//! reading of OCC's documentation: an update needs `op` (one of the documented operations) and
//! `returnItems`; a list sent replaces the stored one (members not sent are removed, the PUT
//! list/map rule), and an item that matches no line of the return is refused rather than created.

use actix_web::HttpResponse;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::catalog::iso;
use crate::routes::error;
use crate::state::State;

/// updateReturnRequest's operations [C, Oracle REST reference].
pub(crate) const OPS: [&str; 5] =
    ["receiveReturns", "initiateRefund", "adjustRefundAmounts", "markManualRefund", "markAsComplete"];
/// The default return reasons [C, OMS integration guide].
pub(crate) const REASONS: [&str; 6] =
    ["defective", "didNotLike", "didNotMeetExpectations", "incorrectColor", "incorrectItem", "incorrectSize"];

fn body_object(body: &Bytes) -> Option<Value> {
    serde_json::from_slice::<Value>(body).ok().filter(Value::is_object)
}

fn not_an_object() -> HttpResponse {
    error(400, "200104", "The body must be a JSON object")
}

/// The item's reason, when it names one the store does not know.
fn bad_reason(item: &Value) -> Option<HttpResponse> {
    match item.get("returnReason").and_then(Value::as_str) {
        Some(r) if !REASONS.contains(&r) => Some(error(400, "400", &format!("Invalid return reason {r}"))),
        _ => None,
    }
}

/// `POST /ccappagent/v1/returnRequests` `{"orderId", "returnItemList": [{"commerceItemId",
/// "quantityToReturn", "returnReason"}]}`.
pub(crate) fn create(body: &Bytes, state: &State) -> HttpResponse {
    let Some(request) = body_object(body) else { return not_an_object() };
    let Some(order_id) = request["orderId"].as_str() else { return error(400, "400", "orderId is required") };
    let Some(items) = request["returnItemList"].as_array().filter(|i| !i.is_empty()) else {
        return error(400, "400", "returnItemList must list at least one item");
    };
    let mut inner = state.lock();
    let Some(order) = inner.orders.iter().find(|o| o["id"] == order_id).cloned() else {
        return error(404, "404", &format!("No order {order_id}"));
    };
    let id = format!("rr{}", 200_001 + inner.returns.len());
    let mut lines = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let line = item["commerceItemId"].as_str().unwrap_or_default();
        let Some(ordered) = order["commerceItems"].as_array().into_iter().flatten().find(|c| c["id"] == line) else {
            return error(400, "400", &format!("{line} is not an item of order {order_id}"));
        };
        let quantity = item["quantityToReturn"].as_i64().unwrap_or(0);
        if quantity < 1 || quantity > ordered["quantity"].as_i64().unwrap_or(0) {
            return error(400, "400", &format!("quantityToReturn of {line} must be 1 to the quantity ordered"));
        }
        if let Some(response) = bad_reason(item) {
            return response;
        }
        lines.push(json!({"returnItemId": format!("{id}-{k}"), "commerceItemId": line,
            "catalogRefId": ordered["catalogRefId"], "productId": ordered["productId"],
            "quantityToReturn": quantity, "returnReason": item["returnReason"], "state": "INITIAL",
            "refundAmount": 0, "quantityReceived": 0}));
    }
    let now = inner.tick();
    let created = json!({"requestId": id, "orderId": order_id, "state": "INCOMPLETE", "authorizationNumber": id,
        "originOfReturn": "contactCenter", "currencyCode": "USD", "returnItemList": lines, "refundMethodList": [],
        "lastModifiedDate": iso(now)});
    inner.returns.push(created.clone());
    HttpResponse::Ok().json(created)
}

/// `GET /ccadmin/v1/returnRequests/{id}`.
pub(crate) fn get(state: &State, id: &str) -> HttpResponse {
    match state.lock().returns.iter().find(|r| r["requestId"] == id) {
        Some(found) => HttpResponse::Ok().json(found),
        None => error(404, "404", &format!("No return request {id}")),
    }
}

/// `PUT /ccadmin/v1/returnRequests/{id}`: `op` and `returnItems` are required; `returnItems` and
/// `refundMethodList` replace the stored lists (members left out are removed).
pub(crate) fn update(body: &Bytes, state: &State, id: &str) -> HttpResponse {
    let Some(patch) = body_object(body) else { return not_an_object() };
    match patch["op"].as_str() {
        Some(op) if OPS.contains(&op) => {}
        Some(op) => return error(400, "400", &format!("Invalid op {op}")),
        None => return error(400, "400", "op is required"),
    }
    let Some(sent) = patch["returnItems"].as_array() else { return error(400, "400", "returnItems is required") };
    let mut inner = state.lock();
    let now = inner.tick();
    let Some(stored) = inner.returns.iter_mut().find(|r| r["requestId"] == id) else {
        return error(404, "404", &format!("No return request {id}"));
    };
    let existing = stored["returnItemList"].as_array().cloned().unwrap_or_default();
    let mut kept = Vec::with_capacity(sent.len());
    for item in sent {
        let matches = |e: &&Value| {
            (item.get("returnItemId").is_some() && e["returnItemId"] == item["returnItemId"])
                || (item.get("commerceItemId").is_some() && e["commerceItemId"] == item["commerceItemId"])
        };
        let Some(mut merged) = existing.iter().find(matches).cloned() else {
            return error(400, "400", "A returnItems member matches no item of the return request");
        };
        if let Some(response) = bad_reason(item) {
            return response;
        }
        for key in ["quantityToReturn", "returnReason", "refundAmount", "state", "comments"] {
            if let Some(value) = item.get(key) {
                merged[key] = value.clone();
            }
        }
        kept.push(merged);
    }
    stored["returnItemList"] = Value::Array(kept);
    if let Some(refunds) = patch.get("refundMethodList") {
        stored["refundMethodList"] = refunds.clone();
    }
    for key in ["authorizationNumber", "trackingNumber", "returnLabel", "otherRefund", "returnFee"] {
        if let Some(value) = patch.get(key) {
            stored[key] = value.clone();
        }
    }
    stored["lastModifiedDate"] = json!(iso(now));
    HttpResponse::Ok().json(stored.clone())
}
