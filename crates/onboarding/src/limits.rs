//! Rate limits on the connect POST. Per client address: every attempt counts (governor, pruned).
//! Per store: only failed logins count, per (store, client address), and they back off: after
//! `per_store_per_minute` failures a client waits a minute, doubling with each further failure up to
//! an hour, and a successful login clears it. So a stranger hammering a store with bad keys locks out
//! only itself, never the merchant, and the store still sees few failed logins through Storelink.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use storelink_core::KeyedLimiter;

#[derive(Clone, Copy, Debug)]
pub struct ConnectLimits {
    pub per_client_per_minute: u32,
    /// Failed logins one client may make against one store before it backs off.
    pub per_store_per_minute: u32,
}

impl Default for ConnectLimits {
    fn default() -> Self {
        Self { per_client_per_minute: 20, per_store_per_minute: 6 }
    }
}

#[derive(Clone)]
pub struct Limiters {
    client: KeyedLimiter,
    store: Arc<Backoff>,
}

impl Limiters {
    pub fn new(limits: ConnectLimits) -> Self {
        Self {
            client: KeyedLimiter::per_minute(limits.per_client_per_minute),
            store: Arc::new(Backoff::new(limits.per_store_per_minute.max(1))),
        }
    }

    /// `Err(wait)` when the client is over its limit.
    pub fn check_client(&self, client: &str) -> Result<(), Duration> {
        self.client.check(client)
    }

    /// `Err(wait)` while `client` backs off from `store` after failed logins. Counts nothing.
    pub fn check_store(&self, store: &str, client: &str) -> Result<(), Duration> {
        self.store.check(&pair(store, client), Instant::now())
    }

    /// A login to `store` failed (the key was refused or the store did not answer properly).
    pub fn login_failed(&self, store: &str, client: &str) {
        self.store.failed(pair(store, client), Instant::now());
    }

    /// A login to `store` succeeded: the client's failures there are forgotten.
    pub fn login_succeeded(&self, store: &str, client: &str) {
        self.store.succeeded(&pair(store, client));
    }

    /// (store, client) pairs with failures on record.
    pub fn store_entries(&self) -> usize {
        self.store.len()
    }
}

fn pair(store: &str, client: &str) -> String {
    format!("{store}|{client}")
}

/// Failures per key with exponential backoff. Entries are dropped once their backoff ended and a
/// minute passed without a failure; the map is swept at most every `SWEEP_EVERY`, on use.
struct Backoff {
    free: u32,
    entries: Mutex<Entries>,
}

struct Entries {
    map: HashMap<String, Failures>,
    swept: Instant,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

const FIRST_WAIT: Duration = Duration::from_secs(60);
const MAX_WAIT: Duration = Duration::from_secs(3600);
const QUIET: Duration = Duration::from_secs(60);
const SWEEP_EVERY: Duration = Duration::from_secs(10);

impl Backoff {
    fn new(free: u32) -> Self {
        Self { free, entries: Mutex::new(Entries { map: HashMap::new(), swept: Instant::now() }) }
    }

    /// How long after its last failure a key with `count` failures must wait.
    fn wait(&self, count: u32) -> Duration {
        if count < self.free {
            return Duration::ZERO;
        }
        let doublings = (count - self.free).min(6);
        (FIRST_WAIT * 2u32.pow(doublings)).min(MAX_WAIT)
    }

    fn expired(&self, f: &Failures, now: Instant) -> bool {
        now.saturating_duration_since(f.last) > self.wait(f.count) + QUIET
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map holds counters only; a panic elsewhere cannot leave it inconsistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let entries = self.lock();
        let Some(f) = entries.map.get(key) else { return Ok(()) };
        let until = f.last + self.wait(f.count);
        if now < until { Err(until - now) } else { Ok(()) }
    }

    fn failed(&self, key: String, now: Instant) {
        let mut entries = self.lock();
        if now.saturating_duration_since(entries.swept) > SWEEP_EVERY {
            entries.map.retain(|_, f| !self.expired(f, now));
            entries.map.shrink_to_fit();
            entries.swept = now;
        }
        let f = entries.map.entry(key).or_insert(Failures { count: 0, last: now });
        if self.expired(f, now) {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
    }

    fn succeeded(&self, key: &str) {
        self.lock().map.remove(key);
    }

    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_limits_are_per_key() {
        let limiters = Limiters::new(ConnectLimits { per_client_per_minute: 2, per_store_per_minute: 1 });
        assert!(limiters.check_client("a").is_ok());
        assert!(limiters.check_client("a").is_ok());
        let wait = limiters.check_client("a").expect_err("third call is limited");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(limiters.check_client("b").is_ok());
    }

    #[test]
    fn failed_logins_back_off_per_client_and_successes_clear_them() {
        let limiters = Limiters::new(ConnectLimits { per_client_per_minute: 100, per_store_per_minute: 2 });
        let store = "https://shop.example";
        assert!(limiters.check_store(store, "stranger").is_ok(), "checking counts nothing");
        limiters.login_failed(store, "stranger");
        assert!(limiters.check_store(store, "stranger").is_ok(), "one failure is free");
        limiters.login_failed(store, "stranger");
        let wait = limiters.check_store(store, "stranger").expect_err("backs off");
        assert!(wait > Duration::from_secs(55) && wait <= FIRST_WAIT);
        assert!(limiters.check_store(store, "merchant").is_ok(), "another client is not held back");
        assert!(limiters.check_store("https://other.example", "stranger").is_ok(), "nor another store");
        limiters.login_succeeded(store, "stranger");
        assert!(limiters.check_store(store, "stranger").is_ok(), "a success clears the failures");
    }

    #[test]
    fn the_wait_doubles_up_to_an_hour_and_quiet_entries_are_forgotten() {
        let backoff = Backoff::new(1);
        assert_eq!(backoff.wait(0), Duration::ZERO);
        assert_eq!(backoff.wait(1), Duration::from_secs(60));
        assert_eq!(backoff.wait(2), Duration::from_secs(120));
        assert_eq!(backoff.wait(40), MAX_WAIT);
        let start = Instant::now();
        backoff.failed("k".into(), start);
        assert!(backoff.check("k", start + Duration::from_secs(59)).is_err());
        assert!(backoff.check("k", start + Duration::from_secs(61)).is_ok());
        for i in 0..1_000 {
            backoff.failed(format!("other-{i}"), start);
        }
        assert_eq!(backoff.len(), 1_001);
        backoff.failed("late".into(), start + FIRST_WAIT + QUIET + SWEEP_EVERY * 2);
        assert_eq!(backoff.len(), 1, "expired entries are swept");
    }
}
