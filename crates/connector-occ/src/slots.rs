//! Which OCC webhook id each Storelink slot maps to (configured per deployment).

use std::collections::HashMap;

use storelink_core::Slot;

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
}
