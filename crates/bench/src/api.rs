//! Benchmarks on loopback, in a temporary database: durable inbound webhook ingest against the same
//! server's `/healthz` (the baseline), partner product and order listing latency at page 1 against
//! page 1,000 of 100,000 products or orders (with lines), listing throughput from a read replica
//! against the primary alone, and master-key rewrap throughput.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sqlx::PgPool;
use storelink_core::{MerchantId, PartnerId, Slot, webhook_secret_purpose};
use storelink_partner_api::TokenIssuer;
use storelink_vault::MasterKeys;

use crate::with_temp_db;
use storelink::config::{Config, RawConfig};
use storelink::server::{self, Services};

/// Distinct signed deliveries prepared per second of the ingest run (more than it can send).
const PREPARED_PER_SECOND: usize = 40_000;
const FIXTURE: &str = include_str!("../../../fixtures/occ/order-submit.json");

/// A server (no workers) on a fresh database with one partner and one merchant.
struct Rig {
    pool: PgPool,
    base: String,
    keys: MasterKeys,
    partner: PartnerId,
    merchant: MerchantId,
    handle: actix_web::dev::ServerHandle,
}

impl Rig {
    async fn start(db_url: &str) -> anyhow::Result<Self> {
        let pool = storelink_core::db::connect(db_url, 20).await?;
        storelink_core::db::migrate(&pool).await?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let raw = RawConfig { listen: addr.to_string(), public_url: format!("http://{addr}"), ..RawConfig::default() };
        let keys = MasterKeys::generate("bench");
        let services = Services::new(Config::validate(raw)?, pool.clone(), keys.clone())?;
        let http = server::http_server(&services, listener, false)?;
        let handle = http.handle();
        tokio::spawn(http);
        let partner = storelink_testkit::insert_partner(&pool, "bench").await?;
        let mut conn = pool.acquire().await?;
        let merchant =
            storelink_tenants::merchants::upsert_connected(&mut conn, partner, "occ", "https://bench-store.example")
                .await?;
        Ok(Self { pool, base: format!("http://{addr}"), keys, partner, merchant, handle })
    }
}

/// Requests/s and p99 latency of `concurrency` clients sending `request(client, n)` for `duration`.
/// The clients run on a runtime of their own (two threads, as a separate load tool would), so the
/// server's own tasks (the ingest writers, the database connections) do not queue behind them.
async fn load<F>(duration: Duration, concurrency: usize, request: F) -> anyhow::Result<(f64, Duration)>
where
    F: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-load")
            .enable_all()
            .build()?;
        runtime.block_on(run_load(duration, concurrency, request))
    })
    .await?
}

async fn run_load<F>(duration: Duration, concurrency: usize, request: F) -> anyhow::Result<(f64, Duration)>
where
    F: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, request, counter) = (client.clone(), request.clone(), counter.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    let response = request(&client, n).send().await?;
                    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
                    latencies.push(sent.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let p99 = all.get(all.len() * 99 / 100).copied().unwrap_or_default();
    Ok((all.len() as f64 / elapsed, p99))
}

pub async fn ingest(config: Config, seconds: u64, concurrency: usize, rounds: usize) -> anyhow::Result<()> {
    let duration = Duration::from_secs(seconds);
    with_temp_db(&config, |url| async move { ingest_in(&url, duration, concurrency, rounds.max(1)).await }).await
}

/// `rounds` rounds of `/healthz` then ingest, each `duration` long; the ratio reported is the median
/// of the rounds' ratios (the two phases share two cores with the load loop, so single runs vary).
async fn ingest_in(db_url: &str, duration: Duration, concurrency: usize, rounds: usize) -> anyhow::Result<()> {
    let rig = Rig::start(db_url).await?;
    let secret = [7u8; 64];
    let vault = storelink_vault::Vault::new(rig.pool.clone(), rig.keys.clone());
    let sealed = serde_json::json!({"sha512": STANDARD.encode(secret)}).to_string();
    vault.seal(rig.merchant, &webhook_secret_purpose(Slot::OrderSubmit), sealed.as_bytes()).await?;
    let health_url = format!("{}/healthz", rig.base);
    let ingest_url = format!("{}/webhooks/occ/{}/order-submit", rig.base, rig.merchant);
    println!("concurrency {concurrency}, {rounds} rounds of {} s per phase", duration.as_secs());
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let url = health_url.clone();
        let (health_rps, health_p99) = load(duration, concurrency, move |client, _| client.get(&url)).await?;

        // Signed bodies are built before the clock starts, as a load tool sends prepared requests;
        // each is a distinct order, so every request is a new durable insert.
        let count = duration.as_secs() as usize * PREPARED_PER_SECOND;
        let prepared = Arc::new(prepare_deliveries(&secret, round * count, count)?);
        let (url, bodies) = (ingest_url.clone(), prepared.clone());
        let (ingest_rps, ingest_p99) = load(duration, concurrency, move |client, n| {
            let (body, signature) = &bodies[usize::try_from(n).unwrap_or(0) % bodies.len()];
            client
                .post(&url)
                .header("content-type", "application/json")
                .header("X-Oracle-CC-WebHook-Signature-SHA512", signature.as_str())
                .body(body.clone())
        })
        .await?;
        if (ingest_rps * duration.as_secs_f64()) as usize > prepared.len() {
            println!("warning: more requests than prepared deliveries; the rest were redeliveries");
        }
        let ratio = ingest_rps / health_rps;
        println!(
            "round {}: /healthz {health_rps:>7.0} req/s (p99 {:.2} ms), ingest {ingest_rps:>7.0} req/s (p99 {:.2} ms), ratio {ratio:.2}",
            round + 1,
            health_p99.as_secs_f64() * 1e3,
            ingest_p99.as_secs_f64() * 1e3,
        );
        ratios.push(ratio);
    }
    // Each writer batch is one transaction, so the distinct inserting transaction ids count commits.
    let (stored, commits): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM inbound_events").fetch_one(&rig.pool).await?;
    ratios.sort_by(f64::total_cmp);
    println!("{stored} events stored in {commits} commits ({:.1} per commit)", stored as f64 / commits.max(1) as f64);
    println!("median ratio ingest / healthz: {:.2} (target >= 0.3)", ratios[ratios.len() / 2]);
    rig.handle.stop(true).await;
    Ok(())
}

/// Copies of the fixture order numbered `first..first + count`, and their SHA-512 signatures.
fn prepare_deliveries(secret: &[u8], first: usize, count: usize) -> anyhow::Result<Vec<(bytes::Bytes, String)>> {
    const PLACEHOLDER: &str = "bench-000000000";
    let mut template: serde_json::Value = serde_json::from_str(FIXTURE)?;
    template["order"]["id"] = serde_json::json!(PLACEHOLDER);
    let template = template.to_string();
    let at = template.find(PLACEHOLDER).ok_or_else(|| anyhow::anyhow!("placeholder missing"))? + "bench-".len();
    let one = |n: usize| {
        let mut body = template.clone().into_bytes();
        body[at..at + 9].copy_from_slice(format!("{n:09}").as_bytes());
        let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        mac.update(&body);
        (bytes::Bytes::from(body), STANDARD.encode(mac.finalize().into_bytes()))
    };
    let (half, end) = (first + count / 2, first + count);
    Ok(std::thread::scope(|s| {
        let upper = s.spawn(|| (half..end).map(one).collect::<Vec<_>>());
        let mut all: Vec<_> = (first..half).map(one).collect();
        all.extend(upper.join().unwrap_or_default());
        all
    }))
}

/// `listing --read-replica`: a standby of the database server, and the throughput phases.
pub struct ReplicaRun {
    pub url: String,
    pub phase: Duration,
    pub concurrency: usize,
    pub rounds: usize,
}

pub async fn listing(
    config: Config,
    products: usize,
    samples: usize,
    replica: Option<ReplicaRun>,
) -> anyhow::Result<()> {
    with_temp_db(&config, |url| async move { listing_in(&url, products, samples, replica).await }).await
}

async fn listing_in(db_url: &str, products: usize, samples: usize, replica: Option<ReplicaRun>) -> anyhow::Result<()> {
    let rig = Rig::start(db_url).await?;
    sqlx::query(
        "INSERT INTO products (merchant_id, product_id, display_name, list_price, content_hash, seen_generation, updated_at)
         SELECT $1, 'prod' || lpad(n::text, 7, '0'), 'Product ' || n, 10 + n % 90, '\\x00', 1,
                now() - make_interval(secs => $2 - n)
         FROM generate_series(1, $2) AS n",
    )
    .bind(rig.merchant)
    .bind(i64::try_from(products)?)
    .execute(&rig.pool)
    .await?;
    sqlx::query(
        "INSERT INTO skus (merchant_id, sku_id, product_id, active, content_hash, seen_generation)
         SELECT merchant_id, product_id || '-1', product_id, true, '\\x00', 1 FROM products WHERE merchant_id = $1",
    )
    .bind(rig.merchant)
    .execute(&rig.pool)
    .await?;
    sqlx::query("ANALYZE products").execute(&rig.pool).await?;
    sqlx::query("ANALYZE skus").execute(&rig.pool).await?;
    first_against_last_page(&rig, "products", products, samples).await?;
    if let Some(replica) = replica {
        replica_against_primary(&rig, db_url, &replica).await?;
    }
    rig.handle.stop(true).await;
    Ok(())
}

/// Listing throughput (page 1 of products, 100 per page) from a second server whose reads go to the
/// standby, against the rig's server (primary only), in alternating rounds of the same length.
async fn replica_against_primary(rig: &Rig, db_url: &str, replica: &ReplicaRun) -> anyhow::Result<()> {
    let database = url::Url::parse(db_url)?.path().trim_start_matches('/').to_owned();
    let replica_url = storelink_testkit::with_database(&replica.url, &database);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let raw = RawConfig {
        listen: addr.to_string(),
        // The same issuer as the rig's server, so one partner token serves both.
        public_url: rig.base.clone(),
        read_database_url: Some(replica_url),
        ..RawConfig::default()
    };
    let services = Services::new(Config::validate(raw)?, rig.pool.clone(), rig.keys.clone())?;
    let http = server::http_server(&services, listener, false)?;
    let handle = http.handle();
    tokio::spawn(http);
    // The standby has the products once it has replayed the primary's position after loading them.
    let target: i64 =
        sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint").fetch_one(&rig.pool).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = services.reads.status();
        let replayed = status.iter().all(|s| s.usable && s.replay_lsn.is_some_and(|r| r.0 >= target as u64));
        if replayed {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the standby did not catch up within 2 minutes: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = TokenIssuer::new(rig.keys.clone(), rig.base.clone()).issue(rig.partner)?;
    let path = format!("/v1/merchants/{}/products?limit=100", rig.merchant);
    println!(
        "listing throughput: {} rounds of {} s per phase, {} clients, page 1 of 100 products",
        replica.rounds,
        replica.phase.as_secs(),
        replica.concurrency
    );
    let source = || async {
        let check = reqwest::Client::new().get(format!("http://{addr}{path}")).bearer_auth(&token).send().await?;
        let source = check.headers().get("storelink-read-source").and_then(|v| v.to_str().ok()).unwrap_or("");
        anyhow::ensure!(source == "replica", "the replica server's reads went to the {source:?} (standby not in use)");
        Ok::<_, anyhow::Error>(())
    };
    source().await?;
    let mut ratios = Vec::new();
    for round in 0..replica.rounds {
        let mut rates = Vec::new();
        for base in [rig.base.clone(), format!("http://{addr}")] {
            let (url, token) = (format!("{base}{path}"), token.clone());
            let (rps, p99) =
                load(replica.phase, replica.concurrency, move |client, _| client.get(&url).bearer_auth(&token)).await?;
            rates.push((rps, p99));
        }
        let ((primary, primary_p99), (standby, standby_p99)) = (rates[0], rates[1]);
        println!(
            "round {}: primary only {primary:>6.0} req/s (p99 {:.1} ms), one replica {standby:>6.0} req/s (p99 {:.1} ms), ratio {:.2}",
            round + 1,
            primary_p99.as_secs_f64() * 1e3,
            standby_p99.as_secs_f64() * 1e3,
            standby / primary
        );
        ratios.push(standby / primary);
    }
    source().await?;
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio replica / primary only: {:.2} (one machine: the standby shares its CPU)",
        ratios[ratios.len() / 2]
    );
    handle.stop(true).await;
    Ok(())
}

pub async fn order_listing(config: Config, orders: usize, samples: usize) -> anyhow::Result<()> {
    with_temp_db(&config, |url| async move { order_listing_in(&url, orders, samples).await }).await
}

/// Orders as sync stores them: one to three lines each, a shipping address and totals.
async fn order_listing_in(db_url: &str, orders: usize, samples: usize) -> anyhow::Result<()> {
    let rig = Rig::start(db_url).await?;
    sqlx::query(
        "INSERT INTO orders (merchant_id, order_id, state, status, payment_status, site_id, currency, total,
                             submitted_at, source_modified_at, lines, shipping_address, totals, content_hash,
                             seen_generation, updated_at)
         SELECT $1, 'o' || lpad(n::text, 7, '0'), 'SUBMITTED', 'submitted', 'authorized', 'siteUS', 'USD', 20 + n % 90,
                now() - make_interval(secs => $2 - n), now() - make_interval(secs => $2 - n),
                (SELECT jsonb_agg(jsonb_build_object('line_id', 'ci' || n || '-' || k, 'product_id', 'prod' || (n + k) % 1000,
                     'variant_id', 'sku' || (n + k) % 1000 || '-1', 'name', 'Product ' || k, 'quantity', 1 + k,
                     'unit_price', '10.5', 'discount', '0', 'tax', '0.84', 'total', ((1 + k) * 10.5)::text))
                 FROM generate_series(0, n % 3) AS k),
                jsonb_build_object('first_name', 'Jean', 'last_name', 'Smith', 'line1', '101 TNT Dr', 'city', 'Birmingham',
                     'region', 'AL', 'postal_code', '35203', 'country', 'US'),
                jsonb_build_object('subtotal', '21.00', 'shipping', '6.50', 'tax', '0.84', 'total', '28.34'),
                '\\x00', 1, now() - make_interval(secs => $2 - n)
         FROM generate_series(1, $2) AS n",
    )
    .bind(rig.merchant)
    .bind(i64::try_from(orders)?)
    .execute(&rig.pool)
    .await?;
    sqlx::query("ANALYZE orders").execute(&rig.pool).await?;
    first_against_last_page(&rig, "orders", orders, samples).await?;
    rig.handle.stop(true).await;
    Ok(())
}

/// Median latency of the first page of `/v1/merchants/{m}/{resource}` against the last one (100 per
/// page), after walking the cursors to it once.
async fn first_against_last_page(rig: &Rig, resource: &str, count: usize, samples: usize) -> anyhow::Result<()> {
    const LIMIT: usize = 100;
    let issuer = TokenIssuer::new(rig.keys.clone(), rig.base.clone());
    let token = issuer.issue(rig.partner)?;
    let http = reqwest::Client::new();
    let page_url = |cursor: Option<&str>| {
        let mut url = format!("{}/v1/merchants/{}/{resource}?limit={LIMIT}", rig.base, rig.merchant);
        if let Some(cursor) = cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        url
    };
    // Walk to the last page once to learn its cursor.
    let pages = count / LIMIT;
    let mut cursor: Option<String> = None;
    for _ in 1..pages {
        let page: serde_json::Value =
            http.get(page_url(cursor.as_deref())).bearer_auth(&token).send().await?.json().await?;
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let last = cursor.ok_or_else(|| anyhow::anyhow!("fewer pages than expected"))?;
    let (mut first_times, mut last_times) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        for (cursor, times) in [(None, &mut first_times), (Some(last.as_str()), &mut last_times)] {
            let started = Instant::now();
            let page: serde_json::Value = http.get(page_url(cursor)).bearer_auth(&token).send().await?.json().await?;
            times.push(started.elapsed());
            anyhow::ensure!(page["items"].as_array().map(Vec::len) == Some(LIMIT), "a full page");
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (first, last) = (median(&mut first_times), median(&mut last_times));
    println!("{count} {resource}, {LIMIT} per page, {samples} samples each (median)");
    println!("page 1:      {:>7.2} ms", first.as_secs_f64() * 1e3);
    println!("page {pages}:  {:>7.2} ms", last.as_secs_f64() * 1e3);
    println!("ratio last / first: {:.2} (target <= 1.5)", last.as_secs_f64() / first.as_secs_f64());
    Ok(())
}

pub async fn rewrap(config: Config, keys: usize) -> anyhow::Result<()> {
    with_temp_db(&config, |url| async move { rewrap_in(&url, keys).await }).await
}

async fn rewrap_in(db_url: &str, count: usize) -> anyhow::Result<()> {
    let pool = storelink_core::db::connect(db_url, 20).await?;
    storelink_core::db::migrate(&pool).await?;
    let old = MasterKeys::generate("old");
    let vault = storelink_vault::Vault::new(pool.clone(), old.clone());
    let partner = storelink_testkit::insert_partner(&pool, "bench").await?;
    let mut conn = pool.acquire().await?;
    for n in 0..count {
        let store = format!("https://store-{n}.example");
        let merchant = storelink_tenants::merchants::upsert_connected(&mut conn, partner, "occ", &store).await?;
        vault.seal(merchant, storelink_connector_occ::APP_KEY_PURPOSE, b"occ-app-key-for-bench").await?;
    }
    drop(conn);
    let rotated = old.with_generated("new")?;
    let vault = storelink_vault::Vault::new(pool.clone(), rotated);
    let started = Instant::now();
    let mut done = 0;
    loop {
        let n = vault.rewrap_batch(500).await?;
        if n == 0 {
            break;
        }
        done += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(vault.count_under("old").await? == 0, "everything rewrapped");
    println!("rewrapped {done} data keys in {elapsed:.2} s: {:.0} keys/s (batches of 500)", done as f64 / elapsed);
    Ok(())
}

pub async fn tenants(config: Config, count: usize, samples: usize) -> anyhow::Result<()> {
    with_temp_db(&config, |url| async move { tenants_in(&url, count, samples).await }).await
}

async fn tenants_in(db_url: &str, count: usize, samples: usize) -> anyhow::Result<()> {
    let rig = Rig::start(db_url).await?;
    sqlx::query(
        "INSERT INTO merchants (merchant_id, partner_id, store_url, status)
         SELECT gen_random_uuid(), $1, 'https://store-' || n || '.example',
                (ARRAY['active', 'active', 'active', 'paused', 'revoked', 'credentials_invalid'])[1 + n % 6]
         FROM generate_series(1, $2) AS n",
    )
    .bind(rig.partner)
    .bind(i64::try_from(count)?)
    .execute(&rig.pool)
    .await?;
    for table in ["merchants", "merchant_health"] {
        sqlx::query(&format!("ANALYZE {table}")).execute(&rig.pool).await?;
    }
    let password = secrecy::SecretString::from("bench password 1".to_owned());
    let user =
        storelink_ops_console::users::add(&rig.pool, "bench", &password, storelink_ops_console::users::Role::Viewer)
            .await?;
    let session = storelink_ops_console::users::open_session(&rig.pool, user).await?;
    let http = reqwest::Client::new();
    let cookie = format!("sl_ops={session}");
    let get = |path: String| {
        let (http, cookie, base) = (http.clone(), cookie.clone(), rig.base.clone());
        async move {
            let started = Instant::now();
            let body = http.get(format!("{base}{path}")).header("cookie", cookie).send().await?.text().await?;
            Ok::<_, anyhow::Error>((started.elapsed(), body))
        }
    };
    // Walk to the last page once to learn its link.
    let mut path = "/ops".to_owned();
    let mut pages = 1;
    loop {
        let (_, body) = get(path.clone()).await?;
        let Some(at) = body.find("rel=\"next\" href=\"") else { break };
        let rest = &body[at + "rel=\"next\" href=\"".len()..];
        let href = rest.split('"').next().unwrap_or_default();
        path = href
            .replace("&#x2f;", "/")
            .replace("&#47;", "/")
            .replace("&#x3d;", "=")
            .replace("&amp;", "&")
            .replace("&#38;", "&");
        pages += 1;
        anyhow::ensure!(pages <= count / 50 + 2, "the next-page links do not end (last: {path})");
    }
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        first.push(get("/ops".to_owned()).await?.0);
        last.push(get(path.clone()).await?.0);
    }
    first.sort();
    last.sort();
    let (first, last) = (first[first.len() / 2], last[last.len() / 2]);
    println!("{count} tenants, 50 per page, {pages} pages, {samples} samples each (median)");
    println!("first page: {:>7.2} ms", first.as_secs_f64() * 1e3);
    println!("last page:  {:>7.2} ms", last.as_secs_f64() * 1e3);
    println!("ratio last / first: {:.2} (target <= 1.5)", last.as_secs_f64() / first.as_secs_f64());
    rig.handle.stop(true).await;
    Ok(())
}
