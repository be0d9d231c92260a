//! The webhook slots Storelink registers for every merchant: Storelink's logical event names. Which of
//! a store's subscriptions carries each is the merchant's connector's business (for OCC, discovered
//! from the store's webhooks). Adding a slot is a line in `TABLE`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    OrderSubmit,
    OrderUpdate,
    ShipmentCreate,
    ShipmentUpdate,
    ReturnRequestUpdate,
}

/// Every slot with its name (the inbound path's `{slot}` and `webhook_slots.slot`).
const TABLE: [(Slot, &str); 5] = [
    (Slot::OrderSubmit, "order-submit"),
    (Slot::OrderUpdate, "order-update"),
    (Slot::ShipmentCreate, "shipment-create"),
    (Slot::ShipmentUpdate, "shipment-update"),
    (Slot::ReturnRequestUpdate, "return-request-update"),
];

impl Slot {
    pub const ALL: [Slot; TABLE.len()] = {
        let mut all = [Slot::OrderSubmit; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    pub fn as_str(self) -> &'static str {
        TABLE.iter().find(|(slot, _)| *slot == self).map_or("", |(_, name)| name)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown webhook slot {0:?}; expected one of order-submit, order-update, shipment-create, shipment-update, return-request-update"
)]
pub struct UnknownSlot(pub String);

impl FromStr for Slot {
    type Err = UnknownSlot;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Slot::ALL.into_iter().find(|slot| slot.as_str() == s).ok_or_else(|| UnknownSlot(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_round_trip() {
        for slot in Slot::ALL {
            assert_eq!(slot.as_str().parse::<Slot>().ok(), Some(slot));
        }
        assert!("orders".parse::<Slot>().is_err());
    }
}
