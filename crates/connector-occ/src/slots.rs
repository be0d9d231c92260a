//! Which OCC webhook carries each Storelink slot: a documented table of OCC's event webhook names
//! (docs/occ.md "Webhook slots: discovery"), matched against what the store lists
//! (`GET /ccadmin/v1/webhooks?serverType=production`), with `STORELINK_WEBHOOK_IDS` as an override.

use std::collections::HashMap;

use storelink_core::Slot;

/// Webhooks are read from and written to the live store, never the preview (`publishing`) one.
pub const SERVER_TYPE: &str = "production";

/// Where one slot's events come from on an OCC store.
pub struct Route {
    pub slot: Slot,
    /// OCC webhook names carrying the slot's events, most preferred first: the non-PCI variant
    /// ("without payment details", so no card data reaches Storelink) before the full one.
    pub names: &'static [&'static str],
    /// Why OCC has no webhook for the slot, when it has none (the orders sync covers it).
    pub none: &'static str,
}

/// Slot -> OCC webhook names. Adding a slot is a line here (and one in `storelink_core::slot`).
pub const ROUTES: &[Route] = &[
    Route { slot: Slot::OrderSubmit, names: &["submitOrderForNonPCITargets", "submitOrder"], none: "" },
    Route {
        slot: Slot::ReturnRequestUpdate,
        names: &["returnRequestUpdateForNonPCITargets", "returnRequestUpdate"],
        none: "",
    },
    Route { slot: Slot::OrderUpdate, names: &[], none: "OCC has no order update webhook" },
    Route { slot: Slot::ShipmentCreate, names: &[], none: "OCC has no shipment webhook" },
    Route { slot: Slot::ShipmentUpdate, names: &[], none: "OCC has no shipment webhook" },
];

/// What a store offers for a slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// This webhook id.
    Webhook(String),
    /// Nothing; why.
    None(&'static str),
}

/// Slot -> webhook id overrides (`STORELINK_WEBHOOK_IDS`, `slot=id,...`); slots not named are
/// discovered from the store.
#[derive(Clone, Debug, Default)]
pub struct SlotMap(HashMap<Slot, String>);

#[derive(Debug, thiserror::Error)]
pub enum SlotMapError {
    #[error("webhook id mapping entry {0:?} is not of the form slot=webhookId")]
    BadEntry(String),
    #[error(transparent)]
    UnknownSlot(#[from] storelink_core::slot::UnknownSlot),
}

impl SlotMap {
    /// Every slot mapped to its own name: the simulator's Violet ids (`SimOptions::violet_webhook_ids`).
    pub fn identity() -> Self {
        Self(Slot::ALL.into_iter().map(|s| (s, s.as_str().to_owned())).collect())
    }

    /// Parses `slot=id,slot=id`.
    pub fn parse(spec: &str) -> Result<Self, SlotMapError> {
        let mut map = Self::default();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (slot, id) = entry
                .split_once('=')
                .filter(|(_, id)| !id.trim().is_empty())
                .ok_or_else(|| SlotMapError::BadEntry(entry.to_owned()))?;
            map.0.insert(slot.trim().parse()?, id.trim().to_owned());
        }
        Ok(map)
    }

    /// The configured id for `slot`, if any.
    pub fn overridden(&self, slot: Slot) -> Option<&str> {
        self.0.get(&slot).map(String::as_str)
    }

    /// The id recorded for a slot before discovery ran: the override, else the table's full webhook
    /// (`production-submitOrder`), else the slot's own name.
    pub fn webhook_id(&self, slot: Slot) -> String {
        if let Some(id) = self.overridden(slot) {
            return id.to_owned();
        }
        route(slot)
            .and_then(|r| r.names.last())
            .map_or_else(|| slot.as_str().to_owned(), |name| format!("{SERVER_TYPE}-{name}"))
    }

    /// Picks the webhook for `slot` among the store's production webhooks, given as (id, name).
    pub fn pick(&self, slot: Slot, listed: &[(String, String)]) -> Found {
        if let Some(id) = self.overridden(slot) {
            return Found::Webhook(id.to_owned());
        }
        let Some(route) = route(slot) else { return Found::None("Storelink has no OCC webhook for this slot") };
        let named = |wanted: &str| listed.iter().find(|(_, name)| name == wanted).map(|(id, _)| id.clone());
        match route.names.iter().find_map(|name| named(name)) {
            Some(id) => Found::Webhook(id),
            None if route.names.is_empty() => Found::None(route.none),
            None => Found::None("this store lists none of the webhooks for this slot"),
        }
    }
}

fn route(slot: Slot) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.slot == slot)
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
        assert_eq!(SlotMap::default().webhook_id(Slot::ReturnRequestUpdate), "production-returnRequestUpdate");
        assert!(SlotMap::parse("order-submit").is_err());
        assert!(SlotMap::parse("order-submit=").is_err());
        assert!(SlotMap::parse("orders=x").is_err());
        assert!(SlotMap::parse("").is_ok());
    }

    #[test]
    fn every_slot_has_a_route() {
        for slot in Slot::ALL {
            assert!(route(slot).is_some(), "{slot} needs a line in ROUTES");
        }
    }

    #[test]
    fn discovery_prefers_the_non_pci_variant_and_says_why_when_none() {
        let full = ("production-submitOrder".to_owned(), "submitOrder".to_owned());
        let non_pci = ("production-submitOrderForNonPCITargets".to_owned(), "submitOrderForNonPCITargets".to_owned());
        let map = SlotMap::default();
        let both = [full.clone(), non_pci.clone()];
        assert_eq!(map.pick(Slot::OrderSubmit, &both), Found::Webhook(non_pci.0.clone()));
        assert_eq!(map.pick(Slot::OrderSubmit, std::slice::from_ref(&full)), Found::Webhook(full.0.clone()));
        assert!(matches!(map.pick(Slot::ReturnRequestUpdate, &both), Found::None(_)));
        assert_eq!(map.pick(Slot::OrderUpdate, &both), Found::None("OCC has no order update webhook"));
        let forced = SlotMap::parse("order-update=production-publishEvent").expect("map");
        assert_eq!(forced.pick(Slot::OrderUpdate, &both), Found::Webhook("production-publishEvent".into()));
    }
}
