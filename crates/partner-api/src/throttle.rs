//! Throttles in front of the token endpoint's argon2 check (about 19 MiB and tens of milliseconds per
//! verification). Before any hashing: limits per client address, then per `client_id`. Then the hash
//! runs on one of a few threads of its own, one per core, and a request waits briefly for a free one.
//! Over a limit, or no thread free in time: 429 with `Retry-After`.
//!
//! Why own threads, each computing in one reused `HashMemory`: with tokio's blocking pool, two hashes
//! at a time still ran on dozens of its threads, and the allocator kept each run's 19 MiB (380 MB
//! after a flood of 400 requests, 20 of them hashed); with a fresh buffer per run on two threads of
//! our own it still kept 246 MB. Reused buffers on fixed threads keep one hash's memory per thread.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storelink_core::KeyedLimiter;
use storelink_tenants::partners::HashMemory;
use tokio::sync::Semaphore;

use crate::ApiError;

/// Token requests per client address per minute. A partner needs one token per 15 minutes per process.
pub const PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Token requests per `client_id` per minute, from all addresses together.
pub const PER_CLIENT_ID_PER_MINUTE: u32 = 60;
/// Longer than any `client_id` Storelink issues; a longer one is refused before it becomes a key.
pub const MAX_CLIENT_ID: usize = 128;
/// How long a request waits for a hashing thread.
pub const SLOT_WAIT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

#[derive(Clone)]
pub struct TokenThrottle {
    addresses: KeyedLimiter,
    client_ids: KeyedLimiter,
    /// One permit per hashing thread: a request holds one from before its job is queued until the
    /// job is done, so the queue never holds more jobs than there are threads.
    slots: Arc<Semaphore>,
    jobs: SyncSender<Job>,
    slot_wait: Duration,
}

impl Default for TokenThrottle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(PER_ADDRESS_PER_MINUTE, PER_CLIENT_ID_PER_MINUTE, cores, SLOT_WAIT)
    }
}

impl TokenThrottle {
    /// Starts `threads` hashing threads; they end when the last clone of the throttle is dropped.
    pub fn new(per_address: u32, per_client_id: u32, threads: usize, slot_wait: Duration) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(threads);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("token-hash-{i}")).spawn(move || run_jobs(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a token hashing thread did not start");
            }
        }
        Self {
            addresses: KeyedLimiter::per_minute(per_address),
            client_ids: KeyedLimiter::per_minute(per_client_id),
            slots: Arc::new(Semaphore::new(threads)),
            jobs,
            slot_wait,
        }
    }

    /// Counts the request against its address and `client_id` (address first, so an address over its
    /// limit adds no `client_id` key). `Err` when either is over its limit.
    pub fn admit(&self, address: &str, client_id: &str) -> Result<(), ApiError> {
        let limited = |wait: Duration| ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) };
        self.addresses.check(address).map_err(limited)?;
        self.client_ids.check(client_id).map_err(limited)
    }

    /// Runs `hash` on a hashing thread, with that thread's memory, once one is free (waiting at most
    /// the slot wait). The slot stays taken until `hash` returns, even if the request is dropped.
    pub async fn hash<T: Send + 'static>(
        &self,
        hash: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::RateLimited { retry_after_secs: 1 };
        let permit = match tokio::time::timeout(self.slot_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(busy()),
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(hash(memory));
            drop(permit);
        });
        // A permit guarantees room in the queue; a full or closed queue means the threads are gone.
        self.jobs.try_send(job).map_err(|_| ApiError::Unavailable)?;
        result.await.map_err(|_| ApiError::Unavailable)
    }

    /// Keys the limiters hold now.
    pub fn keys(&self) -> usize {
        self.addresses.len() + self.client_ids.len()
    }
}

fn run_jobs(queue: &Mutex<Receiver<Job>>) {
    let mut memory = HashMemory::default();
    loop {
        let job = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_then_client_ids_are_limited() {
        let throttle = TokenThrottle::new(2, 3, 1, Duration::from_millis(50));
        assert!(throttle.admit("a", "c1").is_ok() && throttle.admit("a", "c1").is_ok());
        let limited = throttle.admit("a", "c1");
        assert!(matches!(limited, Err(ApiError::RateLimited { retry_after_secs }) if retry_after_secs > 1));
        assert!(throttle.admit("b", "c1").is_ok(), "another address");
        assert!(matches!(throttle.admit("c", "c1"), Err(ApiError::RateLimited { .. })), "client id spent");
        assert!(throttle.admit("d", "c2").is_ok());
        assert_eq!(throttle.keys(), 4 + 2);
    }

    #[tokio::test]
    async fn a_request_waits_only_briefly_for_a_busy_hashing_thread() {
        let throttle = TokenThrottle::new(100, 100, 1, Duration::from_millis(100));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let busy = tokio::spawn({
            let throttle = throttle.clone();
            async move {
                let slow = move |_: &mut HashMemory| {
                    let _ = started_tx.send(());
                    let _ = held.recv();
                    1
                };
                throttle.hash(slow).await.ok()
            }
        });
        started.await.expect("the first hash runs");
        let refused = throttle.hash(|_| 2).await;
        assert!(matches!(refused, Err(ApiError::RateLimited { retry_after_secs: 1 })), "the only thread is busy");
        release.send(()).expect("release");
        assert_eq!(busy.await.expect("join"), Some(1));
        assert_eq!(throttle.hash(|_| 3).await.ok(), Some(3), "free again");
    }
}
