//! Sync workers against real Postgres and the OCC simulator over HTTP: the stored copy must equal the
//! simulator's data after full and incremental runs, deletions, injected faults, token expiry and
//! dropped database connections; a revoked key pauses the merchant without a login storm.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use storelink_connector::Registry;
use storelink_connector_occ::{APP_KEY_PURPOSE, OccConnector};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{JobState, Mode, Queue, Worker, WorkerConfig};
use storelink_netguard::Policy;
use storelink_occ::OccConfig;
use storelink_occ_sim::{Fault, FaultKind, OccSim, Permissions, SimOptions, SimSite};
use storelink_sync::{SyncHandler, kinds, status};
use storelink_tenants::{MerchantStatus, merchants};
use storelink_testkit::{TestDb, test_db};
use storelink_vault::{MasterKeys, Vault};
use tokio_util::sync::CancellationToken;

struct Fixture {
    db: TestDb,
    sim: OccSim,
    key: String,
    merchant: MerchantId,
    queue: Queue,
    handler: SyncHandler,
}

impl Fixture {
    async fn new(products: usize) -> Self {
        Self::with_options(SimOptions { products, orders: 30, ..SimOptions::default() }).await
    }

    async fn with_options(options: SimOptions) -> Self {
        let db = test_db().await;
        let sim = OccSim::spawn(options).await.expect("sim");
        let key = sim.add_key(Permissions::all());
        let merchant = storelink_testkit::insert_merchant(&db.pool, &sim.base_url()).await;
        let vault = Vault::new(db.pool.clone(), MasterKeys::generate("t"));
        vault.seal(merchant, APP_KEY_PURPOSE, key.as_bytes()).await.expect("seal");
        let occ_config = OccConfig {
            retry_base: Duration::from_millis(5),
            retry_cap: Duration::from_millis(50),
            ..OccConfig::default()
        };
        let occ = OccConnector::with_config(occ_config, Policy::insecure()).expect("occ");
        let (queue, handler) = common::handler(&db.pool, Registry::default().with(occ), vault);
        Self { db, sim, key, merchant, queue, handler }
    }

    fn worker_config(&self) -> WorkerConfig {
        common::worker_config()
    }

    /// Run `kind` in `mode` with a real worker until the job leaves the queue; returns its final state.
    async fn sync(&self, kind: SyncKind, mode: Mode) -> JobState {
        common::sync(&self.queue, &self.handler, self.merchant, kind, mode).await
    }

    async fn wait_for_job(&self, job_id: i64) -> JobState {
        common::wait_for_job(&self.queue, self.merchant, job_id).await
    }

    /// product id -> (display name, list price, sku count) as the simulator has it.
    fn sim_catalog(&self) -> BTreeMap<String, (Option<String>, Option<f64>, usize)> {
        self.sim
            .product_ids()
            .into_iter()
            .map(|id| {
                let p = self.sim.product(&id).expect("product");
                let skus = p["childSKUs"].as_array().map(Vec::len).unwrap_or(0);
                (id, (p["displayName"].as_str().map(str::to_owned), p["listPrice"].as_f64(), skus))
            })
            .collect()
    }

    async fn stored_catalog(&self) -> BTreeMap<String, (Option<String>, Option<f64>, usize)> {
        let rows: Vec<(String, Option<String>, Option<f64>, i64)> = sqlx::query_as(
            "SELECT p.product_id, p.display_name, p.list_price::float8,
                    (SELECT count(*) FROM skus s WHERE s.merchant_id = p.merchant_id AND s.product_id = p.product_id)
             FROM products p WHERE p.merchant_id = $1",
        )
        .bind(self.merchant)
        .fetch_all(&self.db.pool)
        .await
        .expect("products");
        rows.into_iter().map(|(id, name, price, skus)| (id, (name, price, skus as usize))).collect()
    }

    async fn events(&self, change: &str) -> Vec<String> {
        common::product_events(&self.db.pool, self.merchant, change).await
    }
}

/// Runs the worker (claiming `kinds`) until job `job_id` leaves the queue; returns (state, last_error).
async fn run_until_finished(f: &Fixture, kinds: Vec<String>, job_id: i64) -> (JobState, Option<String>) {
    let shutdown = CancellationToken::new();
    let config = WorkerConfig { kinds, ..f.worker_config() };
    let worker = tokio::spawn(Worker::new(f.queue.clone(), f.handler.clone(), config).run(shutdown.clone()));
    f.wait_for_job(job_id).await;
    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    let job = f.queue.get(f.merchant, job_id).await.expect("get").expect("job");
    (job.state, job.last_error)
}

/// A kind the sync handler does not know is a dead letter naming it, never some sync; so is a run
/// whose recorded mode this build does not know.
#[tokio::test]
async fn unknown_kinds_and_modes_fail_loudly() {
    let f = Fixture::new(1).await;
    let job_id = f.queue.enqueue(f.merchant, "catalogue", Mode::Full).await.expect("enqueue");
    let (state, error) = run_until_finished(&f, vec!["catalogue".to_owned()], job_id).await;
    assert_eq!((state, error.as_deref()), (JobState::Dead, Some("unknown sync kind \"catalogue\"")));
    let synced: i64 = sqlx::query_scalar("SELECT count(*) FROM products").fetch_one(&f.db.pool).await.expect("count");
    assert_eq!(synced, 0, "nothing was synced for it");

    let job_id = f.queue.enqueue(f.merchant, "catalog", Mode::Full).await.expect("enqueue");
    sqlx::query("INSERT INTO sync_state (merchant_id, kind, job_id, mode) VALUES ($1, 'catalog', $2, 'repair')")
        .bind(f.merchant)
        .bind(job_id)
        .execute(&f.db.pool)
        .await
        .expect("a run recorded in an unknown mode");
    let (state, error) = run_until_finished(&f, kinds(), job_id).await;
    assert_eq!((state, error.as_deref()), (JobState::Dead, Some("sync_state: unknown job mode \"repair\"")));
}

#[tokio::test]
async fn full_then_incremental_sync_matches_the_store_exactly() {
    let f = Fixture::new(320).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    assert!(f.events("created").await.is_empty(), "the first run is the baseline, not 320 'created' changes");
    let skus: i64 = sqlx::query_scalar("SELECT count(*) FROM skus").fetch_one(&f.db.pool).await.expect("skus");
    assert_eq!(skus, 640);

    let ids = f.sim.product_ids();
    assert!(f.sim.update_product(&ids[7]));
    let added = f.sim.add_product();
    let calls_before = f.sim.calls().len();
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Incremental).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    assert_eq!(f.events("updated").await, vec![ids[7].clone()]);
    assert!(f.events("created").await.contains(&added));
    let product_pages = f.sim.calls()[calls_before..].iter().filter(|c| c.path == "/ccadmin/v1/products").count();
    assert_eq!(product_pages, 1, "the incremental run read only the changed items");

    // A full run over unchanged data changes nothing and records no events.
    let events_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM change_events").fetch_one(&f.db.pool).await.expect("n");
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let events_after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM change_events").fetch_one(&f.db.pool).await.expect("n");
    assert_eq!(events_before, events_after);
}

/// Partner reads: orders page by cursor, each exactly once, as the model's typed view (lines, totals,
/// the status mapped from OCC's state), and one order reads by id.
#[tokio::test]
async fn synced_orders_read_as_typed_views_page_by_page() {
    use storelink_model::status::OrderStatus;
    use storelink_sync::read::{self, Window};
    let f = Fixture::new(20).await;
    assert_eq!(f.sync(SyncKind::Orders, Mode::Full).await, JobState::Succeeded);
    let (mut seen, mut window) = (Vec::new(), Window { limit: 7, ..Window::default() });
    loop {
        let page = read::orders(&f.db.pool, f.merchant, &window).await.expect("page");
        for order in &page.items {
            assert!(!order.lines.is_empty() && order.lines.iter().all(|l| l.quantity > 0), "{order:?}");
            assert!(order.totals.total.is_some() && order.shipping_address.is_some(), "{order:?}");
            let expected = match order.platform_status.as_deref() {
                Some("SUBMITTED") => OrderStatus::Submitted,
                Some("PROCESSING") => OrderStatus::Processing,
                _ => OrderStatus::Completed,
            };
            assert_eq!(order.status, expected);
            seen.push(order.order_id.clone());
        }
        match page.next {
            Some(key) => window.after = Some(key),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (30, 30));
    let one = read::order_by_id(&f.db.pool, f.merchant, &seen[3]).await.expect("read").expect("stored");
    assert_eq!(one.order_id, seen[3]);
    assert!(read::order_by_id(&f.db.pool, f.merchant, "no-such-order").await.expect("read").is_none());
}

/// The `sync.completed` partner events of the merchant, oldest first.
async fn completed(f: &Fixture) -> Vec<serde_json::Value> {
    sqlx::query_scalar(
        "SELECT data FROM partner_events WHERE merchant_id = $1 AND type = 'sync.completed' ORDER BY event_id",
    )
    .bind(f.merchant)
    .fetch_all(&f.db.pool)
    .await
    .expect("events")
}

/// Every successful run announces `sync.completed` with its counts, the baseline run included (it
/// records no per-row changes, so this is how a partner learns the catalog is ready).
#[tokio::test]
async fn every_successful_run_announces_sync_completed_with_its_counts() {
    let f = Fixture::new(120).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let merchant = f.merchant.to_string();
    let baseline = serde_json::json!({"merchant_id": merchant, "kind": "catalog", "mode": "baseline",
        "created": 120, "updated": 0, "deleted": 0});
    assert_eq!(completed(&f).await, vec![baseline.clone()]);

    let ids = f.sim.product_ids();
    assert!(f.sim.update_product(&ids[3]));
    assert!(f.sim.delete_product(&ids[9]));
    f.sim.add_product();
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let full = serde_json::json!({"merchant_id": merchant, "kind": "catalog", "mode": "full",
        "created": 1, "updated": 1, "deleted": 1});
    assert_eq!(completed(&f).await, vec![baseline.clone(), full.clone()]);

    assert_eq!(f.sync(SyncKind::Shipping, Mode::Full).await, JobState::Succeeded);
    let events = completed(&f).await;
    assert_eq!(events.len(), 3);
    assert_eq!((events[2]["kind"].as_str(), events[2]["mode"].as_str()), (Some("shipping_methods"), Some("baseline")));
    assert!(events[2]["created"].as_i64().is_some_and(|n| n > 0), "{}", events[2]);
}

#[tokio::test]
async fn a_product_deleted_in_the_store_disappears_after_a_full_run() {
    let f = Fixture::new(120).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let gone = f.sim.product_ids()[5].clone();
    assert!(f.sim.delete_product(&gone));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let stored = f.stored_catalog().await;
    assert!(!stored.contains_key(&gone));
    assert_eq!(stored, f.sim_catalog());
    assert_eq!(f.events("deleted").await, vec![gone]);
}

#[tokio::test]
async fn injected_faults_give_the_same_final_data() {
    let f = Fixture::new(400).await;
    f.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::Status(500)).probability(0.2));
    f.sim.inject(
        Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::RateLimited { retry_after_secs: 0 })
            .probability(0.2),
    );
    f.sim.inject(
        Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::Delay(Duration::from_millis(30))).probability(0.2),
    );
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let faults = f.sim.calls().iter().filter(|c| c.path == "/ccadmin/v1/products" && c.status != 200).count();
    assert!(faults > 0, "faults were injected");
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
}

#[tokio::test]
async fn inventory_shipping_and_orders_sync() {
    let f = Fixture::new(60).await;
    for kind in [SyncKind::Inventory, SyncKind::Shipping, SyncKind::Orders] {
        assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded, "{kind}");
    }
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM inventory), (SELECT count(*) FROM shipping_methods), (SELECT count(*) FROM orders)",
    )
    .fetch_one(&f.db.pool)
    .await
    .expect("counts");
    assert_eq!(counts, (120, 3, 30), "every SKU's stock, every method (disabled ones too), every order");
    let sku = f.sim.product(&f.sim.product_ids()[0]).expect("p")["childSKUs"][0]["repositoryId"]
        .as_str()
        .expect("sku")
        .to_owned();
    assert!(f.sim.set_stock(&sku, 4242));
    assert_eq!(f.sync(SyncKind::Inventory, Mode::Full).await, JobState::Succeeded);
    let level: i64 = sqlx::query_scalar("SELECT stock_level FROM inventory WHERE sku_id = $1")
        .bind(&sku)
        .fetch_one(&f.db.pool)
        .await
        .expect("level");
    assert_eq!(level, 4242);
    let statuses = status(&f.db.pool, Some(f.merchant)).await.expect("status");
    assert_eq!(statuses.len(), 3);
    assert!(statuses.iter().all(|s| s.state == "idle" && s.last_success_at.is_some()));
}

#[tokio::test]
async fn an_expired_token_mid_sync_costs_one_login() {
    let f = Fixture::new(400).await;
    f.sim.set_latency(Duration::from_millis(15));
    let job_id = f.queue.enqueue(f.merchant, "catalog", Mode::Full).await.expect("enqueue");
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(f.queue.clone(), f.handler.clone(), f.worker_config()).run(shutdown.clone()));
    wait_for_pages(&f, 2).await;
    f.sim.expire_tokens();
    assert_eq!(f.wait_for_job(job_id).await, JobState::Succeeded);
    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    assert_eq!(f.sim.count("POST", "/ccadmin/v1/login"), 2);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
}

#[tokio::test]
async fn a_revoked_key_pauses_the_merchant_without_a_login_storm() {
    let f = Fixture::new(400).await;
    f.sim.set_latency(Duration::from_millis(15));
    let job_id = f.queue.enqueue(f.merchant, "catalog", Mode::Full).await.expect("enqueue");
    f.queue.enqueue(f.merchant, "orders", Mode::Full).await.expect("enqueue");
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(f.queue.clone(), f.handler.clone(), f.worker_config()).run(shutdown.clone()));
    wait_for_pages(&f, 2).await;
    f.sim.revoke_key(&f.key);
    assert_eq!(f.wait_for_job(job_id).await, JobState::Paused);
    let logins = f.sim.count("POST", "/ccadmin/v1/login");
    tokio::time::sleep(Duration::from_secs(2)).await; // the worker keeps polling and maintaining meanwhile
    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    assert_eq!(f.sim.count("POST", "/ccadmin/v1/login"), logins, "no retries against a refused key");
    assert!(logins <= 2, "one good login, at most one refused: {logins}");
    let merchant = merchants::get(&f.db.pool, f.merchant).await.expect("get").expect("m");
    assert_eq!(merchant.status, MerchantStatus::CredentialsInvalid);
    let live: Vec<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE state NOT IN ('succeeded')")
        .fetch_all(&f.db.pool)
        .await
        .expect("q");
    assert!(live.iter().all(|s| s == "paused"), "{live:?}");
}

#[tokio::test]
async fn terminated_database_connections_mid_sync_do_not_lose_or_duplicate_data() {
    let f = Fixture::new(500).await;
    f.sim.set_latency(Duration::from_millis(10));
    let job_id = f.queue.enqueue(f.merchant, "catalog", Mode::Full).await.expect("enqueue");
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(f.queue.clone(), f.handler.clone(), f.worker_config()).run(shutdown.clone()));
    wait_for_pages(&f, 3).await;
    let admin = sqlx::PgPool::connect(&storelink_testkit::admin_url()).await.expect("admin");
    let killed: Vec<bool> =
        sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&f.db.name)
            .fetch_all(&admin)
            .await
            .expect("terminate");
    assert!(!killed.is_empty(), "connections were terminated");
    assert_eq!(f.wait_for_job(job_id).await, JobState::Succeeded);
    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    let (rows, distinct): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT product_id) FROM products")
        .fetch_one(&f.db.pool)
        .await
        .expect("counts");
    assert_eq!((rows, distinct), (500, 500), "every product exactly once");
}

async fn wait_for_pages(f: &Fixture, pages: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT pages_done FROM sync_state WHERE merchant_id = $1 AND kind = 'catalog'")
                .bind(f.merchant)
                .fetch_optional(&f.db.pool)
                .await
                .unwrap_or(None);
        if done.unwrap_or(0) >= pages {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "sync made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `order` as OCC would send it `ms` after the version the store lists, with `changes` applied.
fn later_version(order: &serde_json::Value, ms: i64, changes: &[(&str, serde_json::Value)]) -> serde_json::Value {
    let mut order = order.clone();
    let at = order["lastModifiedTime"].as_i64().expect("lastModifiedTime") + ms;
    order["lastModifiedTime"] = at.into();
    let iso = chrono::DateTime::from_timestamp_millis(at).expect("time").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    order["lastModifiedDate"] = iso.into();
    for (pointer, value) in changes {
        *order.pointer_mut(pointer).expect("field") = value.clone();
    }
    order
}

async fn order_changes(f: &Fixture, entity: &str, id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT change FROM change_events WHERE merchant_id = $1 AND entity = $2 AND entity_id = $3 ORDER BY event_id",
    )
    .bind(f.merchant)
    .bind(entity)
    .bind(id)
    .fetch_all(&f.db.pool)
    .await
    .expect("events")
}

/// The sync path of "newer wins": a webhook brought the cancellation (and a tracking number) of an
/// order; the next orders sync still reads the older version from the store. The order stays
/// cancelled, its shipment keeps the newer tracking number, and the sync announces nothing. At an
/// equal time the content hash decides; a version without a time cannot replace one with a time.
#[tokio::test]
async fn an_older_order_from_the_sync_never_replaces_a_newer_one() {
    let f = Fixture::new(10).await;
    assert_eq!(f.sync(SyncKind::Orders, Mode::Full).await, JobState::Succeeded);
    let listed = f.sim.order("o10001").expect("order");
    let cancelled = later_version(
        &listed,
        60_000,
        &[
            ("/state", "REMOVED".into()),
            ("/shippingGroups/0/trackingNumber", "1Z-NEW".into()),
            ("/shippingGroups/0/state", "SHIPPED".into()),
        ],
    );
    let mut conn = f.db.pool.acquire().await.expect("conn");
    assert!(storelink_sync::upsert_order_record(&mut conn, f.merchant, &occ_order(&cancelled)).await.expect("webhook"));

    assert_eq!(f.sync(SyncKind::Orders, Mode::Full).await, JobState::Succeeded);
    let stored: (String, String) = sqlx::query_as(
        "SELECT o.state, s.tracking_number FROM orders o JOIN shipments s USING (merchant_id, order_id)
         WHERE o.merchant_id = $1 AND o.order_id = 'o10001'",
    )
    .bind(f.merchant)
    .fetch_one(&f.db.pool)
    .await
    .expect("order");
    assert_eq!(stored, ("REMOVED".to_owned(), "1Z-NEW".to_owned()), "the older listing did not win");
    assert_eq!(order_changes(&f, "order", "o10001").await, vec!["updated"], "only the webhook's change");
    assert_eq!(order_changes(&f, "shipment", "sg10001").await, vec!["created"]);

    // Equal time: the content hash decides. The same content is a no-op; other content replaces it.
    assert!(!storelink_sync::upsert_order_record(&mut conn, f.merchant, &occ_order(&cancelled)).await.expect("same"));
    let mut corrected = cancelled.clone();
    corrected["priceInfo"]["total"] = 1.0.into();
    assert!(
        storelink_sync::upsert_order_record(&mut conn, f.merchant, &occ_order(&corrected)).await.expect("equal time")
    );
    assert_eq!(order_changes(&f, "order", "o10001").await, vec!["updated", "updated"]);
    // No time at all: it cannot be shown newer, so it does not replace a version that has one.
    let mut timeless = cancelled.clone();
    timeless.as_object_mut().expect("object").retain(|k, _| !k.starts_with("lastModified"));
    timeless["state"] = "SUBMITTED".into();
    assert!(
        !storelink_sync::upsert_order_record(&mut conn, f.merchant, &occ_order(&timeless)).await.expect("timeless")
    );
    let state: String = sqlx::query_scalar("SELECT state FROM orders WHERE merchant_id = $1 AND order_id = 'o10001'")
        .bind(f.merchant)
        .fetch_one(&f.db.pool)
        .await
        .expect("state");
    assert_eq!(state, "REMOVED");
}

/// The simulator's churn mode deletes an already-read product and adds one before every page after
/// the first, so offset paging skips one live product per page. Before point reads, each such run
/// announced live products as deleted. Now: no `deleted` event ever names a product (or a stock row
/// of a product) the store still has, every page is sorted by id, and once the store is quiet one
/// more full run matches it exactly, each product the store deleted announced once.
#[tokio::test]
async fn a_store_changing_mid_run_never_gets_a_live_item_announced_deleted() {
    let f = Fixture::new(320).await;
    for kind in [SyncKind::Catalog, SyncKind::Inventory] {
        assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded, "{kind} baseline");
    }
    f.sim.set_churn(true);
    for _ in 0..2 {
        for kind in [SyncKind::Catalog, SyncKind::Inventory] {
            assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded, "{kind} while the store changes");
            let live: std::collections::BTreeSet<String> = f.sim.product_ids().into_iter().collect();
            for id in f.events("deleted").await {
                assert!(!live.contains(&id), "live product {id} was announced deleted");
            }
            let stock_deleted: Vec<String> = sqlx::query_scalar(
                "SELECT entity_id FROM change_events WHERE entity = 'inventory' AND change = 'deleted'",
            )
            .fetch_all(&f.db.pool)
            .await
            .expect("events");
            for sku in stock_deleted {
                let product = format!("prod{}", sku.trim_start_matches("sku").split('-').next().unwrap_or_default());
                assert!(!live.contains(&product), "stock of live product {product} ({sku}) was announced deleted");
            }
        }
    }
    f.sim.set_churn(false);
    let (churned_deleted, churned_added) = f.sim.churned();
    assert!(churned_deleted.len() >= 10 && !churned_added.is_empty(), "the store changed under the runs");

    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    let mut deleted = f.events("deleted").await;
    deleted.sort();
    let mut expected = churned_deleted.clone();
    expected.sort();
    assert_eq!(deleted, expected, "each product the store deleted is announced once, and nothing else");

    let lists: Vec<_> = f.sim.calls().into_iter().filter(|c| c.path == "/ccadmin/v1/products").collect();
    assert!(lists.iter().all(|c| c.query.contains("sort=id%3Aasc")), "every page is sorted by id");
    let point_reads = f.sim.calls().iter().filter(|c| c.path.starts_with("/ccadmin/v1/products/")).count();
    assert!(point_reads > 0, "missing products were read one by one before any delete");
}

/// A full run whose list ends early (an empty page before the `totalResults` it announced) finishes
/// without deleting anything, and says so in `last_error`.
#[tokio::test]
async fn a_run_cut_short_never_sweeps() {
    let f = Fixture::new(120).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let gone = f.sim.product_ids()[3].clone();
    assert!(f.sim.delete_product(&gone));
    // Every page from offset 50 on answers `{"items": [], "totalResults": 119}`: the list ends early.
    f.sim.set_truncate_after(Some(50));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert!(f.events("deleted").await.is_empty(), "a cut-short run deleted nothing");
    let note: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM sync_state WHERE merchant_id = $1 AND kind = 'catalog'")
            .bind(f.merchant)
            .fetch_one(&f.db.pool)
            .await
            .expect("state");
    assert!(note.is_some_and(|n| n.contains("ended after 50 of 119")), "the caveat is recorded");
    f.sim.set_truncate_after(None);
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.events("deleted").await, vec![gone], "the next whole run sweeps");
}

/// Many products deleted in the store: the run confirms them in batches, slice after slice (a slice
/// that ends during confirmation resumes there), and ends with exactly those deleted and announced.
#[tokio::test]
async fn confirmation_of_many_deletions_resumes_across_slices() {
    let f = Fixture::new(320).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let mut gone: Vec<String> = f.sim.product_ids().into_iter().step_by(2).take(150).collect();
    for id in &gone {
        assert!(f.sim.delete_product(id));
    }
    f.sim.set_latency(Duration::from_millis(20));
    let job_id = f.queue.enqueue(f.merchant, "catalog", Mode::Full).await.expect("enqueue");
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(f.queue.clone(), f.handler.clone(), f.worker_config()).run(shutdown.clone()));
    assert_eq!(f.wait_for_job(job_id).await, JobState::Succeeded);
    shutdown.cancel();
    worker.await.expect("join").expect("worker");
    let slices: i32 = sqlx::query_scalar("SELECT slices FROM jobs WHERE job_id = $1")
        .bind(job_id)
        .fetch_one(&f.db.pool)
        .await
        .expect("slices");
    assert!(slices > 2, "the run took several slices: {slices}");
    let point_reads = f.sim.calls().iter().filter(|c| c.path.starts_with("/ccadmin/v1/products/")).count();
    assert_eq!(point_reads, 150, "one point read per missing product");
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    let mut deleted = f.events("deleted").await;
    deleted.sort();
    gone.sort();
    assert_eq!(deleted, gone);
}

/// An OCC order document in the model, as the OCC connector maps a webhook's order.
fn occ_order(doc: &serde_json::Value) -> storelink_model::records::Hashed<storelink_model::records::OrderRow> {
    storelink_connector_occ::normalize::order(doc).expect("an order with an id")
}

async fn recorded_page_size(f: &Fixture) -> Option<i32> {
    sqlx::query_scalar("SELECT page_size FROM sync_state WHERE merchant_id = $1 AND kind = 'catalog'")
        .bind(f.merchant)
        .fetch_one(&f.db.pool)
        .await
        .expect("page_size")
}

/// Issue 16 item 6: OCC's 403/60012 ("performance constraints") halves the page until one passes;
/// the size that passed is where the next run starts, and it grows back after a clean run. Below
/// the floor (10) the run fails as before.
#[tokio::test]
async fn a_page_refused_as_too_large_is_halved_and_the_size_that_passed_is_kept() {
    let f = Fixture::new(120).await;
    let fault = f.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::TooLargeAbove(20)));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    let refused: Vec<String> = f
        .sim
        .calls()
        .iter()
        .filter(|c| c.path == "/ccadmin/v1/products" && c.status == 403)
        .map(|c| c.query.clone())
        .collect();
    assert_eq!(refused.len(), 2, "50 then 25 refused: {refused:?}");
    assert_eq!(recorded_page_size(&f).await, Some(12), "50 -> 25 -> 12 passed");

    // The next run starts at 12: nothing refused, and the clean run grows the size by a quarter.
    f.sim.clear_calls();
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let calls = f.sim.calls();
    let pages: Vec<&storelink_occ_sim::Call> = calls.iter().filter(|c| c.path == "/ccadmin/v1/products").collect();
    assert!(pages.iter().all(|c| c.status == 200 && c.query.contains("limit=12")), "{pages:?}");
    assert_eq!(recorded_page_size(&f).await, Some(16), "12 + 12/4 + 1");

    // A store refusing even the floor fails the run, with the reason recorded.
    f.sim.remove_fault(fault);
    f.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::TooLargeAbove(5)));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Dead);
    assert_eq!(recorded_page_size(&f).await, Some(10), "the floor");
}

/// Rows written since a point in time, per table: rows whose current version a later transaction
/// wrote (inserted or updated), plus the rows fewer than before (deleted; a deletion offset by an
/// insert still shows through the insert). Read from the rows themselves: the statistics collector
/// reports other sessions' counts up to seconds late.
struct Writes {
    xid: i64,
    counts: BTreeMap<String, i64>,
}

impl Writes {
    async fn tables(pool: &sqlx::PgPool) -> Vec<String> {
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(pool)
            .await
            .expect("tables")
    }

    async fn count(pool: &sqlx::PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(pool).await.expect("count")
    }

    async fn snapshot(pool: &sqlx::PgPool) -> Self {
        let mut counts = BTreeMap::new();
        for table in Self::tables(pool).await {
            counts.insert(table.clone(), Self::count(pool, &table).await);
        }
        let xid: i64 =
            sqlx::query_scalar("SELECT (txid_current() % 4294967296)::bigint").fetch_one(pool).await.expect("xid");
        Self { xid, counts }
    }

    /// Tables written since the snapshot, with the rows written.
    async fn since(&self, pool: &sqlx::PgPool) -> BTreeMap<String, i64> {
        let mut written = BTreeMap::new();
        for table in Self::tables(pool).await {
            let newer: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE xmin::text::bigint > $1"))
                .bind(self.xid)
                .fetch_one(pool)
                .await
                .expect("newer rows");
            let before = self.counts.get(&table).copied().unwrap_or(0);
            let gone = (before - Self::count(pool, &table).await).max(0);
            if newer + gone > 0 {
                written.insert(table, newer + gone);
            }
        }
        written
    }
}

/// Tuple updates of `sync_state` (every row version written, not rows), counted by a row trigger into
/// a sequence: exact and at once, where `pg_stat_user_tables.n_tup_upd` reports the worker's sessions
/// seconds late. A sequence is no table, so `Writes` does not see the counting.
async fn count_sync_state_updates(pool: &sqlx::PgPool) {
    for sql in [
        "CREATE SEQUENCE sync_state_updates",
        "CREATE FUNCTION count_sync_state_update() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM nextval('sync_state_updates'); RETURN NULL; END $$",
        "CREATE TRIGGER count_sync_state_update AFTER UPDATE ON sync_state
         FOR EACH ROW EXECUTE FUNCTION count_sync_state_update()",
    ] {
        sqlx::query(sql).execute(pool).await.expect("update counter");
    }
}

async fn sync_state_updates(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_state_updates")
        .fetch_one(pool)
        .await
        .expect("updates")
}

/// Issue 18, item 2: an incremental run against a store that did not change writes its checkpoint
/// (the one `sync_state` row, updated once: the run's start, checkpoint and end in one statement) and
/// nothing else: no row rewritten, no change or partner event (no `sync.completed` for an empty
/// incremental run), no token. The queue's own bookkeeping is the job's row and its schedule row; the
/// ops console's health row is rewritten only when its sync lag moves.
#[tokio::test]
async fn an_empty_incremental_run_writes_nothing_but_its_checkpoint() {
    let f = Fixture::new(60).await;
    for kind in [SyncKind::Catalog, SyncKind::Orders] {
        assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded);
    }
    count_sync_state_updates(&f.db.pool).await;
    let expected =
        BTreeMap::from([("job_schedule_state".to_owned(), 1), ("jobs".to_owned(), 1), ("sync_state".to_owned(), 1)]);
    // Twice each: the first incremental run re-reads what changed within its overlap with the full run.
    for kind in [SyncKind::Catalog, SyncKind::Orders, SyncKind::Catalog, SyncKind::Orders] {
        let before = Writes::snapshot(&f.db.pool).await;
        let updates_before = sync_state_updates(&f.db.pool).await;
        assert_eq!(f.sync(kind, Mode::Incremental).await, JobState::Succeeded);
        let updates = sync_state_updates(&f.db.pool).await - updates_before;
        assert_eq!(updates, 1, "sync_state tuple updates by an empty incremental {kind:?} run");
        let mode: String = sqlx::query_scalar("SELECT mode FROM sync_state WHERE merchant_id = $1 AND kind = $2")
            .bind(f.merchant)
            .bind(kind.as_str())
            .fetch_one(&f.db.pool)
            .await
            .expect("state");
        assert_eq!(mode, "incremental", "{kind:?} ran as an incremental run");
        let mut written = before.since(&f.db.pool).await;
        // The ops console's health row moves with the merchant's oldest success (its sync lag), when
        // this run's kind was the oldest: at most that one row.
        let health = written.remove("merchant_health").unwrap_or(0);
        assert!(health <= 1, "{health} health rows written by an empty incremental {kind:?} run");
        assert_eq!(written, expected, "rows written by an empty incremental {kind:?} run");
    }
    // An incremental run that found a change is still announced.
    let announced = completed(&f).await.len();
    assert!(f.sim.update_product(&f.sim.product_ids()[2]));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Incremental).await, JobState::Succeeded);
    let events = completed(&f).await;
    assert_eq!(events.len(), announced + 1);
    let last = &events[announced];
    assert_eq!((last["mode"].as_str(), last["updated"].as_i64()), (Some("incremental"), Some(1)), "{last}");
}

/// A multi-site store as connect records it: the simulator's sites listed in `merchant_sites`, every
/// enabled one selected.
async fn multi_site(products: usize) -> Fixture {
    let sites = SimSite::three();
    let f =
        Fixture::with_options(SimOptions { products, orders: 12, sites: sites.clone(), ..SimOptions::default() }).await;
    record_sites(&f, &sites).await;
    f
}

async fn record_sites(f: &Fixture, sites: &[SimSite]) {
    let listed: Vec<storelink_tenants::sites::ListedSite<'_>> = sites
        .iter()
        .enumerate()
        .map(|(n, s)| storelink_tenants::sites::ListedSite {
            site_id: &s.id,
            name: &s.name,
            is_default: n == 0,
            enabled: s.enabled,
            production_url: Some(&s.production_url),
            price_list_group: Some(&s.price_list_group),
            currency: Some(&s.currency),
        })
        .collect();
    storelink_tenants::sites::record_listed(&f.db.pool, f.merchant, &listed).await.expect("sites");
}

/// (site, product id) -> list price, as stored.
async fn prices_by_site(f: &Fixture) -> BTreeMap<(String, String), Option<f64>> {
    let rows: Vec<(String, String, Option<f64>)> =
        sqlx::query_as("SELECT site_id, product_id, list_price::float8 FROM products WHERE merchant_id = $1")
            .bind(f.merchant)
            .fetch_all(&f.db.pool)
            .await
            .expect("products");
    rows.into_iter().map(|(site, id, price)| ((site, id), price)).collect()
}

/// (entity id, site) of the merchant's product change events of `change`.
async fn product_events(f: &Fixture, change: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT entity_id, site_id FROM change_events WHERE merchant_id = $1 AND entity = 'product' AND change = $2
         ORDER BY event_id",
    )
    .bind(f.merchant)
    .bind(change)
    .fetch_all(&f.db.pool)
    .await
    .expect("events")
}

async fn count(f: &Fixture, sql: &str) -> i64 {
    sqlx::query_scalar(sql).bind(f.merchant).fetch_one(&f.db.pool).await.expect("count")
}

#[tokio::test]
async fn a_multi_site_store_syncs_each_selected_site_with_its_own_prices() {
    // 120 products, pages of 50: each site takes three pages, so the run crosses a site boundary.
    let f = multi_site(120).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let stored = prices_by_site(&f).await;
    let us: Vec<&String> = stored.keys().filter(|(s, _)| s == "siteUS").map(|(_, id)| id).collect();
    let eu: Vec<&String> = stored.keys().filter(|(s, _)| s == "siteEU").map(|(_, id)| id).collect();
    assert_eq!(us.len(), 120, "the default site lists the whole catalog");
    assert_eq!(eu.len(), 108, "every tenth product is sold on the default site only");
    assert!(stored.keys().all(|(s, _)| s != "siteUK" && !s.is_empty()), "disabled or no site: nothing stored");
    assert!(stored.contains_key(&("siteUS".into(), "prod000010".into())));
    assert!(!stored.contains_key(&("siteEU".into(), "prod000010".into())), "a product on one site only");
    // Each site at its price list group's prices (the simulator prices siteEU's group 10% lower).
    let doc = f.sim.product("prod000001").expect("product");
    let us_price = doc["listPrices"]["defaultPriceGroup"].as_f64();
    let eu_price = doc["listPrices"]["euPriceGroup"].as_f64();
    assert_ne!(us_price, eu_price);
    assert_eq!(stored[&("siteUS".into(), "prod000001".into())], us_price);
    assert_eq!(stored[&("siteEU".into(), "prod000001".into())], eu_price);
    let sku_sites = count(&f, "SELECT count(DISTINCT site_id) FROM skus WHERE merchant_id = $1").await;
    assert_eq!(sku_sites, 2, "SKUs are stored per site too");
    // Every catalog read named its site; the orders of the store are read once, without one.
    let calls = f.sim.calls();
    let product_pages = calls.iter().filter(|c| c.path == "/ccadmin/v1/products");
    assert!(product_pages.clone().all(|c| c.site.as_deref().is_some_and(|s| s == "siteUS" || s == "siteEU")));
    // Three pages of siteEU (a slice that ends mid-site reads its prefetched page again).
    assert!(product_pages.filter(|c| c.site.as_deref() == Some("siteEU")).count() >= 3);

    // Stock per site: siteEU's from its own location; shipping methods per site at its own rates.
    assert_eq!(f.sync(SyncKind::Inventory, Mode::Full).await, JobState::Succeeded);
    let locations: Vec<(String, String)> =
        sqlx::query_as("SELECT DISTINCT site_id, location_id FROM inventory WHERE merchant_id = $1 ORDER BY site_id")
            .bind(f.merchant)
            .fetch_all(&f.db.pool)
            .await
            .expect("inventory");
    assert_eq!(locations, vec![("siteEU".into(), "siteEU-warehouse".into()), ("siteUS".into(), String::new())]);
    assert_eq!(f.sync(SyncKind::Shipping, Mode::Full).await, JobState::Succeeded);
    let rates: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT site_id, rates FROM shipping_methods WHERE merchant_id = $1 AND method_id = 'ship2' ORDER BY site_id",
    )
    .bind(f.merchant)
    .fetch_all(&f.db.pool)
    .await
    .expect("shipping");
    assert_eq!(rates.len(), 2);
    assert_ne!(rates[0].1, rates[1].1, "each site's own rates");

    // Orders stay one pass over the whole store.
    assert_eq!(f.sync(SyncKind::Orders, Mode::Full).await, JobState::Succeeded);
    assert!(f.sim.calls().iter().filter(|c| c.path == "/ccadmin/v1/orders").all(|c| c.site.is_none()));
}

#[tokio::test]
async fn a_product_gone_from_one_site_is_deleted_for_that_site_only() {
    let f = multi_site(40).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.sync(SyncKind::Inventory, Mode::Full).await, JobState::Succeeded);
    assert!(f.sim.remove_from_site("prod000003", "siteEU"));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let stored = prices_by_site(&f).await;
    assert!(stored.contains_key(&("siteUS".into(), "prod000003".into())), "still sold on the default site");
    assert!(!stored.contains_key(&("siteEU".into(), "prod000003".into())));
    assert_eq!(product_events(&f, "deleted").await, vec![("prod000003".to_owned(), "siteEU".to_owned())]);
    // The confirming point read asked siteEU, which no longer has it.
    assert!(f.sim.calls().iter().any(|c| c.path == "/ccadmin/v1/products/prod000003"
        && c.site.as_deref() == Some("siteEU")
        && c.status == 404));
    // Partners are told which site lost it.
    let announced = count(
        &f,
        "SELECT count(*) FROM partner_events WHERE merchant_id = $1 AND type = 'product.deleted'
             AND data->>'product_id' = 'prod000003' AND data->>'site' = 'siteEU'",
    )
    .await;
    assert_eq!(announced, 1);
    // The product changed (it left a site), so both sites' rows were rewritten; the store's own
    // stock of it stays on siteUS, and siteEU's stock rows of it go with the product.
    assert_eq!(f.sync(SyncKind::Inventory, Mode::Full).await, JobState::Succeeded);
    let eu_stock = count(
        &f,
        "SELECT count(*) FROM inventory WHERE merchant_id = $1 AND product_id = 'prod000003' AND site_id = 'siteEU'",
    )
    .await;
    let us_stock = count(
        &f,
        "SELECT count(*) FROM inventory WHERE merchant_id = $1 AND product_id = 'prod000003' AND site_id = 'siteUS'",
    )
    .await;
    assert_eq!((eu_stock, us_stock), (0, 2));
}

#[tokio::test]
async fn an_incremental_run_reads_every_site_and_events_name_their_site() {
    let f = multi_site(30).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert!(f.sim.update_product("prod000002"));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Incremental).await, JobState::Succeeded);
    let mut updated = product_events(&f, "updated").await;
    updated.sort();
    assert_eq!(
        updated,
        vec![("prod000002".to_owned(), "siteEU".to_owned()), ("prod000002".to_owned(), "siteUS".to_owned())]
    );
}

#[tokio::test]
async fn deselecting_a_site_removes_and_announces_its_rows_on_the_next_run() {
    let f = multi_site(20).await;
    for kind in [SyncKind::Catalog, SyncKind::Inventory, SyncKind::Shipping] {
        assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded);
    }
    let changed = storelink_tenants::sites::select(&f.db.pool, f.merchant, &["siteUS".to_owned()])
        .await
        .expect("db")
        .expect("selection saved");
    assert!(changed);
    // Even an incremental request runs in full when the sites changed.
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Incremental).await, JobState::Succeeded);
    assert_eq!(f.sync(SyncKind::Inventory, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.sync(SyncKind::Shipping, Mode::Full).await, JobState::Succeeded);
    for table in ["products", "skus", "inventory", "shipping_methods"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE merchant_id = $1 AND site_id <> 'siteUS'");
        assert_eq!(count(&f, &sql).await, 0, "{table} keeps no row of the dropped site");
        let sql = format!("SELECT count(*) FROM {table} WHERE merchant_id = $1 AND site_id = 'siteUS'");
        assert!(count(&f, &sql).await > 0, "{table} keeps the selected site");
    }
    let deleted = product_events(&f, "deleted").await;
    assert_eq!(deleted.len(), 18, "siteEU's 18 products announced deleted");
    assert!(deleted.iter().all(|(_, site)| site == "siteEU"));
    assert!(
        !f.sim
            .calls()
            .iter()
            .any(|c| c.path.starts_with("/ccadmin/v1/products/") && c.site.as_deref() == Some("siteEU")),
        "a dropped site's rows go without point reads"
    );
}

#[tokio::test]
async fn a_store_listing_one_site_syncs_as_before_without_a_site() {
    let f = Fixture::with_options(SimOptions { products: 20, orders: 4, ..SimOptions::default() }).await;
    record_sites(&f, &[SimSite::us()]).await;
    for kind in [SyncKind::Catalog, SyncKind::Inventory, SyncKind::Shipping] {
        assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded);
    }
    for table in ["products", "skus", "inventory", "shipping_methods"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE merchant_id = $1 AND site_id <> ''");
        assert_eq!(count(&f, &sql).await, 0, "{table}: rows without a site");
    }
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    assert!(f.sim.calls().iter().all(|c| c.site.is_none()), "no x-ccsite on a single-site store");
}

#[tokio::test]
async fn shipments_and_returns_take_their_orders_site() {
    use storelink_sync::read::{self, Window};
    let f = multi_site(5).await;
    assert_eq!(f.sync(SyncKind::Orders, Mode::Full).await, JobState::Succeeded);
    let site: Option<String> =
        sqlx::query_scalar("SELECT site_id FROM orders WHERE merchant_id = $1 AND order_id = 'o10002'")
            .bind(f.merchant)
            .fetch_one(&f.db.pool)
            .await
            .expect("order");
    assert_eq!(site.as_deref(), Some("siteEU"), "the seed orders take turns over the enabled sites");
    // A shipment and a return of that order, as a webhook would store them.
    for sql in [
        "INSERT INTO shipments (merchant_id, shipment_id, order_id, content_hash, seen_generation)
         VALUES ($1, 'sg-eu', 'o10002', '\\x00', 0)",
        "INSERT INTO returns (merchant_id, return_id, order_id, content_hash, seen_generation)
         VALUES ($1, 'r-eu', 'o10002', '\\x00', 0)",
    ] {
        sqlx::query(sql).bind(f.merchant).execute(&f.db.pool).await.expect("insert");
    }
    let window = |site: &str| Window { limit: 50, site: Some(site.to_owned()), ..Window::default() };
    let eu = read::shipments(&f.db.pool, f.merchant, &window("siteEU")).await.expect("shipments");
    assert_eq!(
        eu.items.iter().map(|s| (s.shipment_id.as_str(), s.site.as_deref())).collect::<Vec<_>>(),
        [("sg-eu", Some("siteEU"))]
    );
    assert!(read::shipments(&f.db.pool, f.merchant, &window("siteUS")).await.expect("shipments").items.is_empty());
    let eu = read::returns(&f.db.pool, f.merchant, &window("siteEU")).await.expect("returns");
    assert_eq!(
        eu.items.iter().map(|r| (r.return_id.as_str(), r.site.as_deref())).collect::<Vec<_>>(),
        [("r-eu", Some("siteEU"))]
    );
    assert!(read::returns(&f.db.pool, f.merchant, &window("siteUS")).await.expect("returns").items.is_empty());
}
