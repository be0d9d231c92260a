//! Reading an answer from a merchant-controlled server safely: the body capped while it streams,
//! `Retry-After` parsed, and transport failures told apart (a refused address from a broken one),
//! for every platform's HTTP client.

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

/// The wait before retry `attempt` (0-based): exponential from `base`, capped, with equal jitter
/// (half fixed, half random), so retries spread out but never bunch at zero.
pub fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
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
