//! Channel partners: creation with a one-time client secret (stored only as an argon2 hash),
//! secret verification, and the allow-list of redirect URIs.

use crate::TenantError;
use crate::redirect::validate_redirect_uri;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use storelink_core::PartnerId;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Partner {
    pub partner_id: PartnerId,
    pub name: String,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewPartner<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
}

/// Returned once at creation; the secret is never stored or shown again.
pub struct PartnerCredentials {
    pub partner_id: PartnerId,
    pub client_id: String,
    pub client_secret: SecretString,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn hash_secret(secret: &str) -> Result<String, TenantError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| TenantError::Hash)
}

pub async fn create(pool: &PgPool, new: NewPartner<'_>) -> Result<PartnerCredentials, TenantError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(TenantError::InvalidName("must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(TenantError::InvalidName("must be at most 200 characters"));
    }
    if new.redirect_uris.is_empty() {
        return Err(TenantError::InvalidRedirectUri {
            uri: String::new(),
            reason: "at least one redirect URI is required",
        });
    }
    for uri in new.redirect_uris {
        validate_redirect_uri(uri)?;
    }
    let partner_id = PartnerId::new();
    let client_id = format!("slp_{}", random_token(12));
    let client_secret = format!("sls_{}", random_token(32));
    let hash = hash_secret(&client_secret)?;

    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO partners (partner_id, name, client_id, client_secret_hash) VALUES ($1, $2, $3, $4)")
        .bind(partner_id)
        .bind(name)
        .bind(&client_id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    for uri in new.redirect_uris {
        sqlx::query(
            "INSERT INTO partner_redirect_uris (partner_id, redirect_uri) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(partner_id)
        .bind(uri)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(PartnerCredentials { partner_id, client_id, client_secret: client_secret.into() })
}

pub async fn get(pool: &PgPool, partner_id: PartnerId) -> Result<Option<Partner>, TenantError> {
    let row = sqlx::query_as::<_, (PartnerId, String, String, DateTime<Utc>)>(
        "SELECT partner_id, name, client_id, created_at FROM partners WHERE partner_id = $1",
    )
    .bind(partner_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(partner_id, name, client_id, created_at)| Partner { partner_id, name, client_id, created_at }))
}

pub async fn find_by_name(pool: &PgPool, name: &str) -> Result<Option<Partner>, TenantError> {
    let id = sqlx::query_scalar::<_, PartnerId>(
        "SELECT partner_id FROM partners WHERE name = $1 ORDER BY created_at LIMIT 1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    match id {
        Some(id) => get(pool, id).await,
        None => Ok(None),
    }
}

/// Checks a partner's client credentials; `None` when the client id is unknown or the secret wrong.
/// Verification runs on a blocking thread: argon2 is deliberately slow.
pub async fn verify_secret(
    pool: &PgPool,
    client_id: &str,
    secret: &SecretString,
) -> Result<Option<PartnerId>, TenantError> {
    let row = sqlx::query_as::<_, (PartnerId, String)>(
        "SELECT partner_id, client_secret_hash FROM partners WHERE client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(pool)
    .await?;
    let Some((partner_id, hash)) = row else {
        return Ok(None);
    };
    let secret = secret.expose_secret().to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(ok.then_some(partner_id))
}

pub async fn redirect_uris(pool: &PgPool, partner_id: PartnerId) -> Result<Vec<String>, TenantError> {
    Ok(sqlx::query_scalar("SELECT redirect_uri FROM partner_redirect_uris WHERE partner_id = $1 ORDER BY redirect_uri")
        .bind(partner_id)
        .fetch_all(pool)
        .await?)
}

/// Exact match against the partner's registered list: no prefix or pattern matching, so an
/// attacker cannot bounce merchants (and their merchant ids) to a look-alike URL.
pub async fn redirect_allowed(pool: &PgPool, partner_id: PartnerId, redirect_uri: &str) -> Result<bool, TenantError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM partner_redirect_uris WHERE partner_id = $1 AND redirect_uri = $2)",
    )
    .bind(partner_id)
    .bind(redirect_uri)
    .fetch_one(pool)
    .await?)
}
