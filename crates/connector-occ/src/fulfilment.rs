//! Partner-side fulfilment into OCC: the order's state and its shipments' tracking, written with
//! `PUT /ccadmin/v1/orders/{id}` after a fresh read of the order. The read makes the write whole and
//! idempotent: OCC's PUT keeps only the list members a request names (a shipping group left out is
//! removed), so every group read is named; and a change the order already holds is not sent again.

use serde_json::{Value, json};
use storelink_connector::{ConnectorError, ShipmentUpdate};
use storelink_model::status::OrderStatus;

/// The shipping group state written with tracking: ATG's "shipped, nothing left to do" state, which
/// the normalizer reads as shipped [A, docs/occ.md].
pub(crate) const SHIPPED_STATE: &str = "NO_PENDING_ACTION";

/// The OCC order state a partner's status sets: `PROCESSING` (the OMS guide's example) or
/// `NO_PENDING_ACTION` (fulfilled); other statuses are not the fulfiller's to set.
pub(crate) fn state_for(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Processing => Some("PROCESSING"),
        OrderStatus::Completed => Some("NO_PENDING_ACTION"),
        _ => None,
    }
}

/// The PUT body that sets `state`, or `None` when the order already has it.
pub(crate) fn status_patch(order: &Value, state: &str) -> Option<Value> {
    (order.get("state").and_then(Value::as_str) != Some(state)).then(|| json!({ "state": state }))
}

/// The shipping group's id, under the name the store used (`shippingGroupId`, or `id` in webhook
/// payloads), so the PUT names it the way the store matches it.
fn group_id(group: &Value) -> Option<(&'static str, &str)> {
    ["shippingGroupId", "id"].into_iter().find_map(|key| group.get(key).and_then(Value::as_str).map(|id| (key, id)))
}

/// The PUT body that records `update` on the order's shipping group, naming every other group so
/// that none is removed; `None` when the group already holds this tracking number as shipped.
pub(crate) fn shipment_patch(order: &Value, update: &ShipmentUpdate<'_>) -> Result<Option<Value>, ConnectorError> {
    let groups = order.get("shippingGroups").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let bad = |detail: String| ConnectorError::BadReply { what: "/ccadmin/v1/orders/{id}".into(), detail };
    let ids = groups.iter().map(group_id).collect::<Option<Vec<_>>>();
    let ids = ids.ok_or_else(|| bad("a shipping group has no id, so a PUT could not keep it".into()))?;
    let target = match update.shipment_id {
        Some(wanted) => ids
            .iter()
            .position(|(_, id)| *id == wanted)
            .ok_or_else(|| ConnectorError::NotFound { what: format!("shipment {wanted} of the order") })?,
        None if ids.len() == 1 => 0,
        None => {
            return Err(ConnectorError::Refused {
                message: format!("the order has {} shipments (shipping groups); name the shipment_id", ids.len()),
            });
        }
    };
    let group = &groups[target];
    let text = |key: &str| group.get(key).and_then(Value::as_str);
    if text("trackingNumber") == Some(update.tracking_number) && text("state") == Some(SHIPPED_STATE) {
        return Ok(None);
    }
    let shipped_at = update.shipped_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let list: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, (key, id))| {
            let mut member = json!({ *key: id });
            if i == target {
                member["trackingNumber"] = json!(update.tracking_number);
                member["actualShipDate"] = json!(shipped_at);
                member["state"] = json!(SHIPPED_STATE);
            }
            member
        })
        .collect();
    Ok(Some(json!({ "shippingGroups": list })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn update(shipment_id: Option<&str>) -> ShipmentUpdate<'_> {
        let shipped_at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("time");
        ShipmentUpdate { shipment_id, tracking_number: "1Z9", carrier: Some("UPS"), shipped_at }
    }

    #[test]
    fn status_is_written_only_when_it_changes() {
        assert_eq!(status_patch(&json!({"state": "SUBMITTED"}), "PROCESSING"), Some(json!({"state": "PROCESSING"})));
        assert_eq!(status_patch(&json!({"state": "PROCESSING"}), "PROCESSING"), None);
        assert_eq!(state_for(OrderStatus::Cancelled), None);
    }

    #[test]
    fn shipments_name_every_group_and_are_written_once() {
        let order = json!({"shippingGroups": [
            {"shippingGroupId": "sg1", "state": "INITIAL", "trackingNumber": null},
            {"shippingGroupId": "sg2", "state": "INITIAL"}]});
        let patch = shipment_patch(&order, &update(Some("sg2"))).expect("ok").expect("a change");
        assert_eq!(
            patch,
            json!({"shippingGroups": [{"shippingGroupId": "sg1"}, {"shippingGroupId": "sg2", "trackingNumber": "1Z9",
                "actualShipDate": "2026-03-01T12:00:00.000Z", "state": "NO_PENDING_ACTION"}]})
        );
        assert!(matches!(shipment_patch(&order, &update(None)), Err(ConnectorError::Refused { .. })));
        assert!(matches!(shipment_patch(&order, &update(Some("sg9"))), Err(ConnectorError::NotFound { .. })));
        let shipped = json!({"shippingGroups": [{"id": "sg1", "state": "NO_PENDING_ACTION", "trackingNumber": "1Z9"}]});
        assert_eq!(shipment_patch(&shipped, &update(None)).expect("ok"), None);
        let webhook_shape = json!({"shippingGroups": [{"id": "sg1", "state": 0}]});
        let patch = shipment_patch(&webhook_shape, &update(None)).expect("ok").expect("a change");
        assert_eq!(patch["shippingGroups"][0]["id"], "sg1");
        let anonymous = json!({"shippingGroups": [{"state": 0}]});
        assert!(matches!(shipment_patch(&anonymous, &update(None)), Err(ConnectorError::BadReply { .. })));
    }
}
