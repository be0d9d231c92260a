//! Tenant density: N merchants onboarded straight into a temporary database, their stores served by
//! one `OccFleet`, kept fresh by real `storelink worker` processes at the default schedules divided by
//! `STORELINK_SCHEDULE_COMPRESS`. Reports jobs/s, freshness lag, CPU per job, rows written per run
//! without changes, worker RSS, and (stepping N) the break point. Loopback only; children killed on exit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use storelink_connector_occ::APP_KEY_PURPOSE;
use storelink_occ_sim::{OccFleet, SimOptions};
use storelink_vault::{MasterKeys, Vault};
use tokio_util::sync::CancellationToken;

use crate::with_temp_db;

type Ts = chrono::DateTime<chrono::Utc>;
use storelink::config::{Config, RawConfig};

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture we run.
const TICKS_PER_SEC: f64 = 100.0;

/// The tables the job queue and the scheduler own; every other table's writes are the runs' own.
const QUEUE_TABLES: [&str; 3] = ["jobs", "job_schedule_state", "job_schedules"];

#[derive(Clone, Debug)]
pub struct DensityArgs {
    pub merchants: usize,
    pub workers: usize,
    pub concurrency: usize,
    pub compress: u32,
    pub changes_per_sec: f64,
    pub seconds: u64,
    pub quiet_seconds: u64,
    pub warmup_timeout: u64,
    pub products: usize,
    pub find_break_point: bool,
    pub steps: Vec<usize>,
    pub storelink: PathBuf,
}

/// The figures of one run at one merchant count.
struct Figures {
    merchants: usize,
    warmup: Duration,
    jobs: usize,
    failed: i64,
    window: Duration,
    /// Lag samples in seconds, per kind (sorted).
    lag: BTreeMap<String, Vec<f64>>,
    /// Each kind's compressed interval, in seconds.
    cadence: BTreeMap<String, f64>,
    worker_cpu_ms: f64,
    postgres_cpu_ms: f64,
    occ_calls: usize,
    rss_kib: u64,
    quiet: Option<QuietFigures>,
}

/// Rows written while no store changed.
struct QuietFigures {
    runs: i64,
    incremental_runs: i64,
    queue_rows: i64,
    run_rows: BTreeMap<String, i64>,
}

impl Figures {
    fn all_lags(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self.lag.values().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        all
    }

    /// The kinds whose p99 lag exceeds their (compressed) interval.
    fn over_cadence(&self) -> Vec<String> {
        self.lag
            .iter()
            .filter(|(kind, lags)| {
                let cadence = self.cadence.get(*kind).copied().unwrap_or(f64::INFINITY);
                quantile(lags, 0.99).is_some_and(|p99| p99 > cadence)
            })
            .map(|(kind, _)| kind.clone())
            .collect()
    }

    fn print(&self, args: &DensityArgs) {
        if self.window.is_zero() {
            println!(
                "  {} merchants (load of {} at real cadences): the first runs did not all finish within {:.0} s; not measured",
                self.merchants,
                self.merchants * args.compress as usize,
                self.warmup.as_secs_f64()
            );
            return;
        }
        let secs = self.window.as_secs_f64();
        let jobs = self.jobs.max(1) as f64;
        println!(
            "  {} merchants (load of {} at real cadences), {} worker(s) x {} slots; warm-up (every first run) {:.1} s",
            self.merchants,
            self.merchants * args.compress as usize,
            args.workers,
            args.concurrency,
            self.warmup.as_secs_f64()
        );
        println!(
            "    sustained: {:.1} jobs/s over {secs:.0} s ({} jobs, {} failed attempts), {:.1} OCC calls/job",
            self.jobs as f64 / secs,
            self.jobs,
            self.failed,
            self.occ_calls as f64 / jobs
        );
        let all = self.all_lags();
        println!(
            "    freshness lag (due -> done): p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            quantile(&all, 0.5).unwrap_or(0.0),
            quantile(&all, 0.99).unwrap_or(0.0),
            all.last().copied().unwrap_or(0.0)
        );
        for (kind, lags) in &self.lag {
            println!(
                "      {kind:<10} every {:>6.1} s: {:>6} runs, p50 {:>7.2} s, p99 {:>7.2} s",
                self.cadence.get(kind).copied().unwrap_or(0.0),
                lags.len(),
                quantile(lags, 0.5).unwrap_or(0.0),
                quantile(lags, 0.99).unwrap_or(0.0)
            );
        }
        println!(
            "    CPU per job: worker {:.2} ms, Postgres {:.2} ms (backends serving the bench database)",
            self.worker_cpu_ms / jobs,
            self.postgres_cpu_ms / jobs
        );
        println!(
            "    worker RSS {:.1} MB in all = {:.1} MB per 1,000 merchants",
            self.rss_kib as f64 / 1024.0,
            self.rss_kib as f64 / 1024.0 / (self.merchants as f64 / 1000.0)
        );
        if let Some(quiet) = &self.quiet {
            let runs = quiet.runs.max(1) as f64;
            let run_rows: i64 = quiet.run_rows.values().sum();
            let detail: Vec<String> = quiet.run_rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
            println!(
                "    no changes, {} s: {} runs ({} incremental); per run {:.2} rows outside the queue [{}], {:.2} queue rows",
                args.quiet_seconds,
                quiet.runs,
                quiet.incremental_runs,
                run_rows as f64 / runs,
                detail.join(", "),
                quiet.queue_rows as f64 / runs
            );
        }
        let over = self.over_cadence();
        if over.is_empty() {
            println!("    p99 lag within every kind's interval");
        } else {
            println!("    p99 lag OVER the interval for: {}", over.join(", "));
        }
    }
}

pub async fn density(config: Config, args: DensityArgs) -> anyhow::Result<()> {
    println!(
        "bench density: default schedules / {} (STORELINK_SCHEDULE_COMPRESS), {} products per store, {} changes/s, {} s measured",
        args.compress, args.products, args.changes_per_sec, args.seconds
    );
    if !args.find_break_point {
        let figures = run_one(&config, &args, args.merchants).await?;
        figures.print(&args);
        return Ok(());
    }
    let mut last_good = None;
    for &n in &args.steps {
        let figures = run_one(&config, &args, n).await?;
        figures.print(&args);
        if figures.warmup_timed_out(&args) || !figures.over_cadence().is_empty() {
            match last_good {
                Some(good) => println!("  break point: between {good} and {n} merchants"),
                None => println!("  break point: at or below {n} merchants"),
            }
            return Ok(());
        }
        last_good = Some(n);
    }
    println!("  break point: above {} merchants (not reached)", last_good.unwrap_or(0));
    Ok(())
}

impl Figures {
    fn warmup_timed_out(&self, args: &DensityArgs) -> bool {
        self.jobs == 0 && self.warmup >= Duration::from_secs(args.warmup_timeout)
    }
}

async fn run_one(config: &Config, args: &DensityArgs, n: usize) -> anyhow::Result<Figures> {
    with_temp_db(config, |url| async move { run_in(&url, args, n).await }).await
}

/// The `storelink worker` children; killed when dropped (also when the run fails).
struct Workers(Vec<tokio::process::Child>);

impl Workers {
    fn pids(&self) -> Vec<u32> {
        self.0.iter().filter_map(tokio::process::Child::id).collect()
    }

    async fn kill(mut self) {
        for child in &mut self.0 {
            let _ = child.kill().await;
        }
    }
}

async fn run_in(db_url: &str, args: &DensityArgs, n: usize) -> anyhow::Result<Figures> {
    let pool = storelink_core::db::connect(db_url, 8).await?;
    storelink_core::db::migrate(&pool).await?;
    let keys = MasterKeys::generate("bench");
    let fleet =
        Arc::new(OccFleet::spawn(n, SimOptions { products: args.products, orders: 2, ..SimOptions::default() }).await?);
    let onboarded = Instant::now();
    onboard(&pool, &keys, &fleet, n).await?;
    eprintln!("  onboarded {n} merchants in {:.1} s", onboarded.elapsed().as_secs_f64());

    let workers = spawn_workers(args, db_url, &keys)?;
    let stop = CancellationToken::new();
    let trickle = tokio::spawn(trickle(fleet.clone(), args.changes_per_sec, stop.clone()));
    let outcome = measure(&pool, args, n, &workers, &fleet, db_url, stop.clone()).await;
    stop.cancel();
    let _ = trickle.await;
    workers.kill().await;
    fleet.stop().await;
    pool.close().await;
    outcome
}

/// N merchants under one partner, each with its store and sealed application key: what a connect
/// leaves behind, without the webhook slots (no webhooks are registered; syncs keep them fresh).
async fn onboard(pool: &PgPool, keys: &MasterKeys, fleet: &OccFleet, n: usize) -> anyhow::Result<()> {
    let partner = storelink_testkit::insert_partner(pool, "density").await?;
    let vault = Vault::new(pool.clone(), keys.clone());
    futures::stream::iter(0..n)
        .map(|i| {
            let (pool, vault, url) = (pool.clone(), vault.clone(), fleet.store_url(i));
            async move {
                let mut conn = pool.acquire().await?;
                let merchant = storelink_tenants::merchants::upsert_connected(&mut conn, partner, "occ", &url).await?;
                drop(conn);
                vault.seal(merchant, APP_KEY_PURPOSE, OccFleet::key(i).as_bytes()).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await
}

fn spawn_workers(args: &DensityArgs, db_url: &str, keys: &MasterKeys) -> anyhow::Result<Workers> {
    let mut children = Workers(Vec::new());
    for _ in 0..args.workers.max(1) {
        let child = tokio::process::Command::new(&args.storelink)
            .arg("worker")
            .env("DATABASE_URL", db_url)
            .env("STORELINK_MASTER_KEYS", keys.to_config_string().expose_secret())
            .env("STORELINK_ALLOW_INSECURE_STORE_URLS", "1")
            .env("STORELINK_SCHEDULE_SYNCS", "1")
            .env("STORELINK_SCHEDULE_COMPRESS", args.compress.to_string())
            .env("STORELINK_WORKER_CONCURRENCY", args.concurrency.to_string())
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", args.storelink.display()))?;
        children.0.push(child);
    }
    Ok(children)
}

/// `per_sec` changes a second spread over the fleet (a product updated, or an order placed), until
/// `stop`. Clears the fleet's call logs as it goes so a long run stays bounded.
async fn trickle(fleet: Arc<OccFleet>, per_sec: f64, stop: CancellationToken) -> usize {
    let mut calls = 0;
    let period = if per_sec > 0.0 { Duration::from_secs_f64(1.0 / per_sec) } else { Duration::from_secs(1) };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i: usize = 0;
    let mut cleared = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return calls,
        }
        if per_sec > 0.0 {
            // A stride coprime with most fleet sizes walks every store before repeating.
            i = i.wrapping_add(7919);
            if let Some(store) = fleet.store(i % fleet.len()) {
                if i.is_multiple_of(3) {
                    store.add_order();
                } else {
                    let ids = store.product_ids();
                    if !ids.is_empty() {
                        store.update_product(&ids[i % ids.len()]);
                    }
                }
            }
        }
        if cleared.elapsed() > Duration::from_secs(5) {
            calls += fleet.take_call_count();
            cleared = Instant::now();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    pool: &PgPool,
    args: &DensityArgs,
    n: usize,
    workers: &Workers,
    fleet: &OccFleet,
    db_url: &str,
    stop_trickle: CancellationToken,
) -> anyhow::Result<Figures> {
    let database = db_url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default().to_owned();
    let cadence: BTreeMap<String, f64> = {
        let raw = RawConfig { schedule_compress: args.compress, ..RawConfig::default() };
        Config::validate(raw)?.workers.sync_schedules().into_iter().map(|s| (s.kind, s.every.as_secs_f64())).collect()
    };
    let expected = (n * cadence.len()) as i64;

    // Warm-up: every merchant's first run of every kind.
    let started = Instant::now();
    let limit = Duration::from_secs(args.warmup_timeout);
    loop {
        check_alive(workers)?;
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM job_schedule_state WHERE last_succeeded_at IS NOT NULL")
                .fetch_one(pool)
                .await?;
        if done >= expected {
            break;
        }
        if started.elapsed() >= limit {
            eprintln!("  warm-up not done after {} s: {done} of {expected} first runs", args.warmup_timeout);
            return Ok(Figures {
                merchants: n,
                warmup: started.elapsed(),
                jobs: 0,
                failed: 0,
                window: Duration::ZERO,
                lag: BTreeMap::new(),
                cadence,
                worker_cpu_ms: 0.0,
                postgres_cpu_ms: 0.0,
                occ_calls: 0,
                rss_kib: 0,
                quiet: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let warmup = started.elapsed();
    fleet.take_call_count();

    // The measured window, with the trickle of changes.
    let worker_cpu0 = cpu_ticks(&workers.pids());
    let pg_cpu0 = cpu_ticks(&backend_pids(&database));
    let (t0,): (Ts,) = sqlx::query_as("SELECT clock_timestamp()").fetch_one(pool).await?;
    let window_start = Instant::now();
    let mut rss_kib = 0;
    let mut occ_calls = 0;
    while window_start.elapsed() < Duration::from_secs(args.seconds) {
        check_alive(workers)?;
        rss_kib = rss_kib.max(workers.pids().iter().filter_map(|p| status_kib(*p, "VmRSS:")).sum());
        occ_calls += fleet.take_call_count();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (t1,): (Ts,) = sqlx::query_as("SELECT clock_timestamp()").fetch_one(pool).await?;
    let window = window_start.elapsed();
    let worker_cpu_ms = ticks_ms(cpu_ticks(&workers.pids()).saturating_sub(worker_cpu0));
    let pg_cpu_ms = ticks_ms(cpu_ticks(&backend_pids(&database)).saturating_sub(pg_cpu0));
    occ_calls += fleet.take_call_count();

    let rows: Vec<(String, f64)> = sqlx::query_as(LAG_SQL).bind(t0).bind(t1).fetch_all(pool).await?;
    let mut lag: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (kind, secs) in rows {
        lag.entry(kind).or_default().push(secs.max(0.0));
    }
    for lags in lag.values_mut() {
        lags.sort_by(f64::total_cmp);
    }
    let jobs = lag.values().map(Vec::len).sum();
    let failed: i64 = sqlx::query_scalar("SELECT coalesce(sum(attempts), 0)::bigint FROM jobs WHERE updated_at > $1")
        .bind(t0)
        .fetch_one(pool)
        .await?;

    stop_trickle.cancel();
    let quiet = if args.quiet_seconds > 0 { Some(quiet_phase(pool, args, workers, &cadence).await?) } else { None };
    Ok(Figures {
        merchants: n,
        warmup,
        jobs,
        failed,
        window,
        lag,
        cadence,
        worker_cpu_ms,
        postgres_cpu_ms: pg_cpu_ms,
        occ_calls,
        rss_kib,
        quiet,
    })
}

/// Each job that succeeded in the window ($1, $2], with its lag in seconds from when it was due to
/// when it finished. A scheduled job is due one interval after the previous success of its
/// (merchant, kind) (the scheduler's `next_due_at`, which the jobs table does not keep); a first job
/// is due when it was created. This counts the scheduler's tick and the wait in the queue.
const LAG_SQL: &str = "WITH done AS (
         SELECT merchant_id, kind, created_at, finished_at,
                lag(finished_at) OVER (PARTITION BY merchant_id, kind ORDER BY job_id) AS previous
         FROM jobs WHERE state = 'succeeded')
     SELECT d.kind, extract(epoch FROM d.finished_at - coalesce(d.previous + make_interval(secs => s.every_secs),
                                                                d.created_at))::float8
     FROM done d LEFT JOIN job_schedules s ON s.kind = d.kind
     WHERE d.finished_at > $1 AND d.finished_at <= $2";

/// With the trickle stopped, wait until every incremental kind has run once more for every merchant
/// (picking up the last changes), then count the rows written in `quiet_seconds` and the runs.
async fn quiet_phase(
    pool: &PgPool,
    args: &DensityArgs,
    workers: &Workers,
    cadence: &BTreeMap<String, f64>,
) -> anyhow::Result<QuietFigures> {
    let longest = cadence.values().copied().fold(0.0, f64::max);
    let settle_limit = Instant::now() + Duration::from_secs_f64(longest * 3.0 + 60.0);
    let (stopped,): (Ts,) = sqlx::query_as("SELECT clock_timestamp()").fetch_one(pool).await?;
    loop {
        check_alive(workers)?;
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM job_schedule_state WHERE kind IN ('catalog', 'orders') AND last_succeeded_at < $1",
        )
        .bind(stopped)
        .fetch_one(pool)
        .await?;
        if behind == 0 {
            break;
        }
        if Instant::now() > settle_limit {
            bail!("{behind} catalog/orders schedules did not run again after the changes stopped");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Statistics reach pg_stat_user_tables when a backend's transaction ends (at most once a second,
    // idle ones within 10 s): both snapshots are taken as the workers keep running, so the delay
    // shifts the window rather than losing rows.
    let before = table_writes(pool).await?;
    let (t0,): (Ts,) = sqlx::query_as("SELECT clock_timestamp()").fetch_one(pool).await?;
    tokio::time::sleep(Duration::from_secs(args.quiet_seconds)).await;
    check_alive(workers)?;
    let after = table_writes(pool).await?;
    let (t1,): (Ts,) = sqlx::query_as("SELECT clock_timestamp()").fetch_one(pool).await?;
    let (runs, incremental_runs): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE mode = 'incremental') FROM jobs
         WHERE state = 'succeeded' AND finished_at > $1 AND finished_at <= $2",
    )
    .bind(t0)
    .bind(t1)
    .fetch_one(pool)
    .await?;
    let mut queue_rows = 0;
    let mut run_rows = BTreeMap::new();
    for (table, written) in &after {
        let delta = written - before.get(table).copied().unwrap_or(0);
        if delta == 0 {
            continue;
        }
        if QUEUE_TABLES.contains(&table.as_str()) {
            queue_rows += delta;
        } else {
            run_rows.insert(table.clone(), delta);
        }
    }
    Ok(QuietFigures { runs, incremental_runs, queue_rows, run_rows })
}

async fn table_writes(pool: &PgPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::bigint FROM pg_stat_user_tables")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

fn check_alive(workers: &Workers) -> anyhow::Result<()> {
    for pid in workers.pids() {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            bail!("worker process {pid} exited");
        }
    }
    Ok(())
}

/// Postgres backends serving `database` (their process title names it: `postgres: ... user db ...`).
fn backend_pids(database: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|title| {
                let title = String::from_utf8_lossy(&title);
                title.starts_with("postgres:") && title.split_whitespace().any(|w| w == database)
            })
        })
        .collect()
}

/// utime + stime of each process, in clock ticks (threads included).
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            // Fields 14 and 15 of stat(5); the first after the name is field 3.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

fn ticks_ms(ticks: u64) -> f64 {
    ticks as f64 * 1000.0 / TICKS_PER_SEC
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// The `p` quantile of sorted samples (nearest rank); None when there are none.
fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&samples, 0.5), Some(50.0));
        assert_eq!(quantile(&samples, 0.99), Some(99.0));
        assert_eq!(quantile(&samples, 1.0), Some(100.0));
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_break_point_is_a_p99_over_its_own_kinds_interval() {
        let figures = |orders: Vec<f64>| Figures {
            merchants: 10,
            warmup: Duration::ZERO,
            jobs: orders.len(),
            failed: 0,
            window: Duration::from_secs(1),
            lag: BTreeMap::from([("orders".to_owned(), orders), ("catalog".to_owned(), vec![20.0])]),
            cadence: BTreeMap::from([("orders".to_owned(), 5.0), ("catalog".to_owned(), 90.0)]),
            worker_cpu_ms: 0.0,
            postgres_cpu_ms: 0.0,
            occ_calls: 0,
            rss_kib: 0,
            quiet: None,
        };
        let mut fresh: Vec<f64> = vec![0.5; 99];
        fresh.push(6.0);
        assert!(figures(fresh).over_cadence().is_empty(), "one slow run in 100 is not the p99");
        let mut stale: Vec<f64> = vec![0.5; 98];
        stale.extend([6.0, 6.0]);
        assert_eq!(figures(stale).over_cadence(), vec!["orders".to_owned()]);
    }

    #[test]
    fn cpu_ticks_read_utime_and_stime_of_this_process() {
        let me = std::process::id();
        let before = cpu_ticks(&[me]);
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut spin = 0u64;
        while cpu_ticks(&[me]) == before && Instant::now() < give_up {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(cpu_ticks(&[me]) > before, "spinning shows as CPU ticks in /proc/self/stat");
        assert!(status_kib(me, "VmRSS:").is_some_and(|kib| kib > 0));
    }
}
