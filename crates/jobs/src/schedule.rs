//! Periodic schedules: every active merchant gets a job of each scheduled kind when its last success is
//! older than the kind's interval, as a full run when its last full run is older than `full_every`.

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

/// Enqueue due jobs for every schedule; returns how many were created. Safe to run from many
/// processes at once: the one-live-job index turns duplicates into no-ops.
///
/// A job that succeeds while the insert runs is not live any more, so the index lets a second job in
/// although the kind is no longer due (the insert's snapshot predates the success). The second
/// statement, with a snapshot taken after the insert, takes such jobs back before anyone sees them.
pub async fn enqueue_due(pool: &PgPool, schedules: &[Schedule]) -> Result<u64, JobError> {
    let mut created = 0;
    for schedule in schedules {
        let mut tx = pool.begin().await?;
        let inserted: Vec<(MerchantId, i64)> = sqlx::query_as(
            "INSERT INTO jobs (merchant_id, kind, mode)
             SELECT m.merchant_id, $1,
                    CASE WHEN s.last_full_at IS NULL OR s.last_full_at < now() - make_interval(secs => $3)
                         THEN 'full' ELSE 'incremental' END
             FROM merchants m
             LEFT JOIN job_schedule_state s ON s.merchant_id = m.merchant_id AND s.kind = $1
             WHERE m.status = 'active'
               AND (s.last_succeeded_at IS NULL OR s.last_succeeded_at < now() - make_interval(secs => $2))
             ON CONFLICT (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused') DO NOTHING
             RETURNING merchant_id, job_id",
        )
        .bind(&schedule.kind)
        .bind(schedule.every.as_secs_f64())
        .bind(schedule.full_every.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        let withdrawn = if inserted.is_empty() {
            0
        } else {
            let (merchants, jobs): (Vec<MerchantId>, Vec<i64>) = inserted.iter().copied().unzip();
            sqlx::query(
                "DELETE FROM jobs j USING job_schedule_state s
                 WHERE (j.merchant_id, j.job_id) IN (SELECT * FROM unnest($1::uuid[], $2::bigint[]))
                   AND s.merchant_id = j.merchant_id AND s.kind = j.kind
                   AND s.last_succeeded_at >= now() - make_interval(secs => $3)",
            )
            .bind(&merchants)
            .bind(&jobs)
            .bind(schedule.every.as_secs_f64())
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        tx.commit().await?;
        created += inserted.len() as u64 - withdrawn;
    }
    if created > 0 {
        sqlx::query("SELECT pg_notify($1, 'schedule')").bind(NOTIFY_CHANNEL).execute(pool).await?;
    }
    Ok(created)
}
