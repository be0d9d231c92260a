//! Store callbacks that take a single URL (OCC's function webhooks; today the return validation
//! call): point them at Storelink unless another integration's URL is set, seal their signing
//! secrets, and record the outcome in `store_callbacks` (`registered`, `in_use` "in use by another
//! integration", `unsupported`, `failed`). Never overwrites another integration's URL.

use sqlx::PgPool;
use storelink_connector::{CallbackOutcome, ConnectorError};
use storelink_core::{MerchantId, RETURN_VALIDATION_CALLBACK, WEBHOOK_SECRET_PURPOSE_PREFIX};
use storelink_token_cache::StoreSession;

use crate::Registrar;

/// What a merchant sees for a callback left alone.
pub const IN_USE: &str = "in use by another integration";

/// One callback's recorded outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackRecord {
    pub name: String,
    pub status: String,
    pub detail: String,
}

impl Registrar {
    /// `{public_url}/webhooks/{platform}/{merchant_id}/return-request-validation`.
    pub fn return_validation_url(&self, platform: &str, merchant: MerchantId) -> String {
        let base = self.config.public_url.as_str().trim_end_matches('/');
        format!("{base}/webhooks/{platform}/{merchant}/{RETURN_VALIDATION_CALLBACK}")
    }

    /// Registers the return validation callback and records the outcome (errors are recorded and
    /// logged, never raised: a connect does not fail for it).
    pub async fn register_return_validation(&self, store: &StoreSession, merchant: MerchantId) -> CallbackRecord {
        let url = self.return_validation_url(store.connector.platform(), merchant);
        let outcome = store.connector.register_callback(store, RETURN_VALIDATION_CALLBACK, &url).await;
        let (status, detail) = match outcome {
            Ok(CallbackOutcome::Registered { secrets }) => {
                let secrets = zeroize::Zeroizing::new(secrets);
                let purpose = format!("{WEBHOOK_SECRET_PURPOSE_PREFIX}{RETURN_VALIDATION_CALLBACK}");
                match self.vault.seal(merchant, &purpose, &secrets).await {
                    Ok(()) => ("registered", String::new()),
                    Err(e) => ("failed", format!("could not seal the signing secret: {e}")),
                }
            }
            Ok(CallbackOutcome::InUse) => ("in_use", IN_USE.to_owned()),
            Err(ConnectorError::Unsupported(_)) => ("unsupported", String::new()),
            Err(e) => ("failed", e.to_string()),
        };
        if status == "failed" {
            tracing::warn!(%merchant, %detail, "return validation callback not registered");
        }
        if let Err(e) = record(&self.pool, merchant, &url, status, &detail).await {
            tracing::warn!(%merchant, error = %e, "could not record the return validation callback");
        }
        CallbackRecord { name: RETURN_VALIDATION_CALLBACK.to_owned(), status: status.to_owned(), detail }
    }
}

async fn record(pool: &PgPool, merchant: MerchantId, url: &str, status: &str, detail: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO store_callbacks (merchant_id, name, callback_url, status, detail) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (merchant_id, name) DO UPDATE
         SET callback_url = excluded.callback_url, status = excluded.status, detail = excluded.detail, updated_at = now()",
    )
    .bind(merchant)
    .bind(RETURN_VALIDATION_CALLBACK)
    .bind(url)
    .bind(status)
    .bind(detail)
    .execute(pool)
    .await?;
    Ok(())
}

/// The merchant's recorded callbacks.
pub async fn list(pool: &PgPool, merchant: MerchantId) -> Result<Vec<CallbackRecord>, sqlx::Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, status, detail FROM store_callbacks WHERE merchant_id = $1 ORDER BY name")
            .bind(merchant)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(name, status, detail)| CallbackRecord { name, status, detail }).collect())
}
