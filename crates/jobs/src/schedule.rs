//! Periodic schedules: every active merchant gets a job of each scheduled kind when its last success is
//! older than the kind's interval, as a full run when its last full run is older than `full_every`.
//! Each (merchant, kind) row of `job_schedule_state` carries when it is next due (set by the job's
//! success, or at once for a new merchant), so a tick reads the due rows only, through an index.

use std::time::Duration;

use sqlx::PgPool;
use storelink_core::MerchantId;

use crate::{JobError, NOTIFY_CHANNEL};

#[derive(Clone, Debug)]
pub struct Schedule {
    pub kind: String,
    pub every: Duration,
    pub full_every: Duration,
}

/// Due rows one statement of `enqueue_due` turns into jobs; a tick repeats until a batch comes back short.
const BATCH: i64 = 1_000;

/// Registers a scheduled kind and its interval. Answers `(inserted, changed)`: a new kind is backfilled
/// for the merchants that exist (once), a changed interval moves every row's due time (once).
pub const REGISTER_SQL: &str = "INSERT INTO job_schedules AS s (kind, every_secs) VALUES ($1, $2)
     ON CONFLICT (kind) DO UPDATE SET every_secs = EXCLUDED.every_secs
         WHERE s.every_secs IS DISTINCT FROM EXCLUDED.every_secs
     RETURNING (xmax = 0) AS inserted";

/// The one-off backfill of a newly registered kind (new merchants get their rows from a trigger).
const BACKFILL_SQL: &str = "INSERT INTO job_schedule_state (merchant_id, kind, next_due_at)
     SELECT merchant_id, $1, now() FROM merchants
     ON CONFLICT (merchant_id, kind) DO UPDATE SET next_due_at = COALESCE(
         job_schedule_state.last_succeeded_at + make_interval(secs => $2), now())";

/// The one-off move of every row's due time after the kind's interval changed.
const RESCHEDULE_SQL: &str = "UPDATE job_schedule_state
     SET next_due_at = COALESCE(last_succeeded_at + make_interval(secs => $2), now()) WHERE kind = $1";

/// One tick's work for one schedule: jobs for the due rows of active merchants ($1 kind, $2 interval
/// and $3 full interval in seconds, $4 batch). Reads `job_schedule_state_due_idx`, then each
/// merchant by primary key: O(due), whatever the number of merchants. (The status is a correlated
/// lookup rather than a join, which the planner would turn into a scan of `merchants` once a few
/// hundred rows are due.)
pub const ENQUEUE_DUE_SQL: &str = "INSERT INTO jobs (merchant_id, kind, mode)
     SELECT s.merchant_id, s.kind,
            CASE WHEN s.last_full_at IS NULL OR s.last_full_at < now() - make_interval(secs => $3)
                 THEN 'full' ELSE 'incremental' END
     FROM job_schedule_state s
     WHERE s.kind = $1 AND s.next_due_at <= now()
       AND (SELECT m.status FROM merchants m WHERE m.merchant_id = s.merchant_id) = 'active'
       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.merchant_id = s.merchant_id AND j.kind = s.kind
                         AND j.state IN ('queued', 'running', 'paused'))
     ORDER BY s.next_due_at, s.merchant_id
     LIMIT $4
     ON CONFLICT (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused') DO NOTHING
     RETURNING merchant_id, job_id";

/// Due rows of merchants that are not active (paused, revoked, credentials invalid) are looked at
/// again one interval later rather than on every tick ($1 kind, $2 interval in seconds, $3 batch).
pub const POSTPONE_INACTIVE_SQL: &str =
    "UPDATE job_schedule_state s SET next_due_at = now() + make_interval(secs => $2)
     FROM (SELECT s.merchant_id, s.kind FROM job_schedule_state s
           WHERE s.kind = $1 AND s.next_due_at <= now()
             AND (SELECT m.status FROM merchants m WHERE m.merchant_id = s.merchant_id) <> 'active'
           ORDER BY s.next_due_at LIMIT $3 FOR UPDATE OF s SKIP LOCKED) d
     WHERE s.merchant_id = d.merchant_id AND s.kind = d.kind";

/// Takes back jobs just created for rows that stopped being due meanwhile ($1 merchants, $2 jobs).
pub const WITHDRAW_SQL: &str = "DELETE FROM jobs j USING job_schedule_state s
     WHERE (j.merchant_id, j.job_id) IN (SELECT * FROM unnest($1::uuid[], $2::bigint[]))
       AND s.merchant_id = j.merchant_id AND s.kind = j.kind AND s.next_due_at > now()";

/// Enqueue due jobs for every schedule; returns how many were created. Safe to run from many
/// processes at once: the one-live-job index turns duplicates into no-ops.
///
/// A job that succeeds while the insert runs is not live any more, so the index lets a second job in
/// although the kind is no longer due (the insert's snapshot predates the success). The second
/// statement, with a snapshot taken after the insert, takes such jobs back before anyone sees them.
///
/// A due row whose job is still live (queued behind others, running, paused) stays due until that job
/// succeeds: it is work in progress, read again on each tick.
pub async fn enqueue_due(pool: &PgPool, schedules: &[Schedule]) -> Result<u64, JobError> {
    let mut created = 0;
    for schedule in schedules {
        register(pool, schedule).await?;
        let every = schedule.every.as_secs_f64();
        loop {
            let mut tx = pool.begin().await?;
            let inserted: Vec<(MerchantId, i64)> = sqlx::query_as(ENQUEUE_DUE_SQL)
                .bind(&schedule.kind)
                .bind(every)
                .bind(schedule.full_every.as_secs_f64())
                .bind(BATCH)
                .fetch_all(&mut *tx)
                .await?;
            let withdrawn = if inserted.is_empty() {
                0
            } else {
                let (merchants, jobs): (Vec<MerchantId>, Vec<i64>) = inserted.iter().copied().unzip();
                sqlx::query(WITHDRAW_SQL).bind(&merchants).bind(&jobs).execute(&mut *tx).await?.rows_affected()
            };
            tx.commit().await?;
            created += inserted.len() as u64 - withdrawn;
            if inserted.len() < BATCH as usize {
                break;
            }
        }
        loop {
            let postponed =
                sqlx::query(POSTPONE_INACTIVE_SQL).bind(&schedule.kind).bind(every).bind(BATCH).execute(pool).await?;
            if postponed.rows_affected() < BATCH as u64 {
                break;
            }
        }
    }
    if created > 0 {
        sqlx::query("SELECT pg_notify($1, 'schedule')").bind(NOTIFY_CHANNEL).execute(pool).await?;
    }
    Ok(created)
}

/// Records the schedule's kind and interval; the first time (or when the interval changed) fixes the
/// due time of every merchant's row once. Merchants are locked against inserts while a new kind is
/// backfilled, so one connected meanwhile gets its row from the trigger or from the backfill.
async fn register(pool: &PgPool, schedule: &Schedule) -> Result<(), JobError> {
    let every = schedule.every.as_secs_f64();
    let mut tx = pool.begin().await?;
    let registered: Option<bool> =
        sqlx::query_scalar(REGISTER_SQL).bind(&schedule.kind).bind(every).fetch_optional(&mut *tx).await?;
    match registered {
        None => {}
        Some(true) => {
            sqlx::query("LOCK TABLE merchants IN SHARE MODE").execute(&mut *tx).await?;
            sqlx::query(BACKFILL_SQL).bind(&schedule.kind).bind(every).execute(&mut *tx).await?;
        }
        Some(false) => {
            sqlx::query(RESCHEDULE_SQL).bind(&schedule.kind).bind(every).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
