//! The worker loop: claim, heartbeat, run the handler for one slice, record the outcome. Idle slots
//! wake on NOTIFY or a short poll; shutdown stops claiming and lets running slices end at a page boundary.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Job, JobError, Lease, NOTIFY_CHANNEL, Queue, RetryPolicy, Schedule, enqueue_due};

/// Runs one slice of a job. Long work checks `ctx.should_stop()` between units (pages) and returns
/// `Outcome::MoreWork` to go to the back of the queue.
pub trait Handler: Send + Sync + 'static {
    fn run(&self, job: Job, ctx: JobContext) -> impl Future<Output = Outcome> + Send;
}

#[derive(Debug)]
pub enum Outcome {
    Done,
    MoreWork,
    Failed {
        error: String,
        retryable: bool,
    },
    /// Nothing more to do before this delay has passed (work is scheduled for later).
    Later(Duration),
    /// The merchant cannot be served now (key refused, paused): keep the job, paused.
    Park(String),
    /// Another attempt owns the job now; nothing to record.
    LeaseLost,
}

#[derive(Clone, Debug)]
pub struct JobContext {
    pub lease: Lease,
    stop: CancellationToken,
    slice_ends: Instant,
}

impl JobContext {
    /// Time to return: the slice is used up, the process is shutting down or the lease was lost.
    pub fn should_stop(&self) -> bool {
        self.stop.is_cancelled() || Instant::now() >= self.slice_ends
    }

    /// Fires on shutdown or lease loss (not at slice end), for waits inside the handler.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.stop
    }
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub kinds: Vec<String>,
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub slice: Duration,
    pub poll: Duration,
    pub retry: RetryPolicy,
    pub schedules: Vec<Schedule>,
    pub maintenance_every: Duration,
    pub keep_finished: Duration,
}

impl WorkerConfig {
    pub fn new(kinds: Vec<String>) -> Self {
        Self {
            kinds,
            concurrency: 4,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            slice: Duration::from_millis(500),
            poll: Duration::from_secs(2),
            retry: RetryPolicy::default(),
            schedules: Vec::new(),
            maintenance_every: Duration::from_secs(10),
            keep_finished: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

pub struct Worker<H> {
    queue: Queue,
    handler: Arc<H>,
    config: Arc<WorkerConfig>,
}

impl<H: Handler> Worker<H> {
    pub fn new(queue: Queue, handler: H, config: WorkerConfig) -> Self {
        Self { queue, handler: Arc::new(handler), config: Arc::new(config) }
    }

    /// Run until `shutdown` fires, then return once every slot has released its job.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), JobError> {
        let wake = Arc::new(Notify::new());
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(listen(self.queue.clone(), wake.clone(), shutdown.clone()));
        tasks.spawn(maintain(self.queue.clone(), self.config.clone(), shutdown.clone()));
        for _ in 0..self.config.concurrency.max(1) {
            let slot = Slot { queue: self.queue.clone(), handler: self.handler.clone(), config: self.config.clone() };
            tasks.spawn(slot.run(wake.clone(), shutdown.clone()));
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "worker task ended abnormally");
            }
        }
        Ok(())
    }
}

struct Slot<H> {
    queue: Queue,
    handler: Arc<H>,
    config: Arc<WorkerConfig>,
}

impl<H: Handler> Slot<H> {
    async fn run(self, wake: Arc<Notify>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.queue.claim(&self.config.kinds, self.config.lease).await {
                Ok(Some((job, lease))) => self.execute(job, lease, &shutdown).await,
                Ok(None) => {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                Err(e @ JobError::UnknownMode { .. }) => {
                    tracing::error!(error = %e, "claimed a job this worker cannot run; dead-lettered it");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed; retrying shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    async fn execute(&self, job: Job, lease: Lease, shutdown: &CancellationToken) {
        // Continue the trace of the request that enqueued the job (its `traceparent` column), or
        // start one; the span is the job's slice, as a consumer of that request.
        let span = tracing::info_span!("job", job_id = job.job_id, merchant = %job.merchant_id, kind = %job.kind, mode = job.mode.as_str(), otel.kind = "consumer", trace_id = tracing::field::Empty);
        storelink_core::trace::continue_remote(&span, job.traceparent.as_deref());
        if let Some(trace_id) = storelink_core::trace::trace_id_of(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        let stop = shutdown.child_token();
        let heartbeat = tokio::spawn(keep_alive(self.queue.clone(), lease, self.config.clone(), stop.clone()));
        let ctx = JobContext { lease, stop: stop.clone(), slice_ends: Instant::now() + self.config.slice };
        let handler = self.handler.clone();
        let outcome = match tokio::spawn(tracing::Instrument::instrument(
            async move { handler.run(job, ctx).await },
            span.clone(),
        ))
        .await
        {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed { error: format!("the job panicked: {e}"), retryable: true },
        };
        heartbeat.abort();
        let queue = &self.queue;
        let recorded = match &outcome {
            Outcome::Done => queue.complete(&lease).await,
            Outcome::MoreWork => queue.requeue(&lease).await,
            Outcome::Failed { error, retryable } => queue.fail(&lease, error, &self.config.retry, *retryable).await,
            Outcome::Later(delay) => queue.later(&lease, *delay).await,
            Outcome::Park(reason) => queue.park(&lease, reason).await,
            Outcome::LeaseLost => Ok(false),
        };
        let _guard = span.enter();
        match recorded {
            Ok(true) => tracing::debug!(?outcome, "job slice finished"),
            Ok(false) => tracing::warn!(?outcome, "job outcome not recorded: the lease was lost"),
            Err(e) => tracing::error!(error = %e, "recording the job outcome failed; the lease will expire"),
        }
    }
}

/// Renews the lease; cancels the job's token when the lease is lost so the handler stops.
async fn keep_alive(queue: Queue, lease: Lease, config: Arc<WorkerConfig>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.tick().await;
    loop {
        tick.tick().await;
        match queue.heartbeat(&lease, config.lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job_id = lease.job_id, "lease lost; stopping the job");
                stop.cancel();
                return;
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

/// Wakes idle slots when a job is enqueued anywhere. Reconnects after errors.
async fn listen(queue: Queue, wake: Arc<Notify>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(queue.pool()).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            loop {
                listener.recv().await?;
                wake.notify_waiters();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = listener => if let Err(e) = result { tracing::debug!(error = %e, "job listener reconnecting") },
            _ = shutdown.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Reaps expired leases, purges old finished jobs and enqueues scheduled work.
async fn maintain(queue: Queue, config: Arc<WorkerConfig>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(config.maintenance_every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = queue.reap_expired().await {
            tracing::warn!(error = %e, "reaping expired leases failed");
        }
        if let Err(e) = queue.purge_finished(config.keep_finished).await {
            tracing::warn!(error = %e, "purging finished jobs failed");
        }
        if let Err(e) = enqueue_due(queue.pool(), &config.schedules).await {
            tracing::warn!(error = %e, "scheduling jobs failed");
        }
    }
}
