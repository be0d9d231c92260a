//! The `occ_tokens` rows: timing of the shared token and the per-merchant lock around logins.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use storelink_core::MerchantId;
use storelink_vault::Vault;

use crate::{ACCESS_TOKEN_PURPOSE, TokenError};

/// Seconds until refresh and expiry of the shared token, as the database clock sees them.
pub(crate) struct Timing {
    pub refresh_in: Option<Duration>,
    pub expires_in: Option<Duration>,
}

impl Timing {
    /// Life left, when the shared token is before its refresh time and has more than `min` to live.
    pub fn fresh_for(&self, min: Duration) -> Option<Duration> {
        let expires_in = self.expires_in?;
        (self.refresh_in.is_some() && expires_in > min).then_some(expires_in)
    }
}

pub(crate) fn token_hash(token: &SecretString) -> Vec<u8> {
    Sha256::digest(token.expose_secret().as_bytes()).to_vec()
}

/// Lock the merchant's row (creating it) for this transaction and read its timing.
pub(crate) async fn lock(conn: &mut PgConnection, merchant: MerchantId) -> Result<Timing, TokenError> {
    sqlx::query("INSERT INTO occ_tokens (merchant_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(merchant)
        .execute(&mut *conn)
        .await?;
    let (refresh_in, expires_in): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT CASE WHEN refresh_at > now() THEN EXTRACT(EPOCH FROM refresh_at - now())::float8 END,
                CASE WHEN expires_at > now() THEN EXTRACT(EPOCH FROM expires_at - now())::float8 END
         FROM occ_tokens WHERE merchant_id = $1 FOR UPDATE",
    )
    .bind(merchant)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Timing {
        refresh_in: refresh_in.map(Duration::from_secs_f64),
        expires_in: expires_in.map(Duration::from_secs_f64),
    })
}

pub(crate) async fn save(
    conn: &mut PgConnection,
    merchant: MerchantId,
    hash: &[u8],
    ttl: Duration,
    refresh_in: Duration,
) -> Result<(), TokenError> {
    sqlx::query(
        "UPDATE occ_tokens SET token_hash = $2,
                expires_at = now() + make_interval(secs => $3), refresh_at = now() + make_interval(secs => $4),
                logins = logins + 1, last_login_at = now(), updated_at = now()
         WHERE merchant_id = $1",
    )
    .bind(merchant)
    .bind(hash)
    .bind(ttl.as_secs_f64())
    .bind(refresh_in.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn expire_if_current(pool: &PgPool, merchant: MerchantId, hash: &[u8]) -> Result<(), TokenError> {
    sqlx::query(
        "UPDATE occ_tokens SET expires_at = NULL, refresh_at = NULL, updated_at = now()
         WHERE merchant_id = $1 AND token_hash = $2",
    )
    .bind(merchant)
    .bind(hash)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn forget(pool: &PgPool, vault: &Vault, merchant: MerchantId) -> Result<(), TokenError> {
    forget_timing(pool, merchant).await?;
    vault.delete_secret(merchant, ACCESS_TOKEN_PURPOSE).await?;
    Ok(())
}

/// Deletes the merchant's row: every process then logs in afresh (its cached token is no longer
/// current), once the caller's transaction commits.
pub async fn forget_timing(conn: impl sqlx::PgExecutor<'_>, merchant: MerchantId) -> Result<(), TokenError> {
    sqlx::query("DELETE FROM occ_tokens WHERE merchant_id = $1").bind(merchant).execute(conn).await?;
    Ok(())
}

/// The shared token as ops see it (no secret): when it expires, how many logins it took so far, and
/// when the last one was.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenStatus {
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub logins: i64,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The merchant's `TokenStatus`; None before its first login.
pub async fn status(pool: &PgPool, merchant: MerchantId) -> Result<Option<TokenStatus>, TokenError> {
    let status = sqlx::query_as("SELECT expires_at, logins, last_login_at FROM occ_tokens WHERE merchant_id = $1")
        .bind(merchant)
        .fetch_optional(pool)
        .await?;
    Ok(status)
}
