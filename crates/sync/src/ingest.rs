//! Orders and returns that arrive by webhook (or from an order call) instead of by a sync run, as
//! the merchant's connector mapped them: the same one-statement upsert, so a webhook and a later sync
//! of the same order agree.

use sqlx::PgConnection;
use storelink_core::MerchantId;
use storelink_model::records::{Hashed, OrderRow, ReturnRow};

use crate::tables::{self, WriteMode};

/// Upsert one order; true when it was new or changed (a change event was recorded). False also for
/// one older than the stored version (a late or replayed webhook, an older sync page), which is not
/// written: orders and their shipments move forward in the store's modified time only
/// (docs/DATA-MODEL.md).
pub async fn upsert_order_record(
    conn: &mut PgConnection,
    merchant: MerchantId,
    row: &Hashed<OrderRow>,
) -> Result<bool, sqlx::Error> {
    // Orders are never swept, so the generation they carry does not matter.
    let changed =
        tables::write_orders(conn, merchant, 0, WriteMode::UpsertWithEvents, std::slice::from_ref(row)).await?;
    Ok(changed.any())
}

/// Upsert one return request; false when it did not change.
pub async fn upsert_return_record(
    conn: &mut PgConnection,
    merchant: MerchantId,
    row: &Hashed<ReturnRow>,
) -> Result<bool, sqlx::Error> {
    let changed =
        tables::write(conn, &tables::RETURNS, merchant, 0, WriteMode::UpsertWithEvents, std::slice::from_ref(row))
            .await?;
    Ok(changed.any())
}
