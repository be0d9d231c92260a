//! One slice of a sync job: resume the run, then fetch page -> write page + checkpoint in one
//! transaction (under the job's lease) until the run ends or the slice is used up. Pages are sorted
//! by id; a full run that reached the end of the list then confirms what it did not see
//! (`confirm`) before sweeping, and one that was cut short never sweeps.

use sqlx::PgPool;
use storelink_connector::{ConnectorError, PageRequest, Records, SiteScope};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{Handler, Job, JobContext, Mode, Outcome, Queue};
use storelink_model::records::{Hashed, OrderRow};
use storelink_token_cache::{TokenCache, TokenError};

use crate::SyncError;
use crate::confirm;
use crate::state::{self, Run};
use crate::tables::{self, WriteMode, Written};

/// Items per page asked of the store (OCC's default and advised maximum).
const PAGE_SIZE: u32 = state::MAX_PAGE_SIZE;
/// The smallest page a "too large" answer shrinks to (halving from 250: 125, 62, 31, 15, then 10).
/// A store refusing 10 items has a problem a smaller page will not solve: the run fails as before.
pub const MIN_PAGE_SIZE: u32 = 10;

#[derive(Clone)]
pub struct SyncHandler {
    pool: PgPool,
    tokens: TokenCache,
    queue: Queue,
    page_size: u32,
}

/// A fetched page, in the model, ready to write.
struct Page {
    rows: Records,
    /// Source items on the page (the offset advances by this much).
    items: u64,
    total: Option<u64>,
    last: bool,
    /// The list ended (an empty page) before the `totalResults` it announced: the run did not see the
    /// whole store, so it must not sweep.
    cut_short: bool,
}

enum Progress {
    Finished,
    Yielded,
}

impl SyncHandler {
    pub fn new(pool: PgPool, tokens: TokenCache, queue: Queue) -> Self {
        Self { pool, tokens, queue, page_size: PAGE_SIZE }
    }

    pub fn with_page_size(self, page_size: u32) -> Self {
        Self { page_size: page_size.clamp(1, 250), ..self }
    }

    async fn run_slice(&self, job: &Job, ctx: &JobContext) -> Result<Progress, SyncError> {
        let kind: SyncKind = job.kind.parse().map_err(|_| SyncError::UnknownKind(job.kind.clone()))?;
        let merchant = job.merchant_id;
        // A multi-site store's catalog, stock and shipping methods are read once per selected site;
        // orders once for the whole store (each carries its site).
        let scopes = match kind {
            SyncKind::Orders => Vec::new(),
            _ => storelink_tenants::sites::sync_sites(&self.pool, merchant).await?,
        };
        let sites = scopes.iter().map(|s| s.site_id.clone()).collect();
        let mut run = state::start_or_resume(&self.pool, &ctx.lease, kind, job.mode, sites).await?;
        let scopes = Scopes(scopes);
        let mut size =
            state::page_size(&self.pool, merchant, kind).await?.map_or(self.page_size, |s| s.min(self.page_size));
        loop {
            let (mut page, next_size) = match self.fetch(kind, merchant, &run, &scopes, run.offset, size).await {
                Err(SyncError::Token(TokenError::Platform(ConnectorError::FilterRefused { .. })))
                    if run.mode == Mode::Incremental =>
                {
                    tracing::warn!(%merchant, %kind, "the store refused the incremental filter; running in full");
                    state::switch_to_full(&self.pool, &ctx.lease, kind, &mut run).await?;
                    self.fetch(kind, merchant, &run, &scopes, run.offset, size).await?
                }
                other => other?,
            };
            size = next_size;
            loop {
                // Write this page while the next one (of the same site) is fetched.
                let next_offset = run.offset + page.items;
                let prefetch = !page.last && !ctx.should_stop();
                let (last, cut_short) = (page.last, page.cut_short);
                let run_done = last && run.last_site();
                let started = std::time::Instant::now();
                let write = async {
                    let written = self.commit_page(ctx, kind, &run, page, next_offset).await;
                    (written, started.elapsed().as_millis() as u64)
                };
                let fetch = async {
                    let next = match prefetch {
                        true => Some(self.fetch(kind, merchant, &run, &scopes, next_offset, size).await),
                        false => None,
                    };
                    (next, started.elapsed().as_millis() as u64)
                };
                let ((written, write_ms), (next, fetch_ms)) = futures::join!(write, fetch);
                written?;
                run.unwritten_start = None;
                run.offset = next_offset;
                run.cut_short |= cut_short;
                tracing::debug!(%merchant, %kind, site = run.site(), offset = run.offset, write_ms, fetch_ms, "sync page");
                if run_done && confirms(kind, &run, run.cut_short) {
                    return self.confirm_and_sweep(ctx, kind, &run, &scopes).await;
                }
                if run_done {
                    return Ok(Progress::Finished);
                }
                if last {
                    // The next site, from its start (the page's transaction moved the checkpoint).
                    run.site_index += 1;
                    run.offset = 0;
                    if ctx.should_stop() {
                        return Ok(Progress::Yielded);
                    }
                    break;
                }
                match next {
                    Some(next) if !ctx.should_stop() => (page, size) = next?,
                    _ => return Ok(Progress::Yielded),
                }
            }
        }
    }

    /// One transaction: verify the lease, write the rows, move the checkpoint; on the last page also
    /// sweep (full runs) and mark the run done. Committed without waiting for the WAL flush: a crash
    /// loses the page and its checkpoint together, and the run resumes from the previous one.
    /// Baseline pages take a plain INSERT first and fall back to an upsert on a duplicate key (an item
    /// that moved between pages while the store changed under the sync).
    async fn commit_page(
        &self,
        ctx: &JobContext,
        kind: SyncKind,
        run: &Run,
        page: Page,
        next_offset: u64,
    ) -> Result<(), SyncError> {
        if !run.baseline {
            return self.write_page(ctx, kind, run, &page, next_offset, WriteMode::UpsertWithEvents).await;
        }
        match self.write_page(ctx, kind, run, &page, next_offset, WriteMode::Insert).await {
            Err(SyncError::Database(sqlx::Error::Database(e))) if e.code().as_deref() == Some("23505") => {
                self.write_page(ctx, kind, run, &page, next_offset, WriteMode::Upsert).await
            }
            other => other,
        }
    }

    async fn write_page(
        &self,
        ctx: &JobContext,
        kind: SyncKind,
        run: &Run,
        page: &Page,
        next_offset: u64,
        mode: WriteMode,
    ) -> Result<(), SyncError> {
        let merchant = ctx.lease.merchant_id;
        let mut tx = self.pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off").await?;
        ctx.lease.verify(&mut tx).await?;
        let written = write(&mut tx, merchant, run.generation, mode, &page.rows).await?;
        let mut step = state::Step {
            page: true,
            next_offset,
            items: page.items,
            total: page.total,
            written,
            ..state::Step::default()
        };
        if page.last && !run.last_site() {
            step.next_site = Some(page.cut_short);
        }
        let cut_short = run.cut_short || page.cut_short;
        let mut note = None;
        if page.last && run.last_site() && !confirms(kind, run, cut_short) {
            if run.mode == Mode::Full && kind == SyncKind::Shipping && !cut_short {
                // One unpaged answer per site: the whole list at one moment, so a missing method is
                // gone (and so are the methods of sites the run no longer reads).
                step.deleted = sweep(&mut tx, kind, merchant, run.generation).await?;
            } else if run.mode == Mode::Full && cut_short {
                tracing::warn!(%merchant, %kind, offset = next_offset, total = ?page.total, "the store's list ended early; not sweeping");
                note = Some(format!(
                    "the store's list ended after {next_offset} of {} items; this full run deleted nothing",
                    page.total.unwrap_or_default()
                ));
            }
            step.finish = Some(note.as_deref());
        }
        state::record(&mut tx, merchant, kind, ctx.lease.job_id, run, step).await?;
        tx.commit().await?;
        metrics::counter!("storelink_sync_items_total", "kind" => kind.as_str()).increment(page.items);
        Ok(())
    }

    /// One page of at most `size` items, and the size that passed: when the store refuses the page
    /// as too large, the size is halved (down to `MIN_PAGE_SIZE`) and recorded for the next runs.
    async fn fetch(
        &self,
        kind: SyncKind,
        merchant: MerchantId,
        run: &Run,
        scopes: &Scopes,
        offset: u64,
        mut size: u32,
    ) -> Result<(Page, u32), SyncError> {
        let site = scopes.scope(run.site());
        loop {
            let request = PageRequest { kind, offset, limit: size, since: run.since, site };
            let page = match self.tokens.call(merchant, |s| async move { s.connector.list(&s, request).await }).await {
                Err(TokenError::Platform(ConnectorError::PageTooLarge)) if size > MIN_PAGE_SIZE => {
                    let smaller = (size / 2).max(MIN_PAGE_SIZE);
                    tracing::warn!(%merchant, %kind, refused = size, next = smaller, "the store refused the page as too large; shrinking it");
                    state::shrink_page_size(&self.pool, merchant, kind, smaller).await?;
                    size = smaller;
                    continue;
                }
                other => other?,
            };
            let cut_short = page.items == 0 && page.total.is_some_and(|total| offset < total);
            let mut rows = page.records;
            rows.on_site(run.site());
            let page = Page { rows, items: page.items, total: page.total, last: page.last, cut_short };
            return Ok((page, size));
        }
    }

    /// Settle, batch by batch, every product the full run did not see: a point read finds it (it is
    /// written as a page would write it) or answers 404 (its rows are deleted and announced). Any
    /// other answer fails the run, which then deletes nothing more. Then the rest is swept and the run
    /// finishes. A slice that ends in between resumes here (its next page is past the end).
    async fn confirm_and_sweep(
        &self,
        ctx: &JobContext,
        kind: SyncKind,
        run: &Run,
        scopes: &Scopes,
    ) -> Result<Progress, SyncError> {
        use futures::StreamExt;
        let merchant = ctx.lease.merchant_id;
        let mode = if run.baseline { WriteMode::Upsert } else { WriteMode::UpsertWithEvents };
        // Rows of sites this run did not read (deselected, or no longer listed) go first, announced:
        // a point read on such a site would find the product and keep it.
        let mut tx = self.pool.begin().await?;
        ctx.lease.verify(&mut tx).await?;
        confirm::sweep_other_sites(&mut tx, kind, merchant, &run.sites).await?;
        tx.commit().await?;
        loop {
            let (site, ids) = confirm::candidates(&self.pool, kind, merchant, run.generation).await?;
            if ids.is_empty() {
                let mut tx = self.pool.begin().await?;
                ctx.lease.verify(&mut tx).await?;
                confirm::sweep_rest(&mut tx, kind, merchant, run.generation).await?;
                let finish = state::Step { next_offset: run.offset, finish: Some(None), ..state::Step::default() };
                state::record(&mut tx, merchant, kind, ctx.lease.job_id, run, finish).await?;
                tx.commit().await?;
                return Ok(Progress::Finished);
            }
            let scope = scopes.scope(&site);
            let reads: Vec<(String, Result<Records, TokenError>)> = futures::stream::iter(ids)
                .map(|id| async move {
                    let read = self.point_read(kind, merchant, &id, scope).await;
                    (
                        id,
                        read.map(|mut records| {
                            records.on_site(scope.map_or("", |s| s.id));
                            records
                        }),
                    )
                })
                .buffer_unordered(confirm::CONCURRENCY)
                .collect()
                .await;
            let (mut live, mut gone) = (Vec::new(), Vec::new());
            for (id, read) in reads {
                match read {
                    Ok(records) => live.push((id, records)),
                    Err(TokenError::Platform(ConnectorError::NotFound { .. })) => gone.push(id),
                    Err(e) => return Err(e.into()),
                }
            }
            let mut tx = self.pool.begin().await?;
            ctx.lease.verify(&mut tx).await?;
            let kept = live.len();
            let deleted = gone.len();
            let batch = confirm::Batch { site: &site, live, gone };
            confirm::apply(&mut tx, kind, merchant, run.generation, mode, batch).await?;
            tx.commit().await?;
            if deleted > 0 {
                tracing::info!(%merchant, %kind, %site, deleted, kept, "confirmed deletions swept");
            }
            if ctx.should_stop() {
                return Ok(Progress::Yielded);
            }
        }
    }

    async fn point_read(
        &self,
        kind: SyncKind,
        merchant: MerchantId,
        id: &str,
        site: Option<SiteScope<'_>>,
    ) -> Result<Records, TokenError> {
        self.tokens.call(merchant, |s| async move { s.connector.read(&s, kind, id, site).await }).await
    }
}

/// The sites a run reads, with their price list groups (as the merchant's sites say now).
struct Scopes(Vec<storelink_tenants::sites::SyncSite>);

impl Scopes {
    /// The scope of a read on `site` (`''`: none, the store as a whole). A site of the run that is no
    /// longer listed is still read by its id, at the document's default prices.
    fn scope<'a>(&'a self, site: &'a str) -> Option<SiteScope<'a>> {
        if site.is_empty() {
            return None;
        }
        let group = self.0.iter().find(|s| s.site_id == site).and_then(|s| s.price_list_group.as_deref());
        Some(SiteScope { id: site, price_list_group: group })
    }
}

/// Whether a run that reached its last page confirms and sweeps after it: full catalog and inventory
/// runs that saw the whole list. Orders are never swept; shipping methods come in one answer.
fn confirms(kind: SyncKind, run: &Run, cut_short: bool) -> bool {
    run.mode == Mode::Full && matches!(kind, SyncKind::Catalog | SyncKind::Inventory) && !cut_short
}

/// Write a page; returns what it created and updated in the kind's main table (products, stock
/// rows, shipping methods, orders), which `sync.completed` counts.
async fn write(
    conn: &mut sqlx::PgConnection,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    rows: &Records,
) -> Result<Written, SyncError> {
    Ok(match rows {
        Records::Catalog(products, skus) => {
            let written = tables::write(conn, &tables::PRODUCTS, merchant, generation, mode, products).await?;
            tables::write(conn, &tables::SKUS, merchant, generation, mode, skus).await?;
            written
        }
        Records::Inventory(rows) => tables::write(conn, &tables::INVENTORY, merchant, generation, mode, rows).await?,
        Records::Shipping(rows) => {
            tables::write(conn, &tables::SHIPPING_METHODS, merchant, generation, mode, rows).await?
        }
        Records::Orders(rows) => {
            // Orders of a site the merchant did not select are not stored, so never published.
            let published = storelink_tenants::sites::published_in(conn, merchant).await?;
            let publishes = |o: &&Hashed<OrderRow>| {
                storelink_tenants::sites::publishes(published.as_deref(), o.row.site_id.as_deref())
            };
            if rows.iter().all(|o| publishes(&o)) {
                tables::write_orders(conn, merchant, generation, mode, rows).await?
            } else {
                let kept: Vec<Hashed<OrderRow>> = rows.iter().filter(publishes).cloned().collect();
                tables::write_orders(conn, merchant, generation, mode, &kept).await?
            }
        }
    })
}

async fn sweep(
    conn: &mut sqlx::PgConnection,
    kind: SyncKind,
    merchant: MerchantId,
    generation: i64,
) -> Result<u64, SyncError> {
    let swept: &[&tables::Statements] = match kind {
        SyncKind::Catalog => &[tables::PRODUCTS.sql(), tables::SKUS.sql()],
        SyncKind::Inventory => &[tables::INVENTORY.sql()],
        SyncKind::Shipping => &[tables::SHIPPING_METHODS.sql()],
        SyncKind::Orders => &[],
    };
    let mut main_deleted = None;
    for table in swept {
        let deleted = tables::sweep(conn, table, merchant, generation).await?;
        main_deleted.get_or_insert(deleted);
        if deleted > 0 {
            tracing::info!(%merchant, table = table.name, deleted, "swept rows missing from the store");
        }
    }
    Ok(main_deleted.unwrap_or(0))
}

impl Handler for SyncHandler {
    async fn run(&self, job: Job, ctx: JobContext) -> Outcome {
        let merchant = job.merchant_id;
        let kind = job.kind.clone();
        match self.run_slice(&job, &ctx).await {
            Ok(Progress::Finished) => Outcome::Done,
            Ok(Progress::Yielded) => Outcome::MoreWork,
            Err(SyncError::LeaseLost) => Outcome::LeaseLost,
            Err(SyncError::Token(e)) if e.stops_merchant() => {
                if let Err(e) = self.queue.pause_merchant(merchant).await {
                    tracing::warn!(error = %e, "pausing the merchant's jobs failed");
                }
                if let Ok(kind) = kind.parse() {
                    let _ = state::record_error(&self.pool, merchant, kind, &e.to_string(), true).await;
                }
                Outcome::Park(e.to_string())
            }
            Err(e) => {
                if let Ok(kind) = kind.parse() {
                    let _ = state::record_error(&self.pool, merchant, kind, &e.to_string(), false).await;
                }
                Outcome::Failed { error: e.to_string(), retryable: e.is_retryable() }
            }
        }
    }
}
