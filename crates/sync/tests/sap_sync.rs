//! Sync workers over a SAP merchant, against real Postgres and the SAP simulator over HTTP, as
//! `sync.rs` does for OCC: the stored copy equals the store after full and incremental runs, a
//! deletion is swept on a full run, and injected faults (500, 429, slow, huge answers) leave the same
//! final data. The kill -9 test is in `crates/storelink/tests/sap_workers.rs`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use storelink_connector::Registry;
use storelink_connector_sap::{Auth, CREDENTIALS_PURPOSE, Objects, SapConfig, SapConnector, SapCredentials};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{JobState, Mode, Queue};
use storelink_netguard::Policy;
use storelink_sap_sim::{DELIVERY, Fault, FaultKind, GROUP_STORELINK, ORDER, PRODUCT, STOCK, SapSim, SimOptions};
use storelink_sync::SyncHandler;
use storelink_testkit::{TestDb, test_db};
use storelink_vault::{MasterKeys, Vault};

const PRODUCTS_PATH: &str = "/odata2webservices/StorelinkProduct/Products";

struct Fixture {
    db: TestDb,
    sim: SapSim,
    merchant: MerchantId,
    queue: Queue,
    handler: SyncHandler,
}

impl Fixture {
    async fn new(products: usize) -> Self {
        let db = test_db().await;
        let sim = SapSim::spawn(SimOptions { products, orders: 12, ..SimOptions::default() }).await.expect("sim");
        sim.add_user("storelink", "pw", &[GROUP_STORELINK]);
        sim.add_oauth_client("storelink-client", "secret", "storelink");
        let partner = storelink_testkit::insert_partner(&db.pool, "sap").await.expect("partner");
        let mut conn = db.pool.acquire().await.expect("conn");
        let merchant = storelink_tenants::merchants::upsert_connected(&mut conn, partner, "sap", &sim.base_url())
            .await
            .expect("merchant");
        drop(conn);
        let vault = Vault::new(db.pool.clone(), MasterKeys::generate("t"));
        let auth =
            Auth::OAuth { client_id: "storelink-client".into(), client_secret: "secret".into(), token_url: None };
        let credentials = SapCredentials { auth, objects: Objects::default() };
        let sealed = serde_json::to_vec(&credentials).expect("json");
        vault.seal(merchant, CREDENTIALS_PURPOSE, &sealed).await.expect("seal");
        let config = SapConfig {
            retry_base: Duration::from_millis(5),
            retry_cap: Duration::from_millis(50),
            ..SapConfig::default()
        };
        let sap = SapConnector::with_config(config, Policy::insecure()).expect("sap");
        let (queue, handler) = common::handler(&db.pool, Registry::default().with(sap), vault);
        Self { db, sim, merchant, queue, handler }
    }

    async fn sync(&self, kind: SyncKind, mode: Mode) -> JobState {
        common::sync(&self.queue, &self.handler, self.merchant, kind, mode).await
    }

    /// product key -> (name, variant count) as the simulator has it.
    fn sim_catalog(&self) -> BTreeMap<String, (Option<String>, usize)> {
        self.sim
            .keys(PRODUCT)
            .into_iter()
            .map(|key| {
                let p = self.sim.item(PRODUCT, &key).expect("product");
                let variants = p["variants"].as_array().map_or(0, Vec::len);
                (key, (p["name"].as_str().map(str::to_owned), variants))
            })
            .collect()
    }

    async fn stored_catalog(&self) -> BTreeMap<String, (Option<String>, usize)> {
        let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT p.product_id, p.display_name,
                    (SELECT count(*) FROM skus s WHERE s.merchant_id = p.merchant_id AND s.product_id = p.product_id)
             FROM products p WHERE p.merchant_id = $1",
        )
        .bind(self.merchant)
        .fetch_all(&self.db.pool)
        .await
        .expect("products");
        rows.into_iter().map(|(id, name, skus)| (id, (name, skus as usize))).collect()
    }

    async fn events(&self, change: &str) -> Vec<String> {
        common::product_events(&self.db.pool, self.merchant, change).await
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).bind(self.merchant).fetch_one(&self.db.pool).await.expect("count")
    }
}

#[tokio::test]
async fn full_then_incremental_sync_matches_the_store_exactly() {
    let f = Fixture::new(180).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    assert_eq!(f.count("SELECT count(*) FROM skus WHERE merchant_id = $1").await, 360);
    assert!(f.events("created").await.is_empty(), "the first run is the baseline");

    let keys = f.sim.keys(PRODUCT);
    f.sim.update_product("P00008").await.expect("updated");
    let (added, _) = f.sim.add_product().await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Incremental).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
    assert_eq!(f.events("updated").await, vec![keys[7].clone()]);
    assert!(f.events("created").await.iter().any(|k| k.ends_with(&format!("|{added}"))));
    // The simulator seeds its items as modified now, inside the watermark's 2-minute overlap, so this
    // run re-reads them (unchanged rows write nothing); that the filter reads only changed items is
    // `an_incremental_list_reads_only_what_changed_since` in the connector's tests.
    let last = f.sim.calls().into_iter().rev().find(|c| c.path == PRODUCTS_PATH).expect("call");
    assert!(last.query.contains("modifiedtime%20gt%20datetime"), "{}", last.query);

    // A full run over unchanged data changes nothing and records no events.
    let events = f.count("SELECT count(*) FROM change_events WHERE merchant_id = $1").await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.count("SELECT count(*) FROM change_events WHERE merchant_id = $1").await, events);
}

#[tokio::test]
async fn a_product_deleted_in_the_store_disappears_after_a_full_run() {
    let f = Fixture::new(120).await;
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let gone = f.sim.keys(PRODUCT)[5].clone();
    f.sim.delete_product("P00006").await.expect("deleted");
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let stored = f.stored_catalog().await;
    assert!(!stored.contains_key(&gone));
    assert_eq!(stored, f.sim_catalog());
    assert_eq!(f.events("deleted").await, vec![gone.clone()]);
    let confirmed = f.sim.calls().iter().any(|c| c.path.starts_with(&format!("{PRODUCTS_PATH}('")) && c.status == 404);
    assert!(confirmed, "the deletion was confirmed by a point read");
}

#[tokio::test]
async fn inventory_shipping_and_orders_sync() {
    let f = Fixture::new(40).await;
    for kind in [SyncKind::Inventory, SyncKind::Shipping, SyncKind::Orders] {
        assert_eq!(f.sync(kind, Mode::Full).await, JobState::Succeeded, "{kind}");
    }
    let counts = (
        f.count("SELECT count(*) FROM inventory WHERE merchant_id = $1").await,
        f.count("SELECT count(*) FROM shipping_methods WHERE merchant_id = $1").await,
        f.count("SELECT count(*) FROM orders WHERE merchant_id = $1").await,
    );
    let sim = (f.sim.keys(STOCK).len() as i64, f.sim.keys(DELIVERY).len() as i64, f.sim.keys(ORDER).len() as i64);
    assert_eq!(counts, sim);
    assert_eq!(counts, (80, 3, 12));
    f.sim.set_stock("P00001-S", 4242).await.expect("stock");
    assert_eq!(f.sync(SyncKind::Inventory, Mode::Full).await, JobState::Succeeded);
    let level: i64 = sqlx::query_scalar("SELECT stock_level FROM inventory WHERE sku_id LIKE '%|P00001-S'")
        .fetch_one(&f.db.pool)
        .await
        .expect("level");
    assert_eq!(level, 4242);
    // Stock rows name the variants the catalog sync stores.
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let orphans = f
        .count(
            "SELECT count(*) FROM inventory i WHERE i.merchant_id = $1
             AND NOT EXISTS (SELECT 1 FROM skus s WHERE s.merchant_id = i.merchant_id AND s.sku_id = i.sku_id)",
        )
        .await;
    assert_eq!(orphans, 0);
    // An order changed in the store arrives with an incremental run.
    let code = f.sim.keys(ORDER)[3].clone();
    f.sim.set_order_status(&code, "COMPLETED").await.expect("status");
    assert_eq!(f.sync(SyncKind::Orders, Mode::Incremental).await, JobState::Succeeded);
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM orders WHERE merchant_id = $1 AND order_id = $2")
        .bind(f.merchant)
        .bind(&code)
        .fetch_one(&f.db.pool)
        .await
        .expect("order");
    assert_eq!(state.as_deref(), Some("COMPLETED"));
}

#[tokio::test]
async fn injected_faults_give_the_same_final_data() {
    let f = Fixture::new(400).await;
    f.sim.inject(Fault::new(Some("GET"), PRODUCTS_PATH, FaultKind::Status(500)).probability(0.2));
    f.sim.inject(
        Fault::new(Some("GET"), PRODUCTS_PATH, FaultKind::RateLimited { retry_after_secs: 0 }).probability(0.2),
    );
    f.sim.inject(Fault::new(Some("GET"), PRODUCTS_PATH, FaultKind::Delay(Duration::from_millis(30))).probability(0.2));
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    let faults = f.sim.calls().iter().filter(|c| c.path == PRODUCTS_PATH && c.status != 200).count();
    assert!(faults > 0, "faults were injected");
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
}

#[tokio::test]
async fn a_huge_answer_fails_the_run_with_its_reason_and_the_next_run_completes() {
    let f = Fixture::new(60).await;
    let fault = f.sim.inject(Fault::new(Some("GET"), PRODUCTS_PATH, FaultKind::HugeBody { bytes: 20 * 1024 * 1024 }));
    let state = f.sync(SyncKind::Catalog, Mode::Full).await;
    assert_ne!(state, JobState::Succeeded);
    let error: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM sync_state WHERE merchant_id = $1 AND kind = 'catalog'")
            .bind(f.merchant)
            .fetch_one(&f.db.pool)
            .await
            .expect("state");
    assert!(error.as_deref().is_some_and(|e| e.contains("larger than")), "{error:?}");
    f.sim.remove_fault(fault);
    assert_eq!(f.sync(SyncKind::Catalog, Mode::Full).await, JobState::Succeeded);
    assert_eq!(f.stored_catalog().await, f.sim_catalog());
}
