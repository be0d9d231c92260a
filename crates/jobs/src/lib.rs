//! Durable background jobs in Postgres: a small `FOR UPDATE SKIP LOCKED` queue with leases, heartbeats,
//! attempt tokens, retries with backoff, dead letters, one live job per (merchant, kind), time-sliced
//! fairness, periodic schedules and LISTEN/NOTIFY wake-ups. Owns `jobs`, `job_schedule_state` and `job_schedules`.
//! Must not know what a job does (the sync crate supplies the handler) or talk to OCC.

mod job;
mod lease;
mod queue;
mod schedule;
mod worker;

pub use job::{Job, JobState, Mode, UnknownMode, UnknownState};
pub use lease::{Lease, LeaseLost, LeaseVerifyError};
pub use queue::{
    COUNTS_SQL, HourOfJobs, JobError, KindCounts, PURGE_FINISHED_SQL, Queue, REAP_EXPIRED_SQL, RetryPolicy, claim_sql,
    last_day,
};
pub use schedule::{ENQUEUE_DUE_SQL, POSTPONE_INACTIVE_SQL, Schedule, WITHDRAW_SQL, enqueue_due};
pub use worker::{Handler, JobContext, Outcome, Worker, WorkerConfig};

/// Postgres NOTIFY channel that wakes idle workers when a job is enqueued.
pub const NOTIFY_CHANNEL: &str = "storelink_jobs";
