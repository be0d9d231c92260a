//! Durable background jobs in Postgres: a small `FOR UPDATE SKIP LOCKED` queue with leases, heartbeats,
//! attempt tokens, retries with backoff, dead letters, one live job per (merchant, kind), time-sliced
//! fairness, periodic schedules and LISTEN/NOTIFY wake-ups. Owns `jobs` and `job_schedule_state`.
//! Must not know what a job does (the sync crate supplies the handler) or talk to OCC.

mod job;
mod lease;
mod queue;
mod schedule;
mod worker;

pub use job::{Job, JobState, Mode, UnknownMode, UnknownState};
pub use lease::{Lease, LeaseLost, LeaseVerifyError};
pub use queue::{HourOfJobs, JobError, KindCounts, Queue, RetryPolicy, last_day};
pub use schedule::{Schedule, enqueue_due};
pub use worker::{Handler, JobContext, Outcome, Worker, WorkerConfig};

/// Postgres NOTIFY channel that wakes idle workers when a job is enqueued.
pub const NOTIFY_CHANNEL: &str = "storelink_jobs";
