//! What a delivery is checked against: the merchant's status and the slot's signing secrets. Cached
//! per process for `TTL`, so a burst costs one lookup per merchant and slot per interval rather than
//! one per request. A revocation therefore takes effect here within `TTL`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use storelink_core::{MerchantId, Slot, webhook_secret_purpose};
use storelink_tenants::{MerchantStatus, merchants};
use storelink_vault::Vault;

use crate::verify::Secrets;

pub(crate) const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub(crate) enum Target {
    Unknown,
    Revoked,
    Active(Arc<Secrets>),
}

type Entries = HashMap<(MerchantId, Slot), (Instant, Target)>;

#[derive(Clone, Default)]
pub struct Lookups {
    entries: Arc<Mutex<Entries>>,
}

impl Lookups {
    pub(crate) async fn get(
        &self,
        pool: &sqlx::PgPool,
        vault: &Vault,
        merchant: MerchantId,
        slot: Slot,
    ) -> Result<Target, String> {
        if let Some((at, target)) = self.lock().get(&(merchant, slot))
            && at.elapsed() < TTL
        {
            return Ok(target.clone());
        }
        let target = match merchants::get(pool, merchant).await.map_err(|e| e.to_string())? {
            None => Target::Unknown,
            Some(m) if m.status == MerchantStatus::Revoked => Target::Revoked,
            Some(_) => {
                let sealed = vault.open(merchant, &webhook_secret_purpose(slot)).await.map_err(|e| e.to_string())?;
                let secrets = sealed.map(|bytes| serde_json::from_slice::<Secrets>(&bytes).unwrap_or_default());
                Target::Active(Arc::new(secrets.unwrap_or_default()))
            }
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        entries.insert((merchant, slot), (Instant::now(), target.clone()));
        Ok(target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
