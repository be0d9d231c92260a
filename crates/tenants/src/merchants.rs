//! Merchants: one row per (partner, store). Reconnecting the same store for the same partner
//! updates the existing merchant instead of creating a duplicate.

use crate::TenantError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use storelink_core::{MerchantId, PartnerId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MerchantStatus {
    Active,
    CredentialsInvalid,
    Paused,
    Revoked,
}

impl MerchantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MerchantStatus::Active => "active",
            MerchantStatus::CredentialsInvalid => "credentials_invalid",
            MerchantStatus::Paused => "paused",
            MerchantStatus::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "credentials_invalid" => MerchantStatus::CredentialsInvalid,
            "paused" => MerchantStatus::Paused,
            "revoked" => MerchantStatus::Revoked,
            _ => MerchantStatus::Active,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Merchant {
    pub merchant_id: MerchantId,
    pub partner_id: PartnerId,
    pub platform: String,
    pub store_url: String,
    pub status: MerchantStatus,
    pub connected_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

type MerchantRow = (MerchantId, PartnerId, String, String, String, DateTime<Utc>, DateTime<Utc>, DateTime<Utc>);

fn from_row(row: MerchantRow) -> Merchant {
    let (merchant_id, partner_id, platform, store_url, status, connected_at, created_at, updated_at) = row;
    Merchant {
        merchant_id,
        partner_id,
        platform,
        store_url,
        status: MerchantStatus::parse(&status),
        connected_at,
        created_at,
        updated_at,
    }
}

const COLUMNS: &str = "merchant_id, partner_id, platform, store_url, status, connected_at, created_at, updated_at";

/// Creates the merchant, or revives the existing one for this (partner, store) as active.
/// Runs on the caller's connection so the key can be sealed in the same transaction.
pub async fn upsert_connected(
    conn: &mut PgConnection,
    partner_id: PartnerId,
    platform: &str,
    store_url: &str,
) -> Result<MerchantId, TenantError> {
    let id = sqlx::query_scalar::<_, MerchantId>(
        "INSERT INTO merchants (merchant_id, partner_id, platform, store_url) VALUES ($1, $2, $3, $4)
         ON CONFLICT (partner_id, store_url) DO UPDATE
            SET status = 'active', platform = EXCLUDED.platform, connected_at = now(), updated_at = now()
         RETURNING merchant_id",
    )
    .bind(MerchantId::new())
    .bind(partner_id)
    .bind(platform)
    .bind(store_url)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn get(pool: &PgPool, merchant_id: MerchantId) -> Result<Option<Merchant>, TenantError> {
    let row = sqlx::query_as::<_, MerchantRow>(&format!("SELECT {COLUMNS} FROM merchants WHERE merchant_id = $1"))
        .bind(merchant_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(from_row))
}

/// Whether the merchant exists and belongs to `partner` (every partner API request asks).
pub async fn belongs_to(pool: &PgPool, merchant_id: MerchantId, partner_id: PartnerId) -> Result<bool, TenantError> {
    let found =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM merchants WHERE merchant_id = $1 AND partner_id = $2)")
            .bind(merchant_id)
            .bind(partner_id)
            .fetch_one(pool)
            .await?;
    Ok(found)
}

/// The status of each of `merchant_ids` that exists (one primary-key lookup each).
pub async fn statuses(
    pool: &PgPool,
    merchant_ids: &[MerchantId],
) -> Result<Vec<(MerchantId, MerchantStatus)>, TenantError> {
    let rows: Vec<(MerchantId, String)> =
        sqlx::query_as("SELECT merchant_id, status FROM merchants WHERE merchant_id = ANY($1)")
            .bind(merchant_ids)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, status)| (id, MerchantStatus::parse(&status))).collect())
}

pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<Merchant>, TenantError> {
    let rows = sqlx::query_as::<_, MerchantRow>(&format!(
        "SELECT {COLUMNS} FROM merchants ORDER BY created_at DESC, merchant_id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn set_status(pool: &PgPool, merchant_id: MerchantId, status: MerchantStatus) -> Result<(), TenantError> {
    set_status_in(pool, merchant_id, status).await
}

/// `set_status` on any executor, e.g. inside the caller's transaction.
pub async fn set_status_in(
    conn: impl sqlx::PgExecutor<'_>,
    merchant_id: MerchantId,
    status: MerchantStatus,
) -> Result<(), TenantError> {
    let done = sqlx::query("UPDATE merchants SET status = $2, updated_at = now() WHERE merchant_id = $1")
        .bind(merchant_id)
        .bind(status.as_str())
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(TenantError::MerchantNotFound);
    }
    Ok(())
}

/// How `lock_status` holds the merchant's row until the caller's transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLock {
    /// `FOR SHARE`: the status cannot change meanwhile, and other sharers are not blocked.
    Share,
    /// `FOR NO KEY UPDATE`: as a status change does, e.g. a revoke that must see every job enqueued
    /// under `Share` commit or wait for it.
    NoKeyUpdate,
}

/// The merchant's status, its row locked as `lock` says until the transaction on `conn` ends; None
/// for an unknown merchant.
pub async fn lock_status(
    conn: &mut PgConnection,
    merchant_id: MerchantId,
    lock: RowLock,
) -> Result<Option<MerchantStatus>, TenantError> {
    let sql = match lock {
        RowLock::Share => "SELECT status FROM merchants WHERE merchant_id = $1 FOR SHARE",
        RowLock::NoKeyUpdate => "SELECT status FROM merchants WHERE merchant_id = $1 FOR NO KEY UPDATE",
    };
    let status: Option<String> = sqlx::query_scalar(sql).bind(merchant_id).fetch_optional(conn).await?;
    Ok(status.as_deref().map(MerchantStatus::parse))
}
