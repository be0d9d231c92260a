//! Reading an answer from a merchant-controlled server safely: the body capped while it streams,
//! `Retry-After` parsed, and transport failures told apart (a refused address from a broken one),
//! for every platform's HTTP client.

use std::time::Duration;

use crate::BlockedAddress;

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
    fn retry_after_in_seconds_or_http_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a past date means now");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
