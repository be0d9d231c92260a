//! The Idempotency-Key state machine of order placement and return creation, on `partner_orders`
//! (a key belongs to one `Scope`). A key row is claimed before the store is called and ends `created` (with the answer to replay), `unknown` (OCC may have
//! created the order: the next claim reconciles it) or deleted (nothing was created). Each claim is a
//! new `attempt`, and an attempt writes its outcome only while the key is still its own.

use actix_web::HttpRequest;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use storelink_core::MerchantId;
use uuid::Uuid;

use crate::ApiError;

/// A key still `pending` after this long belongs to an attempt that stopped: far longer than a live
/// attempt may take (agent login with its retries and Retry-After waits, then the create call, is a
/// few minutes at worst). A retry then reconciles it like an unknown outcome.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The request's `Idempotency-Key` header (1 to 255 characters, trimmed).
pub(crate) fn key_of(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::BadRequest("an Idempotency-Key header (1 to 255 characters) is required".into()))
}

/// The kind of request a key belongs to; the same key may name an order and a return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Order,
    Return,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Order => "order",
            Scope::Return => "return",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Scope::Order => "order",
            Scope::Return => "return request",
        }
    }
}

/// What a request holding an Idempotency-Key is to do.
pub(crate) enum Claim {
    /// The key is new: create the order, as this attempt.
    New(Attempt),
    /// An order was created with this key: answer with it again.
    Replay(Value),
    /// An earlier attempt got no answer from OCC (or was abandoned): look the order up before
    /// creating it, as this attempt.
    Reconcile(Attempt),
}

/// This request's hold on a key; its outcome is written only while the key is still its own.
pub(crate) struct Attempt {
    merchant: MerchantId,
    scope: Scope,
    key: String,
    id: Uuid,
    /// When the key was first claimed: a reconciling return looks for one opened since.
    pub(crate) since: chrono::DateTime<chrono::Utc>,
}

/// Reserve the key for `request` (or take over one whose earlier attempt's outcome is unknown, or
/// that was abandoned). The same key with a different request is 409 `idempotency_key_reused`; a
/// key another attempt holds is 409 `request_in_progress`.
pub(crate) async fn claim(
    pool: &PgPool,
    merchant: MerchantId,
    scope: Scope,
    key: String,
    request: &impl Serialize,
    reference: &str,
) -> Result<Claim, ApiError> {
    let hash = Sha256::digest(serde_json::to_vec(request).unwrap_or_default()).to_vec();
    let attempt = |(id, since)| Attempt { merchant, scope, key: key.clone(), id, since };
    let inserted: Option<(Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "INSERT INTO partner_orders (merchant_id, scope, idempotency_key, request_hash, partner_reference)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (merchant_id, scope, idempotency_key) DO NOTHING RETURNING attempt, created_at",
    )
    .bind(merchant)
    .bind(scope.as_str())
    .bind(&key)
    .bind(&hash)
    .bind(reference)
    .fetch_optional(pool)
    .await?;
    if let Some(id) = inserted {
        return Ok(Claim::New(attempt(id)));
    }
    let (state, stored_hash, response): (String, Vec<u8>, Option<Value>) = sqlx::query_as(
        "SELECT state, request_hash, response FROM partner_orders
         WHERE merchant_id = $1 AND scope = $2 AND idempotency_key = $3",
    )
    .bind(merchant)
    .bind(scope.as_str())
    .bind(&key)
    .fetch_one(pool)
    .await?;
    if stored_hash != hash {
        return Err(ApiError::Conflict {
            code: "idempotency_key_reused",
            detail: format!("this Idempotency-Key was used for a different {}", scope.what()),
        });
    }
    let in_progress = || ApiError::Conflict {
        code: "request_in_progress",
        detail: format!("a {} with this Idempotency-Key is being created; retry in a moment", scope.what()),
    };
    match (state.as_str(), response) {
        ("created", Some(response)) => Ok(Claim::Replay(response)),
        // Only one concurrent retry takes the key over; the others are told it is in progress. A key
        // left `pending` long past any store call (its process stopped mid-create) is taken over too.
        ("unknown" | "pending", _) => take_over(pool, merchant, scope, &key)
            .await?
            .map(|id| Claim::Reconcile(attempt(id)))
            .ok_or_else(in_progress),
        _ => Err(in_progress()),
    }
}

/// A new attempt on an `unknown` or abandoned `pending` key, if this request is the one to get it.
async fn take_over(
    pool: &PgPool,
    merchant: MerchantId,
    scope: Scope,
    key: &str,
) -> Result<Option<(Uuid, chrono::DateTime<chrono::Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE partner_orders SET state = 'pending', attempt = gen_random_uuid(), updated_at = now()
         WHERE merchant_id = $1 AND scope = $2 AND idempotency_key = $3
           AND (state = 'unknown' OR (state = 'pending' AND updated_at < now() - make_interval(secs => $4)))
         RETURNING attempt, created_at",
    )
    .bind(merchant)
    .bind(scope.as_str())
    .bind(key)
    .bind(ABANDONED_AFTER.as_secs_f64())
    .fetch_optional(pool)
    .await
}

impl Attempt {
    /// Writes the attempt's outcome: created (`id` and the answer retries replay), unknown (the store
    /// may have created it: the next claim reconciles before creating) or nothing created (the key is
    /// freed for a corrected or later retry). Answers `result` as it was.
    pub(crate) async fn settle<V: Serialize>(
        self,
        pool: &PgPool,
        result: Result<V, ApiError>,
        id: impl FnOnce(&V) -> &str,
    ) -> Result<V, ApiError> {
        match result {
            Ok(done) => {
                self.complete(pool, id(&done), &done).await?;
                Ok(done)
            }
            Err(e @ (ApiError::OutcomeUnknown { .. } | ApiError::ReturnOutcomeUnknown { .. })) => {
                self.mark_unknown(pool).await?;
                Err(e)
            }
            Err(e) => {
                self.release(pool).await?;
                Err(e)
            }
        }
    }

    /// The order exists: store the answer that retries with this key replay. An attempt whose key
    /// a later retry took over writes nothing (that retry's order is the key's).
    async fn complete(&self, pool: &PgPool, order_id: &str, response: &impl Serialize) -> Result<(), sqlx::Error> {
        let response = serde_json::to_value(response).unwrap_or(Value::Null);
        let recorded = sqlx::query(
            "UPDATE partner_orders SET state = 'created', order_id = $4, response = $5, updated_at = now()
             WHERE merchant_id = $1 AND idempotency_key = $2 AND attempt = $3 AND scope = $6",
        )
        .bind(self.merchant)
        .bind(&self.key)
        .bind(self.id)
        .bind(order_id)
        .bind(&response)
        .bind(self.scope.as_str())
        .execute(pool)
        .await?;
        if recorded.rows_affected() == 0 {
            tracing::warn!(merchant = %self.merchant, id = %order_id, scope = self.scope.as_str(),
                "created by an attempt whose Idempotency-Key a later retry had taken over");
        }
        Ok(())
    }

    /// The order may exist: keep the key as `unknown`, so the next claim reconciles before creating.
    async fn mark_unknown(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE partner_orders SET state = 'unknown', updated_at = now()
             WHERE merchant_id = $1 AND scope = $4 AND idempotency_key = $2 AND attempt = $3 AND state = 'pending'",
        )
        .bind(self.merchant)
        .bind(&self.key)
        .bind(self.id)
        .bind(self.scope.as_str())
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Nothing was created: free the key so a corrected or later retry can go through.
    async fn release(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM partner_orders
             WHERE merchant_id = $1 AND scope = $4 AND idempotency_key = $2 AND attempt = $3 AND state = 'pending'",
        )
        .bind(self.merchant)
        .bind(&self.key)
        .bind(self.id)
        .bind(self.scope.as_str())
        .execute(pool)
        .await?;
        Ok(())
    }
}
