//! OCC JSON -> Storelink's normalized rows, each with a content hash of exactly what is stored.
//! Lenient by design: a missing optional field becomes NULL, only a missing id drops the item.

use chrono::{DateTime, Utc};
use serde_json::Value;
use storelink_model::records::{
    Hashed, InventoryRow, OrderRow, ProductRow, ReturnRow, ShipmentRow, ShippingRow, SkuRow, hashed,
};

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn flag(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    match v.get(key)? {
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    }
}

/// A product and the SKUs listed under it.
pub fn product(v: &Value) -> Option<(Hashed<ProductRow>, Vec<Hashed<SkuRow>>)> {
    let product_id = text(v, "id").or_else(|| text(v, "repositoryId"))?;
    let category_ids = v
        .get("parentCategories")
        .and_then(Value::as_array)
        .map(|cats| cats.iter().filter_map(|c| text(c, "id").or_else(|| text(c, "repositoryId"))).collect())
        .unwrap_or_default();
    let skus = v
        .get("childSKUs")
        .and_then(Value::as_array)
        .map(|skus| skus.iter().filter_map(|s| sku(s, &product_id)).collect())
        .unwrap_or_default();
    let row = ProductRow {
        display_name: text(v, "displayName"),
        description: text(v, "description"),
        brand: text(v, "brand"),
        active: flag(v, "active", true),
        list_price: number(v, "listPrice"),
        sale_price: number(v, "salePrice"),
        image_url: text(v, "primaryFullImageURL"),
        route: text(v, "route"),
        category_ids,
        source_modified_at: time(v, "lastModifiedDate"),
        product_id,
    };
    Some((hashed(row), skus))
}

const SKU_ATTRIBUTES: [&str; 4] = ["color", "size", "x_color", "x_size"];

fn sku(v: &Value, product_id: &str) -> Option<Hashed<SkuRow>> {
    let sku_id = text(v, "repositoryId").or_else(|| text(v, "id"))?;
    let attributes: serde_json::Map<String, Value> = SKU_ATTRIBUTES
        .iter()
        .filter_map(|key| v.get(*key).filter(|a| !a.is_null()).map(|a| ((*key).to_owned(), a.clone())))
        .collect();
    Some(hashed(SkuRow {
        sku_id,
        product_id: text(v, "productId").unwrap_or_else(|| product_id.to_owned()),
        display_name: text(v, "displayName"),
        active: flag(v, "active", true),
        list_price: number(v, "listPrice"),
        sale_price: number(v, "salePrice"),
        attributes: Value::Object(attributes),
    }))
}

/// Stock rows of one inventory item (a product with per-SKU stock).
pub fn inventory(v: &Value) -> Vec<Hashed<InventoryRow>> {
    let product_id = text(v, "id").unwrap_or_default();
    let Some(skus) = v.get("childSKUs").and_then(Value::as_array) else { return Vec::new() };
    skus.iter()
        .filter_map(|s| {
            Some(hashed(InventoryRow {
                sku_id: text(s, "skuId").or_else(|| text(s, "skuNumber"))?,
                location_id: text(s, "locationId").unwrap_or_default(),
                product_id: product_id.clone(),
                stock_level: number(s, "stockLevel").map(|n| n as i64).unwrap_or(0),
                availability: text(s, "availabilityStatusMsg"),
            }))
        })
        .collect()
}

pub fn shipping_method(v: &Value) -> Option<Hashed<ShippingRow>> {
    Some(hashed(ShippingRow {
        method_id: text(v, "repositoryId").or_else(|| text(v, "id"))?,
        display_name: text(v, "displayName"),
        enabled: flag(v, "enabled", true),
        calculator: text(v, "shippingCalculator"),
        ranges: v.get("ranges").cloned().unwrap_or(Value::Array(Vec::new())),
    }))
}

pub fn order(v: &Value) -> Option<Hashed<OrderRow>> {
    let price = v.get("priceInfo").cloned().unwrap_or(Value::Null);
    Some(hashed(OrderRow {
        order_id: text(v, "id")?,
        state: text(v, "state"),
        site_id: text(v, "siteId"),
        currency: text(&price, "currencyCode"),
        total: number(&price, "total"),
        submitted_at: time(v, "submittedDate"),
        source_modified_at: time(v, "lastModifiedDate").or_else(|| time(v, "lastModifiedTime")),
        items: v.get("commerceItems").cloned().unwrap_or(Value::Array(Vec::new())),
        shipping_groups: v.get("shippingGroups").cloned().unwrap_or(Value::Array(Vec::new())),
    }))
}

/// Shipping group states that mean "shipped" (OCC sends names or, in webhooks, numbers).
const SHIPPED_STATES: [&str; 4] = ["NO_PENDING_ACTION", "SHIPPED", "PARTIALLY_SHIPPED", "DELIVERED"];

/// The order's shipping groups that have shipped: a tracking number, a ship date or a shipped state.
/// Groups still being prepared are not shipments yet.
pub fn shipments(order: &OrderRow) -> Vec<Hashed<ShipmentRow>> {
    let Some(groups) = order.shipping_groups.as_array() else { return Vec::new() };
    groups
        .iter()
        .filter_map(|g| {
            let tracking = text(g, "trackingNumber").filter(|t| !t.is_empty());
            let ship_date = time(g, "actualShipDate");
            let state = text(g, "state");
            let shipped = state.as_deref().is_some_and(|s| SHIPPED_STATES.contains(&s));
            if tracking.is_none() && ship_date.is_none() && !shipped {
                return None;
            }
            let method = g.get("shippingMethod").and_then(|m| m.get("value").and_then(Value::as_str).or(m.as_str()));
            Some(hashed(ShipmentRow {
                shipment_id: text(g, "shippingGroupId").or_else(|| text(g, "id"))?,
                order_id: order.order_id.clone(),
                state,
                shipping_method: method.map(str::to_owned),
                tracking_number: tracking,
                carrier: text(g, "carrier").or_else(|| text(g, "trackingCarrier")),
                ship_date,
                address: g.get("shippingAddress").cloned().unwrap_or_else(|| Value::Object(Default::default())),
                items: g.get("items").cloned().unwrap_or(Value::Array(Vec::new())),
                source_modified_at: order.source_modified_at,
            }))
        })
        .collect()
}

/// An OCC return request (`requestId`, `state`, `returnItemList`, refunds). The order id comes from
/// the request or, in a Return Request Update webhook, from the order sent beside it.
pub fn return_request(v: &Value, order_id: Option<&str>) -> Option<Hashed<ReturnRow>> {
    let refunds = v.get("refundMethodList").and_then(Value::as_array);
    let refund_total = refunds.map(|list| list.iter().filter_map(|r| number(r, "amount")).sum());
    Some(hashed(ReturnRow {
        return_id: text(v, "requestId").or_else(|| text(v, "id"))?,
        order_id: text(v, "orderId").or_else(|| order_id.map(str::to_owned)),
        state: text(v, "state"),
        authorization_number: text(v, "authorizationNumber"),
        tracking_number: text(v, "trackingNumber").filter(|t| !t.is_empty()),
        return_label: text(v, "returnLabel"),
        refund_total,
        items: v.get("returnItemList").cloned().unwrap_or(Value::Array(Vec::new())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_shipped_groups_are_shipments() {
        let o = order(&json!({"id": "o1", "shippingGroups": [
            {"id": "sg1", "state": 0, "trackingNumber": null, "shippingMethod": "ground"},
            {"shippingGroupId": "sg2", "state": "NO_PENDING_ACTION", "shippingMethod": {"value": "air"}},
            {"id": "sg3", "trackingNumber": "1Z9", "carrier": "UPS"},
            {"trackingNumber": "no id"}
        ]}))
        .expect("order");
        let ids: Vec<_> = shipments(&o.row).into_iter().map(|s| (s.row.shipment_id, s.row.shipping_method)).collect();
        assert_eq!(ids, vec![("sg2".to_owned(), Some("air".to_owned())), ("sg3".to_owned(), None)]);
    }

    #[test]
    fn return_request_fixture_normalizes() {
        let v: Value = serde_json::from_str(include_str!("../../../fixtures/occ/return-request-update-body.json"))
            .expect("fixture");
        let r = return_request(&v, Some("o9")).expect("return");
        assert_eq!(r.row.return_id, "200001");
        assert_eq!(r.row.order_id.as_deref(), Some("o9"));
        assert_eq!(r.row.state.as_deref(), Some("PENDING_CUSTOMER_ACTION"));
        assert_eq!(r.row.refund_total, Some(66.49));
        assert_eq!(r.row.items.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn product_with_skus_normalizes_and_hash_tracks_content() {
        let v = json!({"id": "p1", "displayName": "Mug", "listPrice": 12.5, "salePrice": null, "active": true,
            "parentCategories": [{"id": "c1"}], "lastModifiedDate": "2026-01-01T00:00:00.000Z",
            "childSKUs": [{"repositoryId": "s1", "listPrice": 12.5, "color": "red"}]});
        let (p, skus) = product(&v).expect("product");
        assert_eq!(p.row.product_id, "p1");
        assert_eq!(p.row.category_ids, vec!["c1"]);
        assert_eq!(p.row.list_price, Some(12.5));
        assert_eq!(skus.len(), 1);
        assert_eq!(skus[0].row.product_id, "p1");
        assert_eq!(skus[0].row.attributes, json!({"color": "red"}));
        let mut changed = v.clone();
        changed["displayName"] = json!("Big mug");
        assert_ne!(product(&changed).expect("product").0.hash, p.hash);
        assert_eq!(product(&v).expect("product").0.hash, p.hash, "stable");
    }

    #[test]
    fn items_without_ids_are_dropped_not_fatal() {
        assert!(product(&json!({"displayName": "x"})).is_none());
        assert!(order(&json!({"state": "SUBMITTED"})).is_none());
        let inv = inventory(&json!({"id": "p1", "childSKUs": [{"stockLevel": 3}, {"skuId": "s1", "stockLevel": "7"}]}));
        assert_eq!(inv.len(), 1);
        assert_eq!(inv[0].row.stock_level, 7);
    }

    #[test]
    fn order_times_accept_iso_and_epoch_millis() {
        let o = order(&json!({"id": "o1", "lastModifiedTime": 1767225600000_i64, "priceInfo": {"total": 10, "currencyCode": "USD"}}))
            .expect("order");
        assert_eq!(o.row.source_modified_at.expect("time").to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!((o.row.total, o.row.currency.as_deref()), (Some(10.0), Some("USD")));
    }
}
