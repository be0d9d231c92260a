//! OCC return requests: reading the Return Request Validation function webhook and writing its
//! answer (the shape of fixtures/occ/return-request-validation-response.json), and the bodies of the
//! return request calls. Sources in docs/occ.md, "Returns".

use serde_json::{Value, json};
use storelink_connector::{
    CallbackOutcome, ConnectorError, NewReturn, ReturnCheck, ReturnCheckItem, ReturnCheckOrder, ReturnUpdate,
    ReturnVerdict,
};

/// Contexts of a return validation call [C, OMS integration guide].
pub const RETURN_CONTEXTS: [&str; 4] = ["Initiate_Return", "CalculateRefund_Return", "Submit_Return", "Custom_Return"];
/// Contexts of an exchange validation call [C, OMS integration guide]; answered "not supported".
pub const EXCHANGE_CONTEXTS: [&str; 3] = ["Initiate_Exchange", "Submit_Exchange", "Process_Exchange"];

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// `{"context", "returnRequests": [{"orderId", "returnItemList": [...]}]}`; the order id may also be
/// at the top level [A: the guide's request example is cut before it; its answer carries it].
pub fn read_check(body: &Value) -> Result<ReturnCheck, String> {
    let context = text(body, "context").ok_or("the payload has no context")?;
    let exchange = if RETURN_CONTEXTS.contains(&context.as_str()) {
        false
    } else if EXCHANGE_CONTEXTS.contains(&context.as_str()) {
        true
    } else {
        return Err(format!("unknown context {context:?}"));
    };
    let requests = body.get("returnRequests").and_then(Value::as_array).ok_or("the payload has no returnRequests")?;
    let top_order = text(body, "orderId");
    let mut orders = Vec::with_capacity(requests.len());
    for request in requests {
        let order_id =
            text(request, "orderId").or_else(|| top_order.clone()).ok_or("a return request has no orderId")?;
        let items = list(request, "returnItemList")
            .iter()
            .map(|item| ReturnCheckItem {
                line_id: text(item, "commerceItemId").unwrap_or_default(),
                sku_id: text(item, "catalogRefId"),
                product_id: text(item, "productId"),
                store_refusal: (item.get("nonreturnable").and_then(Value::as_bool) == Some(true)).then(|| {
                    text(item, "nonReturnableReason").unwrap_or_else(|| "This item is not returnable.".into())
                }),
            })
            .collect();
        orders.push(ReturnCheckOrder { order_id, items });
    }
    Ok(ReturnCheck { context, exchange, orders })
}

/// Fields of a return request (`REQUEST_KEPT`) and of an item (`ITEM_KEPT`) the verdict does not
/// decide: answered as the store sent them, so an RMA, tracking number, label or extension properties
/// the store or another function set survive the answer [fixture: return-request-validation-response].
const REQUEST_KEPT: [&str; 4] = ["rma", "trackingNumber", "returnLabel", "additionalProperties"];
const ITEM_KEPT: [&str; 1] = ["additionalProperties"];

/// Copies `keys` present in `from` into `to`.
fn keep(to: &mut Value, from: &Value, keys: &[&str]) {
    for key in keys {
        if let Some(v) = from.get(*key).filter(|v| !v.is_null()) {
            to[*key] = v.clone();
        }
    }
}

/// The answer: per order `nonreturnable` and `nonReturnableReason`, per item the same plus the item's
/// ids and `quantityAvailable` as the store sent them (0 when not returnable); the fields the verdict
/// does not decide are kept as sent (`REQUEST_KEPT`, `ITEM_KEPT`).
pub fn answer(body: &Value, check: &ReturnCheck, verdicts: &[ReturnVerdict]) -> Value {
    let requests = body.get("returnRequests").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let answered: Vec<Value> = check
        .orders
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(n, (order, verdict))| {
            let sent = requests.get(n).map(|r| list(r, "returnItemList")).unwrap_or_default();
            let items: Vec<Value> = order
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let refusal = verdict.items.get(i).cloned().flatten();
                    let from = sent.get(i).cloned().unwrap_or(Value::Null);
                    let available = if refusal.is_some() {
                        json!(0)
                    } else {
                        from.get("quantityAvailable").cloned().unwrap_or(json!(0))
                    };
                    let mut answered = json!({
                        "commerceItemId": item.line_id,
                        "shippingGroupId": from.get("shippingGroupId").cloned().unwrap_or(Value::Null),
                        "productId": item.product_id,
                        "catalogRefId": item.sku_id,
                        "nonreturnable": refusal.is_some(),
                        "nonReturnableReason": refusal,
                        "quantityAvailable": available,
                    });
                    keep(&mut answered, &from, &ITEM_KEPT);
                    answered
                })
                .collect();
            let mut answered = json!({
                "orderId": order.order_id,
                "nonreturnable": verdict.order.is_some(),
                "nonReturnableReason": verdict.order,
                "returnItemList": items,
            });
            keep(&mut answered, requests.get(n).unwrap_or(&Value::Null), &REQUEST_KEPT);
            answered
        })
        .collect();
    json!({"context": check.context, "returnRequests": answered})
}

/// OCC's function webhook for a Storelink callback name [A: the id follows the event webhooks'
/// `production-<name>` pattern, reference section 4].
pub fn function_webhook_id(name: &str) -> Option<&'static str> {
    (name == storelink_core::RETURN_VALIDATION_CALLBACK).then_some("production-returnRequestValidation")
}

/// Registration on a function webhook, which calls one URL [C, "Understand webhooks"]: a URL another
/// integration set is kept (`InUse`); otherwise the document is written back whole with our `url`
/// (every field read, secrets left out), and the secrets read are sealed by the caller. A webhook
/// without a usable secret is not registered: its calls could not be authenticated.
pub async fn register_function_webhook<F, Fut>(doc: Value, url: &str, put: F) -> Result<CallbackOutcome, ConnectorError>
where
    F: FnOnce(Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), ConnectorError>>,
{
    let current = doc.get("url").and_then(Value::as_str).filter(|u| !u.trim().is_empty());
    if current.is_some_and(|u| u != url) {
        return Ok(CallbackOutcome::InUse);
    }
    let usable = |key: &str| {
        doc.get(key).and_then(Value::as_str).filter(|s| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .is_ok_and(|k| k.len() >= storelink_core::MIN_WEBHOOK_SECRET_BYTES)
        })
    };
    let secrets = crate::verify::Secrets {
        sha1: usable("secretKey").map(str::to_owned),
        sha512: usable("secretKeySHA512").map(str::to_owned),
    };
    if secrets.sha1.is_none() && secrets.sha512.is_none() {
        return Err(ConnectorError::Refused { message: "the function webhook has no usable signing secret".into() });
    }
    if current.is_none() {
        let mut body = doc.clone();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("secretKey");
            fields.remove("secretKeySHA512");
            fields.remove("links");
            fields.insert("url".into(), json!(url));
        }
        put(body).await?;
    }
    let sealed = serde_json::to_vec(&secrets)
        .map_err(|e| ConnectorError::BadReply { what: "secrets".into(), detail: e.to_string() })?;
    Ok(CallbackOutcome::Registered { secrets: sealed })
}

/// The body opening a return: `orderId` [C: initiateReturn takes it], `returnItemList` with
/// `commerceItemId`, `quantityToReturn` and `returnReason` [C: the guide's return item fields; that
/// the create call takes them is A].
pub fn create_body(request: &NewReturn<'_>) -> Value {
    let items: Vec<Value> = request
        .lines
        .iter()
        .map(|l| {
            json!({"commerceItemId": l.line_id, "quantityToReturn": l.quantity.unwrap_or(1),
                   "returnReason": l.reason.unwrap_or(request.reason)})
        })
        .collect();
    json!({"orderId": request.order_id, "returnItemList": items})
}

/// The updateReturnRequest body for a change, from the return as the store holds it now: `op`
/// `adjustRefundAmounts` and `returnItems` with *every* stored item (matched by `returnItemId` or
/// `commerceItemId`), changed where the partner asked, so none is removed; a new refund total
/// replaces the first refund method's amount, sending the whole `refundMethodList` back.
pub fn update_body(current: &Value, update: &ReturnUpdate<'_>) -> Value {
    let items: Vec<Value> = list(current, "returnItemList")
        .iter()
        .map(|stored| {
            let line = text(stored, "commerceItemId").unwrap_or_default();
            let change = update.lines.iter().find(|l| l.line_id == line);
            let mut item = json!({"commerceItemId": line});
            if let Some(id) = stored.get("returnItemId") {
                item["returnItemId"] = id.clone();
            }
            let reason = change.and_then(|c| c.reason).or(update.reason);
            item["returnReason"] =
                reason.map_or_else(|| stored.get("returnReason").cloned().unwrap_or(Value::Null), |r| json!(r));
            item["quantityToReturn"] = change
                .and_then(|c| c.quantity)
                .map_or_else(|| stored.get("quantityToReturn").cloned().unwrap_or(Value::Null), |q| json!(q));
            item["refundAmount"] = change
                .and_then(|c| c.refund)
                .map_or_else(|| stored.get("refundAmount").cloned().unwrap_or(Value::Null), |r| json!(r));
            item
        })
        .collect();
    let mut body = json!({"op": "adjustRefundAmounts", "returnItems": items});
    if let Some(total) = update.refund_total {
        let mut methods = list(current, "refundMethodList").to_vec();
        match methods.first_mut() {
            Some(first) => first["amount"] = json!(total),
            None => methods.push(json!({"refundType": "manualRefund", "amount": total})),
        }
        body["refundMethodList"] = Value::Array(methods);
    }
    body
}

/// Lines named in an update that the return does not hold.
pub fn unknown_lines<'a>(current: &Value, update: &'a ReturnUpdate<'a>) -> Vec<&'a str> {
    let held: Vec<String> = list(current, "returnItemList").iter().filter_map(|i| text(i, "commerceItemId")).collect();
    update.lines.iter().map(|l| l.line_id).filter(|id| !held.iter().any(|h| h == id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_request_reads_and_the_answer_has_the_fixtures_shape() {
        let body = json!({"context": "Initiate_Return", "returnRequests": [{"orderId": "o30411", "returnItemList": [
            {"commerceItemId": "ci3000416", "productId": "Product_27Fxyzii", "catalogRefId": "Sku_27Gxyzii",
             "nonreturnable": true, "nonReturnableReason": "This is a non-returnable item.", "quantityAvailable": 20,
             "shippingGroupId": "sg40414"},
            {"commerceItemId": "ci3000417", "productId": "Product_36Exy", "catalogRefId": "Sku_36Fxy",
             "nonreturnable": false, "quantityAvailable": 15, "shippingGroupId": "sg40414"}]}]});
        let check = read_check(&body).expect("check");
        assert!(!check.exchange);
        assert_eq!(check.orders[0].items[0].store_refusal.as_deref(), Some("This is a non-returnable item."));
        let verdict = ReturnVerdict { order: None, items: vec![Some("no".into()), None] };
        let answered = answer(&body, &check, &[verdict]);
        let fixture: Value =
            serde_json::from_str(include_str!("../../../fixtures/occ/return-request-validation-response.json"))
                .expect("fixture");
        let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        for key in keys(&fixture["returnRequests"][0]["returnItemList"][0]) {
            if key != "additionalProperties" {
                assert!(answered["returnRequests"][0]["returnItemList"][0].get(&key).is_some(), "item lacks {key}");
            }
        }
        for key in ["orderId", "nonreturnable", "nonReturnableReason", "returnItemList"] {
            assert!(fixture["returnRequests"][0].get(key).is_some());
            assert!(answered["returnRequests"][0].get(key).is_some(), "order lacks {key}");
        }
        assert_eq!(answered["returnRequests"][0]["returnItemList"][1]["quantityAvailable"], 15);
        assert_eq!(answered["returnRequests"][0]["returnItemList"][0]["nonreturnable"], true);
        // What the verdict does not decide is answered as sent: every key of the fixture's answer.
        let mut full = body.clone();
        for key in REQUEST_KEPT {
            full["returnRequests"][0][key] = fixture["returnRequests"][0][key].clone();
        }
        full["returnRequests"][0]["returnItemList"][0]["additionalProperties"] = json!({"name1": "value1"});
        let answered = answer(&full, &check, &[ReturnVerdict { order: None, items: vec![None, None] }]);
        for key in keys(&fixture["returnRequests"][0]) {
            assert!(answered["returnRequests"][0].get(&key).is_some(), "order lacks {key}");
        }
        assert_eq!(answered["returnRequests"][0]["rma"], "12345");
        assert_eq!(
            answered["returnRequests"][0]["returnItemList"][0]["additionalProperties"],
            json!({"name1": "value1"})
        );
        assert!(answered["returnRequests"][0]["returnItemList"][1].get("additionalProperties").is_none());
        assert!(read_check(&json!({"context": "Nope", "returnRequests": []})).is_err());
        assert!(read_check(&json!({"context": "Submit_Exchange", "returnRequests": []})).expect("ok").exchange);
    }

    #[test]
    fn an_update_sends_every_item_back_and_the_whole_refund_list() {
        let current = json!({"returnItemList": [
            {"returnItemId": "r1", "commerceItemId": "ci1", "returnReason": "defective", "quantityToReturn": 1, "refundAmount": 0},
            {"returnItemId": "r2", "commerceItemId": "ci2", "returnReason": "didNotLike", "quantityToReturn": 2, "refundAmount": 0}],
            "refundMethodList": [{"refundType": "manualRefund", "amount": 1, "state": "INCOMPLETE"}]});
        let change = storelink_connector::ReturnLineChange {
            line_id: "ci2",
            quantity: None,
            reason: Some("incorrectSize"),
            refund: Some(5.0),
        };
        let update = ReturnUpdate { reason: None, lines: vec![change], refund_total: Some(12.5) };
        let body = update_body(&current, &update);
        assert_eq!(body["op"], "adjustRefundAmounts");
        let items = body["returnItems"].as_array().expect("items");
        assert_eq!(items.len(), 2, "the unchanged item is sent too");
        assert_eq!(
            (items[0]["returnReason"].as_str(), items[0]["returnItemId"].as_str()),
            (Some("defective"), Some("r1"))
        );
        assert_eq!(
            (items[1]["returnReason"].as_str(), items[1]["refundAmount"].as_f64()),
            (Some("incorrectSize"), Some(5.0))
        );
        assert_eq!(
            body["refundMethodList"],
            json!([{"refundType": "manualRefund", "amount": 12.5, "state": "INCOMPLETE"}])
        );
        assert!(unknown_lines(&current, &update).is_empty());
    }
}
