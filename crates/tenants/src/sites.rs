//! The store's sites as listed at connect (`merchant_sites`) and the merchant's selection of the sites
//! to sell through. A store that lists no sites (a single-site store, or a platform without sites)
//! has no rows: everything then runs on the store's default site, as before sites existed.

use crate::TenantError;
use sqlx::PgPool;
use storelink_core::MerchantId;

/// One of the store's sites and whether the merchant sells through it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MerchantSite {
    pub site_id: String,
    pub name: String,
    pub is_default: bool,
    pub enabled: bool,
    pub production_url: Option<String>,
    pub price_list_group: Option<String>,
    pub selected: bool,
}

/// A site as the store lists it (the connector's `Site`, without the selection).
pub struct ListedSite<'a> {
    pub site_id: &'a str,
    pub name: &'a str,
    pub is_default: bool,
    pub enabled: bool,
    pub production_url: Option<&'a str>,
    pub price_list_group: Option<&'a str>,
    pub currency: Option<&'a str>,
}

/// Records the sites the store listed: a new site is selected when it is enabled, a known one keeps
/// the merchant's choice (its other columns are refreshed), and a site the store no longer lists is
/// removed.
pub async fn record_listed(
    pool: &PgPool,
    merchant_id: MerchantId,
    sites: &[ListedSite<'_>],
) -> Result<(), TenantError> {
    let mut tx = pool.begin().await?;
    record_listed_in(&mut tx, merchant_id, sites).await?;
    tx.commit().await?;
    Ok(())
}

/// `record_listed` in the caller's transaction (connect records the sites with the merchant, before
/// its first syncs can start: they read the store per selected site).
pub async fn record_listed_in(
    tx: &mut sqlx::PgConnection,
    merchant_id: MerchantId,
    sites: &[ListedSite<'_>],
) -> Result<(), TenantError> {
    let ids: Vec<&str> = sites.iter().map(|s| s.site_id).collect();
    sqlx::query("DELETE FROM merchant_sites WHERE merchant_id = $1 AND NOT (site_id = ANY($2))")
        .bind(merchant_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    for site in sites {
        sqlx::query(
            "INSERT INTO merchant_sites
                 (merchant_id, site_id, name, is_default, enabled, production_url, price_list_group, selected, currency)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $5, $8)
             ON CONFLICT (merchant_id, site_id) DO UPDATE SET
                 name = EXCLUDED.name, is_default = EXCLUDED.is_default, enabled = EXCLUDED.enabled,
                 production_url = EXCLUDED.production_url, price_list_group = EXCLUDED.price_list_group,
                 currency = EXCLUDED.currency, listed_at = now()",
        )
        .bind(merchant_id)
        .bind(site.site_id)
        .bind(site.name)
        .bind(site.is_default)
        .bind(site.enabled)
        .bind(site.production_url)
        .bind(site.price_list_group)
        .bind(site.currency)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The merchant's sites, the default one first.
pub async fn list(pool: &PgPool, merchant_id: MerchantId) -> Result<Vec<MerchantSite>, TenantError> {
    let rows = sqlx::query_as::<_, (String, String, bool, bool, Option<String>, Option<String>, bool)>(
        "SELECT site_id, name, is_default, enabled, production_url, price_list_group, selected
         FROM merchant_sites WHERE merchant_id = $1 ORDER BY is_default DESC, site_id",
    )
    .bind(merchant_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(site_id, name, is_default, enabled, production_url, price_list_group, selected)| MerchantSite {
            site_id,
            name,
            is_default,
            enabled,
            production_url,
            price_list_group,
            selected,
        })
        .collect())
}

/// Why a selection was not saved.
#[derive(Debug, PartialEq, Eq)]
pub enum SelectionError {
    /// Sites are listed, but none was chosen: a connection sells through at least one.
    Empty,
    /// A chosen id is not one of the store's sites (or is disabled in the store).
    UnknownSite(String),
}

/// Replaces the merchant's selection with `chosen` (site ids). Only listed, enabled sites can be chosen.
/// Answers whether the selection changed (the caller then resyncs the merchant: the synced rows
/// follow the selected sites).
pub async fn select(
    pool: &PgPool,
    merchant_id: MerchantId,
    chosen: &[String],
) -> Result<Result<bool, SelectionError>, TenantError> {
    let sites = list(pool, merchant_id).await?;
    if chosen.is_empty() && !sites.is_empty() {
        return Ok(Err(SelectionError::Empty));
    }
    if let Some(unknown) = chosen.iter().find(|id| !sites.iter().any(|s| s.enabled && &s.site_id == *id)) {
        return Ok(Err(SelectionError::UnknownSite(unknown.clone())));
    }
    let changed = sqlx::query(
        "UPDATE merchant_sites SET selected = (site_id = ANY($2))
         WHERE merchant_id = $1 AND selected IS DISTINCT FROM (site_id = ANY($2))",
    )
    .bind(merchant_id)
    .bind(chosen)
    .execute(pool)
    .await?;
    Ok(Ok(changed.rows_affected() > 0))
}

/// The ids of the sites the merchant sells through (empty: the store's default site only, with no
/// `x-ccsite` sent).
pub async fn selected(pool: &PgPool, merchant_id: MerchantId) -> Result<Vec<String>, TenantError> {
    Ok(sqlx::query_scalar(
        "SELECT site_id FROM merchant_sites WHERE merchant_id = $1 AND selected ORDER BY is_default DESC, site_id",
    )
    .bind(merchant_id)
    .fetch_all(pool)
    .await?)
}

/// A site the sync reads the catalog, inventory and shipping methods of, with the price list group
/// whose prices it sells at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncSite {
    pub site_id: String,
    pub price_list_group: Option<String>,
}

/// The most sites synced per site: each costs a full read of the catalog, stock and shipping methods,
/// so a store listing hundreds of sites cannot multiply its sync without bound (the rest are not
/// synced; docs/occ.md "Sync per site").
pub const MAX_SYNCED_SITES: usize = 20;

/// The sites to sync per site: the selected ones (at most `MAX_SYNCED_SITES`, the default site
/// first) when the store listed more than one site; none (one
/// pass without `x-ccsite`, rows under site `''`) for a single-site store or a platform without sites,
/// which thus sync exactly as before sites existed.
pub async fn sync_sites(pool: &PgPool, merchant_id: MerchantId) -> Result<Vec<SyncSite>, TenantError> {
    let sites = list(pool, merchant_id).await?;
    if sites.len() < 2 {
        return Ok(Vec::new());
    }
    Ok(sites
        .into_iter()
        .filter(|s| s.selected && s.enabled)
        .take(MAX_SYNCED_SITES)
        .map(|s| SyncSite { site_id: s.site_id, price_list_group: s.price_list_group })
        .collect())
}

/// The sites a merchant's orders are published from, read in the caller's transaction: `None` when
/// the store listed no sites (every order is published), else the selected site ids. An order of a
/// site outside the list (one the merchant did not select, or one created after the connect) is
/// kept from partners.
pub async fn published_in(
    conn: &mut sqlx::PgConnection,
    merchant_id: MerchantId,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT site_id, selected FROM merchant_sites WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_all(conn)
            .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().filter(|(_, selected)| *selected).map(|(id, _)| id).collect()))
}

/// Whether an order of `site` (its store's `siteId`, if any) is published under `published_in`'s
/// answer. An order without a site is.
pub fn publishes(published: Option<&[String]>, site: Option<&str>) -> bool {
    match (published, site) {
        (Some(sites), Some(site)) => sites.iter().any(|s| s == site),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_of_unselected_sites_are_not_published() {
        let selected = vec!["siteUS".to_owned()];
        assert!(publishes(None, Some("siteEU")), "a store without listed sites publishes all");
        assert!(publishes(Some(&selected), Some("siteUS")));
        assert!(!publishes(Some(&selected), Some("siteEU")));
        assert!(publishes(Some(&selected), None), "an order without a site");
    }
}
