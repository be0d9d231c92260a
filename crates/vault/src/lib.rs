//! Envelope encryption of tenant secrets (DESIGN.md section 3): master keys (KEK) from configuration,
//! one data key (DEK) per merchant sealed by a KEK, secrets sealed by the DEK. Owns `vault_data_keys`
//! and `vault_secrets`. Must not return plaintext to anyone but the caller that asked, log it, or ever
//! store a secret unsealed; no other crate queries its tables.

mod cipher;
mod error;
mod keys;
mod vault;

pub use error::VaultError;
pub use keys::MasterKeys;
pub use vault::Vault;
