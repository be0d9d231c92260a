//! Shared vocabulary of Storelink: tenant ids, webhook slot names, sync kinds, and the database bootstrap
//! (pools, migrations, and the read replicas beside the primary).
//! Owns no tables and no business rules; every other crate may depend on it, it depends on none of them.

pub mod db;
pub mod ids;
pub mod limit;
pub mod replicas;
pub mod slot;
pub mod sync_kind;
pub mod trace;

pub use ids::{MerchantId, PartnerId};
pub use limit::KeyedLimiter;
pub use replicas::{Lsn, ReadPools, ReadSource};
pub use slot::Slot;
pub use sync_kind::SyncKind;

/// Vault purposes under which a webhook slot's signing secrets are sealed
/// (JSON `{"sha1": .., "sha512": ..}`, base64 strings as OCC returns them).
pub const WEBHOOK_SECRET_PURPOSE_PREFIX: &str = "webhook-secret:";

/// The store callback answering return validation calls (OCC's Return Request Validation function
/// webhook): the last segment of its inbound path and, after the prefix, its secrets' vault purpose.
pub const RETURN_VALIDATION_CALLBACK: &str = "return-request-validation";

pub fn webhook_secret_purpose(slot: Slot) -> String {
    format!("{WEBHOOK_SECRET_PURPOSE_PREFIX}{slot}")
}

/// Fewest bytes a webhook signing secret must have (OCC issues 32 and 64). A shorter secret (OCC
/// answering `secretKey: ""`) is no secret: anyone could sign a delivery with it.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// The HMAC key of a webhook secret as OCC returns it (base64), or `None` when it is not base64 or
/// shorter than `MIN_WEBHOOK_SECRET_BYTES`. The one rule for the registrar (which refuses to
/// register such a slot) and inbound verification (which never verifies with one).
pub fn webhook_secret_key(secret_b64: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.decode(secret_b64.trim()).ok()?;
    (key.len() >= MIN_WEBHOOK_SECRET_BYTES).then_some(key)
}
