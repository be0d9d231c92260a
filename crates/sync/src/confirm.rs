//! The end of a full catalog or inventory run: an item the run did not see is deleted, and announced,
//! only after a point read confirms the store no longer has it (404). Offset paging over a store that
//! changes mid-run skips items: a deletion before the offset moves every later item up one place, so
//! "not seen" proves nothing (two runs against a changing store each announced a live product as
//! deleted). Sorting by id keeps updates from moving items; the point read covers deletions.
//! Confirmation goes by product and site: a product read holds its SKUs, an inventory read its stock
//! rows, each on the site the run read (a product gone from one site stays on the others).

use sqlx::{PgConnection, PgPool};
use storelink_connector::Records;
use storelink_core::{MerchantId, SyncKind};

use crate::SyncError;
use crate::state;
use crate::tables::{self, WriteMode};

/// Products confirmed per transaction.
pub(crate) const BATCH: i64 = 50;
/// Point reads in flight per merchant (OCC advises few concurrent requests: docs/occ.md).
pub(crate) const CONCURRENCY: usize = 4;

/// Up to `BATCH` products of one site that have rows the run of `generation` did not see, and that
/// site (`''`: none sent).
pub(crate) async fn candidates(
    pool: &PgPool,
    kind: SyncKind,
    merchant: MerchantId,
    generation: i64,
) -> Result<(String, Vec<String>), SyncError> {
    let sql = match kind {
        SyncKind::Catalog => {
            "SELECT site_id, product_id FROM products WHERE merchant_id = $1 AND seen_generation < $2
             ORDER BY site_id, product_id LIMIT $3"
        }
        _ => {
            "SELECT DISTINCT site_id, product_id FROM inventory WHERE merchant_id = $1 AND seen_generation < $2
                 AND product_id <> '' ORDER BY site_id, product_id LIMIT $3"
        }
    };
    let rows: Vec<(String, String)> =
        sqlx::query_as(sql).bind(merchant).bind(generation).bind(BATCH).fetch_all(pool).await?;
    let site = rows.first().map(|(site, _)| site.clone()).unwrap_or_default();
    let ids = rows.into_iter().filter(|(s, _)| *s == site).map(|(_, id)| id).collect();
    Ok((site, ids))
}

/// Delete, with `deleted` events, the kind's rows of sites other than the run's `sites`.
pub(crate) async fn sweep_other_sites(
    conn: &mut PgConnection,
    kind: SyncKind,
    merchant: MerchantId,
    sites: &[String],
) -> Result<(), SyncError> {
    let (main, rest): (&tables::Statements, Option<&tables::Statements>) = match kind {
        SyncKind::Catalog => (tables::PRODUCTS.sql(), Some(tables::SKUS.sql())),
        _ => (tables::INVENTORY.sql(), None),
    };
    let deleted = tables::sweep_other_sites(conn, main, merchant, sites).await?;
    if let Some(rest) = rest {
        tables::sweep_other_sites(conn, rest, merchant, sites).await?;
    }
    if deleted > 0 {
        tracing::info!(%merchant, %kind, deleted, "swept the rows of sites no longer synced");
        state::tally(conn, merchant, kind, tables::Written::default(), deleted).await?;
    }
    Ok(())
}

/// One batch of point reads on one site: the documents found (by product id) and the products gone.
pub(crate) struct Batch<'a> {
    pub site: &'a str,
    pub live: Vec<(String, Records)>,
    pub gone: Vec<String>,
}

/// Apply one batch of point reads: documents found are written as a page would be (and their rows
/// marked seen), products answered 404 lose their unseen rows, with `deleted` events. What changed
/// in the kind's main table is tallied for `sync.completed`.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    kind: SyncKind,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    batch: Batch<'_>,
) -> Result<(), SyncError> {
    let Batch { site, live, gone } = batch;
    let gone = gone.as_slice();
    let live_ids: Vec<String> = live.iter().map(|(id, _)| id.clone()).collect();
    let (mut products, mut skus, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for (_, records) in live {
        match records {
            Records::Catalog(p, s) => {
                products.extend(p);
                skus.extend(s);
            }
            Records::Inventory(r) => rows.extend(r),
            Records::Shipping(_) | Records::Orders(_) => {}
        }
    }
    if kind == SyncKind::Catalog {
        let written = tables::write(conn, &tables::PRODUCTS, merchant, generation, mode, &products).await?;
        tables::write(conn, &tables::SKUS, merchant, generation, mode, &skus).await?;
        // A document that did not normalize to its own id: keep the stored row rather than delete it.
        tables::mark_seen(conn, tables::PRODUCTS.sql(), merchant, generation, &live_ids, site).await?;
        let deleted = tables::sweep_products(conn, tables::PRODUCTS.sql(), merchant, generation, gone, site).await?;
        state::tally(conn, merchant, kind, written, deleted).await?;
    } else {
        let written = tables::write(conn, &tables::INVENTORY, merchant, generation, mode, &rows).await?;
        // The read is authoritative for its product: stock rows it no longer lists are gone too.
        let all: Vec<String> = live_ids.into_iter().chain(gone.iter().cloned()).collect();
        let deleted = tables::sweep_products(conn, tables::INVENTORY.sql(), merchant, generation, &all, site).await?;
        state::tally(conn, merchant, kind, written, deleted).await?;
    }
    Ok(())
}

/// Once every missing product is settled: what is still unseen has no product to read (SKUs of
/// products confirmed or re-read, stock rows without a product id) and goes; stock rows count as
/// deleted by the run.
pub(crate) async fn sweep_rest(
    conn: &mut PgConnection,
    kind: SyncKind,
    merchant: MerchantId,
    generation: i64,
) -> Result<u64, SyncError> {
    let table = if kind == SyncKind::Catalog { tables::SKUS.sql() } else { tables::INVENTORY.sql() };
    let deleted = tables::sweep(conn, table, merchant, generation).await?;
    if kind == SyncKind::Inventory {
        state::tally(conn, merchant, kind, tables::Written::default(), deleted).await?;
    }
    Ok(deleted)
}
