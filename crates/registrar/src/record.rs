//! Queries on `webhook_slots`: one row per (merchant, slot) with its latest outcome.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use storelink_core::{MerchantId, Slot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    Pending,
    Registered,
    Failed,
    /// The store has no such webhook: events for this slot are polled instead.
    Unsupported,
    Unregistered,
    /// The store refused Storelink the right to register: the merchant enters the recorded values by
    /// hand; the first authenticated delivery makes it `Registered` (`confirm_delivery`). Not retried.
    Manual,
}

impl SlotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Pending => "pending",
            SlotStatus::Registered => "registered",
            SlotStatus::Failed => "failed",
            SlotStatus::Unsupported => "unsupported",
            SlotStatus::Unregistered => "unregistered",
            SlotStatus::Manual => "manual",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "registered" => SlotStatus::Registered,
            "failed" => SlotStatus::Failed,
            "unsupported" => SlotStatus::Unsupported,
            "unregistered" => SlotStatus::Unregistered,
            "manual" => SlotStatus::Manual,
            _ => SlotStatus::Pending,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SlotRecord {
    pub slot: Slot,
    pub occ_webhook_id: String,
    pub callback_url: String,
    pub status: SlotStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub registered_at: Option<DateTime<Utc>>,
}

pub async fn list(pool: &PgPool, merchant: MerchantId) -> Result<Vec<SlotRecord>, sqlx::Error> {
    Ok(list_for(pool, &[merchant]).await?.into_iter().map(|(_, record)| record).collect())
}

type Row =
    (MerchantId, String, String, String, String, i32, Option<String>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The slots of several merchants (a page of the partner's merchants), by merchant then slot.
pub async fn list_for(pool: &PgPool, merchants: &[MerchantId]) -> Result<Vec<(MerchantId, SlotRecord)>, sqlx::Error> {
    let rows = sqlx::query_as::<_, Row>(
        "SELECT merchant_id, slot, occ_webhook_id, callback_url, status, attempts, last_error, next_attempt_at, registered_at
         FROM webhook_slots WHERE merchant_id = ANY($1) ORDER BY merchant_id, slot",
    )
    .bind(merchants)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(merchant, slot, id, url, status, attempts, last_error, next, registered)| {
            let record = SlotRecord {
                slot: slot.parse().ok()?,
                occ_webhook_id: id,
                callback_url: url,
                status: SlotStatus::parse(&status),
                attempts,
                last_error,
                next_attempt_at: next,
                registered_at: registered,
            };
            Some((merchant, record))
        })
        .collect())
}

/// The outcome of one attempt. `retry_in` is set for failures that should be tried again.
pub(crate) struct Attempt<'a> {
    pub merchant: MerchantId,
    pub slot: Slot,
    pub occ_webhook_id: &'a str,
    pub callback_url: &'a str,
    pub status: SlotStatus,
    pub error: Option<String>,
}

/// Records an attempt and returns the attempt count so far.
pub(crate) async fn record(
    pool: &PgPool,
    attempt: &Attempt<'_>,
    base: Duration,
    cap: Duration,
    resend_every: Duration,
) -> Result<i32, sqlx::Error> {
    // One statement (one commit): a failed slot's next attempt is base * 2^(attempts-1), capped, +-20%
    // jitter, the same schedule as `RegistrarConfig::backoff`.
    // A registered slot also gives its merchant a `webhook_resends` row (first due one period later), in
    // the same statement: the resend pass then reads due rows only (crates/registrar resend.rs).
    let attempts: i32 = sqlx::query_scalar(
        "WITH slot AS (
         INSERT INTO webhook_slots (merchant_id, slot, occ_webhook_id, callback_url, status, attempts, last_error,
                                    registered_at, next_attempt_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, CASE WHEN $5 = 'registered' THEN now() END,
                 CASE WHEN $5 = 'failed'
                      THEN now() + make_interval(secs => LEAST($8::float8, $7::float8) * (0.8 + random() * 0.4)) END,
                 now())
         ON CONFLICT (merchant_id, slot) DO UPDATE SET
            occ_webhook_id = EXCLUDED.occ_webhook_id,
            callback_url = EXCLUDED.callback_url,
            status = EXCLUDED.status,
            attempts = webhook_slots.attempts + 1,
            last_error = EXCLUDED.last_error,
            registered_at = COALESCE(EXCLUDED.registered_at, webhook_slots.registered_at),
            next_attempt_at = CASE WHEN EXCLUDED.status = 'failed'
                THEN now() + make_interval(secs => LEAST($8::float8, $7::float8 * power(2, LEAST(webhook_slots.attempts, 20)))
                                                    * (0.8 + random() * 0.4)) END,
            updated_at = now()
         RETURNING attempts, status),
         resend AS (
             INSERT INTO webhook_resends (merchant_id, next_at)
             SELECT $1, now() + make_interval(secs => $9::float8) FROM slot WHERE status = 'registered'
             ON CONFLICT (merchant_id) DO NOTHING)
         SELECT attempts FROM slot",
    )
    .bind(attempt.merchant)
    .bind(attempt.slot.as_str())
    .bind(attempt.occ_webhook_id)
    .bind(attempt.callback_url)
    .bind(attempt.status.as_str())
    .bind(&attempt.error)
    .bind(base.as_secs_f64())
    .bind(cap.as_secs_f64())
    .bind(resend_every.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(attempts)
}

/// Writes every slot as `pending` (attempts afresh) inside the caller's transaction, the one that saves
/// the merchant: should the process stop before the outcomes are recorded, the rows are there, and
/// `claim_due` takes them once they are `stale_after` old.
pub(crate) async fn mark_pending(
    conn: &mut PgConnection,
    merchant: MerchantId,
    slots: &[(Slot, String, String)],
    stale_after: Duration,
) -> Result<(), sqlx::Error> {
    let names: Vec<&str> = slots.iter().map(|(slot, _, _)| slot.as_str()).collect();
    let ids: Vec<&str> = slots.iter().map(|(_, id, _)| id.as_str()).collect();
    let urls: Vec<&str> = slots.iter().map(|(_, _, url)| url.as_str()).collect();
    sqlx::query(
        "INSERT INTO webhook_slots (merchant_id, slot, occ_webhook_id, callback_url, status, attempts, next_attempt_at)
         SELECT $1, slot, id, url, 'pending', 0, now() + make_interval(secs => $5::float8)
         FROM unnest($2::text[], $3::text[], $4::text[]) AS s (slot, id, url)
         ON CONFLICT (merchant_id, slot) DO UPDATE SET
            occ_webhook_id = EXCLUDED.occ_webhook_id,
            callback_url = EXCLUDED.callback_url,
            status = 'pending',
            attempts = 0,
            last_error = NULL,
            next_attempt_at = EXCLUDED.next_attempt_at,
            updated_at = now()",
    )
    .bind(merchant)
    .bind(names)
    .bind(ids)
    .bind(urls)
    .bind(stale_after.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(())
}

/// A new connection starts every slot's attempt count afresh.
pub(crate) async fn reset_attempts(pool: &PgPool, merchant: MerchantId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_slots SET attempts = 0 WHERE merchant_id = $1").bind(merchant).execute(pool).await?;
    Ok(())
}

/// The slot retry claim ($1 batch, $2 lease seconds), through `webhook_slots_due_idx`: O(batch).
pub const CLAIM_DUE_SQL: &str = "UPDATE webhook_slots s SET next_attempt_at = now() + make_interval(secs => $2::float8)
     FROM (SELECT merchant_id, slot FROM webhook_slots
           WHERE status IN ('failed', 'pending') AND next_attempt_at <= now()
           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
     WHERE s.merchant_id = due.merchant_id AND s.slot = due.slot
     RETURNING s.merchant_id, s.slot";

/// Claims due slots for one worker: failed ones whose backoff is over, and pending ones whose outcome
/// was never recorded. Pushing `next_attempt_at` out by `lease` hides them from other workers while
/// this one works, and a crashed worker's claim simply expires.
pub(crate) async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<(MerchantId, Slot)>, sqlx::Error> {
    let rows = sqlx::query_as::<_, (MerchantId, String)>(CLAIM_DUE_SQL)
        .bind(limit)
        .bind(lease.as_secs_f64())
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().filter_map(|(m, slot)| Some((m, slot.parse().ok()?))).collect())
}

/// Parks a claimed slot whose merchant is not active (paused, revoked, credentials invalid):
/// it is not retried until the merchant is reconnected, which registers every slot afresh.
pub(crate) async fn park(pool: &PgPool, merchant: MerchantId, slot: Slot) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_slots SET next_attempt_at = NULL WHERE merchant_id = $1 AND slot = $2")
        .bind(merchant)
        .bind(slot.as_str())
        .execute(pool)
        .await?;
    Ok(())
}

/// The slot waits for the merchant's manual setup (`SlotStatus::Manual`): its first authenticated
/// delivery confirms it.
pub async fn awaiting_delivery(pool: &PgPool, merchant: MerchantId, slot: Slot) -> Result<bool, sqlx::Error> {
    let found: Option<bool> =
        sqlx::query_scalar("SELECT true FROM webhook_slots WHERE merchant_id = $1 AND slot = $2 AND status = 'manual'")
            .bind(merchant)
            .bind(slot.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

/// An authenticated delivery arrived on a slot the merchant set up by hand: it is registered now.
pub async fn confirm_delivery(pool: &PgPool, merchant: MerchantId, slot: Slot) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_slots SET status = 'registered', registered_at = now(), last_error = NULL, updated_at = now()
         WHERE merchant_id = $1 AND slot = $2 AND status = 'manual'",
    )
    .bind(merchant)
    .bind(slot.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
