//! `inbound_events`: deliveries stored verbatim, once per dedupe key, then marked processed.

use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use storelink_core::{MerchantId, Slot};

/// Redeliveries of the same event share a key: slot + order id + lastModifiedTime when the payload
/// has them (OCC sends no event id), else the body's hash. Return request updates always use the
/// hash: the order beside a return does not change when the return does.
pub(crate) fn dedupe_key(slot: Slot, body: &serde_json::Value, raw: &[u8]) -> String {
    let order = body.get("order").unwrap_or(body);
    let is_return = crate::process::return_request(body).is_some();
    match (order.get("id").and_then(|v| v.as_str()), order.get("lastModifiedTime")) {
        (Some(id), Some(modified)) if !modified.is_null() && !is_return => format!("{slot}:{id}:{modified}"),
        _ => format!("{slot}:sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

pub(crate) struct Pending {
    pub event_id: i64,
    pub slot: String,
    pub body: Vec<u8>,
}

/// The oldest unprocessed deliveries of a merchant, locked for this transaction.
pub(crate) async fn next_batch(
    conn: &mut PgConnection,
    merchant: MerchantId,
    limit: i64,
) -> Result<Vec<Pending>, sqlx::Error> {
    let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT event_id, slot, body FROM inbound_events WHERE merchant_id = $1 AND processed_at IS NULL
         ORDER BY event_id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(merchant)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(event_id, slot, body)| Pending { event_id, slot, body }).collect())
}

pub(crate) async fn mark(
    conn: &mut PgConnection,
    merchant: MerchantId,
    event_id: i64,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE inbound_events SET processed_at = now(), attempts = attempts + 1, last_error = $3
         WHERE merchant_id = $1 AND event_id = $2",
    )
    .bind(merchant)
    .bind(event_id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}
