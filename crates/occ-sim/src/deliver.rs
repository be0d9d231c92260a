//! Delivering events to a webhook's URLs as OCC does: signed (base64 HMAC-SHA1 and HMAC-SHA512 of the
//! raw body, keyed by the base64-decoded secrets), tried `webhook_attempts` times per URL, and kept
//! as a failed webhook message for the URLs that never answered 2xx; a resend goes to those only.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};

use crate::state::{FailedMessage, State};

/// What each URL answered last: a status, or why the request failed.
pub type Results = Vec<(String, Result<u16, String>)>;

/// Sends `body` to every URL registered on webhook `id` now; the URLs that failed every attempt are
/// recorded as one failed message. An unknown webhook delivers nothing.
pub(crate) async fn deliver(state: &Arc<State>, id: &str, body: &[u8]) -> Results {
    let Some(urls) = state.lock().webhook(id).map(|w| {
        w.doc["urls"]
            .as_array()
            .map(|u| u.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect::<Vec<_>>())
            .unwrap_or_default()
    }) else {
        return Vec::new();
    };
    let results = send(state, id, body, &urls).await;
    let failed: Vec<String> = results.iter().filter(|(_, r)| !ok(r)).map(|(u, _)| u.clone()).collect();
    if let Some(last_error) = results.iter().find(|(_, r)| !ok(r)).map(|(_, r)| describe(r)) {
        let mut inner = state.lock();
        let id_n = inner.next_failed;
        inner.next_failed += 1;
        let saved = inner.tick();
        inner.failed.push(FailedMessage {
            id: format!("fm{id_n}"),
            webhook_id: id.to_owned(),
            body: body.to_vec(),
            remaining: failed,
            last_error,
            saved,
        });
    }
    results
}

/// Resends failed message `message` to the URLs that failed (and only those); the message is gone once
/// every one of them answered 2xx, else it keeps the URLs that still fail. `None`: no such message.
pub(crate) async fn resend(state: &Arc<State>, message: &str) -> Option<Results> {
    let found = state.lock().failed.iter().find(|m| m.id == message).cloned();
    let found = found?;
    let results = send(state, &found.webhook_id, &found.body, &found.remaining).await;
    let still: Vec<String> = results.iter().filter(|(_, r)| !ok(r)).map(|(u, _)| u.clone()).collect();
    let mut inner = state.lock();
    if still.is_empty() {
        inner.failed.retain(|m| m.id != message);
    } else if let Some(m) = inner.failed.iter_mut().find(|m| m.id == message) {
        m.last_error = results.iter().find(|(_, r)| !ok(r)).map(|(_, r)| describe(r)).unwrap_or_default();
        m.remaining = still;
    }
    Some(results)
}

fn ok(result: &Result<u16, String>) -> bool {
    matches!(result, Ok(status) if (200..300).contains(status))
}

fn describe(result: &Result<u16, String>) -> String {
    match result {
        Ok(status) => format!("HTTP {status}"),
        Err(e) => e.clone(),
    }
}

/// Signs with the webhook's current secrets (so a resend after a secret reset carries the new
/// signature) and posts to each URL, `webhook_attempts` times at most.
async fn send(state: &Arc<State>, id: &str, body: &[u8], urls: &[String]) -> Results {
    let (secret, secret512, attempts, delay) = {
        let inner = state.lock();
        let (secret, secret512) =
            inner.webhook(id).map(|w| (w.secret.clone(), w.secret512.clone())).unwrap_or_default();
        (secret, secret512, inner.webhook_attempts, inner.webhook_retry_delay)
    };
    let sha1 = sign::<Hmac<sha1::Sha1>>(&secret, body);
    let sha512 = sign::<Hmac<sha2::Sha512>>(&secret512, body);
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    for url in urls {
        let mut last = Err("not sent".to_owned());
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
            }
            last = client
                .post(url)
                .header("content-type", "application/json")
                .header("X-Oracle-CC-WebHook-Signature", &sha1)
                .header("X-Oracle-CC-WebHook-Signature-SHA512", &sha512)
                .body(body.to_vec())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.without_url().to_string());
            if ok(&last) {
                break;
            }
        }
        results.push((url.clone(), last));
    }
    results
}

pub(crate) fn sign<M: Mac + hmac::digest::KeyInit>(secret_b64: &str, body: &[u8]) -> String {
    let key = STANDARD.decode(secret_b64).unwrap_or_default();
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}
