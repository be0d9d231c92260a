//! The kinds of data Storelink keeps in sync per merchant; also the job kinds the sync workers run.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// Products and their SKUs (prices, images, attributes).
    Catalog,
    /// Stock per SKU and location.
    Inventory,
    /// Shipping methods.
    Shipping,
    /// Orders (states, items, shipping groups).
    Orders,
}

impl SyncKind {
    pub const ALL: [SyncKind; 4] = [SyncKind::Catalog, SyncKind::Inventory, SyncKind::Shipping, SyncKind::Orders];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Catalog => "catalog",
            SyncKind::Inventory => "inventory",
            SyncKind::Shipping => "shipping",
            SyncKind::Orders => "orders",
        }
    }
}

impl fmt::Display for SyncKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown sync kind {0:?}; expected one of catalog, inventory, shipping, orders")]
pub struct UnknownSyncKind(pub String);

impl FromStr for SyncKind {
    type Err = UnknownSyncKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownSyncKind(s.to_owned()))
    }
}
