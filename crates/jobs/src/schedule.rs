//! Periodic schedules: every active merchant gets a job of each scheduled kind when its last success is
//! older than the kind's interval, as a full run when its last full run is older than `full_every`.

use std::time::Duration;

use sqlx::PgPool;

use crate::{JobError, NOTIFY_CHANNEL};

#[derive(Clone, Debug)]
pub struct Schedule {
    pub kind: String,
    pub every: Duration,
    pub full_every: Duration,
}

/// Enqueue due jobs for every schedule; returns how many were created. Safe to run from many
/// processes at once: the one-live-job index turns duplicates into no-ops.
pub async fn enqueue_due(pool: &PgPool, schedules: &[Schedule]) -> Result<u64, JobError> {
    let mut created = 0;
    for schedule in schedules {
        let done = sqlx::query(
            "INSERT INTO jobs (merchant_id, kind, mode)
             SELECT m.merchant_id, $1,
                    CASE WHEN s.last_full_at IS NULL OR s.last_full_at < now() - make_interval(secs => $3)
                         THEN 'full' ELSE 'incremental' END
             FROM merchants m
             LEFT JOIN job_schedule_state s ON s.merchant_id = m.merchant_id AND s.kind = $1
             WHERE m.status = 'active'
               AND (s.last_succeeded_at IS NULL OR s.last_succeeded_at < now() - make_interval(secs => $2))
             ON CONFLICT (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused') DO NOTHING",
        )
        .bind(&schedule.kind)
        .bind(schedule.every.as_secs_f64())
        .bind(schedule.full_every.as_secs_f64())
        .execute(pool)
        .await?;
        created += done.rows_affected();
    }
    if created > 0 {
        sqlx::query("SELECT pg_notify($1, 'schedule')").bind(NOTIFY_CHANNEL).execute(pool).await?;
    }
    Ok(created)
}
