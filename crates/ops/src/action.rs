//! The ops actions by name: one enum for the audit log's `action` column, the console's routes and
//! forms, and the CLI, so no two places spell an action differently. The names are the audit values
//! written since the audit log exists; existing rows keep their meaning.

use storelink_core::SyncKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpsAction {
    Revoke,
    RotateKey,
    Pause,
    Resume,
    ResyncCatalog,
    ResyncInventory,
    ResyncShipping,
    ResyncOrders,
    RetrySlots,
    SetStoreHosts,
}

impl OpsAction {
    /// Every action, in the order the console offers them.
    pub const ALL: [OpsAction; 10] = [
        OpsAction::Pause,
        OpsAction::Resume,
        OpsAction::RetrySlots,
        OpsAction::ResyncCatalog,
        OpsAction::ResyncInventory,
        OpsAction::ResyncShipping,
        OpsAction::ResyncOrders,
        OpsAction::RotateKey,
        OpsAction::Revoke,
        OpsAction::SetStoreHosts,
    ];

    /// The audit log's `action` value, also the console's route segment.
    pub fn as_str(self) -> &'static str {
        match self {
            OpsAction::Revoke => "revoke",
            OpsAction::RotateKey => "rotate_key",
            OpsAction::Pause => "pause",
            OpsAction::Resume => "resume",
            OpsAction::ResyncCatalog => "resync_catalog",
            OpsAction::ResyncInventory => "resync_inventory",
            OpsAction::ResyncShipping => "resync_shipping",
            OpsAction::ResyncOrders => "resync_orders",
            OpsAction::RetrySlots => "retry_slots",
            OpsAction::SetStoreHosts => "set_store_hosts",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == s)
    }

    /// The full run of one sync kind.
    pub fn resync(kind: SyncKind) -> Self {
        match kind {
            SyncKind::Catalog => OpsAction::ResyncCatalog,
            SyncKind::Inventory => OpsAction::ResyncInventory,
            SyncKind::Shipping => OpsAction::ResyncShipping,
            SyncKind::Orders => OpsAction::ResyncOrders,
        }
    }

    /// The kind a resync action runs.
    pub fn sync_kind(self) -> Option<SyncKind> {
        match self {
            OpsAction::ResyncCatalog => Some(SyncKind::Catalog),
            OpsAction::ResyncInventory => Some(SyncKind::Inventory),
            OpsAction::ResyncShipping => Some(SyncKind::Shipping),
            OpsAction::ResyncOrders => Some(SyncKind::Orders),
            OpsAction::Revoke
            | OpsAction::RotateKey
            | OpsAction::Pause
            | OpsAction::Resume
            | OpsAction::RetrySlots
            | OpsAction::SetStoreHosts => None,
        }
    }

    /// What the console's button says.
    pub fn label(self) -> &'static str {
        match self {
            OpsAction::Revoke => "Revoke",
            OpsAction::RotateKey => "Rotate key",
            OpsAction::Pause => "Pause",
            OpsAction::Resume => "Resume",
            OpsAction::ResyncCatalog => "Resync catalog",
            OpsAction::ResyncInventory => "Resync inventory",
            OpsAction::ResyncShipping => "Resync shipping",
            OpsAction::ResyncOrders => "Resync orders",
            OpsAction::RetrySlots => "Retry webhook slots",
            OpsAction::SetStoreHosts => "Set store hosts",
        }
    }
}

impl std::fmt::Display for OpsAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when a variant is added: it must then be listed in `ALL` too (checked below).
    fn position(action: OpsAction) -> usize {
        match action {
            OpsAction::Pause => 0,
            OpsAction::Resume => 1,
            OpsAction::RetrySlots => 2,
            OpsAction::ResyncCatalog => 3,
            OpsAction::ResyncInventory => 4,
            OpsAction::ResyncShipping => 5,
            OpsAction::ResyncOrders => 6,
            OpsAction::RotateKey => 7,
            OpsAction::Revoke => 8,
            OpsAction::SetStoreHosts => 9,
        }
    }

    #[test]
    fn every_action_is_listed_once_and_round_trips() {
        for (i, action) in OpsAction::ALL.into_iter().enumerate() {
            assert_eq!(position(action), i, "{action:?} is listed out of place or twice");
            assert_eq!(OpsAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_value(action).expect("serialize");
            assert_eq!(json, serde_json::Value::from(action.as_str()), "serde and the audit value agree");
            assert_eq!(serde_json::from_value::<OpsAction>(json).expect("deserialize"), action);
            assert_eq!(action.to_string(), action.as_str());
        }
        for kind in SyncKind::ALL {
            let action = OpsAction::resync(kind);
            assert_eq!(action.sync_kind(), Some(kind));
            assert_eq!(action.as_str(), format!("resync_{}", kind.as_str()), "the audit value since day one");
        }
    }

    #[test]
    fn existing_audit_values_keep_their_meaning() {
        let values = [
            ("revoke", OpsAction::Revoke),
            ("rotate_key", OpsAction::RotateKey),
            ("pause", OpsAction::Pause),
            ("resume", OpsAction::Resume),
            ("resync_catalog", OpsAction::ResyncCatalog),
            ("resync_inventory", OpsAction::ResyncInventory),
            ("resync_shipping", OpsAction::ResyncShipping),
            ("resync_orders", OpsAction::ResyncOrders),
            ("retry_slots", OpsAction::RetrySlots),
            ("set_store_hosts", OpsAction::SetStoreHosts),
        ];
        assert_eq!(values.len(), OpsAction::ALL.len());
        for (value, action) in values {
            assert_eq!(OpsAction::parse(value), Some(action));
        }
        for unknown in ["rotate", "retry-slots", "resync", "Revoke", ""] {
            assert_eq!(OpsAction::parse(unknown), None, "{unknown:?} is no action");
        }
    }
}
