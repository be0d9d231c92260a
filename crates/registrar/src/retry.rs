//! The background retry of failed slots. Any number of processes may run it: slots are claimed
//! with a lease (SKIP LOCKED), so each due slot is attempted by one of them.

use crate::record;
use crate::register::Registrar;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::time::Duration;
use storelink_core::{MerchantId, OCC_APP_KEY_PURPOSE, Slot};
use storelink_occ::OccError;
use storelink_tenants::{MerchantStatus, merchants};
use tokio_util::sync::CancellationToken;
use url::Url;

/// How long a claimed slot stays hidden from other workers while one works on it.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
const BATCH: i64 = 50;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RetryReport {
    pub attempted: usize,
    pub registered: usize,
}

impl Registrar {
    /// One pass: claims due slots and attempts each, one login per merchant.
    pub async fn retry_due(&self) -> Result<RetryReport, sqlx::Error> {
        let claimed = record::claim_due(&self.pool, BATCH, CLAIM_LEASE).await?;
        let mut by_merchant: BTreeMap<MerchantId, Vec<Slot>> = BTreeMap::new();
        for (merchant, slot) in claimed {
            by_merchant.entry(merchant).or_default().push(slot);
        }
        let mut report = RetryReport::default();
        for (merchant, slots) in by_merchant {
            let (store, token) = match self.session(merchant).await {
                Ok(Some(session)) => session,
                Ok(None) => {
                    for slot in slots {
                        record::park(&self.pool, merchant, slot).await?;
                    }
                    continue;
                }
                Err(e) => {
                    // Login failed (store down, key rejected): count it as a failed attempt of
                    // each slot so the backoff grows instead of hammering the store.
                    for slot in slots {
                        report.attempted += 1;
                        self.record_failure(merchant, slot, &e).await;
                    }
                    continue;
                }
            };
            for slot in slots {
                report.attempted += 1;
                let outcome = self.register_slot(&store, &token, merchant, slot).await;
                if outcome.status == crate::SlotStatus::Registered {
                    report.registered += 1;
                }
            }
        }
        Ok(report)
    }

    /// Runs `retry_due` every `retry_poll` until cancelled.
    pub async fn run_retry_loop(self, shutdown: CancellationToken) {
        loop {
            match self.retry_due().await {
                Ok(report) if report.attempted > 0 => {
                    tracing::info!(attempted = report.attempted, registered = report.registered, "slot retry pass")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "slot retry pass failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.retry_poll) => {}
            }
        }
    }

    /// The store URL and a fresh token for an active merchant. `Ok(None)` parks its slots
    /// (merchant not active, or its key is gone); `Err` is a failed login, retried later.
    async fn session(&self, merchant: MerchantId) -> Result<Option<(Url, SecretString)>, OccError> {
        let m = match merchants::get(&self.pool, merchant).await {
            Ok(Some(m)) if m.status == MerchantStatus::Active => m,
            Ok(_) => return Ok(None),
            Err(e) => {
                tracing::warn!(%merchant, error = %e, "loading merchant for slot retry failed");
                return Ok(None);
            }
        };
        let Ok(store) = Url::parse(&m.store_url) else {
            return Ok(None);
        };
        let key = match self.vault.open_string(merchant, OCC_APP_KEY_PURPOSE).await {
            Ok(Some(key)) => key,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(%merchant, error = %e, "opening the application key failed");
                return Ok(None);
            }
        };
        let token = self.occ.login(&store, &key).await?;
        Ok(Some((store, token.token)))
    }
}
