//! The four OCC webhook slots Storelink registers for every merchant.
//! These are Storelink's logical names; the OCC webhook id each maps to is configured per deployment.

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
}

impl Slot {
    pub const ALL: [Slot; 4] = [Slot::OrderSubmit, Slot::OrderUpdate, Slot::ShipmentCreate, Slot::ShipmentUpdate];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::OrderSubmit => "order-submit",
            Slot::OrderUpdate => "order-update",
            Slot::ShipmentCreate => "shipment-create",
            Slot::ShipmentUpdate => "shipment-update",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown webhook slot {0:?}; expected one of order-submit, order-update, shipment-create, shipment-update")]
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
