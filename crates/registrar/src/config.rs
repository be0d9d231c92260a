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
}

impl RegistrarConfig {
    pub fn new(public_url: Url) -> Self {
        Self {
            public_url,
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
            retry_poll: Duration::from_secs(5),
            pending_stale_after: Duration::from_secs(120),
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
}
