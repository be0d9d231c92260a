//! Shared vocabulary of Storelink: tenant ids, webhook slot names, sync kinds, and the database bootstrap.
//! Owns no tables and no business rules; every other crate may depend on it, it depends on none of them.

pub mod db;
pub mod ids;
pub mod slot;
pub mod sync_kind;

pub use ids::{MerchantId, PartnerId};
pub use slot::Slot;
pub use sync_kind::SyncKind;

/// Vault purpose under which a merchant's OCC application key is sealed.
pub const OCC_APP_KEY_PURPOSE: &str = "occ-app-key";
