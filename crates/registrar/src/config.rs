//! Where stores call back, and how failed slots are retried.

use std::time::Duration;
use url::Url;

#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// Public base URL OCC calls back on (`STORELINK_PUBLIC_URL`).
    pub public_url: Url,
    /// Backoff after the n-th failure: base * 2^(n-1), capped, with jitter.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How often the background loop looks for due slots.
    pub retry_poll: Duration,
    /// A slot still `pending` this long after its merchant was saved was never recorded (the process
    /// stopped mid-connect, or recording failed): the retry loop then registers it.
    pub pending_stale_after: Duration,
    /// How often the orders sync runs (`None`: no periodic syncs): the freshness of the events of a
    /// slot the store has no webhook for.
    pub orders_sync_every: Option<Duration>,
    /// How often each merchant's store is asked to resend the failed deliveries addressed to
    /// Storelink (after an outage of inbound, or a slot that was broken).
    pub resend_every: Duration,
}

impl RegistrarConfig {
    pub fn new(public_url: Url) -> Self {
        Self {
            public_url,
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
            retry_poll: Duration::from_secs(5),
            pending_stale_after: Duration::from_secs(120),
            orders_sync_every: Some(Duration::from_secs(300)),
            resend_every: Duration::from_secs(600),
        }
    }

    /// Delay before the next attempt after `attempts` failures, with ±20% jitter so slots that
    /// failed together do not retry in lockstep.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = attempts.clamp(1, 20) as u32 - 1;
        let raw = self.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(self.retry_cap);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        raw.mul_f64(jitter)
    }
}

/// `5 minutes`, `1 hour`, `30 seconds`.
pub(crate) fn words(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs.max(1), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut cfg = RegistrarConfig::new(Url::parse("http://127.0.0.1:8080").expect("url"));
        cfg.retry_base = Duration::from_secs(10);
        cfg.retry_cap = Duration::from_secs(60);
        let first = cfg.backoff(1);
        assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
        let third = cfg.backoff(3);
        assert!(third >= Duration::from_secs(32) && third <= Duration::from_secs(48));
        assert!(cfg.backoff(30) <= Duration::from_secs(72));
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(words(Duration::from_secs(300)), "5 minutes");
        assert_eq!(words(Duration::from_secs(3600)), "1 hour");
        assert_eq!(words(Duration::from_millis(50)), "1 second");
    }
}
