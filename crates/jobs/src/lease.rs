//! The attempt token a running job holds. Every write made for the job checks it inside the writing
//! transaction, so a worker that lost its lease (stalled, partitioned) cannot commit stale work.

use sqlx::PgConnection;
use storelink_core::MerchantId;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub merchant_id: MerchantId,
    pub job_id: i64,
    pub token: Uuid,
}

#[derive(Debug, thiserror::Error)]
#[error("the job's lease was lost (expired, cancelled or taken over by another attempt)")]
pub struct LeaseLost;

impl Lease {
    /// Lock the job row for the caller's transaction and confirm this attempt still owns it.
    /// Call it first in every transaction that writes results for the job.
    pub async fn verify(&self, conn: &mut PgConnection) -> Result<(), LeaseVerifyError> {
        let owned: Option<i64> = sqlx::query_scalar(
            "SELECT job_id FROM jobs WHERE merchant_id = $1 AND job_id = $2 AND lease_token = $3 AND state = 'running'
             FOR UPDATE",
        )
        .bind(self.merchant_id)
        .bind(self.job_id)
        .bind(self.token)
        .fetch_optional(conn)
        .await?;
        owned.map(|_| ()).ok_or(LeaseVerifyError::Lost(LeaseLost))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseVerifyError {
    #[error(transparent)]
    Lost(#[from] LeaseLost),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
