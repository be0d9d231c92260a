//! Orders that arrive by webhook instead of by a sync run: the same normalization and the same
//! one-statement upsert, so a webhook and a later sync of the same order agree.

use serde_json::Value;
use sqlx::PgConnection;
use storelink_core::MerchantId;
use storelink_model::records::{Hashed, OrderRow};

use crate::tables::{self, WriteMode};
use storelink_connector_occ::normalize;

/// Upsert one OCC order document; true when it was new or changed (a change event was recorded).
/// False also for a document without an order id, which is skipped, and for one older than the
/// stored version (a late or replayed webhook, an older sync page), which is not written: orders and
/// their shipments move forward in the store's modified time only (docs/DATA-MODEL.md).
pub async fn upsert_order(conn: &mut PgConnection, merchant: MerchantId, order: &Value) -> Result<bool, sqlx::Error> {
    let Some(row) = normalize::order(order) else { return Ok(false) };
    upsert_order_record(conn, merchant, &row).await
}

/// Upsert one order a connector already mapped into the model (placed or cancelled through it), with
/// the same rules as `upsert_order`.
pub async fn upsert_order_record(
    conn: &mut PgConnection,
    merchant: MerchantId,
    row: &Hashed<OrderRow>,
) -> Result<bool, sqlx::Error> {
    // Orders are never swept, so the generation they carry does not matter.
    let changed =
        tables::write_orders(conn, merchant, 0, WriteMode::UpsertWithEvents, std::slice::from_ref(row)).await?;
    Ok(changed > 0)
}

/// Upsert one OCC return request; `order_id` is the order sent beside it, if any. False when the
/// document has no request id (skipped) or did not change.
pub async fn upsert_return(
    conn: &mut PgConnection,
    merchant: MerchantId,
    request: &Value,
    order_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let Some(row) = normalize::return_request(request, order_id) else { return Ok(false) };
    let changed =
        tables::write(conn, &tables::RETURNS, merchant, 0, WriteMode::UpsertWithEvents, std::slice::from_ref(&row))
            .await?;
    Ok(changed > 0)
}
