//! Shared vocabulary of Storelink: tenant ids, webhook slot names, sync kinds, and the database bootstrap.
//! Owns no tables and no business rules; every other crate may depend on it, it depends on none of them.

pub mod db;
pub mod ids;
pub mod limit;
pub mod slot;
pub mod sync_kind;
pub mod trace;

pub use ids::{MerchantId, PartnerId};
pub use limit::KeyedLimiter;
pub use slot::Slot;
pub use sync_kind::SyncKind;
pub use trace::TraceContext;

/// Vault purpose under which a merchant's OCC application key is sealed.
pub const OCC_APP_KEY_PURPOSE: &str = "occ-app-key";

/// Vault purposes under which a webhook slot's signing secrets are sealed
/// (JSON `{"sha1": .., "sha512": ..}`, base64 strings as OCC returns them).
pub const WEBHOOK_SECRET_PURPOSE_PREFIX: &str = "webhook-secret:";

pub fn webhook_secret_purpose(slot: Slot) -> String {
    format!("{WEBHOOK_SECRET_PURPOSE_PREFIX}{slot}")
}
