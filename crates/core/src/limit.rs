//! Keyed rate limiters that stay bounded. governor keeps one cell per key forever; a flood of distinct
//! keys (addresses, user names, client ids) would grow it without end. Here keys whose state is again
//! that of a fresh key are dropped (`retain_recent`) and the map shrunk, every `PRUNE_EVERY`: on a
//! timer while the limiter lives (when built inside a tokio runtime), and on use otherwise.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How often expired keys are dropped.
pub const PRUNE_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct KeyedLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    limiter: DefaultKeyedRateLimiter<String>,
    born: Instant,
    /// Milliseconds after `born` of the last prune.
    pruned_at: AtomicU64,
}

impl Inner {
    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.pruned_at.store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl KeyedLimiter {
    /// `per_minute` requests a minute per key (at least one), all of which may come at once.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::new(Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN)))
    }

    pub fn new(quota: Quota) -> Self {
        let inner = Arc::new(Inner { limiter: RateLimiter::keyed(quota), born: Instant::now(), pruned_at: 0.into() });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(prune_while_alive(Arc::downgrade(&inner)));
        }
        Self { inner }
    }

    /// Counts one request for `key`; `Err(wait)` when it is over its limit.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = self.inner.born.elapsed().as_millis() as u64;
        let last = self.inner.pruned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) > PRUNE_EVERY.as_millis() as u64
            && self.inner.pruned_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            self.inner.prune();
        }
        self.inner
            .limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Keys held now (pruned ones excluded).
    pub fn len(&self) -> usize {
        self.inner.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the keys that are back to a fresh state now.
    pub fn prune(&self) {
        self.inner.prune();
    }
}

async fn prune_while_alive(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match inner.upgrade() {
            Some(inner) => inner.prune(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_per_key_and_say_how_long_to_wait() {
        let limiter = KeyedLimiter::per_minute(2);
        assert!(limiter.check("a").is_ok() && limiter.check("a").is_ok());
        let wait = limiter.check("a").expect_err("the third is limited");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(limiter.check("b").is_ok());
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn keys_back_to_a_fresh_state_are_dropped() {
        // One request per millisecond: a key used once is fresh again a millisecond later.
        let limiter = KeyedLimiter::new(Quota::with_period(Duration::from_millis(1)).expect("period"));
        for i in 0..5_000 {
            assert!(limiter.check(&format!("client-{i}")).is_ok());
        }
        assert_eq!(limiter.len(), 5_000);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !limiter.is_empty() && Instant::now() < deadline {
            limiter.prune();
            std::thread::yield_now();
        }
        assert_eq!(limiter.len(), 0, "every expired key was dropped");
    }

    #[tokio::test]
    async fn a_live_limiter_is_pruned_on_a_timer_without_being_used() {
        let limiter = KeyedLimiter::new(Quota::with_period(Duration::from_millis(1)).expect("period"));
        for i in 0..1_000 {
            assert!(limiter.check(&format!("client-{i}")).is_ok());
        }
        let deadline = Instant::now() + PRUNE_EVERY * 3;
        while !limiter.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(limiter.len(), 0, "the timer dropped the expired keys");
    }
}
