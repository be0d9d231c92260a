//! One slice of a sync job: resume the run, then fetch page -> write page + checkpoint in one
//! transaction (under the job's lease) until the run ends or the slice is used up.

use sqlx::PgPool;
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{Handler, Job, JobContext, Mode, Outcome, Queue};
use storelink_occ::{ListParams, OccClient, OccError, Resource};
use storelink_token_cache::{TokenCache, TokenError};

use crate::SyncError;
use crate::normalize::{self, Hashed};
use crate::state::{self, Run};
use crate::tables::{self, WriteMode};

/// Items per OCC page (OCC's default and advised maximum).
const PAGE_SIZE: u32 = 250;

#[derive(Clone)]
pub struct SyncHandler {
    pool: PgPool,
    occ: OccClient,
    tokens: TokenCache,
    queue: Queue,
    page_size: u32,
}

/// A fetched page, normalized, ready to write.
enum Rows {
    Catalog(Vec<Hashed<normalize::ProductRow>>, Vec<Hashed<normalize::SkuRow>>),
    Inventory(Vec<Hashed<normalize::InventoryRow>>),
    Shipping(Vec<Hashed<normalize::ShippingRow>>),
    Orders(Vec<Hashed<normalize::OrderRow>>),
}

struct Page {
    rows: Rows,
    /// Source items on the page (the offset advances by this much).
    items: u64,
    total: Option<u64>,
    last: bool,
}

enum Progress {
    Finished,
    Yielded,
}

impl SyncHandler {
    pub fn new(pool: PgPool, occ: OccClient, tokens: TokenCache, queue: Queue) -> Self {
        Self { pool, occ, tokens, queue, page_size: PAGE_SIZE }
    }

    pub fn with_page_size(self, page_size: u32) -> Self {
        Self { page_size: page_size.clamp(1, 250), ..self }
    }

    async fn run_slice(&self, job: &Job, ctx: &JobContext) -> Result<Progress, SyncError> {
        let kind: SyncKind = job.kind.parse().map_err(|_| SyncError::UnknownKind(job.kind.clone()))?;
        let merchant = job.merchant_id;
        let mut run = state::start_or_resume(&self.pool, &ctx.lease, kind, job.mode).await?;
        let mut page = match self.fetch(kind, merchant, &run, run.offset).await {
            Err(SyncError::Token(TokenError::Occ(OccError::Permanent { status: 400, .. })))
                if run.mode == Mode::Incremental =>
            {
                tracing::warn!(%merchant, %kind, "the store refused the incremental filter; running in full");
                state::switch_to_full(&self.pool, &ctx.lease, kind, &mut run).await?;
                self.fetch(kind, merchant, &run, run.offset).await?
            }
            other => other?,
        };
        loop {
            // Write this page while the next one is fetched.
            let next_offset = run.offset + page.items;
            let prefetch = !page.last && !ctx.should_stop();
            let last = page.last;
            let started = std::time::Instant::now();
            let write = async {
                let written = self.commit_page(ctx, kind, &run, page, next_offset).await;
                (written, started.elapsed().as_millis() as u64)
            };
            let fetch = async {
                let next = match prefetch {
                    true => Some(self.fetch(kind, merchant, &run, next_offset).await),
                    false => None,
                };
                (next, started.elapsed().as_millis() as u64)
            };
            let ((written, write_ms), (next, fetch_ms)) = futures::join!(write, fetch);
            written?;
            run.offset = next_offset;
            tracing::debug!(%merchant, %kind, offset = run.offset, write_ms, fetch_ms, "sync page");
            if last {
                return Ok(Progress::Finished);
            }
            match next {
                Some(next) if !ctx.should_stop() => page = next?,
                _ => return Ok(Progress::Yielded),
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
        write(&mut tx, merchant, run.generation, mode, &page.rows).await?;
        state::checkpoint(&mut tx, merchant, kind, next_offset, page.items, page.total).await?;
        if page.last {
            if run.mode == Mode::Full {
                sweep(&mut tx, kind, merchant, run.generation).await?;
            }
            state::finish(&mut tx, merchant, kind, run.mode).await?;
        }
        tx.commit().await?;
        metrics::counter!("storelink_sync_items_total", "kind" => kind.as_str()).increment(page.items);
        Ok(())
    }

    async fn fetch(&self, kind: SyncKind, merchant: MerchantId, run: &Run, offset: u64) -> Result<Page, SyncError> {
        if kind == SyncKind::Shipping {
            let occ = &self.occ;
            let methods = self
                .tokens
                .call(merchant, |s| async move { occ.shipping_methods(&s.store, &s.token, false).await })
                .await?;
            let items = methods.len() as u64;
            let rows = methods
                .iter()
                .filter_map(|m| serde_json::to_value(m).ok())
                .filter_map(|v| normalize::shipping_method(&v))
                .collect();
            return Ok(Page { rows: Rows::Shipping(rows), items, total: Some(items), last: true });
        }
        let resource = match kind {
            SyncKind::Catalog => Resource::Products,
            SyncKind::Inventory => Resource::Inventories,
            _ => Resource::Orders,
        };
        let q = run.since.map(|since| format!("lastModifiedDate gt \"{}\"", since.format("%Y-%m-%dT%H:%M:%S%.3fZ")));
        let params = ListParams { offset, limit: self.page_size, q, ..ListParams::default() };
        let occ = &self.occ;
        let params = &params;
        let page = self
            .tokens
            .call(
                merchant,
                |s| async move { occ.list::<serde_json::Value>(&s.store, &s.token, resource, params).await },
            )
            .await?;
        let last = page.is_last(offset);
        let items = page.items.len() as u64;
        let rows = match kind {
            SyncKind::Catalog => {
                let (products, skus): (Vec<_>, Vec<_>) = page.items.iter().filter_map(normalize::product).unzip();
                Rows::Catalog(products, skus.into_iter().flatten().collect())
            }
            SyncKind::Inventory => Rows::Inventory(page.items.iter().flat_map(normalize::inventory).collect()),
            _ => Rows::Orders(page.items.iter().filter_map(normalize::order).collect()),
        };
        Ok(Page { rows, items, total: page.total_results, last })
    }
}

async fn write(
    conn: &mut sqlx::PgConnection,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    rows: &Rows,
) -> Result<(), SyncError> {
    match rows {
        Rows::Catalog(products, skus) => {
            tables::write_products(conn, merchant, generation, mode, products).await?;
            tables::write_skus(conn, merchant, generation, mode, skus).await?;
        }
        Rows::Inventory(rows) => {
            tables::write_inventory(conn, merchant, generation, mode, rows).await?;
        }
        Rows::Shipping(rows) => {
            tables::write_shipping(conn, merchant, generation, mode, rows).await?;
        }
        Rows::Orders(rows) => {
            tables::write_orders(conn, merchant, generation, mode, rows).await?;
        }
    }
    Ok(())
}

async fn sweep(
    conn: &mut sqlx::PgConnection,
    kind: SyncKind,
    merchant: MerchantId,
    generation: i64,
) -> Result<(), SyncError> {
    let swept: &[&tables::Table] = match kind {
        SyncKind::Catalog => &[&tables::PRODUCTS, &tables::SKUS],
        SyncKind::Inventory => &[&tables::INVENTORY],
        SyncKind::Shipping => &[&tables::SHIPPING_METHODS],
        SyncKind::Orders => &[],
    };
    for table in swept {
        let deleted = tables::sweep(conn, table, merchant, generation).await?;
        if deleted > 0 {
            tracing::info!(%merchant, table = table.name, deleted, "swept rows missing from the store");
        }
    }
    Ok(())
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
