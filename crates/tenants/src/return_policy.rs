//! Return policies: what a partner (and optionally one merchant of it) allows to be returned, the
//! return window in days and the SKU or product ids never returnable. Owns `return_policies`; read
//! by the inbound Return Request Validation answer, set through the partner API.

use sqlx::PgPool;
use storelink_core::{MerchantId, PartnerId};

use crate::TenantError;

/// The window a merchant gets when neither its partner nor the merchant set a policy.
pub const DEFAULT_WINDOW_DAYS: i32 = 30;

/// Largest window accepted (ten years), as the table's check says.
pub const MAX_WINDOW_DAYS: i32 = 3650;

/// Most non-returnable ids one policy holds.
pub const MAX_NONRETURNABLE: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnPolicy {
    pub window_days: i32,
    /// SKU or product ids that are never returnable.
    pub nonreturnable: Vec<String>,
    /// Where it came from: `merchant`, `partner` or `default`.
    pub source: &'static str,
}

impl ReturnPolicy {
    pub fn default_policy() -> Self {
        Self { window_days: DEFAULT_WINDOW_DAYS, nonreturnable: Vec::new(), source: "default" }
    }

    /// Whether an item (by SKU or product id) is on the non-returnable list.
    pub fn excludes(&self, sku_id: Option<&str>, product_id: Option<&str>) -> bool {
        self.nonreturnable.iter().any(|id| Some(id.as_str()) == sku_id || Some(id.as_str()) == product_id)
    }
}

/// The policy set for `merchant` itself (`Some`) or for the partner as a whole (`None`), if any.
pub async fn get(
    pool: &PgPool,
    partner: PartnerId,
    merchant: Option<MerchantId>,
) -> Result<Option<ReturnPolicy>, TenantError> {
    let row: Option<(i32, Vec<String>)> = sqlx::query_as(
        "SELECT window_days, nonreturnable FROM return_policies
         WHERE partner_id = $1 AND merchant_id IS NOT DISTINCT FROM $2",
    )
    .bind(partner)
    .bind(merchant)
    .fetch_optional(pool)
    .await?;
    let source = if merchant.is_some() { "merchant" } else { "partner" };
    Ok(row.map(|(window_days, nonreturnable)| ReturnPolicy { window_days, nonreturnable, source }))
}

/// Sets (replaces) the partner's or the merchant's policy.
pub async fn set(
    pool: &PgPool,
    partner: PartnerId,
    merchant: Option<MerchantId>,
    window_days: i32,
    nonreturnable: &[String],
) -> Result<(), TenantError> {
    sqlx::query(
        "INSERT INTO return_policies (partner_id, merchant_id, window_days, nonreturnable)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (partner_id, merchant_id)
         DO UPDATE SET window_days = excluded.window_days, nonreturnable = excluded.nonreturnable, updated_at = now()",
    )
    .bind(partner)
    .bind(merchant)
    .bind(window_days)
    .bind(nonreturnable)
    .execute(pool)
    .await?;
    Ok(())
}

/// The policy in force for a merchant: its own, else its partner's, else the default. One indexed
/// statement, so the synchronous validation answer stays fast.
pub async fn effective(pool: &PgPool, merchant: MerchantId) -> Result<ReturnPolicy, TenantError> {
    let row: Option<(i32, Vec<String>, bool)> = sqlx::query_as(
        "SELECT p.window_days, p.nonreturnable, p.merchant_id IS NOT NULL
         FROM merchants m JOIN return_policies p
           ON p.partner_id = m.partner_id AND (p.merchant_id = m.merchant_id OR p.merchant_id IS NULL)
         WHERE m.merchant_id = $1
         ORDER BY p.merchant_id IS NULL
         LIMIT 1",
    )
    .bind(merchant)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((window_days, nonreturnable, own)) => {
            ReturnPolicy { window_days, nonreturnable, source: if own { "merchant" } else { "partner" } }
        }
        None => ReturnPolicy::default_policy(),
    })
}
