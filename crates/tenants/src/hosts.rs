//! Where a merchant's store answers (issue 16 item 4): the host its API calls go to (OCC: admin) and
//! its storefront host (OCC: the agent API that places orders), as found at connect, each with an ops
//! override. Owns the `merchant_hosts` table; a merchant without a row uses its `store_url` for both.

use sqlx::{PgConnection, PgPool};
use storelink_core::MerchantId;

use crate::TenantError;

/// The hosts in effect (an override wins over what connect found).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoreHosts {
    pub admin: String,
    pub storefront: String,
}

/// Which host an ops override replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Admin,
    Storefront,
}

/// What connect found; the overrides ops set are kept.
pub async fn save(
    conn: &mut PgConnection,
    merchant: MerchantId,
    admin: &str,
    storefront: &str,
    storefront_source: &str,
) -> Result<(), TenantError> {
    sqlx::query(
        "INSERT INTO merchant_hosts (merchant_id, admin_url, storefront_url, storefront_source) VALUES ($1, $2, $3, $4)
         ON CONFLICT (merchant_id) DO UPDATE SET admin_url = EXCLUDED.admin_url,
             storefront_url = EXCLUDED.storefront_url, storefront_source = EXCLUDED.storefront_source,
             updated_at = now()",
    )
    .bind(merchant)
    .bind(admin)
    .bind(storefront)
    .bind(storefront_source)
    .execute(conn)
    .await?;
    Ok(())
}

/// The hosts in effect, or `None` for a merchant connected before hosts were recorded.
pub async fn effective(pool: &PgPool, merchant: MerchantId) -> Result<Option<StoreHosts>, TenantError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT COALESCE(admin_override, admin_url), COALESCE(storefront_override, storefront_url)
         FROM merchant_hosts WHERE merchant_id = $1",
    )
    .bind(merchant)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(admin, storefront)| StoreHosts { admin, storefront }))
}

/// The hosts in effect, falling back to the merchant's store URL for both.
pub async fn effective_or(pool: &PgPool, merchant: MerchantId, store_url: &str) -> Result<StoreHosts, TenantError> {
    Ok(effective(pool, merchant)
        .await?
        .unwrap_or_else(|| StoreHosts { admin: store_url.to_owned(), storefront: store_url.to_owned() }))
}

/// Set (`Some`) or clear (`None`) an ops override, inside the caller's (audited) transaction.
pub async fn set_override(
    conn: &mut PgConnection,
    merchant: MerchantId,
    host: Host,
    url: Option<&str>,
) -> Result<(), TenantError> {
    sqlx::query(
        "INSERT INTO merchant_hosts (merchant_id, admin_url, storefront_url, storefront_source)
         SELECT merchant_id, store_url, store_url, 'admin_host' FROM merchants WHERE merchant_id = $1
         ON CONFLICT (merchant_id) DO NOTHING",
    )
    .bind(merchant)
    .execute(&mut *conn)
    .await?;
    let sql = match host {
        Host::Admin => "UPDATE merchant_hosts SET admin_override = $2, updated_at = now() WHERE merchant_id = $1",
        Host::Storefront => {
            "UPDATE merchant_hosts SET storefront_override = $2, updated_at = now() WHERE merchant_id = $1"
        }
    };
    sqlx::query(sql).bind(merchant).bind(url).execute(&mut *conn).await?;
    Ok(())
}

/// The hosts in effect inside the caller's transaction (the ops action's report).
pub async fn effective_in(conn: &mut PgConnection, merchant: MerchantId) -> Result<Option<StoreHosts>, TenantError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT COALESCE(admin_override, admin_url), COALESCE(storefront_override, storefront_url)
         FROM merchant_hosts WHERE merchant_id = $1",
    )
    .bind(merchant)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(admin, storefront)| StoreHosts { admin, storefront }))
}
