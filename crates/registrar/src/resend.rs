//! Recovery of deliveries the store gave up on: OCC keeps an event that failed every attempt as a
//! failed webhook message and sends it again on request, to the URLs that failed only. Each active
//! merchant's store is asked every `resend_every` (and right after one of its slots was repaired) for
//! the failed deliveries addressed to Storelink's URLs for that merchant, and each is resent; the
//! orders sync fills whatever the store no longer holds. Owns the `webhook_resends` table (when each
//! merchant is next due, and what the last pass did; a row is written when a slot of the merchant is
//! registered).

use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_token_cache::TokenCache;

use crate::register::Registrar;

const BATCH: i64 = 50;

/// Claims the merchants whose resend pass is due ($1 period in seconds, $2 batch) through
/// `webhook_resends_due_idx`, by pushing their next pass out. The claimed ids are gathered into an
/// array first, so the update reads each row by primary key (a join would let the planner scan the
/// table).
pub const CLAIM_SQL: &str = "UPDATE webhook_resends SET next_at = now() + make_interval(secs => $1)
     WHERE merchant_id = ANY (ARRAY(SELECT merchant_id FROM webhook_resends WHERE next_at <= now()
                                    ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED))
     RETURNING merchant_id";

/// Makes the merchant due for a resend pass now (a slot of it was just repaired).
pub(crate) async fn due_now(pool: &PgPool, merchant: MerchantId) {
    let done = sqlx::query(
        "INSERT INTO webhook_resends (merchant_id, next_at) VALUES ($1, now())
         ON CONFLICT (merchant_id) DO UPDATE SET next_at = now()",
    )
    .bind(merchant)
    .execute(pool)
    .await;
    if let Err(e) = done {
        tracing::warn!(%merchant, error = %e, "could not schedule the resend pass");
    }
}

impl Registrar {
    /// One pass: every merchant whose resend pass is due (claimed by pushing its next pass out, so
    /// several workers share the work) asks its store to resend the failed deliveries addressed to
    /// Storelink for it. Answers how many deliveries were resent.
    pub async fn resend_due(&self, tokens: &TokenCache) -> Result<usize, sqlx::Error> {
        let every = self.config.resend_every.as_secs_f64();
        // A merchant gets its row when one of its slots is registered (record.rs), so a pass reads the
        // due rows only: O(due), whatever the number of merchants.
        let due: Vec<MerchantId> = sqlx::query_scalar(CLAIM_SQL).bind(every).bind(BATCH).fetch_all(&self.pool).await?;
        let mut total = 0;
        for merchant in due {
            let (resent, error) = match self.resend_for(tokens, merchant).await {
                Ok(resent) => (resent, None),
                Err(e) => (0, Some(e)),
            };
            total += resent;
            sqlx::query(
                "UPDATE webhook_resends SET last_at = now(), last_resent = $2, last_error = $3 WHERE merchant_id = $1",
            )
            .bind(merchant)
            .bind(resent as i32)
            .bind(&error)
            .execute(&self.pool)
            .await?;
        }
        Ok(total)
    }

    /// Asks the merchant's store for its failed deliveries and resends those addressed to one of
    /// Storelink's URLs for this merchant.
    async fn resend_for(&self, tokens: &TokenCache, merchant: MerchantId) -> Result<usize, String> {
        let store = tokens.session(merchant).await.map_err(|e| format!("no session for the store: {e}"))?;
        let ours = self.callback_url(store.connector.platform(), merchant, storelink_core::Slot::OrderSubmit);
        let prefix = ours.rsplit_once('/').map_or(ours.as_str(), |(base, _)| base).to_owned() + "/";
        let failed = store.connector.failed_deliveries(&store).await.map_err(|e| e.to_string())?;
        let mut resent = 0;
        for delivery in failed.iter().filter(|d| d.urls.iter().any(|u| u.starts_with(&prefix))) {
            match store.connector.resend_delivery(&store, &delivery.id).await {
                Ok(()) => resent += 1,
                Err(e) => tracing::warn!(%merchant, delivery = %delivery.id, error = %e, "resend refused"),
            }
        }
        Ok(resent)
    }
}
