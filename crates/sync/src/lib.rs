//! Sync workers: keep a normalized, current copy of each merchant's catalog, inventory, shipping methods
//! and orders in Postgres, read through the merchant's `Connector` as model records. Streams page by
//! page (bulk upsert + checkpoint in one transaction), skips unchanged rows by content hash, sweeps
//! deletions on full runs (each confirmed by a point read) and records change events. A multi-site
//! store's catalog, stock and shipping methods are read once per selected site, rows keyed by site.
//! Owns the catalog tables, `change_events` and `sync_state`, and every query on them (`read` serves
//! partner-api's reads); must not serve partners or hold tokens
//! (the token cache does) and runs only as a `storelink_jobs::Handler`.

mod confirm;
mod error;
mod ingest;
pub mod read;
mod runner;
mod state;
mod tables;

use std::time::Duration;

use storelink_core::SyncKind;
use storelink_jobs::Schedule;

pub use error::SyncError;
pub use ingest::{upsert_order_record, upsert_return_record};
pub use runner::SyncHandler;
pub use state::{LAG_BY_KIND_SQL, SyncStatus, lag_by_kind, status};

/// Default periodic schedule: how often each kind runs, and how often that run is a full one.
pub fn default_schedules() -> Vec<Schedule> {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let schedule = |kind: SyncKind, every, full_every| Schedule { kind: kind.as_str().to_owned(), every, full_every };
    vec![
        schedule(SyncKind::Catalog, minutes(15), minutes(24 * 60)),
        schedule(SyncKind::Inventory, minutes(10), minutes(10)),
        schedule(SyncKind::Shipping, minutes(60), minutes(60)),
        schedule(SyncKind::Orders, minutes(5), minutes(24 * 60)),
    ]
}

/// Retention: deletes change events created more than `older_than` ago. They have done their work
/// once inserted (triggers turn them into partner events in the same transaction).
pub async fn prune_changes(pool: &sqlx::PgPool, older_than: Duration) -> Result<u64, sqlx::Error> {
    storelink_core::db::delete_in_batches(pool, "change_events", PRUNE_CHANGES_CONDITION, older_than).await
}

/// Which change events `prune_changes` deletes (`storelink_core::db::delete_in_batches`'s condition),
/// found through `change_events_created_idx`.
pub const PRUNE_CHANGES_CONDITION: &str = "t.created_at < now() - make_interval(secs => $1)";

/// A purging revoke: deletes every row this crate keeps for the merchant (its synced copy, its
/// change events and its sync state), in the caller's transaction. Returns the rows deleted.
pub async fn purge_merchant(
    conn: &mut sqlx::PgConnection,
    merchant: storelink_core::MerchantId,
) -> Result<u64, sqlx::Error> {
    const TABLES: [&str; 9] = [
        "products",
        "skus",
        "inventory",
        "shipping_methods",
        "orders",
        "shipments",
        "returns",
        "change_events",
        "sync_state",
    ];
    let mut deleted = 0;
    for table in TABLES {
        let sql = format!("DELETE FROM {table} WHERE merchant_id = $1");
        deleted += sqlx::query(&sql).bind(merchant).execute(&mut *conn).await?.rows_affected();
    }
    Ok(deleted)
}

/// The job kinds this crate handles.
pub fn kinds() -> Vec<String> {
    SyncKind::ALL.iter().map(|k| k.as_str().to_owned()).collect()
}
