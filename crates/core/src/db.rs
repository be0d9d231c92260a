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

/// Rows one statement of `delete_in_batches` deletes: short transactions, no long-held locks.
const DELETE_BATCH: i64 = 5_000;

/// Retention: deletes the rows of `table` (keyed by `merchant_id, event_id`, aliased `t`) that match
/// `condition`, in which `$1` is `older_than` in seconds, a batch per statement until a batch comes
/// back short. Returns the rows deleted. Rows another sweep (another worker process) holds are
/// skipped rather than waited for. `table` and `condition` are SQL, hence `'static`.
pub async fn delete_in_batches(
    pool: &PgPool,
    table: &'static str,
    condition: &'static str,
    older_than: Duration,
) -> Result<u64, sqlx::Error> {
    let delete = format!(
        "DELETE FROM {table} WHERE (merchant_id, event_id) IN (
           SELECT t.merchant_id, t.event_id FROM {table} t WHERE {condition} LIMIT $2 FOR UPDATE SKIP LOCKED)"
    );
    let mut total = 0;
    loop {
        let done = sqlx::query(&delete).bind(older_than.as_secs_f64()).bind(DELETE_BATCH).execute(pool).await?;
        total += done.rows_affected();
        if done.rows_affected() < DELETE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Applies pending migrations. Safe to run from several processes at once: sqlx takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
