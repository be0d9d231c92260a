//! `sync_state`: the checkpoint and progress of each (merchant, kind). A run belongs to one job: a new
//! attempt of the same job resumes at the committed offset, a new job starts a new run.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{Lease, Mode};

use crate::SyncError;
use crate::tables::Written;

/// Where the current run stands.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub mode: Mode,
    pub generation: i64,
    pub since: Option<DateTime<Utc>>,
    pub offset: u64,
    /// No run of this kind has succeeded yet: its rows are the baseline, not changes to announce.
    pub baseline: bool,
    /// The sites the run reads, in turn (`''`: one pass without a site), fixed when it starts.
    pub sites: Vec<String>,
    /// The site being read (`offset` is within its list).
    pub site_index: usize,
    /// A site's list ended before the total it announced: the run saw less than the store holds and
    /// must not sweep.
    pub cut_short: bool,
}

impl Run {
    /// The site being read (`''`: none).
    pub fn site(&self) -> &str {
        self.sites.get(self.site_index).map_or("", String::as_str)
    }

    /// Whether the site being read is the run's last.
    pub fn last_site(&self) -> bool {
        self.site_index + 1 >= self.sites.len()
    }
}

/// job_id, mode, generation, since, next_offset, watermark, never succeeded, run_sites, site_index,
/// run_cut_short, finished (state idle).
type StateRow =
    (Option<i64>, String, i64, Option<DateTime<Utc>>, i64, Option<DateTime<Utc>>, bool, Vec<String>, i32, bool, bool);

/// Kinds without a last-modified filter always run in full.
fn effective_mode(kind: SyncKind, requested: Mode, has_watermark: bool) -> Mode {
    match kind {
        SyncKind::Catalog | SyncKind::Orders if has_watermark => requested,
        _ => Mode::Full,
    }
}

/// Resume the job's run, or start a new one reading `sites` (ids in order; `['']` for one pass
/// without a site).
pub(crate) async fn start_or_resume(
    pool: &PgPool,
    lease: &Lease,
    kind: SyncKind,
    requested: Mode,
    sites: Vec<String>,
) -> Result<Run, SyncError> {
    let mut tx = pool.begin().await?;
    lease.verify(&mut tx).await?;
    sqlx::query("INSERT INTO sync_state (merchant_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(lease.merchant_id)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?;
    let (job_id, mode, generation, since, offset, watermark, baseline, run_sites, site_index, cut_short, finished): StateRow =
        sqlx::query_as(
            "SELECT job_id, mode, generation, since, next_offset, watermark, last_success_at IS NULL, run_sites,
                    site_index, run_cut_short,
                    state = 'idle' AND run_started_at IS NOT NULL AND last_success_at >= run_started_at
             FROM sync_state WHERE merchant_id = $1 AND kind = $2 FOR UPDATE",
    )
    .bind(lease.merchant_id)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await?;
    // A job run again after it finished (asked for while running) starts a new run.
    let run = if job_id == Some(lease.job_id) && !finished && !run_sites.is_empty() {
        let mode = Mode::parse(&mode)?;
        let site_index = usize::try_from(site_index).unwrap_or(0).min(run_sites.len() - 1);
        let offset = u64::try_from(offset).unwrap_or(0);
        Run { mode, generation, since, offset, baseline, sites: run_sites, site_index, cut_short }
    } else {
        let sites = if sites.is_empty() { vec![String::new()] } else { sites };
        // Other sites than the last run read (the selection changed): an incremental run would miss
        // a new site's unchanged rows and keep a dropped site's, so the run is full.
        let same_sites = run_sites == sites;
        let mode = effective_mode(kind, requested, watermark.is_some() && same_sites);
        let generation = if mode == Mode::Full { generation + 1 } else { generation };
        let since = if mode == Mode::Incremental { watermark } else { None };
        sqlx::query(
            "UPDATE sync_state SET job_id = $3, mode = $4, generation = $5, since = $6, run_started_at = now(),
                    next_offset = 0, pages_done = 0, items_done = 0, items_total = NULL, state = 'running',
                    run_created = 0, run_updated = 0, run_deleted = 0, run_sites = $7, site_index = 0,
                    run_cut_short = false, updated_at = now()
             WHERE merchant_id = $1 AND kind = $2",
        )
        .bind(lease.merchant_id)
        .bind(kind.as_str())
        .bind(lease.job_id)
        .bind(mode.as_str())
        .bind(generation)
        .bind(since)
        .bind(&sites)
        .execute(&mut *tx)
        .await?;
        Run { mode, generation, since, offset: 0, baseline, sites, site_index: 0, cut_short: false }
    };
    tx.commit().await?;
    Ok(run)
}

/// Switch the running run to full (the store refused the incremental filter).
pub(crate) async fn switch_to_full(
    pool: &PgPool,
    lease: &Lease,
    kind: SyncKind,
    run: &mut Run,
) -> Result<(), SyncError> {
    let mut tx = pool.begin().await?;
    lease.verify(&mut tx).await?;
    sqlx::query(
        "UPDATE sync_state SET mode = 'full', generation = generation + 1, since = NULL, next_offset = 0,
                pages_done = 0, items_done = 0, run_created = 0, run_updated = 0, run_deleted = 0, site_index = 0,
                run_cut_short = false, updated_at = now()
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(lease.merchant_id)
    .bind(kind.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    *run = Run {
        mode: Mode::Full,
        generation: run.generation + 1,
        since: None,
        offset: 0,
        site_index: 0,
        cut_short: false,
        baseline: run.baseline,
        sites: std::mem::take(&mut run.sites),
    };
    Ok(())
}

/// The site being read is done: the run moves to the next one from its start, in the page's
/// transaction (after `checkpoint`). `cut_short`: that site's list ended early.
pub(crate) async fn next_site(
    conn: &mut PgConnection,
    merchant: MerchantId,
    kind: SyncKind,
    site_index: usize,
    cut_short: bool,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE sync_state SET site_index = $3, next_offset = 0, run_cut_short = run_cut_short OR $4
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(i32::try_from(site_index).unwrap_or(i32::MAX))
    .bind(cut_short)
    .execute(conn)
    .await?;
    Ok(())
}

/// Record a committed page, in the page's transaction.
pub(crate) async fn checkpoint(
    conn: &mut PgConnection,
    merchant: MerchantId,
    kind: SyncKind,
    next_offset: u64,
    items: u64,
    total: Option<u64>,
    written: Written,
) -> Result<(), SyncError> {
    // The page's tally (see `tally`) rides on the checkpoint: one statement per page.
    sqlx::query(
        "UPDATE sync_state SET next_offset = $3, pages_done = pages_done + 1, items_done = items_done + $4,
                items_total = COALESCE($5, items_total), updated_at = now(),
                run_created = run_created + $6, run_updated = run_updated + $7
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(i64::try_from(next_offset).unwrap_or(i64::MAX))
    .bind(i64::try_from(items).unwrap_or(i64::MAX))
    .bind(total.and_then(|t| i64::try_from(t).ok()))
    .bind(written.created)
    .bind(written.updated)
    .execute(conn)
    .await?;
    Ok(())
}

/// Add what a page, a batch of point reads or a sweep created, updated and deleted to the run's
/// counts, in the same transaction (a crash loses the counts with the writes). `sync.completed`
/// announces them.
pub(crate) async fn tally(
    conn: &mut PgConnection,
    merchant: MerchantId,
    kind: SyncKind,
    written: Written,
    deleted: u64,
) -> Result<(), SyncError> {
    if !written.any() && deleted == 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE sync_state SET run_created = run_created + $3, run_updated = run_updated + $4,
                run_deleted = run_deleted + $5
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(written.created)
    .bind(written.updated)
    .bind(i64::try_from(deleted).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

/// The largest page asked of a store (OCC's default and advised maximum).
pub(crate) const MAX_PAGE_SIZE: u32 = 250;

/// The page size that passed after the store refused a larger one (`None`: no refusal on record).
pub(crate) async fn page_size(pool: &PgPool, merchant: MerchantId, kind: SyncKind) -> Result<Option<u32>, SyncError> {
    let size: Option<Option<i32>> =
        sqlx::query_scalar("SELECT page_size FROM sync_state WHERE merchant_id = $1 AND kind = $2")
            .bind(merchant)
            .bind(kind.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(size.flatten().and_then(|s| u32::try_from(s).ok()))
}

/// The store refused a page as too large and this smaller size is tried next: the next runs start
/// from it (`finish` grows it back slowly).
pub(crate) async fn shrink_page_size(
    pool: &PgPool,
    merchant: MerchantId,
    kind: SyncKind,
    size: u32,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE sync_state SET page_size = $3, page_shrunk_at = now(), updated_at = now()
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(i32::try_from(size).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(())
}

/// The run succeeded; moving `last_success_at` announces `sync.completed` with the run's counts (a
/// trigger, migration 025). The next incremental run starts a little before this one started (clock skew).
/// `note` is kept as `last_error` when the run finished with a caveat (a full run that did not sweep).
/// A page size shrunk by an earlier run grows by a quarter when this run did not shrink it.
pub(crate) async fn finish(
    conn: &mut PgConnection,
    merchant: MerchantId,
    kind: SyncKind,
    mode: Mode,
    note: Option<&str>,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE sync_state SET state = 'idle', watermark = run_started_at - interval '2 minutes',
                last_success_at = now(), last_full_at = CASE WHEN $3 THEN now() ELSE last_full_at END,
                last_error = $4, last_error_at = CASE WHEN $4 IS NULL THEN last_error_at ELSE now() END,
                page_size = CASE WHEN page_size IS NULL OR page_shrunk_at >= run_started_at THEN page_size
                                 WHEN page_size + page_size / 4 + 1 >= $5 THEN NULL
                                 ELSE page_size + page_size / 4 + 1 END,
                updated_at = now()
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(mode == Mode::Full)
    .bind(note)
    .bind(i32::try_from(MAX_PAGE_SIZE).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn record_error(
    pool: &PgPool,
    merchant: MerchantId,
    kind: SyncKind,
    error: &str,
    paused: bool,
) -> Result<(), SyncError> {
    sqlx::query(
        "INSERT INTO sync_state (merchant_id, kind, state, last_error, last_error_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (merchant_id, kind) DO UPDATE SET state = EXCLUDED.state, last_error = EXCLUDED.last_error,
             last_error_at = now(), updated_at = now()",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(if paused { "paused" } else { "failed" })
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Progress of one (merchant, kind) for `storelink sync status`, the ops console and the partner API.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct SyncStatus {
    pub merchant_id: MerchantId,
    pub kind: String,
    pub state: String,
    pub mode: String,
    pub pages_done: i64,
    pub items_done: i64,
    pub items_total: Option<i64>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_full_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn status(pool: &PgPool, merchant: Option<MerchantId>) -> Result<Vec<SyncStatus>, sqlx::Error> {
    sqlx::query_as::<_, SyncStatus>(
        "SELECT merchant_id, kind, state, mode, pages_done, items_done, items_total, last_success_at, last_full_at,
                last_error, last_error_at, updated_at
         FROM sync_state WHERE $1::uuid IS NULL OR merchant_id = $1 ORDER BY merchant_id, kind LIMIT 10000",
    )
    .bind(merchant)
    .fetch_all(pool)
    .await
}

/// For each kind, the longest time any merchant has gone without a successful run, in seconds (0
/// while no run of that kind has succeeded): the `storelink_sync_lag_seconds` gauge.
///
/// The oldest success of each kind is the first entry of `sync_state_success_idx`: one index lookup per
/// kind, whatever the number of merchants.
pub async fn lag_by_kind(pool: &PgPool) -> Result<Vec<(String, f64)>, sqlx::Error> {
    let kinds: Vec<&str> = SyncKind::ALL.iter().map(|k| k.as_str()).collect();
    sqlx::query_as(LAG_BY_KIND_SQL).bind(kinds).fetch_all(pool).await
}

/// `lag_by_kind`'s statement ($1 the kinds). A kind no merchant has a row of yet is left out.
pub const LAG_BY_KIND_SQL: &str = "SELECT k.kind, COALESCE(EXTRACT(EPOCH FROM now() - (
         SELECT s.last_success_at FROM sync_state s
         WHERE s.kind = k.kind AND s.last_success_at IS NOT NULL ORDER BY s.last_success_at LIMIT 1)), 0)::float8
     FROM unnest($1::text[]) AS k (kind)
     WHERE EXISTS (SELECT 1 FROM sync_state s WHERE s.kind = k.kind)";
