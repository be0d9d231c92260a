//! What the sync test binaries share: a worker set for tests, running one job to its end, and the
//! product change events recorded.

use std::time::Duration;

use sqlx::PgPool;
use storelink_connector::Registry;
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{JobState, Mode, Queue, RetryPolicy, Worker, WorkerConfig};
use storelink_sync::{SyncHandler, kinds};
use storelink_token_cache::{TokenCache, TokenConfig};
use storelink_vault::Vault;
use tokio_util::sync::CancellationToken;

/// The queue and a sync handler (pages of 50) over `connectors`, with a token cache on `vault`.
pub fn handler(pool: &PgPool, connectors: Registry, vault: Vault) -> (Queue, SyncHandler) {
    let tokens = TokenCache::new(pool.clone(), connectors, vault, TokenConfig::default());
    let queue = Queue::new(pool.clone());
    let handler = SyncHandler::new(pool.clone(), tokens, queue.clone()).with_page_size(50);
    (queue, handler)
}

/// Short slices, leases and retries, so a test sees resumption, retries and maintenance in seconds.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        poll: Duration::from_millis(50),
        slice: Duration::from_millis(300),
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_secs(1),
        maintenance_every: Duration::from_millis(500),
        retry: RetryPolicy { base: Duration::from_millis(100), cap: Duration::from_millis(500) },
        ..WorkerConfig::new(kinds())
    }
}

/// Run `kind` in `mode` with a real worker until the job leaves the queue; its final state.
pub async fn sync(queue: &Queue, handler: &SyncHandler, merchant: MerchantId, kind: SyncKind, mode: Mode) -> JobState {
    let job_id = queue.enqueue(merchant, kind.as_str(), mode).await.expect("enqueue");
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(queue.clone(), handler.clone(), worker_config()).run(shutdown.clone()));
    let state = wait_for_job(queue, merchant, job_id).await;
    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    state
}

/// Wait until job `job_id` is finished or paused (90 s at most); its state.
pub async fn wait_for_job(queue: &Queue, merchant: MerchantId, job_id: i64) -> JobState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let job = queue.get(merchant, job_id).await.expect("get").expect("job");
        if job.state.is_finished() || job.state == JobState::Paused {
            return job.state;
        }
        assert!(tokio::time::Instant::now() < deadline, "job {job_id} did not finish: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of the products whose `change` events the merchant has, oldest first.
pub async fn product_events(pool: &PgPool, merchant: MerchantId, change: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT entity_id FROM change_events WHERE merchant_id = $1 AND entity = 'product' AND change = $2 ORDER BY event_id",
    )
    .bind(merchant)
    .bind(change)
    .fetch_all(pool)
    .await
    .expect("events")
}
