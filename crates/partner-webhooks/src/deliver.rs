//! The `deliver` job of one merchant: for each enabled endpoint with pending deliveries, send them
//! oldest first. A failed attempt holds that endpoint's queue for this merchant until its retry, so
//! events arrive in order. Endpoints are served concurrently; one slow endpoint does not delay another.
//!
//! Retry schedule (after the first attempt; `STORELINK_WEBHOOK_RETRY_SCHEDULE`): 5 s, 5 min, 30 min,
//! 2 h, 5 h, 10 h, 10 h. A delivery that fails them all is marked failed. An endpoint is disabled
//! after `disable_after` consecutive failed attempts (default 8: one whole schedule) or at once when
//! it answers 410 Gone; its pending deliveries wait until the partner re-enables it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_jobs::{Handler, Job, JobContext, Outcome};
use storelink_netguard::Policy;
use storelink_vault::MasterKeys;
use uuid::Uuid;

use crate::endpoints::signing_secrets;
use crate::{EndpointError, signature_header};

#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Wait before the n-th retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// Consecutive failed attempts that disable an endpoint.
    pub disable_after: i32,
    pub timeout: Duration,
    pub policy: Policy,
}

#[derive(Debug, thiserror::Error)]
#[error("retry schedule {0:?}: give durations like 5s, 5m, 2h or 250ms, separated by commas")]
pub struct ScheduleError(String);

impl DeliveryConfig {
    pub fn new(policy: Policy) -> Self {
        let (s, m, h) = (Duration::from_secs(1), Duration::from_secs(60), Duration::from_secs(3600));
        Self {
            retry_schedule: vec![5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h],
            disable_after: 8,
            timeout: Duration::from_secs(15),
            policy,
        }
    }

    /// Parses `5s,5m,30m,2h` (units ms, s, m, h).
    pub fn parse_schedule(spec: &str) -> Result<Vec<Duration>, ScheduleError> {
        spec.split(',')
            .map(str::trim)
            .map(|item| {
                let split = item.find(|c: char| !c.is_ascii_digit()).unwrap_or(item.len());
                let (number, unit) = item.split_at(split);
                let n: u64 = number.parse().map_err(|_| ScheduleError(spec.to_owned()))?;
                match unit {
                    "ms" => Ok(Duration::from_millis(n)),
                    "s" => Ok(Duration::from_secs(n)),
                    "m" => Ok(Duration::from_secs(n * 60)),
                    "h" => Ok(Duration::from_secs(n * 3600)),
                    _ => Err(ScheduleError(spec.to_owned())),
                }
            })
            .collect()
    }
}

#[derive(Clone)]
pub struct DeliverHandler {
    pool: PgPool,
    keys: MasterKeys,
    http: reqwest::Client,
    config: DeliveryConfig,
}

/// How one endpoint's queue ended this slice.
enum StreamEnd {
    Empty,
    /// The head waits for its retry.
    RetryIn(Duration),
    Stopped,
    LeaseLost,
}

#[derive(sqlx::FromRow)]
struct Head {
    delivery_id: i64,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    event_id: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    data: serde_json::Value,
    created_at: DateTime<Utc>,
}

/// What one attempt got back.
struct Answer {
    status: Option<u16>,
    error: Option<String>,
    took: Duration,
}

impl DeliverHandler {
    pub fn new(pool: PgPool, keys: MasterKeys, config: DeliveryConfig) -> Result<Self, reqwest::Error> {
        let http = storelink_netguard::http_client_builder(&config.policy)
            .timeout(config.timeout)
            .user_agent("Storelink-Webhooks/1")
            .build()?;
        Ok(Self { pool, keys, http, config })
    }

    async fn deliver(&self, merchant: MerchantId, ctx: &JobContext) -> Result<Outcome, EndpointError> {
        let endpoints: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT p.endpoint_id, p.url FROM partner_endpoints p
             WHERE p.enabled AND EXISTS (SELECT 1 FROM partner_deliveries d
                 WHERE d.merchant_id = $1 AND d.endpoint_id = p.endpoint_id AND d.state = 'pending')",
        )
        .bind(merchant)
        .fetch_all(&self.pool)
        .await?;
        let ends =
            futures::future::join_all(endpoints.iter().map(|(id, url)| self.drain(merchant, *id, url, ctx))).await;
        let mut retry: Option<Duration> = None;
        let mut more = false;
        for end in ends {
            match end? {
                StreamEnd::Empty => {}
                StreamEnd::RetryIn(wait) => retry = Some(retry.map_or(wait, |r| r.min(wait))),
                StreamEnd::Stopped => more = true,
                StreamEnd::LeaseLost => return Ok(Outcome::LeaseLost),
            }
        }
        Ok(match (more, retry) {
            (true, _) => Outcome::MoreWork,
            (false, Some(wait)) => Outcome::Later(wait),
            (false, None) => Outcome::Done,
        })
    }

    /// Send this endpoint's pending deliveries for the merchant, in order, until one fails.
    async fn drain(
        &self,
        merchant: MerchantId,
        endpoint: Uuid,
        url: &str,
        ctx: &JobContext,
    ) -> Result<StreamEnd, EndpointError> {
        let secrets = signing_secrets(&self.pool, &self.keys, endpoint).await?;
        loop {
            if ctx.should_stop() {
                return Ok(StreamEnd::Stopped);
            }
            let Some(head) = self.head(merchant, endpoint).await? else { return Ok(StreamEnd::Empty) };
            let wait = (head.next_attempt_at - Utc::now()).to_std().unwrap_or_default();
            if !wait.is_zero() {
                return Ok(StreamEnd::RetryIn(wait));
            }
            let message_id = format!("evt_{}", head.event_id);
            let body = serde_json::to_vec(&json!({
                "type": head.event_type,
                "timestamp": head.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "data": head.data,
            }))
            .unwrap_or_default();
            let timestamp = Utc::now().timestamp();
            let signature = signature_header(&secrets, &message_id, timestamp, &body);
            let answer = self.send(url, &message_id, timestamp, &signature, body).await;
            match self.record(merchant, endpoint, &head, &answer, ctx).await? {
                Some(end) => return Ok(end),
                None => continue,
            }
        }
    }

    async fn head(&self, merchant: MerchantId, endpoint: Uuid) -> Result<Option<Head>, sqlx::Error> {
        sqlx::query_as(
            "SELECT d.delivery_id, d.attempts, d.next_attempt_at, e.event_id, e.type, e.data, e.created_at
             FROM partner_deliveries d JOIN partner_events e ON e.merchant_id = d.merchant_id AND e.event_id = d.event_id
             WHERE d.merchant_id = $1 AND d.endpoint_id = $2 AND d.state = 'pending'
             ORDER BY d.delivery_id LIMIT 1",
        )
        .bind(merchant)
        .bind(endpoint)
        .fetch_optional(&self.pool)
        .await
    }

    async fn send(&self, url: &str, message_id: &str, timestamp: i64, signature: &str, body: Vec<u8>) -> Answer {
        let started = Instant::now();
        let result = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let took = started.elapsed();
        match result {
            Ok(response) => Answer { status: Some(response.status().as_u16()), error: None, took },
            Err(e) => Answer { status: None, error: Some(describe(&e)), took },
        }
    }

    /// Record the attempt and its effect in one transaction (checking the lease). `None`: go on to the
    /// next delivery; `Some`: this endpoint's queue stops here for now.
    async fn record(
        &self,
        merchant: MerchantId,
        endpoint: Uuid,
        head: &Head,
        answer: &Answer,
        ctx: &JobContext,
    ) -> Result<Option<StreamEnd>, EndpointError> {
        let mut tx = self.pool.begin().await?;
        if ctx.lease.verify(&mut tx).await.is_err() {
            return Ok(Some(StreamEnd::LeaseLost));
        }
        let attempt = head.attempts + 1;
        let error = answer.error.clone().or_else(|| {
            answer.status.filter(|s| !(200..300).contains(s)).map(|s| format!("the endpoint answered HTTP {s}"))
        });
        sqlx::query(
            "INSERT INTO partner_delivery_attempts (merchant_id, delivery_id, attempt, status, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(merchant)
        .bind(head.delivery_id)
        .bind(attempt)
        .bind(answer.status.map(i32::from))
        .bind(&error)
        .bind(i32::try_from(answer.took.as_millis()).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
        let status = answer.status.map(i32::from);
        let outcome = if error.is_none() { "delivered" } else { "failed" };
        metrics::counter!("storelink_partner_deliveries_total", "outcome" => outcome).increment(1);
        let gone = answer.status == Some(410);
        let end = if error.is_none() {
            update_delivery(&mut tx, merchant, head, "delivered", None, status, None).await?;
            sqlx::query(
                "UPDATE partner_endpoints SET failure_streak = 0 WHERE endpoint_id = $1 AND failure_streak <> 0",
            )
            .bind(endpoint)
            .execute(&mut *tx)
            .await?;
            None
        } else {
            let streak: i32 = sqlx::query_scalar(
                "UPDATE partner_endpoints SET failure_streak = failure_streak + 1 WHERE endpoint_id = $1 RETURNING failure_streak",
            )
            .bind(endpoint)
            .fetch_one(&mut *tx)
            .await?;
            let disable = if gone {
                Some("the endpoint answered 410 Gone".to_owned())
            } else if streak >= self.config.disable_after {
                Some(format!("{streak} consecutive failed deliveries"))
            } else {
                None
            };
            // The wait before the next attempt; none after 410 Gone or once the schedule is used up.
            let retry_in = usize::try_from(head.attempts)
                .ok()
                .and_then(|n| self.config.retry_schedule.get(n))
                .copied()
                .filter(|_| !gone);
            let state = if retry_in.is_some() { "pending" } else { "failed" };
            update_delivery(&mut tx, merchant, head, state, retry_in, status, error.as_deref()).await?;
            if let Some(reason) = &disable {
                tracing::warn!(%endpoint, %reason, "partner webhook endpoint disabled");
                sqlx::query(
                    "UPDATE partner_endpoints SET enabled = false, disabled_reason = $2, updated_at = now() WHERE endpoint_id = $1",
                )
                .bind(endpoint)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                Some(StreamEnd::Empty)
            } else {
                retry_in.map(StreamEnd::RetryIn)
            }
        };
        tx.commit().await?;
        Ok(end)
    }
}

async fn update_delivery(
    conn: &mut sqlx::PgConnection,
    merchant: MerchantId,
    head: &Head,
    state: &str,
    retry_in: Option<Duration>,
    status: Option<i32>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE partner_deliveries SET state = $3, attempts = attempts + 1, last_status = $4, last_error = $5,
                next_attempt_at = now() + make_interval(secs => $6),
                delivered_at = CASE WHEN $3 = 'delivered' THEN now() END, updated_at = now()
         WHERE merchant_id = $1 AND delivery_id = $2",
    )
    .bind(merchant)
    .bind(head.delivery_id)
    .bind(state)
    .bind(status)
    .bind(error)
    .bind(retry_in.unwrap_or_default().as_secs_f64())
    .execute(conn)
    .await?;
    Ok(())
}

/// Deliveries waiting to be sent, across merchants: the `storelink_partner_deliveries_pending` gauge.
/// Held deliveries of disabled endpoints are not a delivery backlog.
pub async fn pending_deliveries(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(PENDING_DELIVERIES_SQL).fetch_one(pool).await
}

/// `pending_deliveries`' statement, from `partner_deliveries_stream_idx` (pending rows only).
pub const PENDING_DELIVERIES_SQL: &str =
    "SELECT count(*) FROM partner_deliveries d JOIN partner_endpoints p USING (endpoint_id)
     WHERE d.state = 'pending' AND p.enabled";

/// A delivery of one of the merchant's events, as ops see it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MerchantDelivery {
    pub event_type: String,
    pub state: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

/// The latest `limit` deliveries of the merchant's events, to any endpoint, newest first.
pub async fn merchant_deliveries(
    pool: &PgPool,
    merchant: MerchantId,
    limit: i64,
) -> Result<Vec<MerchantDelivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.type AS event_type, d.state, d.attempts, d.last_status, d.last_error
         FROM partner_deliveries d JOIN partner_events e ON e.merchant_id = d.merchant_id AND e.event_id = d.event_id
         WHERE d.merchant_id = $1 ORDER BY d.delivery_id DESC LIMIT $2",
    )
    .bind(merchant)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A delivery failure in words for the log (the URL is the partner's own; no secret is in it).
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<storelink_netguard::BlockedAddress>().is_some() {
            return "the endpoint's address is on a private or internal network".into();
        }
        source = err.source();
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        let inner = std::error::Error::source(e).map(ToString::to_string).unwrap_or_else(|| "unknown error".into());
        format!("request failed: {inner}")
    }
}

impl Handler for DeliverHandler {
    async fn run(&self, job: Job, ctx: JobContext) -> Outcome {
        match self.deliver(job.merchant_id, &ctx).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed { error: e.to_string(), retryable: true },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_with_units() {
        let parsed = DeliveryConfig::parse_schedule("250ms, 5s,5m,2h").expect("valid");
        assert_eq!(
            parsed,
            vec![
                Duration::from_millis(250),
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ]
        );
        assert!(DeliveryConfig::parse_schedule("5x").is_err());
        assert!(DeliveryConfig::parse_schedule("").is_err());
    }
}
