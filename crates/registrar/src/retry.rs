//! The background retry of failed slots. Any number of processes may run it: slots are claimed
//! with a lease (SKIP LOCKED), so each due slot is attempted by one of them. Sessions come from the
//! token cache, so a pass logs in only when no process holds a fresh token for the merchant.

use crate::record;
use crate::register::{Registrar, SlotFailure};
use std::collections::BTreeMap;
use std::time::Duration;
use storelink_connector::ConnectorError;
use storelink_core::{MerchantId, Slot};
use storelink_token_cache::{StoreSession, TokenCache, TokenError};
use tokio_util::sync::CancellationToken;

/// How long a claimed slot stays hidden from other workers while one works on it.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
const BATCH: i64 = 50;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RetryReport {
    pub attempted: usize,
    pub registered: usize,
}

impl Registrar {
    /// One pass: claims due slots and attempts each with the merchant's session from `tokens`.
    pub async fn retry_due(&self, tokens: &TokenCache) -> Result<RetryReport, sqlx::Error> {
        let claimed = record::claim_due(&self.pool, BATCH, CLAIM_LEASE).await?;
        let mut by_merchant: BTreeMap<MerchantId, Vec<Slot>> = BTreeMap::new();
        for (merchant, slot) in claimed {
            by_merchant.entry(merchant).or_default().push(slot);
        }
        let mut report = RetryReport::default();
        for (merchant, slots) in by_merchant {
            let store = match tokens.session(merchant).await {
                Ok(store) => store,
                // Not active (paused, revoked, key refused: the cache marked it credentials_invalid),
                // no key, no usable store URL: parked until the merchant reconnects.
                Err(e) if e.stops_merchant() || matches!(e, TokenError::BadStoreUrl) => {
                    tracing::info!(%merchant, reason = %e, "slot retry parked");
                    for slot in slots {
                        record::park(&self.pool, merchant, slot).await?;
                    }
                    continue;
                }
                // Login failed (store down): count it as a failed attempt of each slot so the
                // backoff grows instead of hammering the store.
                Err(TokenError::Platform(e)) => {
                    let Some(connector) = self.connector_of(merchant).await? else { continue };
                    for slot in slots {
                        report.attempted += 1;
                        self.record_failure(&*connector, merchant, slot, &e).await;
                    }
                    continue;
                }
                // Our own database or vault: the claim expires and the slots are tried again then.
                Err(e) => {
                    tracing::warn!(%merchant, error = %e, "no session for the slot retry");
                    continue;
                }
            };
            for slot in slots {
                report.attempted += 1;
                let outcome = self.retry_slot(tokens, &store, merchant, slot).await;
                if outcome.status == crate::SlotStatus::Registered {
                    report.registered += 1;
                }
            }
        }
        Ok(report)
    }

    /// Runs `retry_due` and `resend_due` every `retry_poll` until cancelled.
    pub async fn run_retry_loop(self, tokens: TokenCache, shutdown: CancellationToken) {
        loop {
            match self.retry_due(&tokens).await {
                Ok(report) if report.attempted > 0 => {
                    tracing::info!(attempted = report.attempted, registered = report.registered, "slot retry pass")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "slot retry pass failed"),
            }
            match self.resend_due(&tokens).await {
                Ok(resent) if resent > 0 => tracing::info!(resent, "failed webhook deliveries resent"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "resend pass failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.retry_poll) => {}
            }
        }
    }

    /// One slot (read, merge, write) through `TokenCache::call`: a token OCC refuses (401) is
    /// dropped from the cache and the slot tried once more with a new one.
    async fn retry_slot(
        &self,
        tokens: &TokenCache,
        store: &StoreSession,
        merchant: MerchantId,
        slot: Slot,
    ) -> crate::SlotOutcome {
        let result = tokens
            .call(merchant, |session| async move {
                match self.try_slot(&session, merchant, slot).await {
                    (_, Err(SlotFailure::Store(ConnectorError::SessionExpired))) => Err(ConnectorError::SessionExpired),
                    other => Ok(other),
                }
            })
            .await;
        let (id, result) = match result {
            Ok(result) => result,
            Err(TokenError::Platform(e)) => (None, Err(SlotFailure::Store(e))),
            Err(e) => (None, Err(SlotFailure::Session(e))),
        };
        let outcome = self.record_outcome(&*store.connector, merchant, slot, id.as_deref(), result).await;
        if outcome.status == crate::SlotStatus::Registered {
            // A repaired slot: what the store failed to deliver meanwhile is asked for now.
            crate::resend::due_now(&self.pool, merchant).await;
        }
        outcome
    }

    /// The merchant's connector, when its platform is served here (else the slots wait, logged).
    async fn connector_of(
        &self,
        merchant: MerchantId,
    ) -> Result<Option<std::sync::Arc<dyn storelink_connector::Connector>>, sqlx::Error> {
        let platform = storelink_tenants::merchants::get(&self.pool, merchant).await.ok().flatten().map(|m| m.platform);
        let connector = platform.as_deref().map(|p| self.connectors.get(p).cloned());
        match connector {
            Some(Ok(connector)) => Ok(Some(connector)),
            other => {
                tracing::warn!(%merchant, platform = ?platform, found = other.is_some(), "no connector for the slot retry");
                Ok(None)
            }
        }
    }
}
