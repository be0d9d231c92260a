//! The background role: slot registration retries, the job worker (each job kind routed to the crate
//! that runs it), the inbound safety net and the retention sweep.

use super::Services;
use sqlx::PgPool;
use std::time::Duration;
use storelink_core::SyncKind;
use storelink_inbound::InboundHandler;
use storelink_jobs::{Handler, Job, JobContext, Outcome, Worker, WorkerConfig};
use storelink_partner_webhooks::DeliverHandler;
use storelink_sync::SyncHandler;
use tokio_util::sync::CancellationToken;

/// The background role until `shutdown`: slot registration retries, sync jobs and inbound webhook
/// processing. Returns once they stopped.
pub async fn run_workers(services: Services, shutdown: CancellationToken) {
    let retry = tokio::spawn(services.registrar.clone().run_retry_loop(services.tokens.clone(), shutdown.clone()));
    let stale = tokio::spawn(inbound_safety_net(services.clone(), shutdown.clone()));
    let retention = tokio::spawn(retention_loop(services.clone(), shutdown.clone()));
    let handler = JobHandlers {
        sync: SyncHandler::new(services.pool.clone(), services.tokens.clone(), services.queue.clone()),
        inbound: InboundHandler::new(services.pool.clone(), services.connectors.clone()),
        deliver: DeliverHandler::new(services.pool.clone(), services.keys.clone(), services.delivery_config())
            .expect("the webhook HTTP client builds"),
    };
    let kinds = JobHandlers::kinds();
    let defaults = WorkerConfig::new(kinds);
    let config = WorkerConfig {
        concurrency: services.config.workers.concurrency,
        lease: services.config.workers.lease,
        heartbeat: services.config.workers.heartbeat,
        slice: services.config.workers.slice,
        schedules: services.config.workers.sync_schedules(),
        maintenance_every: services.config.workers.maintenance_every(defaults.maintenance_every),
        ..defaults
    };
    let sync = Worker::new(services.queue.clone(), handler, config).run(shutdown.clone());
    if let Err(e) = sync.await {
        tracing::error!(error = %e, "sync workers stopped");
    }
    let _ = retry.await;
    let _ = stale.await;
    let _ = retention.await;
}

/// Hourly (first a minute after start), delete what is older than `STORELINK_RETENTION_DAYS`.
/// Several worker processes may sweep at once: each skips the rows another holds.
async fn retention_loop(services: Services, shutdown: CancellationToken) {
    let keep = services.config.workers.retention;
    let start = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(start, Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        // A first sweep over a large backlog takes a while: shutting down abandons it between (or
        // inside) batches, each its own statement, and the next start carries on.
        tokio::select! {
            _ = prune(&services.pool, keep) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One retention sweep: processed inbound deliveries, settled partner events (with their deliveries
/// and attempts) and change events older than `keep`. A table that fails is logged and does not stop
/// the others. Returns the rows deleted per table that succeeded.
pub async fn prune(pool: &PgPool, keep: Duration) -> Vec<(&'static str, u64)> {
    let results = [
        ("inbound_events", storelink_inbound::prune(pool, keep).await),
        ("partner_events", storelink_partner_webhooks::prune(pool, keep).await),
        ("change_events", storelink_sync::prune_changes(pool, keep).await),
    ];
    let mut deleted = Vec::new();
    for (table, result) in results {
        match result {
            Ok(rows) => {
                metrics::counter!("storelink_retention_deleted_rows_total", "table" => table).increment(rows);
                deleted.push((table, rows));
            }
            Err(e) => tracing::warn!(table, error = %e, "retention sweep failed for a table; retried in an hour"),
        }
    }
    tracing::info!(?deleted, "retention sweep done");
    deleted
}

/// Every few seconds, queue processing for stored inbound deliveries nobody woke a job for.
async fn inbound_safety_net(services: Services, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        match storelink_inbound::enqueue_stale(&services.pool, &services.queue, Duration::from_secs(5)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(merchants = n, "queued processing of stored inbound deliveries"),
            Err(e) => tracing::warn!(error = %e, "checking for unprocessed inbound deliveries failed"),
        }
    }
}

/// Routes each job kind to the crate that runs it.
struct JobHandlers {
    sync: SyncHandler,
    inbound: InboundHandler,
    deliver: DeliverHandler,
}

/// Which handler runs a job kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobRoute {
    Sync,
    Inbound,
    Deliver,
}

impl JobHandlers {
    /// The kinds the worker claims: exactly those `route` knows.
    fn kinds() -> Vec<String> {
        let mut kinds = storelink_sync::kinds();
        kinds.push(storelink_inbound::KIND.to_owned());
        kinds.push(storelink_partner_webhooks::KIND.to_owned());
        kinds
    }

    /// None for a kind no handler here runs: it is never guessed to be a sync.
    fn route(kind: &str) -> Option<JobRoute> {
        match kind {
            storelink_inbound::KIND => Some(JobRoute::Inbound),
            storelink_partner_webhooks::KIND => Some(JobRoute::Deliver),
            kind if kind.parse::<SyncKind>().is_ok() => Some(JobRoute::Sync),
            _ => None,
        }
    }
}

impl Handler for JobHandlers {
    async fn run(&self, job: Job, ctx: JobContext) -> Outcome {
        match Self::route(&job.kind) {
            Some(JobRoute::Inbound) => self.inbound.run(job, ctx).await,
            Some(JobRoute::Deliver) => self.deliver.run(job, ctx).await,
            Some(JobRoute::Sync) => self.sync.run(job, ctx).await,
            None => {
                tracing::error!(kind = %job.kind, "no handler for this job kind; dead-lettering the job");
                Outcome::Failed { error: unknown_kind(&job.kind), retryable: false }
            }
        }
    }
}

/// The `last_error` of a job whose kind no handler runs.
fn unknown_kind(kind: &str) -> String {
    format!("unknown job kind {kind:?}: no handler runs it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_claimed_kind_has_a_handler_and_an_unknown_one_has_none() {
        for kind in JobHandlers::kinds() {
            assert!(JobHandlers::route(&kind).is_some(), "the worker claims {kind:?} but nothing runs it");
        }
        assert_eq!(JobHandlers::route("catalog"), Some(JobRoute::Sync));
        assert_eq!(JobHandlers::route(storelink_inbound::KIND), Some(JobRoute::Inbound));
        assert_eq!(JobHandlers::route(storelink_partner_webhooks::KIND), Some(JobRoute::Deliver));
        for unknown in ["catalogue", "reindex", ""] {
            assert_eq!(JobHandlers::route(unknown), None, "{unknown:?} must not fall through to sync");
        }
        assert_eq!(unknown_kind("reindex"), "unknown job kind \"reindex\": no handler runs it");
    }
}
