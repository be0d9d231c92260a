//! Which OCC webhook id each Storelink slot maps to, and how failed slots are retried.

use std::collections::HashMap;
use std::time::Duration;
use storelink_core::Slot;
use url::Url;

/// Slot -> OCC webhook id. Identity by default (what the simulator serves); a real store is
/// configured per deployment, e.g. `order-submit=production-submitOrder`.
#[derive(Clone, Debug)]
pub struct SlotMap(HashMap<Slot, String>);

#[derive(Debug, thiserror::Error)]
pub enum SlotMapError {
    #[error("webhook id mapping entry {0:?} is not of the form slot=webhookId")]
    BadEntry(String),
    #[error(transparent)]
    UnknownSlot(#[from] storelink_core::slot::UnknownSlot),
}

impl SlotMap {
    pub fn identity() -> Self {
        Self(Slot::ALL.into_iter().map(|s| (s, s.as_str().to_owned())).collect())
    }

    /// Parses `slot=id,slot=id`; slots not named keep the identity mapping.
    pub fn parse(spec: &str) -> Result<Self, SlotMapError> {
        let mut map = Self::identity();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (slot, id) = entry
                .split_once('=')
                .filter(|(_, id)| !id.trim().is_empty())
                .ok_or_else(|| SlotMapError::BadEntry(entry.to_owned()))?;
            map.0.insert(slot.trim().parse()?, id.trim().to_owned());
        }
        Ok(map)
    }

    pub fn webhook_id(&self, slot: Slot) -> &str {
        self.0.get(&slot).map(String::as_str).unwrap_or(slot.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// Public base URL OCC calls back on (`STORELINK_PUBLIC_URL`).
    pub public_url: Url,
    pub slot_map: SlotMap,
    /// Backoff after the n-th failure: base * 2^(n-1), capped, with jitter.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How often the background loop looks for due slots.
    pub retry_poll: Duration,
    /// A slot still `pending` this long after its merchant was saved was never recorded (the process
    /// stopped mid-connect, or recording failed): the retry loop then registers it.
    pub pending_stale_after: Duration,
}

impl RegistrarConfig {
    pub fn new(public_url: Url) -> Self {
        Self {
            public_url,
            slot_map: SlotMap::identity(),
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
            retry_poll: Duration::from_secs(5),
            pending_stale_after: Duration::from_secs(120),
        }
    }

    /// Delay before the next attempt after `attempts` failures, with ±20% jitter so slots that
    /// failed together do not retry in lockstep.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = attempts.clamp(1, 20) as u32 - 1;
        let raw = self.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(self.retry_cap);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        raw.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_map_parses_overrides_and_rejects_garbage() {
        let map = SlotMap::parse("order-submit=production-submitOrder, shipment-update = x").expect("valid");
        assert_eq!(map.webhook_id(Slot::OrderSubmit), "production-submitOrder");
        assert_eq!(map.webhook_id(Slot::ShipmentUpdate), "x");
        assert_eq!(map.webhook_id(Slot::OrderUpdate), "order-update");
        assert!(SlotMap::parse("order-submit").is_err());
        assert!(SlotMap::parse("order-submit=").is_err());
        assert!(SlotMap::parse("orders=x").is_err());
        assert!(SlotMap::parse("").is_ok());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut cfg = RegistrarConfig::new(Url::parse("http://127.0.0.1:8080").expect("url"));
        cfg.retry_base = Duration::from_secs(10);
        cfg.retry_cap = Duration::from_secs(60);
        let first = cfg.backoff(1);
        assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
        let third = cfg.backoff(3);
        assert!(third >= Duration::from_secs(32) && third <= Duration::from_secs(48));
        assert!(cfg.backoff(30) <= Duration::from_secs(72));
    }
}
