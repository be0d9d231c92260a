//! Registering one merchant's slots with its store, through its connector: read every subscription,
//! merge our URL, write it back.
//! Split in two phases so the connect pipeline can read while it is still saving the merchant.

use crate::config::RegistrarConfig;
use crate::record::{self, Attempt, SlotStatus};
use futures::future::join_all;
use secrecy::SecretString;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use storelink_connector::{Connector, ConnectorError, ManualSetup, Registry, Subscription};
use storelink_core::webhook_secret_purpose;
use storelink_core::{MerchantId, Slot};
use storelink_token_cache::{StoreSession, TokenError};
use storelink_vault::{Vault, VaultError};

#[derive(Clone)]
pub struct Registrar {
    pub(crate) pool: PgPool,
    pub(crate) connectors: Registry,
    pub(crate) vault: Vault,
    pub(crate) config: Arc<RegistrarConfig>,
}

/// Phase one's result for one slot: the webhook as OCC holds it now, or why it could not be read.
pub struct SlotRead {
    pub slot: Slot,
    pub subscription: Result<Subscription, ConnectorError>,
}

/// Why a slot was not registered.
pub(crate) enum SlotFailure {
    Store(ConnectorError),
    Vault(VaultError),
    /// The retry could not get a session for the merchant (after OCC refused a token).
    Session(TokenError),
    /// OCC returned no signing secret of `MIN_WEBHOOK_SECRET_BYTES` or more (e.g. `secretKey: ""`).
    UnusableSecret,
    /// The store refused the registration for lack of permission; its secrets are sealed and the
    /// merchant enters these values by hand.
    Manual(ManualSetup),
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
    /// A `Manual` slot's generated secret (label, value), for the connect summary only: never
    /// recorded, logged or serialized.
    #[serde(skip)]
    pub secret: Option<(String, SecretString)>,
}

impl Registrar {
    pub fn new(pool: PgPool, connectors: Registry, vault: Vault, config: RegistrarConfig) -> Self {
        Self { pool, connectors, vault, config: Arc::new(config) }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// `{public_url}/webhooks/{platform}/{merchant_id}/{slot}`.
    pub fn callback_url(&self, platform: &str, merchant: MerchantId, slot: Slot) -> String {
        let base = self.config.public_url.as_str().trim_end_matches('/');
        format!("{base}/webhooks/{platform}/{merchant}/{slot}")
    }

    /// Records every slot as `pending` in the transaction that saves the merchant (see
    /// `record::mark_pending`), so no crash between the save and the outcomes leaves a slot unknown.
    pub async fn mark_pending(
        &self,
        conn: &mut PgConnection,
        connector: &dyn Connector,
        merchant: MerchantId,
    ) -> Result<(), sqlx::Error> {
        let slots: Vec<(Slot, String, String)> = Slot::ALL
            .into_iter()
            .map(|slot| {
                (slot, connector.subscription_id(slot), self.callback_url(connector.platform(), merchant, slot))
            })
            .collect();
        record::mark_pending(conn, merchant, &slots, self.config.pending_stale_after).await
    }

    /// Phase one: discover and read every slot's subscription (with its secrets), in one go where the
    /// platform allows (OCC: one list of the store's webhooks).
    pub async fn read_slots(&self, store: &StoreSession) -> Vec<SlotRead> {
        let read = store.connector.subscriptions(store, true).await;
        read.into_iter().map(|(slot, subscription)| SlotRead { slot, subscription }).collect()
    }

    /// Phase two: merge our URL into each subscription read in phase one, write it, seal the secrets
    /// and record every slot's outcome. A failed slot is recorded for retry; it never fails the others.
    pub async fn write_slots(
        &self,
        store: &StoreSession,
        merchant: MerchantId,
        reads: Vec<SlotRead>,
    ) -> Vec<SlotOutcome> {
        join_all(reads.into_iter().map(|read| async move {
            let id = read.subscription.as_ref().ok().map(|s| s.id.clone()).filter(|id| !id.is_empty());
            let result = match read.subscription {
                Ok(subscription) => self.merge_and_write(store, merchant, read.slot, subscription).await,
                Err(e) => Err(SlotFailure::Store(e)),
            };
            self.record_outcome(&*store.connector, merchant, read.slot, id.as_deref(), result).await
        }))
        .await
    }

    /// Both phases for a merchant, used on reconnect paths and by the retry loop.
    pub async fn register_all(&self, store: &StoreSession, merchant: MerchantId) -> Vec<SlotOutcome> {
        if let Err(e) = record::reset_attempts(&self.pool, merchant).await {
            tracing::warn!(%merchant, error = %e, "could not reset slot attempts");
        }
        let reads = self.read_slots(store).await;
        let (outcomes, _) =
            futures::join!(self.write_slots(store, merchant, reads), self.register_return_validation(store, merchant));
        outcomes
    }

    /// Registers one slot (read, merge, write); the caller records the outcome. Answers the id of the
    /// store's subscription it found, when it found one.
    pub(crate) async fn try_slot(
        &self,
        store: &StoreSession,
        merchant: MerchantId,
        slot: Slot,
    ) -> (Option<String>, Result<(), SlotFailure>) {
        let subscription = match store.connector.read_subscription(store, slot, true).await {
            Ok(subscription) => subscription,
            Err(e) => return (None, Err(SlotFailure::Store(e))),
        };
        let id = Some(subscription.id.clone()).filter(|id| !id.is_empty());
        (id, self.merge_and_write(store, merchant, slot, subscription).await)
    }

    /// Merge our URL into the subscription and write it; the secrets read in phase one are sealed at
    /// the same time, so the connect pays one round trip here, not a round trip plus database writes.
    /// A subscription without a usable signing secret is left alone: deliveries signed with an empty
    /// key could come from anyone, and they would all be refused.
    async fn merge_and_write(
        &self,
        store: &StoreSession,
        merchant: MerchantId,
        slot: Slot,
        mut subscription: Subscription,
    ) -> Result<(), SlotFailure> {
        // A slot whose deliveries could not be authenticated is not registered at all.
        let Some(secrets) = subscription.secrets.take() else { return Err(SlotFailure::UnusableSecret) };
        let secrets = zeroize::Zeroizing::new(secrets);
        let ours = self.callback_url(store.connector.platform(), merchant, slot);
        let write = async {
            if subscription.urls.iter().any(|u| u == &ours) {
                return Ok(());
            }
            let mut urls = subscription.urls.clone();
            urls.push(ours.clone());
            store.connector.write_back(store, slot, &subscription, &urls).await
        };
        let purpose = webhook_secret_purpose(slot);
        let sealed = self.vault.seal(merchant, &purpose, &secrets);
        let (written, sealed) = futures::join!(write, sealed);
        match written {
            // The merchant can point the store at us by hand, with the secrets sealed here.
            Err(ConnectorError::PermissionMissing { what, message }) => {
                match store.connector.manual_setup(&store.session, slot, &ours, &secrets) {
                    Some(manual) => {
                        sealed.map_err(SlotFailure::Vault)?;
                        Err(SlotFailure::Manual(manual))
                    }
                    None => Err(SlotFailure::Store(ConnectorError::PermissionMissing { what, message })),
                }
            }
            written => {
                written.map_err(SlotFailure::Store)?;
                sealed.map_err(SlotFailure::Vault)
            }
        }
    }

    /// Remove our URL from every slot's subscription (revocation). Other receivers and every other
    /// setting stay. A slot the store has no subscription for has nothing to remove.
    pub async fn unregister_all(
        &self,
        store: &StoreSession,
        merchant: MerchantId,
    ) -> Vec<(Slot, Result<(), ConnectorError>)> {
        let read = store.connector.subscriptions(store, false).await;
        join_all(read.into_iter().map(|(slot, subscription)| async move {
            let ours = self.callback_url(store.connector.platform(), merchant, slot);
            let result = async {
                let subscription = match subscription {
                    Ok(subscription) => subscription,
                    Err(ConnectorError::Unsupported(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                if !subscription.urls.iter().any(|u| u == &ours) {
                    return Ok(());
                }
                let urls: Vec<String> = subscription.urls.iter().filter(|u| *u != &ours).cloned().collect();
                store.connector.write_back(store, slot, &subscription, &urls).await
            }
            .await;
            (slot, result)
        }))
        .await
    }

    pub(crate) async fn record_failure(
        &self,
        connector: &dyn Connector,
        merchant: MerchantId,
        slot: Slot,
        error: &ConnectorError,
    ) -> SlotOutcome {
        self.store_outcome(connector, merchant, slot, None, SlotStatus::Failed, Some(error.to_string())).await
    }

    /// Records a slot's outcome; `webhook_id` is the store's subscription the slot was mapped to.
    pub(crate) async fn record_outcome(
        &self,
        connector: &dyn Connector,
        merchant: MerchantId,
        slot: Slot,
        webhook_id: Option<&str>,
        result: Result<(), SlotFailure>,
    ) -> SlotOutcome {
        let secret = match &result {
            Err(SlotFailure::Manual(manual)) => Some(manual.secret.clone()),
            _ => None,
        };
        let (status, error) = match &result {
            Ok(()) => (SlotStatus::Registered, None),
            Err(SlotFailure::Manual(manual)) => (SlotStatus::Manual, Some(manual_detail(manual))),
            Err(SlotFailure::Vault(e)) => (SlotStatus::Failed, Some(format!("storing the webhook secret failed: {e}"))),
            Err(SlotFailure::Session(e)) => (SlotStatus::Failed, Some(format!("no session for the store: {e}"))),
            Err(SlotFailure::UnusableSecret) => (SlotStatus::Failed, Some(UNUSABLE_SECRET.to_owned())),
            // The store has no such webhook: nothing to retry until an operator acts; its events come
            // through the orders sync, and the record says how fresh they are.
            Err(SlotFailure::Store(ConnectorError::NotFound { .. })) => {
                (SlotStatus::Unsupported, Some(self.coverage("this store has no such webhook")))
            }
            Err(SlotFailure::Store(ConnectorError::Unsupported(why))) => {
                (SlotStatus::Unsupported, Some(self.coverage(why)))
            }
            Err(SlotFailure::Store(e)) => (SlotStatus::Failed, Some(e.to_string())),
        };
        let outcome = self.store_outcome(connector, merchant, slot, webhook_id, status, error).await;
        SlotOutcome { secret, ..outcome }
    }

    /// What an unsupported slot's record says: why, and how its events arrive instead.
    fn coverage(&self, why: &str) -> String {
        let freshness = match self.config.orders_sync_every {
            Some(every) => format!(
                "every {}, so they are at most about that old when partners see them",
                crate::config::words(every)
            ),
            None => "only when a sync is run (periodic syncs are off)".to_owned(),
        };
        format!("not registered: {why}. These events reach Storelink through the orders sync instead, {freshness}.")
    }

    async fn store_outcome(
        &self,
        connector: &dyn Connector,
        merchant: MerchantId,
        slot: Slot,
        webhook_id: Option<&str>,
        status: SlotStatus,
        error: Option<String>,
    ) -> SlotOutcome {
        let callback_url = self.callback_url(connector.platform(), merchant, slot);
        let occ_webhook_id = webhook_id.map_or_else(|| connector.subscription_id(slot), str::to_owned);
        let attempt = Attempt {
            merchant,
            slot,
            occ_webhook_id: &occ_webhook_id,
            callback_url: &callback_url,
            status,
            error: error.clone(),
        };
        if let Err(e) = record::record(
            &self.pool,
            &attempt,
            self.config.retry_base,
            self.config.retry_cap,
            self.config.resend_every,
        )
        .await
        {
            tracing::error!(%merchant, %slot, error = %e, "recording the slot outcome failed");
        }
        match &error {
            Some(e) => {
                tracing::warn!(%merchant, %slot, status = status.as_str(), error = %e, "webhook slot not registered")
            }
            None => tracing::info!(%merchant, %slot, "webhook slot registered"),
        }
        SlotOutcome { slot, status, error, secret: None }
    }
}

/// What a `Manual` slot's record says (ops pages and partners see it): the values to enter, never the
/// secret.
fn manual_detail(manual: &ManualSetup) -> String {
    let values: Vec<String> = manual.values.iter().map(|(label, value)| format!("{label}: {value}")).collect();
    format!(
        "the store refused Storelink the right to register this webhook; enter it by hand. {}; {}: the one shown \
         on the connect summary (connect again for a new one). It turns registered with its first authenticated \
         delivery",
        values.join("; "),
        manual.secret.0
    )
}
