//! What a delivery is checked against: the merchant's status and the slot's signing secrets (and
//! whether the slot waits for its first delivery to confirm a manual setup). Cached
//! per process for `TTL`, so a burst costs one lookup per merchant and slot per interval rather than
//! one per request. A change of a merchant's status (a revoke) is announced by Postgres on
//! `STATUS_CHANNEL` (trigger on `merchants`, migration 20261130001300) when it commits, and every
//! process listening drops that merchant's entries at once. While the listener is not connected an
//! entry still lives at most `TTL`, and every (re)connect empties the cache, since announcements made
//! meanwhile were missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use storelink_core::{MerchantId, Slot, webhook_secret_purpose};
use storelink_tenants::{MerchantStatus, merchants};
use storelink_vault::Vault;

pub(crate) const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;
/// Postgres channel announcing a merchant whose status changed (payload: the merchant id).
pub const STATUS_CHANNEL: &str = "storelink_merchant_status";
/// Wait before connecting the listener again after it failed.
const RECONNECT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) enum Target {
    Unknown,
    Revoked,
    Active(Arc<Active>),
}

/// An active merchant's platform and the slot's sealed signing secrets (empty when none are sealed),
/// which only its connector reads.
pub(crate) struct Active {
    pub platform: String,
    pub secrets: zeroize::Zeroizing<Vec<u8>>,
    /// The slot was entered by hand and waits for its first authenticated delivery.
    pub awaiting_delivery: bool,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(MerchantId, Slot), (Instant, Target)>,
    /// Counts announcements: a lookup that ran across one does not cache what it read.
    epoch: u64,
}

impl Cache {
    fn forget(&mut self, merchant: Option<MerchantId>) {
        self.epoch += 1;
        match merchant {
            Some(merchant) => self.entries.retain(|(m, _), _| *m != merchant),
            None => self.entries.clear(),
        }
    }
}

#[derive(Clone, Default)]
pub struct Lookups {
    cache: Arc<Mutex<Cache>>,
}

impl Lookups {
    /// A cache kept in step with status changes made by any process: a task listens on
    /// `STATUS_CHANNEL` (one connection of `pool`'s server) until the cache is dropped.
    pub fn listening(pool: sqlx::PgPool) -> Self {
        let lookups = Self::default();
        tokio::spawn(listen(pool, Arc::downgrade(&lookups.cache)));
        lookups
    }

    pub(crate) async fn get(
        &self,
        pool: &sqlx::PgPool,
        vault: &Vault,
        merchant: MerchantId,
        slot: Slot,
    ) -> Result<Target, String> {
        let epoch = {
            let cache = self.lock();
            if let Some((at, target)) = cache.entries.get(&(merchant, slot))
                && at.elapsed() < TTL
            {
                return Ok(target.clone());
            }
            cache.epoch
        };
        let target = match merchants::get(pool, merchant).await.map_err(|e| e.to_string())? {
            None => Target::Unknown,
            Some(m) if m.status == MerchantStatus::Revoked => Target::Revoked,
            Some(m) => {
                let purpose = webhook_secret_purpose(slot);
                let (sealed, awaiting) = futures::join!(
                    vault.open(merchant, &purpose),
                    storelink_registrar::awaiting_delivery(pool, merchant, slot)
                );
                let sealed = sealed.map_err(|e| e.to_string())?;
                let awaiting_delivery = awaiting.map_err(|e| e.to_string())?;
                let secrets = zeroize::Zeroizing::new(sealed.map(|bytes| bytes.to_vec()).unwrap_or_default());
                Target::Active(Arc::new(Active { platform: m.platform, secrets, awaiting_delivery }))
            }
        };
        let mut cache = self.lock();
        // A status change announced while this lookup ran may postdate what it read: not kept.
        if cache.epoch == epoch {
            if cache.entries.len() >= MAX_ENTRIES {
                cache.entries.retain(|_, (at, _)| at.elapsed() < TTL);
            }
            cache.entries.insert((merchant, slot), (Instant::now(), target.clone()));
        }
        Ok(target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        lock(&self.cache)
    }
}

fn lock(cache: &Mutex<Cache>) -> std::sync::MutexGuard<'_, Cache> {
    cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drops the entries of each merchant announced on `STATUS_CHANNEL`; reconnects after errors, and
/// stops once the cache is gone.
async fn listen(pool: sqlx::PgPool, cache: Weak<Mutex<Cache>>) {
    loop {
        let listened = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(STATUS_CHANNEL).await?;
            // Announcements made while not listening were missed.
            let Some(shared) = cache.upgrade() else { return Ok(()) };
            lock(&shared).forget(None);
            drop(shared);
            loop {
                // Not `recv`, which reconnects unseen: a new connection is made below, and then the
                // cache emptied, since what was announced in between is lost.
                let Some(notification) = listener.try_recv().await? else {
                    return Err(sqlx::Error::Protocol("the listening connection was lost".into()));
                };
                let Some(shared) = cache.upgrade() else { return Ok(()) };
                lock(&shared).forget(notification.payload().parse::<MerchantId>().ok());
            }
        };
        match listened.await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "merchant status listener reconnecting"),
        }
        if cache.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(RECONNECT).await;
    }
}
