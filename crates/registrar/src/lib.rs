//! The webhook registrar: puts Storelink's callback URL on the merchant's store subscriptions
//! through the merchant's `Connector` (for OCC, the webhooks discovery maps the slots to; read,
//! merge, write: other receivers on the same webhook are kept), records each slot's outcome,
//! seals the webhook signing secrets in the vault, and retries failed slots in the background.
//! Single-URL store callbacks (OCC function webhooks) are registered only where no other integration's
//! URL is set (`callbacks`). Owns the `webhook_slots`, `webhook_resends` and `store_callbacks` tables. It must never overwrite or remove another integration's URLs,
//! and never rotate a webhook's shared secret. Where the store refuses Storelink the right to register
//! and the platform has a manual path (`Connector::manual_setup`), the slot is recorded `manual` with
//! the values the merchant enters; its first authenticated delivery registers it (`confirm_delivery`).
//!
//! It never logs in to a store itself. The calls made for a caller (connect, ops) take that caller's
//! store and token; the background retry takes its sessions from `storelink_token_cache`
//! (`retry_due(&tokens)`), which caches, shares one login across processes and marks a refused key
//! `credentials_invalid`. The token cache sits below the registrar (it depends on core, the connector
//! trait, vault and tenants only), so the dependency adds no cycle.
//!
//! It also asks stores to resend what they failed to deliver to Storelink (`resend`): periodically,
//! and as soon as a broken slot is repaired.

mod callbacks;
mod config;
mod record;
mod register;
mod resend;
mod retry;

pub use callbacks::{CallbackRecord, IN_USE, list as list_callbacks};
pub use config::RegistrarConfig;
pub use record::{
    CLAIM_DUE_SQL, SlotRecord, SlotStatus, awaiting_delivery, confirm_delivery, list as list_slots,
    list_for as list_slots_for,
};
pub use register::{Registrar, SlotOutcome, SlotRead, UNUSABLE_SECRET};
pub use resend::CLAIM_SQL as RESEND_CLAIM_SQL;
pub use retry::RetryReport;
pub use storelink_core::{WEBHOOK_SECRET_PURPOSE_PREFIX, webhook_secret_purpose};
