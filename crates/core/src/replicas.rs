//! Read replicas (`STORELINK_READ_DATABASE_URL`): the primary's pool beside one lazy pool per
//! Postgres streaming standby, a monitor that measures each standby's replay position and lag, and
//! the choice of the pool a read runs on. Owns no table and no rule about who reads what: callers say
//! which reads may go to a standby and the WAL position (`Lsn`) the read must see.

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::db::DbError;

/// A WAL position (`pg_lsn`), written as Postgres writes it: `16/B374D848`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Lsn {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (high, low) = text.trim().split_once('/').ok_or(())?;
        let part = |p: &str| {
            if p.is_empty() || p.len() > 8 {
                return Err(());
            }
            u64::from_str_radix(p, 16).map_err(|_| ())
        };
        Ok(Lsn((part(high)? << 32) | part(low)?))
    }
}

/// How standbys are used.
#[derive(Clone, Copy, Debug)]
pub struct ReplicaSettings {
    /// A standby further behind the primary than this is skipped (its reads go to the primary).
    pub max_lag: Duration,
    /// How often the monitor reads the primary's WAL position and each standby's replay position.
    pub poll: Duration,
    /// Connections per standby pool (per process).
    pub max_connections: u32,
}

impl ReplicaSettings {
    /// The monitor polls ten times per `max_lag`, between every 100 ms and every second.
    pub fn new(max_lag: Duration, max_connections: u32) -> Self {
        let poll = (max_lag / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
        Self { max_lag, poll, max_connections }
    }
}

/// Where a read ran, and why (the `pool` and `reason` labels of `storelink_db_reads_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadSource {
    /// A standby that is up, within the lag bound and past the position the read must see.
    Replica,
    /// No standby is configured.
    Primary,
    /// Every standby is down or lagging past the bound.
    PrimaryNoReplica,
    /// No healthy standby has replayed the caller's last write yet (read-your-writes).
    PrimaryReadAfter,
    /// The standby failed the read (down, or the query was cancelled by recovery); it was run again here.
    PrimaryAfterReplicaError,
}

impl ReadSource {
    pub fn is_replica(self) -> bool {
        self == ReadSource::Replica
    }

    /// `replica` or `primary`, as the `Storelink-Read-Source` response header says.
    pub fn pool(self) -> &'static str {
        if self.is_replica() { "replica" } else { "primary" }
    }

    fn reason(self) -> &'static str {
        match self {
            ReadSource::Replica => "replica",
            ReadSource::Primary => "no_replica_configured",
            ReadSource::PrimaryNoReplica => "replicas_unavailable",
            ReadSource::PrimaryReadAfter => "read_after_write",
            ReadSource::PrimaryAfterReplicaError => "replica_error",
        }
    }
}

/// One standby as the monitor last saw it.
#[derive(Clone, Debug)]
pub struct ReplicaStatus {
    /// `host:port/database` (never the user or password).
    pub name: String,
    /// Answered the last poll, as a standby.
    pub up: bool,
    /// Up and within the lag bound: reads may go there.
    pub usable: bool,
    pub replay_lsn: Option<Lsn>,
    /// How long ago the primary had first written WAL the standby has not replayed (0 when caught up).
    pub lag: Option<Duration>,
}

struct Replica {
    name: String,
    pool: PgPool,
    up: AtomicBool,
    /// Replay position (0: unknown).
    replay: AtomicU64,
    /// Lag in milliseconds (`u64::MAX`: unknown).
    lag_ms: AtomicU64,
    /// When the last successful poll ended (ms since `Inner::started`).
    seen_ms: AtomicU64,
}

struct Inner {
    primary: PgPool,
    replicas: Vec<Replica>,
    settings: ReplicaSettings,
    next: AtomicUsize,
    started: Instant,
    monitor_started: AtomicBool,
}

/// The primary's pool and the standbys' pools. Cheap to clone; the monitor stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct ReadPools {
    inner: Arc<Inner>,
}

impl ReadPools {
    /// No standby: every read goes to the primary, and writes need no WAL position.
    pub fn primary_only(primary: PgPool) -> Self {
        Self::build(primary, Vec::new(), ReplicaSettings::new(Duration::from_secs(5), 1))
    }

    /// The primary with one lazily connected pool per standby URL (nothing is connected yet; `start`
    /// begins monitoring). A standby's name in logs and metrics is its host, port and database.
    pub fn new(primary: PgPool, urls: &[&str], settings: ReplicaSettings) -> Result<Self, DbError> {
        let mut replicas = Vec::with_capacity(urls.len());
        for url in urls {
            let options = PgConnectOptions::from_str(url).map_err(DbError::BadUrl)?;
            let name =
                format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""));
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                // A standby that does not answer soon is skipped; the read runs on the primary.
                .acquire_timeout(Duration::from_secs(2))
                .connect_lazy_with(options);
            replicas.push(Replica {
                name,
                pool,
                up: AtomicBool::new(false),
                replay: AtomicU64::new(0),
                lag_ms: AtomicU64::new(u64::MAX),
                seen_ms: AtomicU64::new(0),
            });
        }
        Ok(Self::build(primary, replicas, settings))
    }

    fn build(primary: PgPool, replicas: Vec<Replica>, settings: ReplicaSettings) -> Self {
        let inner = Inner {
            primary,
            replicas,
            settings,
            next: AtomicUsize::new(0),
            started: Instant::now(),
            monitor_started: AtomicBool::new(false),
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn primary(&self) -> &PgPool {
        &self.inner.primary
    }

    pub fn has_replicas(&self) -> bool {
        !self.inner.replicas.is_empty()
    }

    pub fn settings(&self) -> ReplicaSettings {
        self.inner.settings
    }

    /// Starts the monitor (once; later calls do nothing). Until its first poll no standby is used.
    pub fn start(&self) {
        if self.has_replicas() && !self.inner.monitor_started.swap(true, Ordering::SeqCst) {
            tokio::spawn(monitor(Arc::downgrade(&self.inner)));
        }
    }

    /// The WAL position a read must see to include every write committed so far: the primary's
    /// `pg_current_wal_lsn()`. `None` without standbys (nothing to ask).
    pub async fn write_position(&self) -> Result<Option<Lsn>, sqlx::Error> {
        if !self.has_replicas() {
            return Ok(None);
        }
        current_lsn(&self.inner.primary).await.map(Some)
    }

    /// The pool for a read that must see `after` (`None`: any usable standby will do): a usable
    /// standby that had replayed `after` at its last poll, in turn, else the primary.
    pub fn choose(&self, after: Option<Lsn>) -> (&PgPool, ReadSource, Option<usize>) {
        let inner = &*self.inner;
        if inner.replicas.is_empty() {
            return (&inner.primary, ReadSource::Primary, None);
        }
        let now_ms = inner.elapsed_ms();
        let count = inner.replicas.len();
        let first = inner.next.fetch_add(1, Ordering::Relaxed);
        let mut any_usable = false;
        for i in 0..count {
            let index = (first + i) % count;
            let replica = &inner.replicas[index];
            if !inner.usable(replica, now_ms) {
                continue;
            }
            any_usable = true;
            if after.is_none_or(|lsn| replica.replay.load(Ordering::Acquire) >= lsn.0) {
                return (&replica.pool, ReadSource::Replica, Some(index));
            }
        }
        let reason = if any_usable { ReadSource::PrimaryReadAfter } else { ReadSource::PrimaryNoReplica };
        (&inner.primary, reason, None)
    }

    /// Runs `read` on the pool `choose` picks. When it fails on a standby with an error `is_db_error`
    /// accepts (the standby went down, or recovery cancelled the query), the standby is set aside
    /// until its next good poll and `read` runs again on the primary, so no read fails because a
    /// standby did. Counts each read in `storelink_db_reads_total`.
    pub async fn run<T, E>(
        &self,
        after: Option<Lsn>,
        is_db_error: impl Fn(&E) -> bool,
        read: impl AsyncFn(&PgPool) -> Result<T, E>,
    ) -> (Result<T, E>, ReadSource) {
        let (pool, source, index) = self.choose(after);
        let result = read(pool).await;
        let (result, source) = match (result, index) {
            (Err(e), Some(index)) if is_db_error(&e) => {
                let replica = &self.inner.replicas[index];
                if replica.up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(replica = %replica.name, "a read failed on the standby; it is skipped until it answers again");
                }
                (read(&self.inner.primary).await, ReadSource::PrimaryAfterReplicaError)
            }
            (result, _) => (result, source),
        };
        metrics::counter!("storelink_db_reads_total", "pool" => source.pool(), "reason" => source.reason())
            .increment(1);
        (result, source)
    }

    /// Each standby as the monitor last saw it.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        let inner = &*self.inner;
        let now_ms = inner.elapsed_ms();
        inner
            .replicas
            .iter()
            .map(|r| {
                let replay = r.replay.load(Ordering::Acquire);
                let lag = r.lag_ms.load(Ordering::Acquire);
                ReplicaStatus {
                    name: r.name.clone(),
                    up: r.up.load(Ordering::Acquire),
                    usable: inner.usable(r, now_ms),
                    replay_lsn: (replay != 0).then_some(Lsn(replay)),
                    lag: (lag != u64::MAX).then(|| Duration::from_millis(lag)),
                }
            })
            .collect()
    }
}

impl Inner {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Up at its last poll, that poll recent (a monitor that stalls stops trusting what it saw),
    /// and within the lag bound.
    fn usable(&self, replica: &Replica, now_ms: u64) -> bool {
        let max_lag_ms = u64::try_from(self.settings.max_lag.as_millis()).unwrap_or(u64::MAX);
        let fresh_ms = max_lag_ms.saturating_add(u64::try_from((self.settings.poll * 3).as_millis()).unwrap_or(0));
        replica.up.load(Ordering::Acquire)
            && now_ms.saturating_sub(replica.seen_ms.load(Ordering::Acquire)) <= fresh_ms
            && replica.lag_ms.load(Ordering::Acquire) <= max_lag_ms
    }
}

async fn current_lsn(pool: &PgPool) -> Result<Lsn, sqlx::Error> {
    let position: i64 =
        sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint").fetch_one(pool).await?;
    Ok(Lsn(u64::try_from(position).unwrap_or(0)))
}

/// A standby's answer: whether it is in recovery and what it has replayed.
async fn replay_position(pool: &PgPool) -> Result<(bool, Option<Lsn>), sqlx::Error> {
    let (recovering, replay): (bool, Option<i64>) =
        sqlx::query_as("SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(pool)
            .await?;
    Ok((recovering, replay.and_then(|r| u64::try_from(r).ok()).map(Lsn)))
}

/// What the monitor last logged of a standby.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Usable,
    Lagging,
    Down,
}

/// Primary positions remembered to turn a standby's replay position into a time lag. A sample is
/// dropped once every standby has replayed past it; past this many the oldest go (the lag is then
/// under-reported, but by then it is far past any sensible bound).
const MAX_SAMPLES: usize = 1024;

/// Every `poll`: the primary's WAL position (kept with the time it was read), then each standby's
/// replay position. A standby's lag is the age of the oldest primary position it has not replayed:
/// zero when it has caught up, which an idle primary does not disturb (unlike
/// `now() - pg_last_xact_replay_timestamp()`, which grows while nothing is written). Logs each
/// change of a standby's state and keeps the gauges `storelink_replica_up`,
/// `storelink_replica_usable` and `storelink_replica_lag_seconds` per standby.
async fn monitor(inner: Weak<Inner>) {
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut states: Vec<Option<State>> = Vec::new();
    let mut tick = None;
    loop {
        let Some(inner) = inner.upgrade() else { return };
        if inner.primary.is_closed() {
            return;
        }
        let poll = inner.settings.poll;
        let tick = tick.get_or_insert_with(|| {
            let mut t = tokio::time::interval(poll);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        states.resize(inner.replicas.len(), None);
        // The poll bound: a hung server must not stall the monitor.
        let bound = poll.max(Duration::from_secs(1));
        match tokio::time::timeout(bound, current_lsn(&inner.primary)).await {
            Ok(Ok(lsn)) => {
                if samples.back().is_none_or(|&(_, last)| last < lsn.0) {
                    samples.push_back((Instant::now(), lsn.0));
                }
                while samples.len() > MAX_SAMPLES {
                    samples.pop_front();
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "reading the primary's WAL position"),
            Err(_) => tracing::debug!("reading the primary's WAL position timed out"),
        }
        for (index, replica) in inner.replicas.iter().enumerate() {
            let answer = tokio::time::timeout(bound, replay_position(&replica.pool)).await;
            let error = match answer {
                Ok(Ok((true, Some(replay)))) => {
                    // The first position the standby lacks, and so how long ago the primary wrote it.
                    let lag =
                        samples.iter().find(|&&(_, lsn)| lsn > replay.0).map_or(Duration::ZERO, |(at, _)| at.elapsed());
                    replica.replay.fetch_max(replay.0, Ordering::AcqRel);
                    replica.lag_ms.store(u64::try_from(lag.as_millis()).unwrap_or(u64::MAX), Ordering::Release);
                    replica.seen_ms.store(inner.elapsed_ms(), Ordering::Release);
                    replica.up.store(true, Ordering::Release);
                    metrics::gauge!("storelink_replica_lag_seconds", "replica" => replica.name.clone())
                        .set(lag.as_secs_f64());
                    None
                }
                Ok(Ok(_)) => Some("it is not a standby in recovery (promoted, or the primary's URL)".to_owned()),
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {} ms", bound.as_millis())),
            };
            if error.is_some() {
                replica.up.store(false, Ordering::Release);
            }
            let usable = inner.usable(replica, inner.elapsed_ms());
            let state = match (&error, usable) {
                (Some(_), _) => State::Down,
                (None, true) => State::Usable,
                (None, false) => State::Lagging,
            };
            if states[index] != Some(state) {
                let name = &replica.name;
                match (state, &error) {
                    (State::Usable, _) => tracing::info!(replica = %name, "standby in use for reads"),
                    (State::Down, Some(error)) => {
                        tracing::warn!(replica = %name, %error, "standby down: its reads go to the primary")
                    }
                    _ => tracing::warn!(
                        replica = %name,
                        lag_ms = replica.lag_ms.load(Ordering::Acquire),
                        max_lag_ms = u64::try_from(inner.settings.max_lag.as_millis()).unwrap_or(u64::MAX),
                        "standby lagging past STORELINK_READ_MAX_LAG: its reads go to the primary"
                    ),
                }
                states[index] = Some(state);
            }
            metrics::gauge!("storelink_replica_up", "replica" => replica.name.clone())
                .set(f64::from(u8::from(error.is_none())));
            metrics::gauge!("storelink_replica_usable", "replica" => replica.name.clone())
                .set(f64::from(u8::from(usable)));
        }
        // Positions every standby has replayed tell nothing more (the newest is kept).
        let slowest = inner.replicas.iter().map(|r| r.replay.load(Ordering::Acquire)).min().unwrap_or(0);
        while samples.len() > 1 && samples.front().is_some_and(|&(_, lsn)| lsn <= slowest) {
            samples.pop_front();
        }
        drop(inner);
        tick.tick().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_reads_and_writes_postgres_notation() {
        let lsn: Lsn = "16/B374D848".parse().expect("lsn");
        assert_eq!(lsn, Lsn((0x16 << 32) | 0xB374_D848));
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>(), Ok(Lsn(0)));
        assert!(" 0/1A ".parse::<Lsn>().is_ok_and(|l| l == Lsn(0x1A)));
        for bad in ["", "16", "/1", "1/", "x/1", "1/2/3", "123456789/0", "-1/0"] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad}");
        }
        assert!("1/0".parse::<Lsn>().expect("a") > "0/FFFFFFFF".parse::<Lsn>().expect("b"));
    }

    #[test]
    fn the_poll_follows_the_lag_bound() {
        assert_eq!(ReplicaSettings::new(Duration::from_secs(5), 4).poll, Duration::from_millis(500));
        assert_eq!(ReplicaSettings::new(Duration::from_millis(200), 4).poll, Duration::from_millis(100));
        assert_eq!(ReplicaSettings::new(Duration::from_secs(60), 4).poll, Duration::from_secs(1));
    }
}
