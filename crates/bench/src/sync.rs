//! Sync benchmarks: catalog throughput against a raw COPY baseline, worker peak memory by catalog
//! size, and fairness between one huge merchant and many small ones. Loopback only, temporary database.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::TryStreamExt;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use storelink_connector::Registry;
use storelink_connector_occ::{APP_KEY_PURPOSE, OccConnector};
use storelink_connector_sap::{Auth, SapConfig, SapConnector, SapCredentials};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{JobState, Mode, Queue, Worker, WorkerConfig};
use storelink_netguard::Policy;
use storelink_occ::OccConfig;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_sap_sim::SapSim;
use storelink_sync::SyncHandler;
use storelink_token_cache::{TokenCache, TokenConfig};
use storelink_vault::{MasterKeys, Vault};
use tokio_util::sync::CancellationToken;

use crate::with_temp_db;
use storelink::config::Config;

/// Everything a sync needs, on one database.
struct Rig {
    pool: PgPool,
    keys: MasterKeys,
    vault: Vault,
    queue: Queue,
    handler: SyncHandler,
}

impl Rig {
    async fn new(db_url: &str) -> anyhow::Result<Self> {
        let pool = storelink_core::db::connect(db_url, 20).await?;
        storelink_core::db::migrate(&pool).await?;
        let keys = MasterKeys::generate("bench");
        let vault = Vault::new(pool.clone(), keys.clone());
        let occ = OccConnector::with_config(OccConfig::default(), Policy::insecure())?;
        let sap = SapConnector::with_config(SapConfig::default(), Policy::insecure())?;
        let registry = Registry::default().with(occ).with(sap);
        let tokens = TokenCache::new(pool.clone(), registry, vault.clone(), TokenConfig::default());
        let queue = Queue::new(pool.clone());
        let handler = SyncHandler::new(pool.clone(), tokens, queue.clone());
        Ok(Self { pool, keys, vault, queue, handler })
    }

    /// `n` merchants on `store`, each under its own partner (a partner connects a store once).
    async fn merchants(&self, store: &str, key: &str, n: usize) -> anyhow::Result<Vec<MerchantId>> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let partner = storelink_testkit::insert_partner(&self.pool, "bench").await?;
            let mut conn = self.pool.acquire().await?;
            let merchant = storelink_tenants::merchants::upsert_connected(&mut conn, partner, "occ", store).await?;
            self.vault.seal(merchant, APP_KEY_PURPOSE, key.as_bytes()).await?;
            ids.push(merchant);
        }
        Ok(ids)
    }

    /// A SAP merchant on `sim`, connecting with an OAuth client the simulator is given here.
    async fn sap_merchant(&self, sim: &SapSim) -> anyhow::Result<MerchantId> {
        sim.add_user("storelink", "bench", &[storelink_sap_sim::GROUP_STORELINK]);
        sim.add_oauth_client("storelink-client", "bench", "storelink");
        let partner = storelink_testkit::insert_partner(&self.pool, "bench").await?;
        let mut conn = self.pool.acquire().await?;
        let merchant =
            storelink_tenants::merchants::upsert_connected(&mut conn, partner, "sap", &sim.base_url()).await?;
        let auth = Auth::OAuth { client_id: "storelink-client".into(), client_secret: "bench".into(), token_url: None };
        let credentials = serde_json::to_vec(&SapCredentials { auth, objects: Default::default() })?;
        self.vault.seal(merchant, storelink_connector_sap::CREDENTIALS_PURPOSE, &credentials).await?;
        Ok(merchant)
    }

    fn worker(&self, slice: Duration) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let config =
            WorkerConfig { slice, poll: Duration::from_millis(100), ..WorkerConfig::new(storelink_sync::kinds()) };
        let shutdown = CancellationToken::new();
        let worker = Worker::new(self.queue.clone(), self.handler.clone(), config);
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = worker.run(stop).await {
                tracing::error!(error = %e, "bench worker failed");
            }
        });
        (shutdown, task)
    }

    async fn wait_for(&self, merchant: MerchantId, job_id: i64, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let job = self.queue.get(merchant, job_id).await?.context("job vanished")?;
            match job.state {
                JobState::Succeeded => return Ok(()),
                JobState::Dead | JobState::Cancelled | JobState::Paused => {
                    bail!("job ended {}: {}", job.state.as_str(), job.last_error.unwrap_or_default())
                }
                _ if Instant::now() > deadline => bail!("job did not finish within {limit:?}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// The platform whose simulator a sync bench reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    Occ,
    Sap,
}

/// A running simulator of either platform.
enum Sim {
    Occ(OccSim),
    Sap(SapSim),
}

impl Sim {
    async fn stop(&self) {
        match self {
            Sim::Occ(sim) => sim.stop().await,
            Sim::Sap(sim) => sim.stop().await,
        }
    }
}

pub async fn throughput(config: Config, products: usize, platform: Platform) -> anyhow::Result<()> {
    let slice = config.workers.slice;
    with_temp_db(&config, |url| async move {
        let rig = Rig::new(&url).await?;
        let (sim, merchant) = match platform {
            Platform::Occ => {
                let sim = OccSim::spawn(SimOptions { products, orders: 0, ..SimOptions::default() }).await?;
                let key = sim.add_key(Permissions::all());
                let merchant = rig.merchants(&sim.base_url(), &key, 1).await?[0];
                (Sim::Occ(sim), merchant)
            }
            Platform::Sap => {
                let options = storelink_sap_sim::SimOptions { products, orders: 0, ..Default::default() };
                let sim = SapSim::spawn(options).await?;
                let merchant = rig.sap_merchant(&sim).await?;
                (Sim::Sap(sim), merchant)
            }
        };
        let job_id = rig.queue.enqueue(merchant, SyncKind::Catalog.as_str(), Mode::Full).await?;
        checkpoint(&rig.pool).await?;
        let started = Instant::now();
        let (shutdown, worker) = rig.worker(slice);
        rig.wait_for(merchant, job_id, Duration::from_secs(3600)).await?;
        let sync_time = started.elapsed();
        shutdown.cancel();
        let _ = worker.await;
        sim.stop().await;

        let (product_rows, sku_rows): (i64, i64) =
            sqlx::query_as("SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM skus)")
                .fetch_one(&rig.pool)
                .await?;
        let rows = (product_rows + sku_rows) as f64;
        let copy_time = copy_baseline(&rig.pool).await?;
        let sync_rate = rows / sync_time.as_secs_f64();
        let copy_rate = rows / copy_time.as_secs_f64();
        let name = format!("{platform:?}").to_uppercase();
        println!("bench sync: {name} catalog of {products} products ({product_rows} product + {sku_rows} SKU rows)");
        println!("  full sync from the simulator  {:>8.2} s   {sync_rate:>10.0} rows/s", sync_time.as_secs_f64());
        println!("  raw COPY of the same rows     {:>8.2} s   {copy_rate:>10.0} rows/s", copy_time.as_secs_f64());
        println!("  ratio sync/COPY               {:.2}   (target >= 0.5)", sync_rate / copy_rate);
        Ok(())
    })
    .await
}

/// Both timed phases start from a checkpoint: without one, the checkpoint that the WAL of earlier
/// runs (or phases) calls for lands in either phase at random (`max_wal_size`), and moved the COPY
/// baseline by up to 50% between runs.
async fn checkpoint(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// Export both tables, empty them, and time a binary COPY of the same rows back in.
async fn copy_baseline(pool: &PgPool) -> anyhow::Result<Duration> {
    let mut conn = pool.acquire().await?;
    let mut dumps = Vec::new();
    for table in ["products", "skus"] {
        let chunks: Vec<bytes::Bytes> =
            conn.copy_out_raw(&format!("COPY {table} TO STDOUT (FORMAT binary)")).await?.try_collect().await?;
        dumps.push((table, chunks));
    }
    sqlx::query("TRUNCATE products, skus").execute(&mut *conn).await?;
    checkpoint(pool).await?;
    let started = Instant::now();
    for (table, chunks) in dumps {
        let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN (FORMAT binary)")).await?;
        for chunk in chunks {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
    }
    Ok(started.elapsed())
}

pub async fn rss(config: Config, sizes: Vec<usize>, storelink: std::path::PathBuf) -> anyhow::Result<()> {
    with_temp_db(&config, |url| async move {
        let rig = Rig::new(&url).await?;
        println!("bench rss: peak resident memory (VmHWM) of a `storelink worker` process running one catalog sync");
        for products in sizes {
            let storelink = storelink.clone();
            let sim = OccSim::spawn(SimOptions { products, orders: 0, ..SimOptions::default() }).await?;
            let key = sim.add_key(Permissions::all());
            let merchant = rig.merchants(&sim.base_url(), &key, 1).await?[0];
            let job_id = rig.queue.enqueue(merchant, SyncKind::Catalog.as_str(), Mode::Full).await?;
            let mut child = tokio::process::Command::new(storelink)
                .arg("worker")
                .env("DATABASE_URL", &url)
                .env("STORELINK_MASTER_KEYS", rig.keys.to_config_string().expose_secret())
                .env("STORELINK_ALLOW_INSECURE_STORE_URLS", "1")
                .env("STORELINK_SCHEDULE_SYNCS", "0")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            let pid = child.id().context("worker exited at once")?;
            let started = Instant::now();
            let outcome = rig.wait_for(merchant, job_id, Duration::from_secs(3600)).await;
            let peak = peak_rss_kib(pid);
            child.kill().await?;
            sim.stop().await;
            outcome?;
            println!(
                "  {products:>7} products: {:>6.1} MB peak RSS, synced in {:.1} s",
                peak? as f64 / 1024.0,
                started.elapsed().as_secs_f64()
            );
        }
        println!("  (target < 100 MB for both, and flat)");
        Ok(())
    })
    .await
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc status")?;
    Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
}

pub async fn fairness(
    config: Config,
    small: usize,
    small_products: usize,
    large_products: usize,
) -> anyhow::Result<()> {
    let slice = config.workers.slice;
    let alone = fairness_run(&config, small, small_products, None, slice).await?;
    let with_large = fairness_run(&config, small, small_products, Some(large_products), slice).await?;
    println!("bench fairness: {small} merchants x {small_products} products, worker concurrency 4, {slice:?} slices");
    println!("  every small merchant synced once, alone:                {:>7.2} s", alone.as_secs_f64());
    println!("  ... with one {large_products}-product merchant queued first: {:>7.2} s", with_large.as_secs_f64());
    println!("  ratio {:.2}   (target <= 1.5)", with_large.as_secs_f64() / alone.as_secs_f64());
    Ok(())
}

async fn fairness_run(
    config: &Config,
    small: usize,
    small_products: usize,
    large: Option<usize>,
    slice: Duration,
) -> anyhow::Result<Duration> {
    with_temp_db(config, |url| async move {
        let rig = Rig::new(&url).await?;
        let small_sim =
            OccSim::spawn(SimOptions { products: small_products, orders: 0, ..SimOptions::default() }).await?;
        let small_key = small_sim.add_key(Permissions::all());
        let large_sim = match large {
            Some(products) => Some(OccSim::spawn(SimOptions { products, orders: 0, ..SimOptions::default() }).await?),
            None => None,
        };
        if let Some(sim) = &large_sim {
            let key = sim.add_key(Permissions::all());
            let merchant = rig.merchants(&sim.base_url(), &key, 1).await?[0];
            rig.queue.enqueue(merchant, SyncKind::Catalog.as_str(), Mode::Full).await?;
        }
        let smalls = rig.merchants(&small_sim.base_url(), &small_key, small).await?;
        for merchant in &smalls {
            rig.queue.enqueue(*merchant, SyncKind::Catalog.as_str(), Mode::Full).await?;
        }
        let started = Instant::now();
        let (shutdown, worker) = rig.worker(slice);
        loop {
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_schedule_state WHERE kind = 'catalog' AND last_succeeded_at IS NOT NULL
                 AND merchant_id = ANY($1)",
            )
            .bind(&smalls)
            .fetch_one(&rig.pool)
            .await?;
            if done as usize == small {
                break;
            }
            if started.elapsed() > Duration::from_secs(1800) {
                bail!("small merchants did not finish");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = started.elapsed();
        shutdown.cancel();
        let _ = worker.await;
        small_sim.stop().await;
        if let Some(sim) = large_sim {
            sim.stop().await;
        }
        Ok(elapsed)
    })
    .await
}
