//! Errors callers can act on. Database constraint violations become domain errors, not 500s.

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("invalid partner name: {0}")]
    InvalidName(&'static str),
    #[error("invalid redirect URI {uri:?}: {reason}")]
    InvalidRedirectUri { uri: String, reason: &'static str },
    #[error("partner not found")]
    PartnerNotFound,
    #[error("merchant not found")]
    MerchantNotFound,
    #[error("hashing the client secret failed")]
    Hash,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
