//! `inbound_events`: deliveries stored verbatim, once per dedupe key, then marked processed.

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use storelink_core::{MerchantId, Slot};

/// The fields of a delivery that name it, read in one pass without building the document: a full
/// `serde_json::Value` was the largest cost of ingest. Reading it still checks the whole body is JSON.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    order: Option<OrderField<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present", rename = "lastModifiedTime")]
    last_modified: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present", rename = "returnRequest")]
    return_request: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present", rename = "requestId")]
    request_id: Option<&'a RawValue>,
}

/// A field that is there, even when its value is `null` (plain `Option` would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The `order` field: its `id` and `lastModifiedTime` when it is an object, read in the same pass.
enum OrderField<'a> {
    Object { id: Option<&'a RawValue>, last_modified: Option<&'a RawValue> },
    Other,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for OrderField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrderVisitor)
    }
}

#[derive(serde::Deserialize)]
enum OrderKey {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "lastModifiedTime")]
    LastModified,
    #[serde(other)]
    Other,
}

struct OrderVisitor;

impl<'de> serde::de::Visitor<'de> for OrderVisitor {
    type Value = OrderField<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::{Error, IgnoredAny};
        let (mut id, mut last_modified) = (None, None);
        while let Some(key) = map.next_key::<OrderKey>()? {
            let slot = match key {
                OrderKey::Id => &mut id,
                OrderKey::LastModified => &mut last_modified,
                OrderKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // A repeated field makes the order ambiguous: the delivery is keyed by its hash.
            if slot.replace(map.next_value::<&RawValue>()?).is_some() {
                return Err(A::Error::custom("repeated field in order"));
            }
        }
        Ok(OrderField::Object { id, last_modified })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(OrderField::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(OrderField::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(OrderField::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(OrderField::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(OrderField::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(OrderField::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(OrderField::Other)
    }
}

/// Why a body cannot be a webhook delivery.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadBody {
    NotJson,
    NotAnObject,
    /// The named field, part of the dedupe key, holds a NUL character, which Postgres text cannot
    /// store (it would fail the whole group-commit batch, other merchants' deliveries included).
    NulIn(&'static str),
}

/// Longest dedupe key stored as it is. A longer one (an order id of kilobytes) is stored as the hash
/// of the key, so its redeliveries still share it: a key over the btree limit (about 2.7 KB) would
/// fail the whole group-commit batch on the unique index.
pub(crate) const MAX_KEY: usize = 256;

/// The dedupe key of a delivery, or why the body cannot be one.
///
/// Redeliveries of the same event share a key: the delivery's own id when the platform sends one
/// (`Connector::delivery_id`: SAP's `ce-id`), else slot + order id + lastModifiedTime when the payload
/// has them (OCC sends no event id), else the body's hash. Return request updates always use the
/// hash: the order beside a return does not change when the return does.
pub(crate) fn dedupe_key(slot: Slot, raw: &[u8], delivery_id: Option<&str>) -> Result<String, BadBody> {
    let hashed = || format!("{slot}:sha256:{}", hex::encode(Sha256::digest(raw)));
    // Skipped values are not checked for UTF-8 by the probe, so the whole body is checked here.
    if std::str::from_utf8(raw).is_err() {
        return Err(BadBody::NotJson);
    }
    if !is_object(raw) {
        let valid = serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok();
        return Err(if valid { BadBody::NotAnObject } else { BadBody::NotJson });
    }
    // The probe skips values without decoding their `\u` escapes, so a lone surrogate (which no JSON
    // parser accepts) would pass; the rare body that may hold one is parsed in full.
    if may_hold_surrogate(raw) && serde_json::from_slice::<serde_json::Value>(raw).is_err() {
        return Err(BadBody::NotJson);
    }
    if let Some(id) = delivery_id {
        serde_json::from_slice::<serde::de::IgnoredAny>(raw).map_err(|_| BadBody::NotJson)?;
        if id.contains('\0') {
            return Err(BadBody::NulIn("delivery id"));
        }
        return Ok(bounded(format!("{slot}:event:{id}"), slot));
    }
    let probe: Probe = match serde_json::from_slice(raw) {
        Ok(probe) => probe,
        // An object the probe cannot read (a repeated field): keyed by its hash if it is JSON.
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            serde_json::from_slice::<serde::de::IgnoredAny>(raw).map_err(|_| BadBody::NotJson)?;
            return Ok(hashed());
        }
        Err(_) => return Err(BadBody::NotJson),
    };
    // The OCC connector's rule for a return request (`delivery_records`), on the probe.
    let is_return = probe.return_request.is_some() || probe.request_id.is_some();
    // The order is `order` when present (whatever its value), else the payload itself.
    let from_order = probe.order.is_some();
    let (id, modified) = match probe.order {
        Some(OrderField::Object { id, last_modified }) => (id, last_modified),
        Some(OrderField::Other) => (None, None),
        None => (probe.id, probe.last_modified),
    };
    let id = id.and_then(|id| serde_json::from_str::<std::borrow::Cow<str>>(id.get()).ok());
    match (id, modified) {
        (Some(id), Some(modified)) if modified.get() != "null" && !is_return => {
            // `modified` is raw JSON, which cannot hold a NUL (control characters are escaped).
            if id.contains('\0') {
                return Err(BadBody::NulIn(if from_order { "order.id" } else { "id" }));
            }
            Ok(bounded(format!("{slot}:{id}:{}", modified.get()), slot))
        }
        _ => Ok(hashed()),
    }
}

/// `key` itself when short, else `{slot}:key-sha256:{hex}` (a prefix of its own, so it cannot equal a
/// body hash key; a crafted id could at worst collide with its own merchant's keys).
fn bounded(key: String, slot: Slot) -> String {
    if key.len() <= MAX_KEY {
        key
    } else {
        format!("{slot}:key-sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

pub(crate) struct Pending {
    pub event_id: i64,
    pub slot: String,
    pub body: Vec<u8>,
}

/// The oldest unprocessed deliveries of a merchant, locked for this transaction.
pub(crate) async fn next_batch(
    conn: &mut PgConnection,
    merchant: MerchantId,
    limit: i64,
) -> Result<Vec<Pending>, sqlx::Error> {
    let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT event_id, slot, body FROM inbound_events WHERE merchant_id = $1 AND processed_at IS NULL
         ORDER BY event_id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(merchant)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(event_id, slot, body)| Pending { event_id, slot, body }).collect())
}

pub(crate) async fn mark(
    conn: &mut PgConnection,
    merchant: MerchantId,
    event_id: i64,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE inbound_events SET processed_at = now(), attempts = attempts + 1, last_error = $3
         WHERE merchant_id = $1 AND event_id = $2",
    )
    .bind(merchant)
    .bind(event_id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the body has a `\uD800`-`\uDFFF` escape (half of a surrogate pair).
fn may_hold_surrogate(raw: &[u8]) -> bool {
    memchr::memchr_iter(b'\\', raw).any(|at| match raw.get(at + 1..at + 4) {
        Some([b'u', d, half]) => d.eq_ignore_ascii_case(&b'd') && b"89abcdefABCDEF".contains(half),
        _ => false,
    })
}

/// Retention: deletes deliveries processed more than `older_than` ago (unprocessed ones are kept
/// whatever their age). A redelivery of a deleted event is stored and processed again, which
/// the idempotent upserts of processing absorb.
pub async fn prune(pool: &sqlx::PgPool, older_than: std::time::Duration) -> Result<u64, sqlx::Error> {
    storelink_core::db::delete_in_batches(pool, "inbound_events", PRUNE_CONDITION, older_than).await
}

/// Which deliveries `prune` deletes (`storelink_core::db::delete_in_batches`'s condition), found
/// through `inbound_events_processed_idx`.
pub const PRUNE_CONDITION: &str = "t.processed_at < now() - make_interval(secs => $1)";

/// The safety net's statement ($1 seconds): merchants with deliveries unprocessed for that long, from
/// `inbound_events_pending_idx` (unprocessed deliveries only): O(pending).
pub const WAITING_MERCHANTS_SQL: &str = "SELECT DISTINCT merchant_id FROM inbound_events
     WHERE processed_at IS NULL AND received_at < now() - make_interval(secs => $1)";

/// Merchants with deliveries still unprocessed after `older_than` (from the index of unprocessed
/// deliveries, whatever the number of merchants).
pub(crate) async fn waiting_merchants(
    pool: &sqlx::PgPool,
    older_than: std::time::Duration,
) -> Result<Vec<MerchantId>, sqlx::Error> {
    sqlx::query_scalar(WAITING_MERCHANTS_SQL).bind(older_than.as_secs_f64()).fetch_all(pool).await
}

/// Deletes the merchant's deliveries still unprocessed after `older_than`.
pub(crate) async fn drop_unprocessed(
    conn: &mut PgConnection,
    merchant: MerchantId,
    older_than: std::time::Duration,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM inbound_events WHERE merchant_id = $1 AND processed_at IS NULL
           AND received_at < now() - make_interval(secs => $2)",
    )
    .bind(merchant)
    .bind(older_than.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A purging revoke: deletes every delivery of the merchant, in the caller's transaction.
pub async fn purge_merchant(conn: &mut PgConnection, merchant: MerchantId) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM inbound_events WHERE merchant_id = $1").bind(merchant).execute(conn).await?;
    Ok(done.rows_affected())
}

/// A stored delivery as ops see it (not its body).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RecentDelivery {
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub slot: String,
    pub processed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

/// The merchant's latest `limit` deliveries, newest first.
pub async fn recent(pool: &sqlx::PgPool, merchant: MerchantId, limit: i64) -> Result<Vec<RecentDelivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT received_at, slot, processed_at, last_error FROM inbound_events WHERE merchant_id = $1
         ORDER BY event_id DESC LIMIT $2",
    )
    .bind(merchant)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One hour of a merchant's inbound deliveries: received, and of those how many carry an error.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HourOfDeliveries {
    pub hour: chrono::DateTime<chrono::Utc>,
    pub received: i64,
    pub failed: i64,
}

/// The merchant's deliveries of the last 24 hours in hourly buckets (the ops console's last-day
/// picture); reads only this merchant's rows.
pub async fn last_day(pool: &sqlx::PgPool, merchant: MerchantId) -> Result<Vec<HourOfDeliveries>, sqlx::Error> {
    sqlx::query_as(
        "SELECT date_trunc('hour', received_at) AS hour, count(*) AS received,
                count(*) FILTER (WHERE last_error IS NOT NULL) AS failed
         FROM inbound_events WHERE merchant_id = $1 AND received_at > now() - interval '24 hours'
         GROUP BY 1 ORDER BY 1",
    )
    .bind(merchant)
    .fetch_all(pool)
    .await
}

/// Serde reads a struct from an array too (by position), so the shape is checked first.
fn is_object(raw: &[u8]) -> bool {
    raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keys() {
        let slot = Slot::OrderSubmit;
        let hash = |raw: &str| format!("order-submit:sha256:{}", hex::encode(Sha256::digest(raw.as_bytes())));
        let cases: Vec<(&str, Result<String, BadBody>)> = vec![
            (
                r#"{"order":{"id":"o1","lastModifiedTime":"2026-01-01T00:00:00Z"}}"#,
                Ok("order-submit:o1:\"2026-01-01T00:00:00Z\"".into()),
            ),
            (r#"{"id":"o\u0031","lastModifiedTime":17}"#, Ok("order-submit:o1:17".into())),
            (
                r#"{"order":{"id":"o1","lastModifiedTime":null}}"#,
                Ok(hash(r#"{"order":{"id":"o1","lastModifiedTime":null}}"#)),
            ),
            (
                r#"{"order":null,"id":"o1","lastModifiedTime":1}"#,
                Ok(hash(r#"{"order":null,"id":"o1","lastModifiedTime":1}"#)),
            ),
            (r#"{"order":{"id":7,"lastModifiedTime":1}}"#, Ok(hash(r#"{"order":{"id":7,"lastModifiedTime":1}}"#))),
            (
                r#"{"order":{"id":"o1","lastModifiedTime":1},"returnRequest":null}"#,
                Ok(hash(r#"{"order":{"id":"o1","lastModifiedTime":1},"returnRequest":null}"#)),
            ),
            (
                r#"{"id":"o1","id":"o2","lastModifiedTime":1}"#,
                Ok(hash(r#"{"id":"o1","id":"o2","lastModifiedTime":1}"#)),
            ),
            (r#"[1,2]"#, Err(BadBody::NotAnObject)),
            (r#"{"order":["x","o1",1]}"#, Ok(hash(r#"{"order":["x","o1",1]}"#))),
            (
                r#"{"order":"o1","id":"o1","lastModifiedTime":1}"#,
                Ok(hash(r#"{"order":"o1","id":"o1","lastModifiedTime":1}"#)),
            ),
            (
                r#"{"order":{"id":"o1","id":"o2","lastModifiedTime":1}}"#,
                Ok(hash(r#"{"order":{"id":"o1","id":"o2","lastModifiedTime":1}}"#)),
            ),
            (r#"{"order":{"note":1,"note":2,"id":"o1","lastModifiedTime":1}}"#, Ok("order-submit:o1:1".into())),
            (r#"{"order":{"id":"o1","lastModifiedTime":1,"x":[}}"#, Err(BadBody::NotJson)),
            // `order` is read as a value, so a number no parser can hold is refused there (processing
            // would fail on it anyway); elsewhere it is skipped unread, as before.
            (r#"{"order":1e999}"#, Err(BadBody::NotJson)),
            (
                r#"{"order":{"id":"o1","lastModifiedTime":1,"requestId":1,"requestId":2}}"#,
                Ok("order-submit:o1:1".into()),
            ),
            (r#"[1,2"#, Err(BadBody::NotJson)),
            (r#""text""#, Err(BadBody::NotAnObject)),
            (r#"{"id":"o1","id":"o2""#, Err(BadBody::NotJson)),
            (r#"{not json"#, Err(BadBody::NotJson)),
            ("{\"note\":\"\u{fffd}\"}", Ok(hash("{\"note\":\"\u{fffd}\"}"))),
            (r#"{"order":{}} trailing"#, Err(BadBody::NotJson)),
            (r#"{"note":"\ud800","order":{"id":"o1","lastModifiedTime":1}}"#, Err(BadBody::NotJson)),
            (r#"{"note":"\uDC00x"}"#, Err(BadBody::NotJson)),
            (r#"{"note":"\ud83d\ude00","order":{"id":"o1","lastModifiedTime":1}}"#, Ok("order-submit:o1:1".into())),
        ];
        for (raw, expected) in cases {
            assert_eq!(dedupe_key(slot, raw.as_bytes(), None), expected, "{raw}");
        }
        // A NUL in the id is refused, naming the field it came from; elsewhere it is only stored.
        assert_eq!(
            dedupe_key(slot, br#"{"order":{"id":"o\u0000","lastModifiedTime":1}}"#, None),
            Err(BadBody::NulIn("order.id"))
        );
        assert_eq!(dedupe_key(slot, br#"{"id":"\u0000","lastModifiedTime":1}"#, None), Err(BadBody::NulIn("id")));
        let nul_note = br#"{"note":"\u0000","order":{"id":"o1","lastModifiedTime":1}}"#;
        assert_eq!(dedupe_key(slot, nul_note, None), Ok("order-submit:o1:1".into()));
        let nul_return = br#"{"order":{"id":"\u0000","lastModifiedTime":1},"requestId":"r"}"#;
        assert_eq!(dedupe_key(slot, nul_return, None), Ok(hash(std::str::from_utf8(nul_return).expect("utf8"))));
        // A long key is hashed to a fixed size, the same for every redelivery.
        let long =
            |modified: u32| format!(r#"{{"order":{{"id":"{}","lastModifiedTime":{modified}}}}}"#, "x".repeat(3000));
        let key = dedupe_key(slot, long(1).as_bytes(), None).expect("key");
        assert!(
            key.starts_with("order-submit:key-sha256:") && key.len() == "order-submit:key-sha256:".len() + 64,
            "{key}"
        );
        assert_eq!(dedupe_key(slot, long(1).as_bytes(), None), Ok(key.clone()), "redeliveries share the key");
        assert_ne!(dedupe_key(slot, long(2).as_bytes(), None), Ok(key), "another version has another key");
        let edge = format!(r#"{{"id":"{}","lastModifiedTime":1}}"#, "y".repeat(MAX_KEY - "order-submit::1".len()));
        assert_eq!(dedupe_key(slot, edge.as_bytes(), None).map(|k| k.len()), Ok(MAX_KEY), "a key of MAX_KEY is kept");
        assert_eq!(
            dedupe_key(slot, b"{\"note\":\"\xff\"}", None),
            Err(BadBody::NotJson),
            "invalid UTF-8 in a skipped value"
        );
        // A delivery id keys the delivery whatever its body, once the body is a JSON object.
        let ce = Some("/eu/sap.cx.commerce/i1 9f2c");
        assert_eq!(
            dedupe_key(slot, br#"{"code":"o1"}"#, ce),
            Ok("order-submit:event:/eu/sap.cx.commerce/i1 9f2c".into())
        );
        assert_eq!(dedupe_key(slot, br#"{"code":"o1","x":[}"#, ce), Err(BadBody::NotJson));
        assert_eq!(dedupe_key(slot, br#"[1]"#, ce), Err(BadBody::NotAnObject));
    }
}
