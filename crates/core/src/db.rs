//! Connecting to Postgres and applying the workspace's migrations (top-level `migrations/`).

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The migrations in the workspace's `migrations/` folder, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool. `max_connections` is per process; web and worker processes each hold their own.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(DbError::BadUrl)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// Rows one transaction of `delete_in_batches` deletes: short transactions, no long-held locks.
const DELETE_BATCH: i64 = 5_000;

/// Retention: deletes the rows of `table` (keyed by `merchant_id, event_id`, aliased `t`) that match
/// `condition`, in which `$1` is `older_than` in seconds, a batch per transaction until a batch comes
/// back short. Returns the rows deleted. Rows another sweep (another worker process) or another
/// writer holds are skipped rather than waited for. `table` and `condition` are SQL, hence `'static`.
///
/// Each batch is two statements: lock the candidates, then delete those that still match. The delete
/// runs on a snapshot taken after the locks are held, so a transaction that changed the condition's
/// answer and committed just before (a replayed delivery, say) is seen; one that comes later waits
/// for the lock and then finds the row gone. A single `DELETE ... IN (SELECT ... FOR UPDATE)` would
/// judge `condition` on the snapshot taken before its locks and could delete on a stale answer.
pub async fn delete_in_batches(
    pool: &PgPool,
    table: &'static str,
    condition: &'static str,
    older_than: Duration,
) -> Result<u64, sqlx::Error> {
    let lock = lock_batch_sql(table, condition);
    let delete = delete_batch_sql(table, condition);
    let seconds = older_than.as_secs_f64();
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        let locked: Vec<(uuid::Uuid, i64)> =
            sqlx::query_as(&lock).bind(seconds).bind(DELETE_BATCH).fetch_all(&mut *tx).await?;
        let (merchants, events): (Vec<uuid::Uuid>, Vec<i64>) = locked.iter().copied().unzip();
        let done = sqlx::query(&delete).bind(seconds).bind(&merchants).bind(&events).execute(&mut *tx).await?;
        tx.commit().await?;
        total += done.rows_affected();
        if locked.len() < DELETE_BATCH as usize {
            return Ok(total);
        }
    }
}

/// The first statement of each `delete_in_batches` batch ($1 `older_than` seconds, $2 batch size):
/// locks up to a batch of candidates. `LIMIT` keeps it O(batch) when `condition` is served by an index.
pub fn lock_batch_sql(table: &str, condition: &str) -> String {
    format!("SELECT t.merchant_id, t.event_id FROM {table} t WHERE {condition} LIMIT $2 FOR UPDATE SKIP LOCKED")
}

/// The second statement of each batch ($1 `older_than` seconds, $2 merchants, $3 event ids): deletes
/// the locked rows that still match, each by primary key.
pub fn delete_batch_sql(table: &str, condition: &str) -> String {
    format!(
        "DELETE FROM {table} t
         WHERE (t.merchant_id, t.event_id) IN (SELECT * FROM UNNEST($2::uuid[], $3::bigint[])) AND {condition}"
    )
}

/// Applies pending migrations. Safe to run from several processes at once: sqlx takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
