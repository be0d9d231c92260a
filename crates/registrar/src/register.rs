//! Registering one merchant's slots on OCC: read every webhook, merge our URL, write it back.
//! Split in two phases so the connect pipeline can read while it is still saving the merchant.

use crate::config::RegistrarConfig;
use crate::record::{self, Attempt, SlotStatus};
use futures::future::join_all;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use storelink_core::{MerchantId, Slot};
use storelink_core::{webhook_secret_key, webhook_secret_purpose};
use storelink_occ::{OccClient, OccError, Webhook};
use storelink_token_cache::TokenError;
use storelink_vault::{Vault, VaultError};
use url::Url;

#[derive(Clone)]
pub struct Registrar {
    pub(crate) pool: PgPool,
    pub(crate) occ: OccClient,
    pub(crate) vault: Vault,
    pub(crate) config: Arc<RegistrarConfig>,
}

/// Phase one's result for one slot: the webhook as OCC holds it now, or why it could not be read.
pub struct SlotRead {
    pub slot: Slot,
    pub webhook: Result<Webhook, OccError>,
}

/// Why a slot was not registered.
pub(crate) enum SlotFailure {
    Occ(OccError),
    Vault(VaultError),
    /// The retry could not get a session for the merchant (after OCC refused a token).
    Session(TokenError),
    /// OCC returned no signing secret of `MIN_WEBHOOK_SECRET_BYTES` or more (e.g. `secretKey: ""`).
    UnusableSecret,
}

/// The slot's recorded error when OCC returned no usable signing secret.
pub const UNUSABLE_SECRET: &str = "the store returned an empty or too short signing secret for this webhook \
    (secretKey / secretKeySHA512), so its deliveries could not be authenticated and the slot was not \
    registered; reset the webhook's secret in OCC, then retry the slot";

#[derive(Clone, Debug, serde::Serialize)]
pub struct SlotOutcome {
    pub slot: Slot,
    pub status: SlotStatus,
    pub error: Option<String>,
}

impl Registrar {
    pub fn new(pool: PgPool, occ: OccClient, vault: Vault, config: RegistrarConfig) -> Self {
        Self { pool, occ, vault, config: Arc::new(config) }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// `{public_url}/webhooks/occ/{merchant_id}/{slot}`.
    pub fn callback_url(&self, merchant: MerchantId, slot: Slot) -> String {
        let base = self.config.public_url.as_str().trim_end_matches('/');
        format!("{base}/webhooks/occ/{merchant}/{slot}")
    }

    /// Records every slot as `pending` in the transaction that saves the merchant (see
    /// `record::mark_pending`), so no crash between the save and the outcomes leaves a slot unknown.
    pub async fn mark_pending(&self, conn: &mut PgConnection, merchant: MerchantId) -> Result<(), sqlx::Error> {
        let slots: Vec<(Slot, &str, String)> = Slot::ALL
            .into_iter()
            .map(|slot| (slot, self.config.slot_map.webhook_id(slot), self.callback_url(merchant, slot)))
            .collect();
        record::mark_pending(conn, merchant, &slots, self.config.pending_stale_after).await
    }

    /// Phase one: read the four webhooks (with their secrets) concurrently.
    pub async fn read_slots(&self, store: &Url, token: &SecretString) -> Vec<SlotRead> {
        join_all(Slot::ALL.into_iter().map(|slot| async move {
            let id = self.config.slot_map.webhook_id(slot);
            SlotRead { slot, webhook: self.occ.get_webhook(store, token, id, true).await }
        }))
        .await
    }

    /// Phase two: merge our URL into each webhook read in phase one, write it, seal the secrets and
    /// record every slot's outcome. A failed slot is recorded for retry; it never fails the others.
    pub async fn write_slots(
        &self,
        store: &Url,
        token: &SecretString,
        merchant: MerchantId,
        reads: Vec<SlotRead>,
    ) -> Vec<SlotOutcome> {
        join_all(reads.into_iter().map(|read| async move {
            let result = match read.webhook {
                Ok(webhook) => self.merge_and_write(store, token, merchant, read.slot, webhook).await,
                Err(e) => Err(SlotFailure::Occ(e)),
            };
            self.record_outcome(merchant, read.slot, result).await
        }))
        .await
    }

    /// Both phases for a merchant, used on reconnect paths and by the retry loop.
    pub async fn register_all(&self, store: &Url, token: &SecretString, merchant: MerchantId) -> Vec<SlotOutcome> {
        if let Err(e) = record::reset_attempts(&self.pool, merchant).await {
            tracing::warn!(%merchant, error = %e, "could not reset slot attempts");
        }
        let reads = self.read_slots(store, token).await;
        self.write_slots(store, token, merchant, reads).await
    }

    /// Registers one slot (read, merge, write); the caller records the outcome.
    pub(crate) async fn try_slot(
        &self,
        store: &Url,
        token: &SecretString,
        merchant: MerchantId,
        slot: Slot,
    ) -> Result<(), SlotFailure> {
        let id = self.config.slot_map.webhook_id(slot);
        let webhook = self.occ.get_webhook(store, token, id, true).await.map_err(SlotFailure::Occ)?;
        self.merge_and_write(store, token, merchant, slot, webhook).await
    }

    /// Merge our URL into the webhook and write it; the secrets read in phase one are sealed at the
    /// same time, so the connect pays one round trip here, not a round trip plus database writes.
    /// A webhook without a usable signing secret is left alone: deliveries signed with an empty key
    /// could come from anyone, and they would all be refused.
    async fn merge_and_write(
        &self,
        store: &Url,
        token: &SecretString,
        merchant: MerchantId,
        slot: Slot,
        webhook: Webhook,
    ) -> Result<(), SlotFailure> {
        let usable = |secret: &Option<SecretString>| {
            secret.as_ref().and_then(|s| webhook_secret_key(s.expose_secret())).is_some()
        };
        if !usable(&webhook.secret_key) && !usable(&webhook.secret_key_sha512) {
            return Err(SlotFailure::UnusableSecret);
        }
        let ours = self.callback_url(merchant, slot);
        let write = async {
            if webhook.urls.iter().any(|u| u == &ours) {
                return Ok(());
            }
            let mut urls = webhook.urls.clone();
            urls.push(ours.clone());
            self.occ.put_webhook_urls(store, token, self.config.slot_map.webhook_id(slot), &urls).await.map(drop)
        };
        let (written, sealed) = futures::join!(write, self.seal_secrets(merchant, slot, &webhook));
        written.map_err(SlotFailure::Occ)?;
        sealed.map_err(SlotFailure::Vault)
    }

    /// Remove our callback URL from every slot's webhook (other receivers are kept). Per slot: Ok when
    /// our URL is gone (or was never there), else why OCC could not be updated.
    pub async fn unregister_all(
        &self,
        store: &Url,
        token: &SecretString,
        merchant: MerchantId,
    ) -> Vec<(Slot, Result<(), OccError>)> {
        join_all(Slot::ALL.into_iter().map(|slot| async move {
            let id = self.config.slot_map.webhook_id(slot);
            let ours = self.callback_url(merchant, slot);
            let result = async {
                let webhook = self.occ.get_webhook(store, token, id, false).await?;
                if !webhook.urls.iter().any(|u| u == &ours) {
                    return Ok(());
                }
                let urls: Vec<String> = webhook.urls.into_iter().filter(|u| u != &ours).collect();
                self.occ.put_webhook_urls(store, token, id, &urls).await.map(drop)
            }
            .await;
            (slot, result)
        }))
        .await
    }

    pub(crate) async fn record_failure(&self, merchant: MerchantId, slot: Slot, error: &OccError) -> SlotOutcome {
        self.store_outcome(merchant, slot, SlotStatus::Failed, Some(error.to_string())).await
    }

    pub(crate) async fn record_outcome(
        &self,
        merchant: MerchantId,
        slot: Slot,
        result: Result<(), SlotFailure>,
    ) -> SlotOutcome {
        let (status, error) = match &result {
            Ok(()) => (SlotStatus::Registered, None),
            Err(SlotFailure::Vault(e)) => (SlotStatus::Failed, Some(format!("storing the webhook secret failed: {e}"))),
            Err(SlotFailure::Session(e)) => (SlotStatus::Failed, Some(format!("no session for the store: {e}"))),
            Err(SlotFailure::UnusableSecret) => (SlotStatus::Failed, Some(UNUSABLE_SECRET.to_owned())),
            Err(SlotFailure::Occ(OccError::NotFound { .. })) => (
                SlotStatus::Unsupported,
                Some("this store has no such webhook; the slot's events are polled instead".to_owned()),
            ),
            Err(SlotFailure::Occ(e)) => (SlotStatus::Failed, Some(e.to_string())),
        };
        self.store_outcome(merchant, slot, status, error).await
    }

    async fn store_outcome(
        &self,
        merchant: MerchantId,
        slot: Slot,
        status: SlotStatus,
        error: Option<String>,
    ) -> SlotOutcome {
        let callback_url = self.callback_url(merchant, slot);
        let attempt = Attempt {
            merchant,
            slot,
            occ_webhook_id: self.config.slot_map.webhook_id(slot),
            callback_url: &callback_url,
            status,
            error: error.clone(),
        };
        if let Err(e) = record::record(&self.pool, &attempt, self.config.retry_base, self.config.retry_cap).await {
            tracing::error!(%merchant, %slot, error = %e, "recording the slot outcome failed");
        }
        match &error {
            Some(e) => {
                tracing::warn!(%merchant, %slot, status = status.as_str(), error = %e, "webhook slot not registered")
            }
            None => tracing::info!(%merchant, %slot, "webhook slot registered"),
        }
        SlotOutcome { slot, status, error }
    }

    async fn seal_secrets(&self, merchant: MerchantId, slot: Slot, webhook: &Webhook) -> Result<(), VaultError> {
        let secrets = serde_json::json!({
            "sha1": webhook.secret_key.as_ref().map(|s| s.expose_secret().to_owned()),
            "sha512": webhook.secret_key_sha512.as_ref().map(|s| s.expose_secret().to_owned()),
        });
        let bytes = zeroize::Zeroizing::new(secrets.to_string().into_bytes());
        self.vault.seal(merchant, &webhook_secret_purpose(slot), &bytes).await
    }
}
