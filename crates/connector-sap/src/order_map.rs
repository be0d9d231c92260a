//! A `StorelinkOrder` item -> Storelink's `OrderRow`, in either form SAP sends it: OData v2 JSON (a
//! list or point read, `{"d": ...}` optional, collections as `{"results": [...]}`, `/Date(ms)/`,
//! numbers as strings, unexpanded references as `__deferred`) or a webhook payload (no envelope,
//! collections as arrays, ISO 8601 dates). Both forms of one order give the same row and hash.
//! SAP's status codes are mapped into the model's enums (docs/sap.md, "The model mapping").
//! Lenient like the OCC mapping: a missing optional field becomes NULL; only a missing `code` fails.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use storelink_model::records::{Hashed, OrderRow, hashed};
use storelink_model::status::{OrderStatus, PaymentStatus};
use storelink_model::views::{Address, OrderLine, OrderTotals};

/// One `StorelinkOrder` `Order` item (the partner reference Storelink placed it under is its `code`,
/// which is also the model's order id).
pub fn order(value: &Value) -> Result<Hashed<OrderRow>, String> {
    let v = value.get("d").unwrap_or(value);
    if !v.is_object() {
        return Err("the order is not a JSON object".into());
    }
    let order_id = text(v, "code").filter(|c| !c.is_empty()).ok_or("the order has no code")?;
    let state = code(v, "status");
    let totals = OrderTotals {
        subtotal: decimal(v, "subtotal"),
        discount: decimal(v, "totalDiscounts"),
        shipping: decimal(v, "deliveryCost"),
        tax: decimal(v, "totalTax"),
        total: decimal(v, "totalPrice"),
    };
    Ok(hashed(OrderRow {
        order_id,
        status: state.as_deref().map_or(OrderStatus::Unknown, order_status),
        state,
        payment_status: code(v, "paymentStatus").as_deref().map_or(PaymentStatus::Unknown, payment_status),
        // SAP's base store is not a site in the model's sense (SAP merchants are read as one store).
        site_id: None,
        currency: nested(v, "currency").and_then(|c| text(c, "isocode")),
        total: totals.total.as_deref().and_then(|t| t.parse().ok()),
        submitted_at: time(v, "date").or_else(|| time(v, "creationtime")),
        source_modified_at: time(v, "modifiedtime"),
        lines: collection(v, "entries").iter().filter_map(line).collect(),
        billing_address: nested(v, "paymentAddress").map(address),
        shipping_address: nested(v, "deliveryAddress").map(address),
        totals,
        // SAP's consignments are not part of the order object; shipments stay empty.
        shipments: Vec::new(),
    }))
}

/// SAP `OrderStatus` codes (an extensible enum: core, basecommerce, commerceservices and B2B values)
/// -> the model's. Sources and assumptions in docs/sap.md.
pub fn order_status(code: &str) -> OrderStatus {
    match code.to_ascii_uppercase().as_str() {
        "ON_VALIDATION"
        | "PENDING_APPROVAL"
        | "PENDING_APPROVAL_FROM_MERCHANT"
        | "PENDING_QUOTE"
        | "WAIT_FRAUD_MANUAL_CHECK"
        | "SUSPENDED"
        | "PAYMENT_NOT_AUTHORIZED"
        | "PAYMENT_AMOUNT_NOT_RESERVED"
        | "PAYMENT_NOT_CAPTURED" => OrderStatus::Pending,
        "CREATED" => OrderStatus::Submitted,
        "CHECKED_VALID"
        | "APPROVED"
        | "FRAUD_CHECKED"
        | "PAYMENT_AUTHORIZED"
        | "PAYMENT_AMOUNT_RESERVED"
        | "PAYMENT_CAPTURED"
        | "ORDER_SPLIT"
        | "PROCESSING_ERROR"
        | "CANCELLING"
        | "READY"
        | "IN_PROCESS" => OrderStatus::Processing,
        "COMPLETED" => OrderStatus::Completed,
        "CANCELLED" | "CHECKED_INVALID" | "REJECTED" | "REJECTED_BY_MERCHANT" => OrderStatus::Cancelled,
        _ => OrderStatus::Unknown,
    }
}

/// SAP `PaymentStatus` codes (`NOTPAID`, `PARTPAID`, `PAID`) -> the model's.
pub fn payment_status(code: &str) -> PaymentStatus {
    match code.to_ascii_uppercase().as_str() {
        "NOTPAID" | "PARTPAID" => PaymentStatus::Pending,
        "PAID" => PaymentStatus::Paid,
        _ => PaymentStatus::Unknown,
    }
}

/// An `OrderEntry`: its `entryNumber` is the line id; the ordered product (a variant, as the catalog
/// sells it) is the line's variant, named by its integrationKey as the sync names SKUs.
fn line(entry: &Value) -> Option<OrderLine> {
    let entry_number = text(entry, "entryNumber")?;
    let product = nested(entry, "product");
    Some(OrderLine {
        line_id: entry_number,
        product_id: None,
        variant_id: product.and_then(product_key),
        name: None,
        quantity: number(entry, "quantity").map_or(0, |q| q as i64),
        unit_price: decimal(entry, "basePrice"),
        discount: None,
        tax: None,
        total: decimal(entry, "totalPrice"),
    })
}

/// A product's integrationKey (`<version>|<catalog>|<code>`): as sent, else built from its parts
/// when they came, else its code.
pub fn product_key(product: &Value) -> Option<String> {
    if let Some(key) = text(product, "integrationKey").filter(|k| !k.is_empty()) {
        return Some(key);
    }
    let code = text(product, "code")?;
    let version = nested(product, "catalogVersion");
    let catalog = version.and_then(|v| nested(v, "catalog")).and_then(|c| text(c, "id"));
    Some(match (version.and_then(|v| text(v, "version")), catalog) {
        (Some(version), Some(catalog)) => format!("{version}|{catalog}|{code}"),
        _ => code,
    })
}

fn address(a: &Value) -> Address {
    Address {
        first_name: filled(a, "firstname"),
        last_name: filled(a, "lastname"),
        company: filled(a, "company"),
        line1: filled(a, "line1"),
        line2: filled(a, "line2"),
        city: filled(a, "town"),
        region: nested(a, "region").and_then(|r| filled(r, "isocode")),
        postal_code: filled(a, "postalcode"),
        country: nested(a, "country").and_then(|c| filled(c, "isocode")),
        phone: filled(a, "phone1"),
        email: filled(a, "email"),
    }
}

pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn filled(v: &Value, key: &str) -> Option<String> {
    text(v, key).filter(|s| !s.trim().is_empty())
}

/// A referenced item, if it came inline (an unexpanded `__deferred` link is absent).
pub(crate) fn nested<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|n| n.is_object() && n.get("__deferred").is_none())
}

/// An enum reference's `code` (`{"code": "CREATED"}`), or the code itself when sent as text.
fn code(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        other => nested(v, key).and_then(|_| text(other, "code")),
    }
}

/// A collection: `{"results": [...]}` (OData) or an array (webhook).
pub(crate) fn collection<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    let list = v.get(key);
    let list = list.and_then(|l| l.get("results")).or(list);
    list.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// An `Edm.Double` (a JSON number or a string) as a decimal string with at most 6 places and no
/// trailing zeros, so `"10.0"`, `10` and `10.00` give the same text and hash.
pub(crate) fn decimal(v: &Value, key: &str) -> Option<String> {
    number(v, key).map(amount)
}

/// A number sent as a JSON number or as text (`Edm.Int64`/`Edm.Double` in OData JSON).
pub(crate) fn number(v: &Value, key: &str) -> Option<f64> {
    text(v, key)?.trim().parse().ok().filter(|x: &f64| x.is_finite())
}

/// An amount as decimal text: at most 6 places, no trailing zeros (`10`, `24.5`).
pub fn amount(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

/// `Edm.DateTime`: `/Date(<ms>)/` (optionally with an offset in minutes, the ms being UTC anyway),
/// ISO 8601 with or without an offset (none: UTC), or epoch milliseconds.
pub(crate) fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        Value::String(s) => parse_time(s),
        _ => None,
    }
}

/// `Edm.DateTime` sent as text: `/Date(<ms>)/` or ISO 8601 (`time`).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits = inner.find(['+', '-']).filter(|&i| i > 0).map_or(inner, |i| &inner[..i]);
        return digits.parse().ok().and_then(DateTime::from_timestamp_millis);
    }
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|t| t.and_utc())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A point read of `Orders('00001001')` as sap-sim answers it with the sync's expansions.
    fn odata() -> Value {
        let meta =
            |set: &str| json!({"uri": format!("https://api.example.com/odata2webservices/StorelinkOrder/{set}")});
        json!({"d": {
            "__metadata": {"id": "x", "uri": "x", "type": "HybrisCommerceOData.Order"},
            "code": "00001001", "date": "/Date(1764583200000)/", "creationtime": "/Date(1764583200000)/",
            "modifiedtime": "/Date(1764586800123)/",
            "status": {"__metadata": meta("OrderStatuses('CREATED')"), "code": "CREATED", "integrationKey": "CREATED"},
            "paymentStatus": {"code": "PAID", "integrationKey": "PAID"},
            "deliveryStatus": {"code": "NOTSHIPPED", "integrationKey": "NOTSHIPPED"},
            "currency": {"isocode": "USD", "integrationKey": "USD"},
            "user": {"uid": "buyer1@example.com", "name": "Ada Buyer1", "integrationKey": "buyer1@example.com"},
            "store": {"uid": "storelink-store", "integrationKey": "storelink-store"},
            "deliveryMode": {"code": "standard-gross", "integrationKey": "standard-gross"},
            "deliveryAddress": {
                "owner": {"__deferred": {"uri": "x"}}, "line1": "1 Main Street", "postalcode": "10001",
                "firstname": "Ada", "lastname": "Buyer1", "company": null, "line2": null, "town": "New York",
                "country": {"isocode": "US", "integrationKey": "US"}, "phone1": "+1 555 0100",
                "email": "buyer1@example.com", "integrationKey": "00001001|1 Main Street|10001"
            },
            "paymentAddress": {
                "owner": {"__deferred": {"uri": "x"}}, "line1": "1 Main Street", "postalcode": "10001",
                "firstname": "Ada", "lastname": "Buyer1", "company": null, "line2": null, "town": "New York",
                "country": {"isocode": "US", "integrationKey": "US"}, "phone1": "+1 555 0100",
                "email": "buyer1@example.com", "integrationKey": "00001001|1 Main Street|10001"
            },
            "entries": {"results": [
                {"order": {"__deferred": {"uri": "x"}}, "entryNumber": 0,
                 "product": {"catalogVersion": {"__deferred": {"uri": "x"}}, "code": "P00002-S",
                             "integrationKey": "Online|storelinkProductCatalog|P00002-S"},
                 "quantity": "2", "basePrice": "24.5", "totalPrice": "49.0", "integrationKey": "00001001|0"},
                {"order": {"__deferred": {"uri": "x"}}, "entryNumber": 1,
                 "product": {"catalogVersion": {"__deferred": {"uri": "x"}}, "code": "P00003-S",
                             "integrationKey": "Online|storelinkProductCatalog|P00003-S"},
                 "quantity": "1", "basePrice": "10.0", "totalPrice": "10.0", "integrationKey": "00001001|1"}
            ]},
            "subtotal": "59.0", "deliveryCost": "9.99", "totalDiscounts": "0.0", "totalTax": "4.72",
            "totalPrice": "68.99", "net": false, "description": null, "integrationKey": "00001001"
        }})
    }

    /// The same order as a webhook delivers it (sap-sim's `payload`).
    fn webhook() -> Value {
        let address = json!({
            "owner": {"integrationKey": "00001001"}, "line1": "1 Main Street", "postalcode": "10001",
            "firstname": "Ada", "lastname": "Buyer1", "company": null, "line2": null, "town": "New York",
            "country": {"isocode": "US", "integrationKey": "US"}, "phone1": "+1 555 0100",
            "email": "buyer1@example.com", "integrationKey": "00001001|1 Main Street|10001"
        });
        let version = json!({"version": "Online", "catalog": {"id": "storelinkProductCatalog", "integrationKey": "storelinkProductCatalog"},
                             "integrationKey": "Online|storelinkProductCatalog"});
        json!({
            "code": "00001001", "date": "2025-12-01T10:00:00.000Z", "creationtime": "2025-12-01T10:00:00.000Z",
            "modifiedtime": "2025-12-01T11:00:00.123Z",
            "status": {"code": "CREATED", "integrationKey": "CREATED"},
            "paymentStatus": {"code": "PAID", "integrationKey": "PAID"},
            "deliveryStatus": {"code": "NOTSHIPPED", "integrationKey": "NOTSHIPPED"},
            "currency": {"isocode": "USD", "integrationKey": "USD"},
            "user": {"uid": "buyer1@example.com", "name": "Ada Buyer1", "integrationKey": "buyer1@example.com"},
            "store": {"uid": "storelink-store", "integrationKey": "storelink-store"},
            "deliveryMode": {"code": "standard-gross", "integrationKey": "standard-gross"},
            "deliveryAddress": address, "paymentAddress": address,
            "entries": [
                {"order": {"integrationKey": "00001001"}, "entryNumber": 0,
                 "product": {"catalogVersion": version, "code": "P00002-S", "integrationKey": "Online|storelinkProductCatalog|P00002-S"},
                 "quantity": 2, "basePrice": 24.5, "totalPrice": 49.0, "integrationKey": "00001001|0"},
                {"order": {"integrationKey": "00001001"}, "entryNumber": 1,
                 "product": {"catalogVersion": version, "code": "P00003-S", "integrationKey": "Online|storelinkProductCatalog|P00003-S"},
                 "quantity": 1, "basePrice": 10.0, "totalPrice": 10.0, "integrationKey": "00001001|1"}
            ],
            "subtotal": 59.0, "deliveryCost": 9.99, "totalDiscounts": 0.0, "totalTax": 4.72,
            "totalPrice": 68.99, "net": false, "description": null, "integrationKey": "00001001"
        })
    }

    #[test]
    fn a_point_read_maps_into_the_model() {
        let row = order(&odata()).expect("order").row;
        assert_eq!(row.order_id, "00001001");
        assert_eq!((row.state.as_deref(), row.status), (Some("CREATED"), OrderStatus::Submitted));
        assert_eq!(row.payment_status, PaymentStatus::Paid);
        assert_eq!(row.currency.as_deref(), Some("USD"));
        assert_eq!(row.total, Some(68.99));
        assert_eq!(row.submitted_at.map(|t| t.timestamp_millis()), Some(1_764_583_200_000));
        assert_eq!(row.source_modified_at.map(|t| t.timestamp_millis()), Some(1_764_586_800_123));
        assert_eq!(row.totals.subtotal.as_deref(), Some("59"));
        assert_eq!(row.totals.shipping.as_deref(), Some("9.99"));
        assert_eq!(row.totals.discount.as_deref(), Some("0"));
        assert_eq!(row.totals.tax.as_deref(), Some("4.72"));
        assert_eq!(row.lines.len(), 2);
        let first = &row.lines[0];
        assert_eq!(first.line_id, "0");
        assert_eq!(first.variant_id.as_deref(), Some("Online|storelinkProductCatalog|P00002-S"));
        assert_eq!(first.quantity, 2);
        assert_eq!((first.unit_price.as_deref(), first.total.as_deref()), (Some("24.5"), Some("49")));
        let shipping = row.shipping_address.expect("shipping address");
        assert_eq!(shipping.first_name.as_deref(), Some("Ada"));
        assert_eq!(shipping.city.as_deref(), Some("New York"));
        assert_eq!(shipping.country.as_deref(), Some("US"));
        assert_eq!(shipping.postal_code.as_deref(), Some("10001"));
        assert_eq!(shipping.phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(shipping.company, None);
        assert!(row.billing_address.is_some() && row.shipments.is_empty());
    }

    #[test]
    fn a_webhook_payload_gives_the_same_row_and_hash() {
        let listed = order(&odata()).expect("odata");
        // Without the envelope too (a list's `d.results[*]`).
        assert_eq!(order(&odata()["d"]).expect("item"), listed);
        let delivered = order(&webhook()).expect("webhook");
        assert_eq!(delivered.row.submitted_at.map(|t| t.timestamp_millis()), Some(1_764_583_200_000));
        assert_eq!(delivered, listed);
    }

    #[test]
    fn statuses_and_odd_values_are_read() {
        assert_eq!(order_status("COMPLETED"), OrderStatus::Completed);
        assert_eq!(order_status("cancelled"), OrderStatus::Cancelled);
        assert_eq!(order_status("PAYMENT_CAPTURED"), OrderStatus::Processing);
        assert_eq!(order_status("WAIT_FRAUD_MANUAL_CHECK"), OrderStatus::Pending);
        assert_eq!(order_status("SOMETHING_CUSTOM"), OrderStatus::Unknown);
        assert_eq!(payment_status("NOTPAID"), PaymentStatus::Pending);
        let minimal = json!({"code": "X1", "status": "CANCELLED", "date": "/Date(1764583200000+0060)/",
                             "modifiedtime": "2025-12-01T10:00:00", "entries": {"__deferred": {"uri": "x"}},
                             "currency": {"__deferred": {"uri": "x"}}});
        let row = order(&minimal).expect("minimal").row;
        assert_eq!(row.status, OrderStatus::Cancelled);
        assert_eq!(row.payment_status, PaymentStatus::Unknown);
        assert_eq!(row.submitted_at, row.source_modified_at);
        assert!(row.lines.is_empty() && row.currency.is_none() && row.shipping_address.is_none());
        assert!(order(&json!({"status": {"code": "CREATED"}})).is_err());
        assert!(order(&json!([])).is_err());
        let built = json!({"code": "P1", "catalogVersion": {"version": "Staged", "catalog": {"id": "c"}}});
        assert_eq!(product_key(&built).as_deref(), Some("Staged|c|P1"));
    }
}
