//! The tenant registry: channel partners (with their hashed client secrets and allowed redirect URIs)
//! and the merchants they connect, plus each merchant's connection-check results, store hosts and sites.
//! Owns the `partners`, `partner_redirect_uris`, `merchants`, `merchant_checks`, `merchant_events`, `merchant_hosts`, `merchant_sites`, `return_policies`, `merchant_health` and `merchant_status_counts` tables (the health rows are written by triggers);
//! it must not talk to OCC or hold secrets in clear (the vault seals merchant keys).

pub mod checks;
pub mod error;
pub mod events;
pub mod health;
pub mod hosts;
pub mod merchants;
pub mod partners;
pub mod redirect;
pub mod return_policy;
pub mod sites;

pub use checks::CheckResult;
pub use error::TenantError;
pub use events::MerchantEvent;
pub use merchants::{Merchant, MerchantStatus, RowLock};
pub use partners::{NewPartner, Partner, PartnerCredentials};
pub use return_policy::ReturnPolicy;
