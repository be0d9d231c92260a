//! `storelink-bench`: the load generators and measurements behind docs/BENCHMARKS.md, each figure
//! against a baseline taken in the same run. Everything runs on loopback against the in-process OCC
//! simulator, in a temporary database that is dropped afterwards. It owns no product behaviour and is
//! never shipped: it drives the `storelink` library (and, for `rss`, the `storelink` binary).

mod api;
mod connect;
mod density;
mod sync;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;
use std::time::Duration;
use storelink::config::Config;
use storelink_testkit::with_database;

#[derive(Parser)]
#[command(
    name = "storelink-bench",
    about = "Storelink benchmarks for docs/BENCHMARKS.md (loopback only, temporary databases)"
)]
struct Cli {
    /// TOML configuration file (also STORELINK_CONFIG); `DATABASE_URL` picks the server that holds
    /// the temporary databases, found as `storelink demo` finds its database when unset.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Connect latency (POST /connect) vs one store call (OCC: the login; SAP: one OData read), with
    /// latency added to every simulator call.
    Connect {
        #[arg(long, default_value_t = 100)]
        latency_ms: u64,
        #[arg(long, default_value_t = 15)]
        runs: usize,
        #[arg(long, value_enum, default_value_t = sync::Platform::Occ)]
        platform: sync::Platform,
    },
    /// Catalog sync rows/s from the simulator vs a raw COPY of the same rows into the same tables.
    Sync {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        /// The platform whose simulator is read (`sap`: the SAP Integration API simulator).
        #[arg(long, value_enum, default_value_t = sync::Platform::Occ)]
        platform: sync::Platform,
    },
    /// Peak RSS of a `storelink worker` process syncing catalogs of each size.
    Rss {
        #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000])]
        products: Vec<usize>,
        /// The `storelink` binary to measure (default: the one beside this binary, as built by
        /// `cargo build --release`).
        #[arg(long)]
        storelink: Option<PathBuf>,
    },
    /// Durable inbound webhook ingest req/s and p99 vs the same server's /healthz.
    Ingest {
        /// Length of each phase of a round.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Rounds of /healthz then ingest; the median ratio is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Partner product listing latency: page 1 vs the last page (1,000 at 100,000 products). With
    /// `--read-replica`, also listing throughput served by that standby vs by the primary alone.
    Listing {
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// A streaming standby of the server holding the temporary database (`postgres://HOST:PORT`,
        /// no database name: the temporary one is used).
        #[arg(long)]
        read_replica: Option<String>,
        /// Length of each throughput phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Rounds of primary-only then replica; the median ratio is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Partner order listing latency (orders with lines): page 1 vs the last page (1,000 at 100,000).
    OrderListing {
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// Ops console tenants list: first page vs last page.
    Tenants {
        #[arg(long, default_value_t = 10_000)]
        tenants: usize,
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
    /// Master-key rewrap throughput over N data keys.
    Rewrap {
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
    },
    /// Time until every small merchant has synced once, with and without one huge merchant.
    Fairness {
        #[arg(long, default_value_t = 200)]
        small: usize,
        #[arg(long, default_value_t = 20)]
        small_products: usize,
        #[arg(long, default_value_t = 100_000)]
        large_products: usize,
    },
    /// Tenant density: N merchants kept fresh by real `storelink worker` processes at the default
    /// schedules divided by --compress; jobs/s, freshness lag, CPU per job, RSS, break point.
    Density {
        #[arg(long, default_value_t = 1_000)]
        merchants: usize,
        /// `storelink worker` processes.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Jobs each worker process runs at once (STORELINK_WORKER_CONCURRENCY).
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Every cadence is divided by this (STORELINK_SCHEDULE_COMPRESS).
        #[arg(long, default_value_t = 10)]
        compress: u32,
        /// Changes made in the fleet per second (a product updated or an order placed).
        #[arg(long, default_value_t = 10.0)]
        changes_per_sec: f64,
        /// Length of the measured window, after the warm-up (every merchant's first runs).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Length of the window without changes that counts rows written per run (0: skipped).
        #[arg(long, default_value_t = 20)]
        quiet_seconds: u64,
        /// Give up on a merchant count whose first runs are not all done after this long.
        #[arg(long, default_value_t = 900)]
        warmup_timeout: u64,
        /// Products per simulated store.
        #[arg(long, default_value_t = 10)]
        products: usize,
        /// Step through --steps and report where p99 lag first exceeds a kind's interval.
        #[arg(long)]
        find_break_point: bool,
        #[arg(long, value_delimiter = ',', default_values_t = [1_000, 2_000, 5_000, 10_000])]
        steps: Vec<usize>,
        /// The `storelink` binary to run (default: the one beside this binary).
        #[arg(long)]
        storelink: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    storelink::run_to_exit(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    storelink::telemetry::init(config.log_format, storelink::telemetry::Verbosity::Warn);
    match cli.command {
        BenchCommand::Connect { latency_ms, runs, platform } => {
            connect::connect(config, platform, latency_ms, runs.max(3)).await
        }
        BenchCommand::Sync { products, platform } => sync::throughput(config, products, platform).await,
        BenchCommand::Rss { products, storelink } => sync::rss(config, products, storelink_binary(storelink)?).await,
        BenchCommand::Ingest { seconds, concurrency, rounds } => {
            api::ingest(config, seconds, concurrency, rounds).await
        }
        BenchCommand::Listing { products, samples, read_replica, seconds, concurrency, rounds } => {
            let replica = read_replica.map(|url| api::ReplicaRun {
                url,
                phase: Duration::from_secs(seconds),
                concurrency,
                rounds: rounds.max(1),
            });
            api::listing(config, products, samples, replica).await
        }
        BenchCommand::OrderListing { orders, samples } => api::order_listing(config, orders, samples).await,
        BenchCommand::Tenants { tenants, samples } => api::tenants(config, tenants, samples).await,
        BenchCommand::Rewrap { keys } => api::rewrap(config, keys).await,
        BenchCommand::Fairness { small, small_products, large_products } => {
            sync::fairness(config, small, small_products, large_products).await
        }
        BenchCommand::Density {
            merchants,
            workers,
            concurrency,
            compress,
            changes_per_sec,
            seconds,
            quiet_seconds,
            warmup_timeout,
            products,
            find_break_point,
            steps,
            storelink,
        } => {
            let args = density::DensityArgs {
                merchants: merchants.clamp(1, 100_000),
                workers: workers.clamp(1, 16),
                concurrency: concurrency.clamp(1, 256),
                compress: compress.clamp(1, 3600),
                changes_per_sec: changes_per_sec.clamp(0.0, 10_000.0),
                seconds: seconds.clamp(1, 3600),
                quiet_seconds: quiet_seconds.min(3600),
                warmup_timeout: warmup_timeout.clamp(1, 7200),
                products: products.clamp(1, 1_000),
                find_break_point,
                steps: steps.into_iter().map(|n| n.clamp(1, 100_000)).collect(),
                storelink: storelink_binary(storelink)?,
            };
            density::density(config, args).await
        }
    }
}

/// The production binary that `rss` measures: given, or the `storelink` beside this one.
fn storelink_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("storelink"),
    };
    if !path.is_file() {
        bail!("no storelink binary at {}: build it first with `cargo build --release`", path.display());
    }
    Ok(path)
}

/// Run `body` against a fresh temporary database, dropping it afterwards.
pub(crate) async fn with_temp_db<T, F, Fut>(config: &Config, body: F) -> anyhow::Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let (url, admin_url, name) = temp_database(config).await?;
    let result = body(url).await;
    drop_database(&admin_url, &name).await;
    result
}

/// A throwaway database on the configured (or local) server, dropped by `drop_database`.
async fn temp_database(config: &Config) -> anyhow::Result<(String, String, String)> {
    let db = storelink::database::resolve(config).await?;
    let admin_url = with_database(&db.url, "postgres");
    let name = format!("storelink_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url).await.context("connecting to create the bench database")?;
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await?;
    Ok((with_database(&db.url, &name), admin_url, name))
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = PgConnection::connect(admin_url).await {
        let _ = conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str()).await;
    }
}

pub(crate) fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
