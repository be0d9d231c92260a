//! Rate limits on the connect POST (governor): per client address and per store, so one client
//! cannot hammer many stores and many clients cannot hammer one store (or lock its key out).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct ConnectLimits {
    pub per_client_per_minute: u32,
    pub per_store_per_minute: u32,
}

impl Default for ConnectLimits {
    fn default() -> Self {
        Self { per_client_per_minute: 20, per_store_per_minute: 6 }
    }
}

#[derive(Clone)]
pub struct Limiters {
    client: Arc<DefaultKeyedRateLimiter<String>>,
    store: Arc<DefaultKeyedRateLimiter<String>>,
}

/// Keyed limiters keep a cell per key; past this many keys, expired cells are dropped.
const PRUNE_ABOVE: usize = 10_000;

impl Limiters {
    pub fn new(limits: ConnectLimits) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            client: Arc::new(RateLimiter::keyed(quota(limits.per_client_per_minute))),
            store: Arc::new(RateLimiter::keyed(quota(limits.per_store_per_minute))),
        }
    }

    /// `Err(wait)` when the client is over its limit.
    pub fn check_client(&self, client: &str) -> Result<(), Duration> {
        check(&self.client, client)
    }

    pub fn check_store(&self, store: &str) -> Result<(), Duration> {
        check(&self.store, store)
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Result<(), Duration> {
    if limiter.len() > PRUNE_ABOVE {
        limiter.retain_recent();
    }
    limiter.check_key(&key.to_owned()).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_per_key() {
        let limiters = Limiters::new(ConnectLimits { per_client_per_minute: 2, per_store_per_minute: 1 });
        assert!(limiters.check_client("a").is_ok());
        assert!(limiters.check_client("a").is_ok());
        let wait = limiters.check_client("a").expect_err("third call is limited");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(limiters.check_client("b").is_ok());
        assert!(limiters.check_store("s").is_ok());
        assert!(limiters.check_store("s").is_err());
    }
}
