//! Merchant lifecycle events (`merchant.connected`, `merchant.credentials_invalid`, ...): a record for
//! ops and the source partners are notified from.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use storelink_core::MerchantId;

use crate::TenantError;

pub const CONNECTED: &str = "merchant.connected";
pub const CREDENTIALS_INVALID: &str = "merchant.credentials_invalid";
pub const REVOKED: &str = "merchant.revoked";

#[derive(Clone, Debug, serde::Serialize)]
pub struct MerchantEvent {
    pub event_id: i64,
    pub kind: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

pub async fn record(
    conn: &mut PgConnection,
    merchant_id: MerchantId,
    kind: &str,
    detail: serde_json::Value,
) -> Result<i64, TenantError> {
    let id = sqlx::query_scalar(
        "INSERT INTO merchant_events (merchant_id, kind, detail) VALUES ($1, $2, $3) RETURNING event_id",
    )
    .bind(merchant_id)
    .bind(kind)
    .bind(detail)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn list(pool: &PgPool, merchant_id: MerchantId, limit: i64) -> Result<Vec<MerchantEvent>, TenantError> {
    let rows = sqlx::query_as::<_, (i64, String, serde_json::Value, DateTime<Utc>)>(
        "SELECT event_id, kind, detail, created_at FROM merchant_events
         WHERE merchant_id = $1 ORDER BY event_id DESC LIMIT $2",
    )
    .bind(merchant_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(event_id, kind, detail, created_at)| MerchantEvent { event_id, kind, detail, created_at })
        .collect())
}

/// The store refused the merchant's application key: mark the merchant `credentials_invalid` and record
/// the event, once. Returns false when the merchant was not active (already marked, paused or revoked).
pub async fn mark_credentials_invalid(
    pool: &PgPool,
    merchant_id: MerchantId,
    reason: &str,
) -> Result<bool, TenantError> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE merchants SET status = 'credentials_invalid', updated_at = now()
         WHERE merchant_id = $1 AND status = 'active'",
    )
    .bind(merchant_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if changed {
        record(&mut tx, merchant_id, CREDENTIALS_INVALID, serde_json::json!({ "reason": reason })).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
