//! What can stop a caller from getting a token, in terms the job runner can act on.

use storelink_connector::{ConnectorError, UnknownPlatform};
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
    #[error("the store: {0}")]
    Platform(#[from] ConnectorError),
    #[error(transparent)]
    UnknownPlatform(#[from] UnknownPlatform),
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
                | TokenError::UnknownPlatform(_)
        )
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            TokenError::Platform(e) => e.is_retryable(),
            TokenError::Database(_) => true,
            _ => false,
        }
    }
}
