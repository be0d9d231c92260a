//! A job row as workers and status commands see it.

use chrono::{DateTime, Utc};
use storelink_core::MerchantId;

use crate::JobError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Everything, then sweep what was not seen (deletions).
    Full,
    /// Only what changed since the last successful run.
    Incremental,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }

    /// No default: a mode this build does not know (a newer release's, a hand-edited row) is an error
    /// for the caller to handle, never silently a full or an incremental run.
    pub fn parse(s: &str) -> Result<Self, UnknownMode> {
        match s {
            "full" => Ok(Mode::Full),
            "incremental" => Ok(Mode::Incremental),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::parse(s)
    }
}

/// A job mode this build does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown job mode {0:?}")]
pub struct UnknownMode(pub String);

/// A job state this build does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub struct UnknownState(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Paused,
    Succeeded,
    Dead,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// No default: a state this build does not know (a newer release's, a hand-edited row) is an
    /// error, never silently `queued` (which would make a finished job look runnable).
    pub fn parse(s: &str) -> Result<Self, UnknownState> {
        match s {
            "queued" => Ok(JobState::Queued),
            "running" => Ok(JobState::Running),
            "paused" => Ok(JobState::Paused),
            "succeeded" => Ok(JobState::Succeeded),
            "dead" => Ok(JobState::Dead),
            "cancelled" => Ok(JobState::Cancelled),
            other => Err(UnknownState(other.to_owned())),
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Dead | JobState::Cancelled)
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Job {
    pub merchant_id: MerchantId,
    pub job_id: i64,
    pub kind: String,
    pub mode: Mode,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub slices: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The W3C `traceparent` of the request that enqueued the job, if one did.
    pub traceparent: Option<String>,
}

pub(crate) const JOB_COLUMNS: &str = "merchant_id, job_id, kind, mode, state, attempts, max_attempts, slices, run_at, last_error, created_at, finished_at, traceparent";

pub(crate) type JobRow = (
    MerchantId,
    i64,
    String,
    String,
    String,
    i32,
    i32,
    i32,
    DateTime<Utc>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// A row whose mode or state this build does not know is an error naming the job, not a guess.
pub(crate) fn from_row(row: JobRow) -> Result<Job, JobError> {
    let (
        merchant_id,
        job_id,
        kind,
        mode,
        state,
        attempts,
        max_attempts,
        slices,
        run_at,
        last_error,
        created_at,
        finished_at,
        traceparent,
    ) = row;
    let mode = Mode::parse(&mode).map_err(|UnknownMode(mode)| JobError::UnknownMode { job_id, mode })?;
    Ok(Job {
        merchant_id,
        job_id,
        kind,
        mode,
        state: JobState::parse(&state).map_err(|UnknownState(state)| JobError::UnknownState { job_id, state })?,
        attempts,
        max_attempts,
        slices,
        run_at,
        last_error,
        created_at,
        finished_at,
        traceparent,
    })
}
