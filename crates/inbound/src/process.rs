//! The `inbound` job: turn stored deliveries into orders, oldest first, each in the transaction that
//! marks it processed. A payload that cannot be used is marked with its error, never retried forever.

use serde_json::Value;
use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_jobs::{Handler, Job, JobContext, Outcome};

use crate::store;

/// Job kind of the processor.
pub const KIND: &str = "inbound";

const BATCH: i64 = 100;

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    All,
    Stopped,
    LeaseLost,
}

#[derive(Clone)]
pub struct InboundHandler {
    pool: PgPool,
}

impl InboundHandler {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Process the merchant's pending deliveries until none is left (or the slice ends).
    pub async fn drain(&self, merchant: MerchantId, ctx: Option<&JobContext>) -> Result<Drained, sqlx::Error> {
        loop {
            let mut tx = self.pool.begin().await?;
            if let Some(ctx) = ctx
                && ctx.lease.verify(&mut tx).await.is_err()
            {
                return Ok(Drained::LeaseLost);
            }
            let batch = store::next_batch(&mut tx, merchant, BATCH).await?;
            if batch.is_empty() {
                return Ok(Drained::All);
            }
            for event in &batch {
                let error = apply(&mut tx, merchant, &event.slot, &event.body).await?;
                if let Some(error) = &error {
                    tracing::warn!(%merchant, event_id = event.event_id, slot = %event.slot, %error, "inbound event not usable");
                }
                store::mark(&mut tx, merchant, event.event_id, error.as_deref()).await?;
            }
            tx.commit().await?;
            if ctx.is_some_and(|c| c.should_stop()) {
                return Ok(Drained::Stopped);
            }
        }
    }
}

/// Apply one delivery; `Ok(Some(reason))` when the payload is unusable (recorded, not retried).
async fn apply(
    conn: &mut sqlx::PgConnection,
    merchant: MerchantId,
    slot: &str,
    body: &[u8],
) -> Result<Option<String>, sqlx::Error> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Ok(Some("the body is not JSON".into())) };
    // Order events carry {"order": {...}}; shipment events carry the order too.
    let order = value.get("order").unwrap_or(&value);
    if order.get("id").and_then(Value::as_str).is_none() {
        return Ok(Some(format!("no order id in the {slot} payload")));
    }
    storelink_sync::upsert_order(conn, merchant, order).await?;
    Ok(None)
}

impl Handler for InboundHandler {
    async fn run(&self, job: Job, ctx: JobContext) -> Outcome {
        match self.drain(job.merchant_id, Some(&ctx)).await {
            Ok(Drained::All) => Outcome::Done,
            Ok(Drained::Stopped) => Outcome::MoreWork,
            Ok(Drained::LeaseLost) => Outcome::LeaseLost,
            Err(e) => Outcome::Failed { error: format!("database: {e}"), retryable: true },
        }
    }
}
