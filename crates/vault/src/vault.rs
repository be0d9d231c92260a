//! Sealing and opening merchant secrets in Postgres, data-key management, crypto-shredding and
//! online rewrapping of data keys under the active master key.

use secrecy::SecretString;
use sqlx::{PgConnection, PgPool};
use storelink_core::MerchantId;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::cipher;
use crate::keys::KeyBytes;
use crate::{MasterKeys, VaultError};

#[derive(Clone, Debug)]
pub struct Vault {
    pool: PgPool,
    keys: MasterKeys,
}

type DekRow = (Uuid, String, Vec<u8>);

impl Vault {
    pub fn new(pool: PgPool, keys: MasterKeys) -> Self {
        Self { pool, keys }
    }

    pub fn keys(&self) -> &MasterKeys {
        &self.keys
    }

    /// Seal `plaintext` for (merchant, purpose), replacing any previous secret of that purpose.
    pub async fn seal(&self, merchant: MerchantId, purpose: &str, plaintext: &[u8]) -> Result<(), VaultError> {
        let mut tx = self.pool.begin().await?;
        self.seal_with(&mut tx, merchant, purpose, plaintext).await?;
        tx.commit().await?;
        Ok(())
    }

    /// As `seal`, inside the caller's transaction.
    pub async fn seal_with(
        &self,
        conn: &mut PgConnection,
        merchant: MerchantId,
        purpose: &str,
        plaintext: &[u8],
    ) -> Result<(), VaultError> {
        if purpose.is_empty() || purpose.len() > 100 {
            return Err(VaultError::Malformed("purpose must be 1-100 bytes"));
        }
        let (dek_id, dek) = self.data_key_for_write(conn, merchant).await?;
        let blob = cipher::seal_secret(&dek, merchant.0, dek_id, purpose, plaintext)?;
        sqlx::query(
            "INSERT INTO vault_secrets (merchant_id, purpose, ciphertext) VALUES ($1, $2, $3)
             ON CONFLICT (merchant_id, purpose) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()",
        )
        .bind(merchant)
        .bind(purpose)
        .bind(blob)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The secret, or None when there is none for (merchant, purpose).
    pub async fn open(&self, merchant: MerchantId, purpose: &str) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        let row: Option<(Vec<u8>, Uuid, String, Vec<u8>)> = sqlx::query_as(
            "SELECT s.ciphertext, k.dek_id, k.kek_id, k.sealed_dek
             FROM vault_secrets s JOIN vault_data_keys k USING (merchant_id)
             WHERE s.merchant_id = $1 AND s.purpose = $2",
        )
        .bind(merchant)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?;
        let Some((blob, dek_id, kek_id, sealed)) = row else { return Ok(None) };
        let dek = self.open_data_key(merchant, (dek_id, kek_id, sealed))?;
        cipher::open_secret(&dek, merchant.0, dek_id, purpose, &blob).map(Some)
    }

    /// A UTF-8 secret (keys, tokens) as a `SecretString`.
    pub async fn open_string(&self, merchant: MerchantId, purpose: &str) -> Result<Option<SecretString>, VaultError> {
        match self.open(merchant, purpose).await? {
            None => Ok(None),
            Some(bytes) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::Malformed("secret is not UTF-8"))?;
                Ok(Some(SecretString::from(text.to_owned())))
            }
        }
    }

    pub async fn delete_secret(&self, merchant: MerchantId, purpose: &str) -> Result<bool, VaultError> {
        let done = sqlx::query("DELETE FROM vault_secrets WHERE merchant_id = $1 AND purpose = $2")
            .bind(merchant)
            .bind(purpose)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Crypto-shred: delete the merchant's data key and with it every secret it sealed.
    pub async fn shred(&self, merchant: MerchantId) -> Result<bool, VaultError> {
        let mut conn = self.pool.acquire().await?;
        self.shred_with(&mut conn, merchant).await
    }

    pub async fn shred_with(&self, conn: &mut PgConnection, merchant: MerchantId) -> Result<bool, VaultError> {
        let done =
            sqlx::query("DELETE FROM vault_data_keys WHERE merchant_id = $1").bind(merchant).execute(conn).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Re-seal up to `limit` data keys that are not under the active master key. Returns how many.
    /// Safe to run from several processes and to interrupt: each batch commits on its own.
    pub async fn rewrap_batch(&self, limit: i64) -> Result<u64, VaultError> {
        let (active_id, active) = self.keys.active();
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(MerchantId, Uuid, String, Vec<u8>)> = sqlx::query_as(
            "SELECT merchant_id, dek_id, kek_id, sealed_dek FROM vault_data_keys WHERE kek_id <> $1
             ORDER BY merchant_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(active_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for (merchant, dek_id, kek_id, sealed) in &rows {
            let dek = self.open_data_key(*merchant, (*dek_id, kek_id.clone(), sealed.clone()))?;
            let resealed = cipher::seal_dek(active, active_id, merchant.0, *dek_id, &dek)?;
            sqlx::query(
                "UPDATE vault_data_keys SET kek_id = $2, sealed_dek = $3, rewrapped_at = now() WHERE merchant_id = $1",
            )
            .bind(merchant)
            .bind(active_id)
            .bind(resealed)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    pub async fn count_needing_rewrap(&self) -> Result<i64, VaultError> {
        let n = sqlx::query_scalar("SELECT count(*) FROM vault_data_keys WHERE kek_id <> $1")
            .bind(self.keys.active_id())
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Data keys still sealed under master key `kek_id` (must be 0 before that key is removed).
    pub async fn count_under(&self, kek_id: &str) -> Result<i64, VaultError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM vault_data_keys WHERE kek_id = $1")
            .bind(kek_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// The merchant's data key, created (under the active master key) on first use. Race-safe.
    async fn data_key_for_write(
        &self,
        conn: &mut PgConnection,
        merchant: MerchantId,
    ) -> Result<(Uuid, KeyBytes), VaultError> {
        if let Some(row) = fetch_dek(conn, merchant).await? {
            let dek_id = row.0;
            return Ok((dek_id, self.open_data_key(merchant, row)?));
        }
        let (active_id, active) = self.keys.active();
        let dek_id = Uuid::new_v4();
        let dek = cipher::new_dek();
        let sealed = cipher::seal_dek(active, active_id, merchant.0, dek_id, &dek)?;
        sqlx::query(
            "INSERT INTO vault_data_keys (merchant_id, dek_id, kek_id, sealed_dek) VALUES ($1, $2, $3, $4)
             ON CONFLICT (merchant_id) DO NOTHING",
        )
        .bind(merchant)
        .bind(dek_id)
        .bind(active_id)
        .bind(sealed)
        .execute(&mut *conn)
        .await?;
        // Another transaction may have won the race: use whatever key is stored now.
        let row = fetch_dek(conn, merchant).await?.ok_or(VaultError::Malformed("data key vanished"))?;
        let dek_id = row.0;
        Ok((dek_id, self.open_data_key(merchant, row)?))
    }

    fn open_data_key(&self, merchant: MerchantId, (dek_id, kek_id, sealed): DekRow) -> Result<KeyBytes, VaultError> {
        let kek = self.keys.get(&kek_id).ok_or_else(|| VaultError::UnknownKek { kek_id: kek_id.clone() })?;
        cipher::open_dek(kek, &kek_id, merchant.0, dek_id, &sealed)
    }
}

async fn fetch_dek(conn: &mut PgConnection, merchant: MerchantId) -> Result<Option<DekRow>, VaultError> {
    Ok(sqlx::query_as("SELECT dek_id, kek_id, sealed_dek FROM vault_data_keys WHERE merchant_id = $1")
        .bind(merchant)
        .fetch_optional(conn)
        .await?)
}
