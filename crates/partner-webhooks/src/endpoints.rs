//! Endpoint management for the partner API: create, list, update (re-enable), delete, rotate the
//! signing secret, read the delivery log and replay a delivery. Every query names the partner, so
//! another partner's endpoint is simply not found.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use storelink_core::{MerchantId, PartnerId};
use storelink_jobs::{Mode, Queue};
use storelink_netguard::{Policy, UrlError};
use storelink_vault::{MasterKeys, VaultError};
use uuid::Uuid;

use crate::{EVENT_TYPES, KIND, SigningSecret};

/// Associated-data purpose of sealed endpoint secrets.
const SECRET_PURPOSE: &str = "partner-webhook-signing-secret";
const MAX_ENDPOINTS_PER_PARTNER: i64 = 20;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Endpoint {
    pub endpoint_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Why deliveries stopped (failure streak or 410 Gone); cleared when re-enabled.
    pub disabled_reason: Option<String>,
    pub failure_streak: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Fields to change; absent fields are kept. `enabled: true` re-enables a disabled endpoint.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// A delivery and its attempts, for the delivery log.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub delivery_id: i64,
    pub merchant_id: Uuid,
    /// The `webhook-id` the partner saw (the same for every attempt and replay of the event).
    pub message_id: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// `[{attempt, attempted_at, status, error, duration_ms}]`, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub attempt_log: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint URL refused: {0}")]
    Url(#[from] UrlError),
    #[error("unknown event type {0:?}")]
    UnknownEvent(String),
    #[error("subscribe to at least one event type")]
    NoEvents,
    #[error("a partner can have at most {MAX_ENDPOINTS_PER_PARTNER} endpoints")]
    TooMany,
    #[error("not found")]
    NotFound,
    #[error("the endpoint secret cannot be opened: {0}")]
    Vault(#[from] VaultError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<storelink_jobs::JobError> for EndpointError {
    fn from(e: storelink_jobs::JobError) -> Self {
        match e {
            storelink_jobs::JobError::Database(e) => EndpointError::Database(e),
            // Only from reading a job row back, which endpoints never do.
            other @ (storelink_jobs::JobError::UnknownMode { .. } | storelink_jobs::JobError::UnknownState { .. }) => {
                EndpointError::Database(sqlx::Error::Decode(Box::new(other)))
            }
        }
    }
}

const ENDPOINT_COLUMNS: &str =
    "endpoint_id, url, events, description, enabled, disabled_reason, failure_streak, created_at, updated_at";

#[derive(Clone)]
pub struct Endpoints {
    pool: PgPool,
    keys: MasterKeys,
    policy: Policy,
}

impl Endpoints {
    pub fn new(pool: PgPool, keys: MasterKeys, policy: Policy) -> Self {
        Self { pool, keys, policy }
    }

    /// The same endpoints, read from `pool` (a read replica's, for the partner API's read routes).
    pub fn reading_from(&self, pool: &PgPool) -> Self {
        Self { pool: pool.clone(), keys: self.keys.clone(), policy: self.policy }
    }

    /// Register an endpoint; returns it and its signing secret (shown this once).
    pub async fn create(
        &self,
        partner: PartnerId,
        new: NewEndpoint,
    ) -> Result<(Endpoint, SecretString), EndpointError> {
        let url = storelink_netguard::endpoint_url(&new.url, &self.policy)?;
        let events = vet_events(new.events)?;
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM partner_endpoints WHERE partner_id = $1")
            .bind(partner)
            .fetch_one(&mut *tx)
            .await?;
        if count >= MAX_ENDPOINTS_PER_PARTNER {
            return Err(EndpointError::TooMany);
        }
        let endpoint: Endpoint = sqlx::query_as(&format!(
            "INSERT INTO partner_endpoints (endpoint_id, partner_id, url, events, description)
             VALUES ($1, $2, $3, $4, $5) RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(partner)
        .bind(url.as_str())
        .bind(&events)
        .bind(new.description.unwrap_or_default())
        .fetch_one(&mut *tx)
        .await?;
        let secret = self.add_secret(&mut tx, endpoint.endpoint_id).await?;
        tx.commit().await?;
        Ok((endpoint, secret))
    }

    pub async fn list(&self, partner: PartnerId) -> Result<Vec<Endpoint>, EndpointError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM partner_endpoints WHERE partner_id = $1 ORDER BY created_at, endpoint_id"
        ))
        .bind(partner)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn get(&self, partner: PartnerId, id: Uuid) -> Result<Endpoint, EndpointError> {
        sqlx::query_as(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM partner_endpoints WHERE partner_id = $1 AND endpoint_id = $2"
        ))
        .bind(partner)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(EndpointError::NotFound)
    }

    /// Change an endpoint. Re-enabling clears the failure streak and resumes its pending deliveries.
    pub async fn update(&self, partner: PartnerId, id: Uuid, patch: EndpointPatch) -> Result<Endpoint, EndpointError> {
        let url = patch.url.map(|u| storelink_netguard::endpoint_url(&u, &self.policy)).transpose()?;
        let events = patch.events.map(vet_events).transpose()?;
        let endpoint: Endpoint = sqlx::query_as(&format!(
            "UPDATE partner_endpoints SET url = COALESCE($3, url), events = COALESCE($4, events),
                    description = COALESCE($5, description), enabled = COALESCE($6, enabled),
                    disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END,
                    failure_streak = CASE WHEN $6 THEN 0 ELSE failure_streak END, updated_at = now()
             WHERE partner_id = $1 AND endpoint_id = $2 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .bind(partner)
        .bind(id)
        .bind(url.map(|u| u.to_string()))
        .bind(events)
        .bind(patch.description)
        .bind(patch.enabled)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(EndpointError::NotFound)?;
        if patch.enabled == Some(true) {
            self.wake(id).await?;
        }
        Ok(endpoint)
    }

    pub async fn delete(&self, partner: PartnerId, id: Uuid) -> Result<(), EndpointError> {
        let done = sqlx::query("DELETE FROM partner_endpoints WHERE partner_id = $1 AND endpoint_id = $2")
            .bind(partner)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(EndpointError::NotFound);
        }
        Ok(())
    }

    /// A new signing secret. The previous one keeps signing (both signatures are sent) for `overlap`,
    /// so the partner can switch its verifier without missing a delivery.
    pub async fn rotate_secret(
        &self,
        partner: PartnerId,
        id: Uuid,
        overlap: Duration,
    ) -> Result<SecretString, EndpointError> {
        let mut tx = self.pool.begin().await?;
        let owned: Option<Uuid> = sqlx::query_scalar(
            "SELECT endpoint_id FROM partner_endpoints WHERE partner_id = $1 AND endpoint_id = $2 FOR UPDATE",
        )
        .bind(partner)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        owned.ok_or(EndpointError::NotFound)?;
        sqlx::query(
            "UPDATE partner_endpoint_secrets SET expires_at = now() + make_interval(secs => $2)
             WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > now() + make_interval(secs => $2))",
        )
        .bind(id)
        .bind(overlap.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM partner_endpoint_secrets WHERE endpoint_id = $1 AND expires_at <= now()")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let secret = self.add_secret(&mut tx, id).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The endpoint's deliveries, newest first; `before` pages backwards by delivery id.
    pub async fn deliveries(
        &self,
        partner: PartnerId,
        id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>, EndpointError> {
        self.get(partner, id).await?;
        Ok(sqlx::query_as(
            "SELECT d.delivery_id, d.merchant_id, 'evt_' || d.event_id AS message_id, e.type, d.state, d.attempts,
                    CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
                    d.last_status, d.last_error, d.delivered_at, d.created_at,
                    COALESCE((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'attempted_at', a.attempted_at,
                        'status', a.status, 'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.attempt)
                      FROM partner_delivery_attempts a
                      WHERE a.merchant_id = d.merchant_id AND a.delivery_id = d.delivery_id), '[]') AS attempt_log
             FROM partner_deliveries d JOIN partner_events e ON e.merchant_id = d.merchant_id AND e.event_id = d.event_id
             WHERE d.endpoint_id = $1 AND ($2::bigint IS NULL OR d.delivery_id < $2)
             ORDER BY d.delivery_id DESC LIMIT $3",
        )
        .bind(id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Send an event again: a new delivery of the same message (same `webhook-id`) at the end of its
    /// merchant's queue. Returns the new delivery id.
    pub async fn replay(&self, partner: PartnerId, id: Uuid, delivery: i64) -> Result<i64, EndpointError> {
        let row: Option<(MerchantId, i64)> = sqlx::query_as(
            "INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id)
             SELECT d.merchant_id, d.endpoint_id, d.event_id
             FROM partner_deliveries d JOIN partner_endpoints p USING (endpoint_id)
             WHERE p.partner_id = $1 AND d.endpoint_id = $2 AND d.delivery_id = $3
             RETURNING merchant_id, delivery_id",
        )
        .bind(partner)
        .bind(id)
        .bind(delivery)
        .fetch_optional(&self.pool)
        .await
        // The event was deleted by a retention sweep meanwhile: as gone as if it had been before.
        .or_else(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Ok(None),
            _ => Err(e),
        })?;
        let (merchant, new_id) = row.ok_or(EndpointError::NotFound)?;
        Queue::new(self.pool.clone()).enqueue(merchant, KIND, Mode::Incremental).await?;
        Ok(new_id)
    }

    async fn add_secret(&self, conn: &mut PgConnection, endpoint: Uuid) -> Result<SecretString, EndpointError> {
        let secret = SigningSecret::generate();
        let (kek_id, sealed) = self.keys.seal(endpoint, SECRET_PURPOSE, secret.as_bytes())?;
        sqlx::query("INSERT INTO partner_endpoint_secrets (endpoint_id, kek_id, sealed) VALUES ($1, $2, $3)")
            .bind(endpoint)
            .bind(kek_id)
            .bind(sealed)
            .execute(conn)
            .await?;
        Ok(secret.to_whsec())
    }

    /// Queue the deliverer for every merchant with pending deliveries to this endpoint.
    async fn wake(&self, endpoint: Uuid) -> Result<(), EndpointError> {
        let merchants: Vec<MerchantId> = sqlx::query_scalar(
            "SELECT DISTINCT merchant_id FROM partner_deliveries WHERE endpoint_id = $1 AND state = 'pending'",
        )
        .bind(endpoint)
        .fetch_all(&self.pool)
        .await?;
        let queue = Queue::new(self.pool.clone());
        for merchant in merchants {
            queue.enqueue(merchant, KIND, Mode::Incremental).await?;
        }
        Ok(())
    }
}

/// The secrets that sign deliveries to `endpoint` now: the current one and any still in overlap.
pub(crate) async fn signing_secrets(
    pool: &PgPool,
    keys: &MasterKeys,
    endpoint: Uuid,
) -> Result<Vec<SigningSecret>, EndpointError> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT kek_id, sealed FROM partner_endpoint_secrets
         WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY secret_id DESC",
    )
    .bind(endpoint)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|(kek_id, sealed)| Ok(SigningSecret::from_bytes(keys.open(kek_id, endpoint, SECRET_PURPOSE, sealed)?)))
        .collect()
}

fn vet_events(mut events: Vec<String>) -> Result<Vec<String>, EndpointError> {
    if let Some(unknown) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(EndpointError::UnknownEvent(unknown.clone()));
    }
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(EndpointError::NoEvents);
    }
    Ok(events)
}

/// Re-seal up to `limit` endpoint secrets that are not under the active master key (master key
/// rotation). Each batch commits on its own, so an interrupted run resumes where it stopped.
pub async fn rewrap_secrets(pool: &PgPool, keys: &MasterKeys, limit: i64) -> Result<u64, EndpointError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT endpoint_id, secret_id, kek_id, sealed FROM partner_endpoint_secrets WHERE kek_id <> $1
         ORDER BY endpoint_id, secret_id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(keys.active_id())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (endpoint, secret_id, kek_id, sealed) in &rows {
        let plain = keys.open(kek_id, *endpoint, SECRET_PURPOSE, sealed)?;
        let (new_kek, resealed) = keys.seal(*endpoint, SECRET_PURPOSE, &plain)?;
        sqlx::query(
            "UPDATE partner_endpoint_secrets SET kek_id = $3, sealed = $4 WHERE endpoint_id = $1 AND secret_id = $2",
        )
        .bind(endpoint)
        .bind(secret_id)
        .bind(new_kek)
        .bind(resealed)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Endpoint secrets still sealed under master key `kek_id`.
pub async fn secrets_under(pool: &PgPool, kek_id: &str) -> Result<i64, EndpointError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM partner_endpoint_secrets WHERE kek_id = $1")
        .bind(kek_id)
        .fetch_one(pool)
        .await?)
}

/// Open every endpoint secret with `keys` (a check before a master key is retired); the count opened.
pub async fn open_all_secrets(pool: &PgPool, keys: &MasterKeys) -> Result<u64, EndpointError> {
    let endpoints: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT endpoint_id FROM partner_endpoint_secrets").fetch_all(pool).await?;
    let mut opened = 0;
    for endpoint in endpoints {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT kek_id, sealed FROM partner_endpoint_secrets WHERE endpoint_id = $1")
                .bind(endpoint)
                .fetch_all(pool)
                .await?;
        for (kek_id, sealed) in rows {
            keys.open(&kek_id, endpoint, SECRET_PURPOSE, &sealed)?;
            opened += 1;
        }
    }
    Ok(opened)
}
