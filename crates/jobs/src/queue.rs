//! Queue operations on the `jobs` table. Every state change of a running job names its lease token,
//! so only the attempt that holds the lease can finish, requeue or fail it.

use std::time::Duration;

use rand::Rng;
use sqlx::{PgConnection, PgExecutor, PgPool};
use storelink_core::MerchantId;
use uuid::Uuid;

use crate::NOTIFY_CHANNEL;
use crate::job::{JOB_COLUMNS, Job, JobRow, Mode, from_row};
use crate::lease::Lease;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The row names a mode this build cannot run. A claimed one is dead-lettered on the spot.
    #[error("job {job_id} has an unknown mode {mode:?}")]
    UnknownMode { job_id: i64, mode: String },
    /// The row is in a state this build does not know (a newer release's).
    #[error("job {job_id} has an unknown state {state:?}")]
    UnknownState { job_id: i64, state: String },
}

/// Backoff between failed attempts: base * 2^(attempt-1), capped, with +-20% jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_secs(5), cap: Duration::from_secs(600) }
    }
}

impl RetryPolicy {
    pub fn delay(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let raw = self.base.saturating_mul(2u32.saturating_pow(exp)).min(self.cap);
        raw.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
    }
}

/// Jobs per state for one kind (status pages, metrics).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KindCounts {
    pub kind: String,
    pub queued: i64,
    pub running: i64,
    pub paused: i64,
    pub dead: i64,
}

#[derive(Clone)]
pub struct Queue {
    pool: PgPool,
    /// Kinds claimed whatever the merchant's status (e.g. telling a partner the merchant was revoked).
    any_status: Vec<String>,
}

/// A running job handed back for later goes back to `queued`, or to `paused` when its merchant stopped
/// being active meanwhile (paused by ops, credentials refused by a sibling job): `pause_merchant` pauses
/// only the queued jobs, and a queued job of an inactive merchant would wait, unseen, for a resume
/// that only looks at paused ones. `$5` is the kinds run whatever the merchant's status.
const REQUEUED: &str = "state = CASE WHEN kind <> ALL($5::text[]) AND EXISTS (SELECT 1 FROM merchants m
         WHERE m.merchant_id = jobs.merchant_id AND m.status <> 'active') THEN 'paused' ELSE 'queued' END";

/// The claim statement ($1 kinds, $2 lease token, $3 lease seconds, $4 kinds run whatever the
/// merchant's status): the oldest due job through `jobs_due`, its merchant by primary key, `LIMIT 1`.
/// A cross-tenant statement by design (docs/SCALING.md).
pub fn claim_sql() -> String {
    format!(
        "UPDATE jobs SET state = 'running', lease_token = $2, lease_expires_at = now() + make_interval(secs => $3),
                heartbeat_at = now(), slices = slices + 1, started_at = COALESCE(started_at, now()), updated_at = now()
         WHERE (merchant_id, job_id) = (
             SELECT j.merchant_id, j.job_id FROM jobs j JOIN merchants m USING (merchant_id)
             WHERE j.state = 'queued' AND j.run_at <= now() AND j.kind = ANY($1)
               AND (m.status = 'active' OR j.kind = ANY($4))
             ORDER BY j.run_at, j.job_id
             FOR UPDATE OF j SKIP LOCKED LIMIT 1)
         RETURNING {JOB_COLUMNS}"
    )
}

/// Requeues jobs whose lease ran out (`jobs_leases`).
pub const REAP_EXPIRED_SQL: &str =
    "UPDATE jobs SET state = CASE WHEN attempts + 1 >= max_attempts THEN 'dead' ELSE 'queued' END,
        attempts = attempts + 1, lease_token = NULL, lease_expires_at = NULL, run_at = now(),
        last_error = 'lease expired: the worker stopped or stalled', updated_at = now()
     WHERE state = 'running' AND lease_expires_at < now()";

/// Deletes finished jobs older than $1 seconds (`jobs_finished`).
pub const PURGE_FINISHED_SQL: &str =
    "DELETE FROM jobs WHERE state IN ('succeeded', 'cancelled') AND finished_at < now() - make_interval(secs => $1)";

/// Live and dead jobs per kind, for the gauges (`jobs_live_kind_idx`: O(live + dead jobs)).
pub const COUNTS_SQL: &str =
    "SELECT kind, count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running'),
        count(*) FILTER (WHERE state = 'paused'), count(*) FILTER (WHERE state = 'dead')
     FROM jobs WHERE state IN ('queued', 'running', 'paused', 'dead') GROUP BY kind ORDER BY kind";

impl Queue {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, any_status: Vec::new() }
    }

    /// Also claim jobs of `kinds` for merchants that are paused, revoked or whose credentials are invalid.
    pub fn with_any_status_kinds(mut self, kinds: &[&str]) -> Self {
        self.any_status = kinds.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Enqueue a job unless one is already live for (merchant, kind). A queued incremental job is
    /// upgraded when a full run is asked for. Returns the live job's id.
    pub async fn enqueue(&self, merchant: MerchantId, kind: &str, mode: Mode) -> Result<i64, JobError> {
        let mut tx = self.pool.begin().await?;
        let job_id = Self::enqueue_in(&mut tx, merchant, kind, mode).await?;
        tx.commit().await?;
        Ok(job_id)
    }

    /// `enqueue` inside the caller's transaction: the job exists, and workers are woken, only if it
    /// commits.
    pub async fn enqueue_in(
        conn: &mut PgConnection,
        merchant: MerchantId,
        kind: &str,
        mode: Mode,
    ) -> Result<i64, JobError> {
        // The job joins the trace of the request (or job) that asks for it: the current span's.
        let traceparent = storelink_core::trace::current_traceparent();
        // Insert a job, or fold the request into the live one. Between the two statements the
        // live job can finish (each statement sees its own snapshot), so try again: the next
        // insert then succeeds.
        let job_id = loop {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO jobs (merchant_id, kind, mode, traceparent) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused') DO NOTHING
                 RETURNING job_id",
            )
            .bind(merchant)
            .bind(kind)
            .bind(mode.as_str())
            .bind(&traceparent)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(id) = inserted {
                break id;
            }
            let folded: Option<i64> = sqlx::query_scalar(
                "UPDATE jobs SET mode = CASE WHEN state = 'queued' AND $3 = 'full' THEN 'full' ELSE mode END,
                        run_at = CASE WHEN state = 'queued' THEN LEAST(run_at, now()) ELSE run_at END,
                        rerun = rerun OR state = 'running',
                        updated_at = now()
                 WHERE merchant_id = $1 AND kind = $2 AND state IN ('queued', 'running', 'paused')
                 RETURNING job_id",
            )
            .bind(merchant)
            .bind(kind)
            .bind(mode.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(id) = folded {
                break id;
            }
        };
        sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(kind).execute(&mut *conn).await?;
        Ok(job_id)
    }

    /// Whether a job of `kind` for the merchant waits in the queue, not yet started (it will see
    /// whatever was committed before it starts).
    pub async fn has_queued(&self, merchant: MerchantId, kind: &str) -> Result<bool, JobError> {
        let queued = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE merchant_id = $1 AND kind = $2 AND state = 'queued')",
        )
        .bind(merchant)
        .bind(kind)
        .fetch_one(&self.pool)
        .await?;
        Ok(queued)
    }

    /// Take the longest-waiting due job of one of `kinds` and lease it. Merchants of paused, revoked or
    /// invalid connections are skipped (their jobs stay queued for when they come back).
    pub async fn claim(&self, kinds: &[String], lease_for: Duration) -> Result<Option<(Job, Lease)>, JobError> {
        let token = Uuid::new_v4();
        let row = sqlx::query_as::<_, JobRow>(&claim_sql())
            .bind(kinds)
            .bind(token)
            .bind(lease_for.as_secs_f64())
            .bind(&self.any_status)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let lease = Lease { merchant_id: row.0, job_id: row.1, token };
        match from_row(row) {
            Ok(job) => Ok(Some((job, lease))),
            Err(e) => {
                // Running it as some other mode could sweep live data or skip changes: dead letter, loudly.
                self.release(
                    &lease,
                    "state = 'dead', attempts = attempts + 1, finished_at = now()",
                    Some(&e.to_string()),
                )
                .await?;
                Err(e)
            }
        }
    }

    /// Extend the lease. False when it was lost: the worker must stop working on the job.
    pub async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<bool, JobError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $4), heartbeat_at = now()
             WHERE merchant_id = $1 AND job_id = $2 AND lease_token = $3 AND state = 'running'",
        )
        .bind(lease.merchant_id)
        .bind(lease.job_id)
        .bind(lease.token)
        .bind(lease_for.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The job finished its work. If it was asked for again while running, it goes back to the queue.
    pub async fn complete(&self, lease: &Lease) -> Result<bool, JobError> {
        let again = sqlx::query(
            "UPDATE jobs SET state = 'queued', rerun = false, run_at = now(), lease_token = NULL, lease_expires_at = NULL,
                    updated_at = now()
             WHERE merchant_id = $1 AND job_id = $2 AND lease_token = $3 AND state = 'running' AND rerun",
        )
        .bind(lease.merchant_id)
        .bind(lease.job_id)
        .bind(lease.token)
        .execute(&self.pool)
        .await?;
        if again.rows_affected() == 1 {
            sqlx::query("SELECT pg_notify($1, 'rerun')").bind(NOTIFY_CHANNEL).execute(&self.pool).await?;
            return Ok(true);
        }
        let mut tx = self.pool.begin().await?;
        let done: Option<(String, String)> = sqlx::query_as(
            "UPDATE jobs SET state = 'succeeded', lease_token = NULL, lease_expires_at = NULL, last_error = NULL,
                    finished_at = now(), updated_at = now()
             WHERE merchant_id = $1 AND job_id = $2 AND lease_token = $3 AND state = 'running'
             RETURNING kind, mode",
        )
        .bind(lease.merchant_id)
        .bind(lease.job_id)
        .bind(lease.token)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((kind, mode)) = &done {
            sqlx::query(
                "INSERT INTO job_schedule_state (merchant_id, kind, last_succeeded_at, last_full_at, next_due_at)
                 VALUES ($1, $2, now(), CASE WHEN $3 = 'full' THEN now() END,
                         now() + (SELECT make_interval(secs => every_secs) FROM job_schedules WHERE kind = $2))
                 ON CONFLICT (merchant_id, kind) DO UPDATE SET last_succeeded_at = now(),
                     last_full_at = CASE WHEN $3 = 'full' THEN now() ELSE job_schedule_state.last_full_at END,
                     next_due_at = EXCLUDED.next_due_at",
            )
            .bind(lease.merchant_id)
            .bind(kind)
            .bind(mode)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(done.is_some())
    }

    /// The slice is used up but work remains: back of the queue, lease released, no attempt counted.
    pub async fn requeue(&self, lease: &Lease) -> Result<bool, JobError> {
        self.release(lease, &format!("{REQUEUED}, run_at = now()"), None).await
    }

    /// Nothing to do until `delay` has passed (e.g. a retry is scheduled): back to the queue for then,
    /// or at once if the job was asked for again while it ran. No attempt counted.
    pub async fn later(&self, lease: &Lease, delay: Duration) -> Result<bool, JobError> {
        let set = format!(
            "{REQUEUED}, run_at = CASE WHEN rerun THEN now() ELSE now() + make_interval(secs => {}) END, rerun = false",
            delay.as_secs_f64()
        );
        self.release(lease, &set, None).await
    }

    /// The attempt failed. Retried after a backoff, or dead-lettered after `max_attempts`.
    pub async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        retry: &RetryPolicy,
        retryable: bool,
    ) -> Result<bool, JobError> {
        let attempts: Option<(i32, i32)> = sqlx::query_as(
            "SELECT attempts + 1, max_attempts FROM jobs WHERE merchant_id = $1 AND job_id = $2 AND lease_token = $3",
        )
        .bind(lease.merchant_id)
        .bind(lease.job_id)
        .bind(lease.token)
        .fetch_optional(&self.pool)
        .await?;
        let Some((attempt, max)) = attempts else { return Ok(false) };
        let set = if !retryable || attempt >= max {
            "state = 'dead', attempts = attempts + 1, finished_at = now()".to_owned()
        } else {
            let delay = retry.delay(attempt).as_secs_f64();
            format!("{REQUEUED}, attempts = attempts + 1, run_at = now() + make_interval(secs => {delay})")
        };
        self.release(lease, &set, Some(error)).await
    }

    /// Stop the job because its merchant cannot be served (key refused, paused): it waits, paused.
    pub async fn park(&self, lease: &Lease, reason: &str) -> Result<bool, JobError> {
        self.release(lease, "state = 'paused'", Some(reason)).await
    }

    async fn release(&self, lease: &Lease, set: &str, error: Option<&str>) -> Result<bool, JobError> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET {set}, lease_token = NULL, lease_expires_at = NULL, last_error = COALESCE($4, last_error),
                    updated_at = now()
             WHERE merchant_id = $1 AND job_id = $2 AND lease_token = $3 AND state = 'running'"
        ))
        .bind(lease.merchant_id)
        .bind(lease.job_id)
        .bind(lease.token)
        .bind(error)
        .bind(&self.any_status)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pause every queued job of the merchant (running ones park themselves at their next check).
    pub async fn pause_merchant(&self, merchant: MerchantId) -> Result<u64, JobError> {
        Self::pause_merchant_in(&self.pool, merchant).await
    }

    /// `pause_merchant` on any executor, e.g. inside the caller's transaction.
    pub async fn pause_merchant_in(conn: impl PgExecutor<'_>, merchant: MerchantId) -> Result<u64, JobError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'paused', updated_at = now() WHERE merchant_id = $1 AND state = 'queued'",
        )
        .bind(merchant)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn resume_merchant(&self, merchant: MerchantId) -> Result<u64, JobError> {
        Self::resume_merchant_in(&self.pool, merchant).await
    }

    /// `resume_merchant` on any executor, e.g. inside the caller's transaction.
    pub async fn resume_merchant_in(conn: impl PgExecutor<'_>, merchant: MerchantId) -> Result<u64, JobError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = now(), updated_at = now() WHERE merchant_id = $1 AND state = 'paused'",
        )
        .bind(merchant)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Cancel every live job of the merchant, running ones included (their lease checks then fail).
    pub async fn cancel_merchant(&self, merchant: MerchantId) -> Result<u64, JobError> {
        Self::cancel_merchant_in(&self.pool, merchant, None).await
    }

    /// `cancel_merchant` on any executor, e.g. inside the caller's transaction; `reason` becomes the
    /// jobs' `last_error`.
    pub async fn cancel_merchant_in(
        conn: impl PgExecutor<'_>,
        merchant: MerchantId,
        reason: Option<&str>,
    ) -> Result<u64, JobError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_token = NULL, lease_expires_at = NULL, finished_at = now(),
                    last_error = COALESCE($2, last_error), updated_at = now()
             WHERE merchant_id = $1 AND state IN ('queued', 'running', 'paused')",
        )
        .bind(merchant)
        .bind(reason)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Requeue jobs whose lease ran out (their worker died or stalled); the expiry counts as a failed
    /// attempt so a job that kills its workers ends up dead instead of looping.
    pub async fn reap_expired(&self) -> Result<u64, JobError> {
        let done = sqlx::query(REAP_EXPIRED_SQL).execute(&self.pool).await?;
        if done.rows_affected() > 0 {
            tracing::warn!(jobs = done.rows_affected(), "requeued jobs whose lease expired");
        }
        Ok(done.rows_affected())
    }

    /// Delete finished jobs older than `keep` (dead letters are kept for ops).
    pub async fn purge_finished(&self, keep: Duration) -> Result<u64, JobError> {
        let done = sqlx::query(PURGE_FINISHED_SQL).bind(keep.as_secs_f64()).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn get(&self, merchant: MerchantId, job_id: i64) -> Result<Option<Job>, JobError> {
        let row = sqlx::query_as::<_, JobRow>(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE merchant_id = $1 AND job_id = $2"
        ))
        .bind(merchant)
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row).transpose()
    }

    /// The merchant's most recent jobs, newest first.
    pub async fn recent(&self, merchant: MerchantId, limit: i64) -> Result<Vec<Job>, JobError> {
        let rows = sqlx::query_as::<_, JobRow>(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE merchant_id = $1 ORDER BY job_id DESC LIMIT $2"
        ))
        .bind(merchant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn counts(&self) -> Result<Vec<KindCounts>, JobError> {
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(COUNTS_SQL).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(kind, queued, running, paused, dead)| KindCounts { kind, queued, running, paused, dead })
            .collect())
    }
}

/// One hour of a merchant's job history: jobs of `kind` that finished (or last changed) in the hour.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HourOfJobs {
    pub hour: chrono::DateTime<chrono::Utc>,
    pub kind: String,
    pub succeeded: i64,
    /// Dead-lettered, or carrying the error of a failed attempt.
    pub failed: i64,
}

/// The merchant's last 24 hours of jobs in hourly buckets (the ops console's last-day picture). Reads
/// only this merchant's rows (primary key prefix), whatever the tenant count.
pub async fn last_day(pool: &PgPool, merchant: MerchantId) -> Result<Vec<HourOfJobs>, JobError> {
    Ok(sqlx::query_as(
        "SELECT date_trunc('hour', coalesce(finished_at, updated_at)) AS hour, kind,
                count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                count(*) FILTER (WHERE state = 'dead' OR last_error IS NOT NULL) AS failed
         FROM jobs WHERE merchant_id = $1 AND coalesce(finished_at, updated_at) > now() - interval '24 hours'
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(merchant)
    .fetch_all(pool)
    .await?)
}
