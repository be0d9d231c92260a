//! Channel partners: creation with a one-time client secret (stored only as an argon2 hash),
//! secret verification, and the allow-list of redirect URIs.

use crate::TenantError;
use crate::redirect::validate_redirect_uri;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
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
/// Verification runs on a blocking thread: argon2 is deliberately slow. Callers facing the internet
/// bound how many run at once (the token endpoint: `secret_hash` + `secret_matches` on its own threads).
pub async fn verify_secret(
    pool: &PgPool,
    client_id: &str,
    secret: &SecretString,
) -> Result<Option<PartnerId>, TenantError> {
    let Some((partner_id, hash)) = secret_hash(pool, client_id).await? else {
        return Ok(None);
    };
    let secret = secret.clone();
    let ok = tokio::task::spawn_blocking(move || secret_matches(&hash, &secret)).await.unwrap_or(false);
    Ok(ok.then_some(partner_id))
}

/// The partner and its client secret's argon2 hash, for `secret_matches`.
pub async fn secret_hash(pool: &PgPool, client_id: &str) -> Result<Option<(PartnerId, String)>, TenantError> {
    Ok(sqlx::query_as::<_, (PartnerId, String)>(
        "SELECT partner_id, client_secret_hash FROM partners WHERE client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(pool)
    .await?)
}

/// Whether `secret` matches the argon2 `hash`. Slow (about 19 MiB and tens of milliseconds): call it
/// off the async threads.
pub fn secret_matches(hash: &str, secret: &SecretString) -> bool {
    secret_matches_in(hash, secret, &mut HashMemory::default())
}

/// The working memory of one argon2 run (19 MiB for our hashes), kept by a thread that verifies
/// many secrets: the allocator would otherwise keep a fresh 19 MiB per run and thread.
#[derive(Default)]
pub struct HashMemory(Vec<argon2::Block>);

/// `secret_matches`, computing in `memory` (grown to what the hash's parameters need, then reused).
pub fn secret_matches_in(hash: &str, secret: &SecretString, memory: &mut HashMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm);
    let version = parsed.version.map_or(Ok(argon2::Version::default()), argon2::Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, argon2::Params::try_from(&parsed)) else {
        return false;
    };
    let mut salt_buf = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    if memory.0.len() < params.block_count() {
        memory.0.resize(params.block_count(), argon2::Block::default());
    }
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(secret.expose_secret().as_bytes(), salt, &mut out, &mut memory.0[..blocks])
        .is_ok()
        && argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_in_reused_memory_agrees_with_argon2() {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let hash = Argon2::default().hash_password(b"right secret", &salt).expect("hash").to_string();
        let mut memory = HashMemory::default();
        for _ in 0..2 {
            assert!(secret_matches_in(&hash, &SecretString::from("right secret"), &mut memory));
            assert!(!secret_matches_in(&hash, &SecretString::from("wrong secret"), &mut memory));
        }
        assert!(secret_matches(&hash, &SecretString::from("right secret")));
        for garbage in ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$", "$scrypt$ln=1$c2FsdA$aGFzaA"] {
            assert!(!secret_matches_in(garbage, &SecretString::from("right secret"), &mut memory), "{garbage}");
        }
    }
}
