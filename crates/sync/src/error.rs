//! Why a sync slice stopped, and whether trying again later can help.

use storelink_jobs::{JobError, LeaseVerifyError, UnknownMode};
use storelink_token_cache::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("the job's lease was lost")]
    LeaseLost,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("jobs: {0}")]
    Jobs(#[from] JobError),
    /// Reading the merchant's sites failed.
    #[error("sites: {0}")]
    Sites(#[from] storelink_tenants::TenantError),
    #[error("unknown sync kind {0:?}")]
    UnknownKind(String),
    /// The run's recorded mode is one this build does not know: never guessed as full or incremental.
    #[error("sync_state: {0}")]
    UnknownMode(#[from] UnknownMode),
}

impl From<LeaseVerifyError> for SyncError {
    fn from(e: LeaseVerifyError) -> Self {
        match e {
            LeaseVerifyError::Lost(_) => SyncError::LeaseLost,
            LeaseVerifyError::Database(e) => SyncError::Database(e),
        }
    }
}

impl SyncError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Token(e) => e.is_retryable(),
            SyncError::Database(_) | SyncError::Jobs(_) | SyncError::Sites(_) => true,
            SyncError::LeaseLost | SyncError::UnknownKind(_) | SyncError::UnknownMode(_) => false,
        }
    }
}
