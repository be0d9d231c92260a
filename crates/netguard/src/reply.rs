//! Talking to a merchant-controlled server safely, for every platform's HTTP client: the body capped
//! while it streams, `Retry-After` parsed, transport failures told apart (a refused address from a
//! broken one), literal IPs checked, and when to retry (`RetryPolicy`).

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;
use url::Url;

use crate::{BlockedAddress, Policy, check_ip};

/// IP-literal URLs skip DNS, so the guarded resolver never sees them: check before sending.
pub fn check_literal_host(url: &Url, policy: &Policy) -> Result<(), BlockedAddress> {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => check_ip(ip, policy),
        Err(_) => Ok(()),
    }
}

/// How a failed attempt may be retried, as the client classified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retryable {
    /// 429, with the store's Retry-After when it sent one.
    RateLimited(Option<Duration>),
    /// 5xx, a timeout or a broken connection.
    Transient,
    No,
}

/// When a store client retries: idempotent calls only, at most `max_retries` times, after the
/// store's Retry-After (never one longer than `max_retry_after`) or an exponential backoff.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The wait before trying again after failed attempt `attempt` (0-based), or `None`: give up.
    pub fn wait(&self, failure: Retryable, attempt: u32, idempotent: bool) -> Option<Duration> {
        let retry = idempotent && attempt < self.max_retries;
        match failure {
            Retryable::RateLimited(Some(after)) if after > self.max_retry_after => None,
            Retryable::RateLimited(Some(after)) if retry => Some(after),
            Retryable::RateLimited(_) | Retryable::Transient if retry => Some(backoff(self.base, self.cap, attempt)),
            _ => None,
        }
    }
}

/// The wait before retry `attempt` (0-based): exponential from `base`, capped, with equal jitter
/// (half fixed, half random), so retries spread out but never bunch at zero.
fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(cap);
    exp / 2 + exp.mul_f64(rand::thread_rng().gen_range(0.0..0.5))
}

pub enum Capped {
    Whole(Vec<u8>),
    /// Over the cap after this many bytes (the declared length, or what was read before stopping).
    Over(u64),
}

/// Read the body chunk by chunk, stopping (and dropping the connection) once it passes `limit`. A
/// declared `Content-Length` over the limit is refused before any of the body is read. Chunks are
/// the decoded body, so a compressed answer is capped by what it expands to.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Capped, reqwest::Error> {
    if let Some(declared) = response.content_length().filter(|n| *n > limit as u64) {
        return Ok(Capped::Over(declared));
    }
    let hint = response.content_length().map_or(16 * 1024, |n| n as usize);
    let mut body = Vec::with_capacity(hint.min(limit));
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(Capped::Over((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Capped::Whole(body))
}

/// `Retry-After` in seconds or as an HTTP date (a past date means now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(wait)
}

/// Why a request failed before an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum TransportFailure {
    /// The guarded resolver refused the address.
    Blocked(String),
    /// Anything else, in words without the URL (it could carry a query with data) or headers.
    Failed(&'static str),
}

pub fn transport_failure(error: &reqwest::Error) -> TransportFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedAddress>() {
            return TransportFailure::Blocked(blocked.to_string());
        }
        source = e.source();
    }
    TransportFailure::Failed(if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the response"
    } else {
        "the connection failed"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_calls_are_retried_and_long_retry_afters_are_not_waited_out() {
        let policy = RetryPolicy {
            max_retries: 2,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
        };
        let after = |s| Retryable::RateLimited(Some(Duration::from_secs(s)));
        assert_eq!(policy.wait(after(7), 0, true), Some(Duration::from_secs(7)));
        assert_eq!(policy.wait(after(61), 0, true), None);
        assert_eq!(policy.wait(after(7), 0, false), None);
        assert_eq!(policy.wait(Retryable::Transient, 2, true), None, "retries used up");
        assert!(policy.wait(Retryable::Transient, 1, true).is_some_and(|w| w <= Duration::from_millis(200)));
        assert!(policy.wait(Retryable::RateLimited(None), 0, true).is_some());
        assert_eq!(policy.wait(Retryable::No, 0, true), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_millis(1000));
        for attempt in 0..10 {
            let wait = backoff(base, cap, attempt);
            let exp = Duration::from_millis(100 * 2u64.pow(attempt)).min(cap);
            assert!(wait >= exp / 2 && wait <= exp, "attempt {attempt}: {wait:?}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a past date means now");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
