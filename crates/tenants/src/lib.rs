//! The tenant registry: channel partners (with their hashed client secrets and allowed redirect URIs)
//! and the merchants they connect, plus each merchant's connection-check results and store sites.
//! Owns the `partners`, `partner_redirect_uris`, `merchants`, `merchant_checks`, `merchant_events` and `merchant_sites` tables;
//! it must not talk to OCC or hold secrets in clear (the vault seals merchant keys).

pub mod checks;
pub mod error;
pub mod events;
pub mod merchants;
pub mod partners;
pub mod redirect;
pub mod sites;

pub use checks::CheckResult;
pub use error::TenantError;
pub use events::MerchantEvent;
pub use merchants::{Merchant, MerchantStatus, RowLock};
pub use partners::{NewPartner, Partner, PartnerCredentials};
