//! The `inbound` job: turn stored deliveries into orders, oldest first, each in the transaction that
//! marks it processed. A payload that cannot be used is marked with its error, never retried forever.

use serde_json::Value;
use sqlx::PgPool;
use storelink_connector::{Connector, Registry};
use storelink_core::MerchantId;
use storelink_jobs::{Handler, Job, JobContext, JobError, Mode, Outcome, Queue};
use storelink_tenants::{MerchantStatus, RowLock, TenantError, merchants};

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
    connectors: Registry,
}

impl InboundHandler {
    pub fn new(pool: PgPool, connectors: Registry) -> Self {
        Self { pool, connectors }
    }

    /// The merchant's connector, which reads its deliveries.
    async fn connector(&self, merchant: MerchantId) -> Result<std::sync::Arc<dyn Connector>, sqlx::Error> {
        let unusable = |e: String| sqlx::Error::Protocol(format!("no connector for merchant {merchant}: {e}"));
        let row = storelink_tenants::merchants::get(&self.pool, merchant).await.map_err(|e| unusable(e.to_string()))?;
        let platform = row.map(|m| m.platform).ok_or_else(|| unusable("not found".into()))?;
        self.connectors.get(&platform).cloned().map_err(|e| unusable(e.to_string()))
    }

    /// Process the merchant's pending deliveries until none is left (or the slice ends).
    ///
    /// A batch is one transaction. Should Postgres refuse one delivery's rows (an order id over the
    /// btree limit, a value it cannot store), the batch is done again with each delivery in a
    /// savepoint, and the one refused is marked with the error: it would otherwise fail every run of
    /// the job. Only then, so the usual batch pays no savepoints.
    pub async fn drain(&self, merchant: MerchantId, ctx: Option<&JobContext>) -> Result<Drained, sqlx::Error> {
        let connector = self.connector(merchant).await?;
        let mut careful = false;
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
            match apply_batch(&mut tx, merchant, &*connector, &batch, careful).await {
                Ok(()) => careful = false,
                Err(sqlx::Error::Database(e)) if !careful && refused(e.code().as_deref()) => {
                    tracing::warn!(%merchant, error = %e, "an inbound event was refused; processing its batch one by one");
                    tx.rollback().await?;
                    careful = true;
                    continue;
                }
                Err(e) => return Err(e),
            }
            tx.commit().await?;
            if ctx.is_some_and(|c| c.should_stop()) {
                return Ok(Drained::Stopped);
            }
        }
    }
}

/// Applies and marks each event of `batch`; `careful` puts each in a savepoint and marks one that
/// Postgres refuses with the error instead of failing the batch.
async fn apply_batch(
    tx: &mut sqlx::PgConnection,
    merchant: MerchantId,
    connector: &dyn Connector,
    batch: &[store::Pending],
    careful: bool,
) -> Result<(), sqlx::Error> {
    use sqlx::Acquire;
    for event in batch {
        let error = if careful {
            let mut savepoint = tx.begin().await?;
            match apply(&mut savepoint, merchant, connector, &event.slot, &event.body).await {
                Ok(error) => {
                    savepoint.commit().await?;
                    error
                }
                Err(sqlx::Error::Database(e)) if refused(e.code().as_deref()) => {
                    savepoint.rollback().await?;
                    Some(format!("the database refused the payload: {}", e.message()))
                }
                Err(e) => return Err(e),
            }
        } else {
            apply(tx, merchant, connector, &event.slot, &event.body).await?
        };
        if let Some(error) = &error {
            tracing::warn!(%merchant, event_id = event.event_id, slot = %event.slot, %error, "inbound event not usable");
        }
        store::mark(tx, merchant, event.event_id, error.as_deref()).await?;
    }
    Ok(())
}

/// An error that is the payload's own: a data exception (22), a NOT NULL or CHECK violation, or a
/// limit such as an index row too large (54). Anything else (a unique or foreign-key race with
/// another writer, a deadlock) fails the job, which is retried.
fn refused(code: Option<&str>) -> bool {
    matches!(code, Some("23502" | "23514")) || matches!(code.and_then(|c| c.get(..2)), Some("22" | "54"))
}

/// Apply one delivery; `Ok(Some(reason))` when the payload is unusable (recorded, not retried).
/// What it holds is the connector's to say (`Connector::delivery_records`).
async fn apply(
    conn: &mut sqlx::PgConnection,
    merchant: MerchantId,
    connector: &dyn Connector,
    slot: &str,
    body: &[u8],
) -> Result<Option<String>, sqlx::Error> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Ok(Some("the body is not JSON".into())) };
    let delivery = match connector.delivery_records(slot, &value) {
        Ok(delivery) => delivery,
        Err(reason) => return Ok(Some(reason)),
    };
    // Orders of a site the merchant did not select are acknowledged (the delivery is kept, with
    // this note) but not written, so partners never see them (docs/occ.md, sites).
    if !delivery.orders.is_empty() {
        let published = storelink_tenants::sites::published_in(conn, merchant).await?;
        let kept_from = delivery
            .orders
            .iter()
            .filter_map(|o| o.row.site_id.as_deref())
            .find(|site| !storelink_tenants::sites::publishes(published.as_deref(), Some(site)));
        if let Some(site) = kept_from {
            return Ok(Some(format!("site {site} is not one the merchant sells through; not published")));
        }
    }
    for order in &delivery.orders {
        storelink_sync::upsert_order_record(conn, merchant, order).await?;
    }
    for request in &delivery.returns {
        storelink_sync::upsert_return_record(conn, merchant, request).await?;
    }
    Ok(None)
}

/// The workers' safety net, every few seconds. Queues the `inbound` job of every active merchant
/// whose stored deliveries have waited longer than `older_than` (a wake-up lost to a crash between
/// commit and enqueue, or a failed enqueue); merchants that are paused or whose credentials are
/// invalid keep theirs for when they come back. Deliveries of a revoked merchant still unprocessed are
/// ones that slipped in while the revoke committed (the revoke settled the others): they are
/// dropped, as any later delivery is refused. Returns the merchants queued.
///
/// Indexed whatever the number of merchants: the index of unprocessed deliveries gives the merchants
/// that have some, and tenants looks their statuses up by primary key.
pub async fn enqueue_stale(
    pool: &PgPool,
    queue: &Queue,
    older_than: std::time::Duration,
) -> Result<usize, EnqueueError> {
    let waiting = store::waiting_merchants(pool, older_than).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let statuses = merchants::statuses(pool, &waiting).await?;
    let of = |wanted: MerchantStatus| -> Vec<MerchantId> {
        statuses.iter().filter(|(_, status)| *status == wanted).map(|(m, _)| *m).collect()
    };
    let revoked = of(MerchantStatus::Revoked);
    let mut dropped = 0;
    for merchant in &revoked {
        // Under the merchant's row lock: a reconnect meanwhile (the merchant active again) keeps them.
        let mut tx = pool.begin().await?;
        if merchants::lock_status(&mut tx, *merchant, RowLock::Share).await? == Some(MerchantStatus::Revoked) {
            dropped += store::drop_unprocessed(&mut tx, *merchant, older_than).await?;
        }
        tx.commit().await?;
    }
    if !revoked.is_empty() {
        tracing::info!(
            deliveries = dropped,
            merchants = revoked.len(),
            "dropped deliveries stored for revoked merchants"
        );
    }
    let active = of(MerchantStatus::Active);
    for merchant in &active {
        queue.enqueue(*merchant, KIND, Mode::Incremental).await?;
    }
    Ok(active.len())
}

/// Why queueing an `inbound` job failed (logged; the next delivery or the safety net tries again).
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Jobs(#[from] JobError),
    #[error(transparent)]
    Tenants(#[from] TenantError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Settles a merchant's unprocessed deliveries as its revoke commits (in the revoke's transaction):
/// kept as history, marked processed with the reason, so nothing picks them up again. (A revoke
/// that purges deletes them instead.) Returns the deliveries settled.
pub async fn settle_revoked(conn: &mut sqlx::PgConnection, merchant: MerchantId) -> Result<u64, sqlx::Error> {
    let settled = sqlx::query(
        "UPDATE inbound_events SET processed_at = now(), last_error = 'merchant revoked'
         WHERE merchant_id = $1 AND processed_at IS NULL",
    )
    .bind(merchant)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(settled)
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
