//! What can stop a caller from getting a token, in terms the job runner can act on.

use storelink_occ::OccError;
use storelink_tenants::{MerchantStatus, TenantError};
use storelink_vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("merchant not found")]
    MerchantNotFound,
    #[error("merchant is {}", .0.as_str())]
    NotActive(MerchantStatus),
    #[error("the store refused the merchant's application key")]
    CredentialsInvalid,
    #[error("no application key is stored for the merchant")]
    NoKey,
    #[error("the merchant's store URL is invalid")]
    BadStoreUrl,
    #[error("OCC: {0}")]
    Occ(#[from] OccError),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("tenants: {0}")]
    Tenant(#[from] TenantError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl TokenError {
    /// Work for this merchant should stop until an operator or the merchant acts.
    pub fn stops_merchant(&self) -> bool {
        matches!(
            self,
            TokenError::CredentialsInvalid
                | TokenError::NotActive(_)
                | TokenError::NoKey
                | TokenError::MerchantNotFound
        )
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            TokenError::Occ(e) => e.is_retryable(),
            TokenError::Database(_) => true,
            _ => false,
        }
    }
}
