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
    /// A new run none of whose pages is committed yet: when it started (the database's clock). Its
    /// first page writes the run's start with its checkpoint, so a run of one page (an incremental
    /// run that found no change) updates its `sync_state` row once.
    pub unwritten_start: Option<DateTime<Utc>>,
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
/// run_cut_short, finished (state idle), now.
type StateRow = (
    Option<i64>,
    String,
    i64,
    Option<DateTime<Utc>>,
    i64,
    Option<DateTime<Utc>>,
    bool,
    Vec<String>,
    i32,
    bool,
    bool,
    DateTime<Utc>,
);

/// Kinds without a last-modified filter always run in full.
fn effective_mode(kind: SyncKind, requested: Mode, has_watermark: bool) -> Mode {
    match kind {
        SyncKind::Catalog | SyncKind::Orders if has_watermark => requested,
        _ => Mode::Full,
    }
}

/// Resume the job's run, or start a new one reading `sites` (ids in order; `['']` for one pass
/// without a site). A new run is written with its first page (`Run::unwritten_start`): a crash
/// before that leaves the previous run's row as it was, and the next attempt starts the run again.
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
    let (job_id, mode, generation, since, offset, watermark, baseline, run_sites, site_index, cut_short, finished, now): StateRow =
        sqlx::query_as(
            "SELECT job_id, mode, generation, since, next_offset, watermark, last_success_at IS NULL, run_sites,
                    site_index, run_cut_short,
                    state = 'idle' AND run_started_at IS NOT NULL AND last_success_at >= run_started_at, now()
             FROM sync_state WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(lease.merchant_id)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    // A job run again after it finished (asked for while running) starts a new run.
    if job_id == Some(lease.job_id) && !finished && !run_sites.is_empty() {
        let mode = Mode::parse(&mode)?;
        let site_index = usize::try_from(site_index).unwrap_or(0).min(run_sites.len() - 1);
        let offset = u64::try_from(offset).unwrap_or(0);
        return Ok(Run {
            mode,
            generation,
            since,
            offset,
            baseline,
            sites: run_sites,
            site_index,
            cut_short,
            unwritten_start: None,
        });
    }
    let sites = if sites.is_empty() { vec![String::new()] } else { sites };
    // Other sites than the last run read (the selection changed): an incremental run would miss
    // a new site's unchanged rows and keep a dropped site's, so the run is full.
    let same_sites = run_sites == sites;
    let mode = effective_mode(kind, requested, watermark.is_some() && same_sites);
    let generation = if mode == Mode::Full { generation + 1 } else { generation };
    let since = if mode == Mode::Incremental { watermark } else { None };
    Ok(Run {
        mode,
        generation,
        since,
        offset: 0,
        baseline,
        sites,
        site_index: 0,
        cut_short: false,
        unwritten_start: Some(now),
    })
}

/// Switch the running run to full (the store refused the incremental filter).
pub(crate) async fn switch_to_full(
    pool: &PgPool,
    lease: &Lease,
    kind: SyncKind,
    run: &mut Run,
) -> Result<(), SyncError> {
    // A run none of whose pages is written yet switches in memory: its first page writes it.
    if run.unwritten_start.is_none() {
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
    }
    *run = Run {
        mode: Mode::Full,
        generation: run.generation + 1,
        since: None,
        offset: 0,
        site_index: 0,
        cut_short: false,
        baseline: run.baseline,
        sites: std::mem::take(&mut run.sites),
        unwritten_start: run.unwritten_start,
    };
    Ok(())
}

/// What one committed step of a run moves in its `sync_state` row.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Step<'a> {
    /// A page was committed (`pages_done` counts it); `false` for the end of a confirmation.
    pub page: bool,
    /// Where the next page starts, in the site being read.
    pub next_offset: u64,
    pub items: u64,
    pub total: Option<u64>,
    pub written: Written,
    pub deleted: u64,
    /// The site being read is done: the run moves to the next one from its start; with whether
    /// this site's list ended early.
    pub next_site: Option<bool>,
    /// The run succeeded: moving `last_success_at` announces `sync.completed` with the run's counts
    /// (a trigger, migration 025); the note is kept as `last_error` when it finished with a caveat
    /// (a full run that did not sweep).
    pub finish: Option<Option<&'a str>>,
}

/// Record a committed step of `job`'s run, in the step's transaction (a crash loses the step and its
/// checkpoint together): one statement, so a run of one page updates the row once. A run not yet
/// written starts here (its counts from zero). On finishing, the next incremental run starts a little
/// before this one started (clock skew), and a page size shrunk by an earlier run grows by a quarter
/// when this run did not shrink it.
pub(crate) async fn record(
    conn: &mut PgConnection,
    merchant: MerchantId,
    kind: SyncKind,
    job: i64,
    run: &Run,
    step: Step<'_>,
) -> Result<(), SyncError> {
    let (site_index, next_offset, cut_short) = match step.next_site {
        Some(cut_short) => (run.site_index + 1, 0, run.cut_short || cut_short),
        None => (run.site_index, step.next_offset, run.cut_short),
    };
    sqlx::query(
        "UPDATE sync_state SET job_id = $3, mode = $4, generation = $5, since = $6, run_sites = $7,
                run_started_at = COALESCE($8, run_started_at), site_index = $9, next_offset = $10, run_cut_short = $11,
                pages_done = CASE WHEN $8 IS NULL THEN pages_done ELSE 0 END + $12::int,
                items_done = CASE WHEN $8 IS NULL THEN items_done ELSE 0 END + $13,
                items_total = CASE WHEN $8 IS NULL THEN COALESCE($14, items_total) ELSE $14 END,
                run_created = CASE WHEN $8 IS NULL THEN run_created ELSE 0 END + $15,
                run_updated = CASE WHEN $8 IS NULL THEN run_updated ELSE 0 END + $16,
                run_deleted = CASE WHEN $8 IS NULL THEN run_deleted ELSE 0 END + $17,
                state = CASE WHEN $18 THEN 'idle' ELSE 'running' END,
                watermark = CASE WHEN $18 THEN COALESCE($8, run_started_at) - interval '2 minutes' ELSE watermark END,
                last_success_at = CASE WHEN $18 THEN now() ELSE last_success_at END,
                last_full_at = CASE WHEN $18 AND $4 = 'full' THEN now() ELSE last_full_at END,
                last_error = CASE WHEN $18 THEN $19 ELSE last_error END,
                last_error_at = CASE WHEN $18 AND $19 IS NOT NULL THEN now() ELSE last_error_at END,
                page_size = CASE WHEN NOT $18 OR page_size IS NULL OR page_shrunk_at >= COALESCE($8, run_started_at)
                                 THEN page_size
                                 WHEN page_size + page_size / 4 + 1 >= $20 THEN NULL
                                 ELSE page_size + page_size / 4 + 1 END,
                updated_at = now()
         WHERE merchant_id = $1 AND kind = $2",
    )
    .bind(merchant)
    .bind(kind.as_str())
    .bind(job)
    .bind(run.mode.as_str())
    .bind(run.generation)
    .bind(run.since)
    .bind(&run.sites)
    .bind(run.unwritten_start)
    .bind(i32::try_from(site_index).unwrap_or(i32::MAX))
    .bind(i64::try_from(next_offset).unwrap_or(i64::MAX))
    .bind(cut_short)
    .bind(i32::from(step.page))
    .bind(i64::try_from(step.items).unwrap_or(i64::MAX))
    .bind(step.total.and_then(|t| i64::try_from(t).ok()))
    .bind(step.written.created)
    .bind(step.written.updated)
    .bind(i64::try_from(step.deleted).unwrap_or(i64::MAX))
    .bind(step.finish.is_some())
    .bind(step.finish.flatten())
    .bind(i32::try_from(MAX_PAGE_SIZE).unwrap_or(i32::MAX))
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
