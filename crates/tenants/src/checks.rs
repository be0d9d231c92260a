//! Connection checks recorded at connect time (shipping methods, permission probes).
//! A failed check is a warning: visible to the merchant's partner and ops, never fatal.

use crate::TenantError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use storelink_core::MerchantId;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    /// Stable name, e.g. `shipping_methods` or `permission:orders`.
    pub name: String,
    pub ok: bool,
    /// What is missing, in words a merchant understands (empty when ok).
    pub detail: String,
}

impl CheckResult {
    pub fn ok(name: impl Into<String>) -> Self {
        Self { name: name.into(), ok: true, detail: String::new() }
    }

    pub fn warning(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { name: name.into(), ok: false, detail: detail.into() }
    }

    /// The short code partners receive in the redirect, e.g. `missing_permission:orders`.
    pub fn warning_code(&self) -> String {
        match self.name.strip_prefix("permission:") {
            Some(resource) => format!("missing_permission:{resource}"),
            None if self.name == "shipping_methods" => "no_shipping_methods".to_owned(),
            None => self.name.clone(),
        }
    }
}

/// Replaces the merchant's recorded checks with this run's results.
pub async fn record(pool: &PgPool, merchant_id: MerchantId, results: &[CheckResult]) -> Result<(), TenantError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM merchant_checks WHERE merchant_id = $1").bind(merchant_id).execute(&mut *tx).await?;
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    let oks: Vec<bool> = results.iter().map(|r| r.ok).collect();
    let details: Vec<&str> = results.iter().map(|r| r.detail.as_str()).collect();
    sqlx::query(
        "INSERT INTO merchant_checks (merchant_id, check_name, ok, detail)
         SELECT $1, * FROM UNNEST($2::text[], $3::bool[], $4::text[])",
    )
    .bind(merchant_id)
    .bind(&names)
    .bind(&oks)
    .bind(&details)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn list(pool: &PgPool, merchant_id: MerchantId) -> Result<Vec<(CheckResult, DateTime<Utc>)>, TenantError> {
    let rows = sqlx::query_as::<_, (String, bool, String, DateTime<Utc>)>(
        "SELECT check_name, ok, detail, checked_at FROM merchant_checks
         WHERE merchant_id = $1 ORDER BY check_name",
    )
    .bind(merchant_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(name, ok, detail, at)| (CheckResult { name, ok, detail }, at)).collect())
}
