//! `inbound_events`: deliveries stored verbatim, once per dedupe key, then marked processed.

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use storelink_core::{MerchantId, Slot};

/// The fields of a delivery that name it, read without building the document: a full
/// `serde_json::Value` was the largest cost of ingest. Reading it still checks the whole body is JSON.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    order: Option<&'a RawValue>,
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
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

/// Why a body cannot be a webhook delivery.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadBody {
    NotJson,
    NotAnObject,
}

/// The dedupe key of a delivery, or why the body cannot be one.
///
/// Redeliveries of the same event share a key: slot + order id + lastModifiedTime when the payload
/// has them (OCC sends no event id), else the body's hash. Return request updates always use the
/// hash: the order beside a return does not change when the return does.
pub(crate) fn dedupe_key(slot: Slot, raw: &[u8]) -> Result<String, BadBody> {
    let hashed = || format!("{slot}:sha256:{}", hex::encode(Sha256::digest(raw)));
    // Skipped values are not checked for UTF-8 by the probe, so the whole body is checked here.
    if std::str::from_utf8(raw).is_err() {
        return Err(BadBody::NotJson);
    }
    if !is_object(raw) {
        let valid = serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok();
        return Err(if valid { BadBody::NotAnObject } else { BadBody::NotJson });
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
    // The same rule as `process::return_request`, on the probe.
    let is_return = probe.return_request.is_some() || probe.request_id.is_some();
    // The order is `order` when present (whatever its value), else the payload itself.
    let (id, modified) = match probe.order {
        Some(order) if is_object(order.get().as_bytes()) => match serde_json::from_str::<Probe>(order.get()) {
            Ok(order) => (order.id, order.last_modified),
            Err(_) => (None, None),
        },
        Some(_) => (None, None),
        None => (probe.id, probe.last_modified),
    };
    let id = id.and_then(|id| serde_json::from_str::<std::borrow::Cow<str>>(id.get()).ok());
    match (id, modified) {
        (Some(id), Some(modified)) if modified.get() != "null" && !is_return => {
            Ok(format!("{slot}:{id}:{}", modified.get()))
        }
        _ => Ok(hashed()),
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
            (r#"[1,2"#, Err(BadBody::NotJson)),
            (r#""text""#, Err(BadBody::NotAnObject)),
            (r#"{"id":"o1","id":"o2""#, Err(BadBody::NotJson)),
            (r#"{not json"#, Err(BadBody::NotJson)),
            ("{\"note\":\"\u{fffd}\"}", Ok(hash("{\"note\":\"\u{fffd}\"}"))),
            (r#"{"order":{}} trailing"#, Err(BadBody::NotJson)),
        ];
        for (raw, expected) in cases {
            assert_eq!(dedupe_key(slot, raw.as_bytes()), expected, "{raw}");
        }
        assert_eq!(dedupe_key(slot, b"{\"note\":\"\xff\"}"), Err(BadBody::NotJson), "invalid UTF-8 in a skipped value");
    }
}
