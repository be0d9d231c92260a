//! Several `storelink` processes on one database: one login per merchant per token lifetime across
//! processes, and a worker killed with SIGKILL mid-sync loses nothing and duplicates nothing (an OCC
//! and a SAP merchant).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;
use storelink_connector_occ::APP_KEY_PURPOSE as OCC_APP_KEY_PURPOSE;
use storelink_core::MerchantId;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_sap_sim::SapSim;
use storelink_tenants::{NewPartner, merchants, partners};
use storelink_testkit::{TestDb, test_db};
use storelink_vault::{MasterKeys, Vault};

struct Setup {
    db: TestDb,
    sim: OccSim,
    keys: MasterKeys,
    merchant: MerchantId,
}

/// A SAP merchant (OAuth client credentials) on a SAP simulator, in `setup`'s database.
async fn sap_merchant(s: &Setup, products: usize) -> (SapSim, MerchantId) {
    let options = storelink_sap_sim::SimOptions { products, ..storelink_sap_sim::SimOptions::default() };
    let sim = SapSim::spawn(options).await.expect("sap sim");
    sim.add_user("storelink", "pw", &[storelink_sap_sim::GROUP_STORELINK]);
    sim.add_oauth_client("storelink-client", "secret", "storelink");
    let partner = storelink_testkit::insert_partner(&s.db.pool, "sap").await.expect("partner");
    let mut conn = s.db.pool.acquire().await.expect("conn");
    let merchant = merchants::upsert_connected(&mut conn, partner, "sap", &sim.base_url()).await.expect("m");
    drop(conn);
    let auth = storelink_connector_sap::Auth::OAuth {
        client_id: "storelink-client".into(),
        client_secret: "secret".into(),
        token_url: None,
    };
    let credentials = storelink_connector_sap::SapCredentials { auth, objects: Default::default() };
    let sealed = serde_json::to_vec(&credentials).expect("json");
    let vault = Vault::new(s.db.pool.clone(), s.keys.clone());
    vault.seal(merchant, storelink_connector_sap::CREDENTIALS_PURPOSE, &sealed).await.expect("seal");
    (sim, merchant)
}

async fn setup(products: usize) -> Setup {
    let db = test_db().await;
    let sim =
        OccSim::spawn(SimOptions { products, allow_http_callbacks: true, ..SimOptions::default() }).await.expect("sim");
    let key = sim.add_key(Permissions::all());
    let uris = vec!["https://partner.example/cb".to_owned()];
    let partner = partners::create(&db.pool, NewPartner { name: "P", redirect_uris: &uris }).await.expect("partner");
    let mut conn = db.pool.acquire().await.expect("conn");
    let merchant = merchants::upsert_connected(&mut conn, partner.partner_id, "occ", &sim.base_url()).await.expect("m");
    drop(conn);
    let keys = MasterKeys::generate("test");
    Vault::new(db.pool.clone(), keys.clone()).seal(merchant, OCC_APP_KEY_PURPOSE, key.as_bytes()).await.expect("seal");
    Setup { db, sim, keys, merchant }
}

fn storelink(setup: &Setup, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storelink"));
    cmd.args(args)
        .env("DATABASE_URL", &setup.db.url)
        .env("STORELINK_MASTER_KEYS", setup.keys.to_config_string().expose_secret())
        .env("STORELINK_ALLOW_INSECURE_STORE_URLS", "1")
        .env("STORELINK_JOB_LEASE_SECS", "2")
        .env("STORELINK_JOB_HEARTBEAT_SECS", "0.5")
        .env("STORELINK_JOB_SLICE_SECS", "1")
        .env("STORELINK_WORKER_CONCURRENCY", "2")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// The probe's name: a test of this binary that only runs when this file starts it in a child process.
const PROBE: &str = "token_probe_process";

#[tokio::test]
async fn a_thousand_token_requests_across_four_processes_make_one_login() {
    let s = setup(10).await;
    let merchant = s.merchant.to_string();
    // Each child is this test binary running only `token_probe_process`: a process of its own with
    // its own pool and in-process token cache, as a `serve` or `worker` process has.
    let children: Vec<Child> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().expect("test binary"))
                .args([PROBE, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                .env("DATABASE_URL", &s.db.url)
                .env("STORELINK_MASTER_KEYS", s.keys.to_config_string().expose_secret())
                .env("STORELINK_ALLOW_INSECURE_STORE_URLS", "1")
                .env("PROBE_MERCHANT", &merchant)
                .env("PROBE_CALLERS", "250")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect::<Vec<_>>()
    })
    .await
    .expect("join");
    for out in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        // libtest may print "test token_probe_process ... " on the same line before the report.
        let line = stdout.lines().find_map(|l| l.split_once("PROBE ").map(|(_, json)| json));
        let line = line.unwrap_or_else(|| panic!("no probe report in: {stdout}"));
        let report: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(report["ok"], 250, "{report}");
        assert_eq!(report["distinct_tokens"], 1, "{report}");
    }
    assert_eq!(s.sim.count("POST", "/ccadmin/v1/login"), 1, "exactly one login across 4 processes x 250 callers");
}

/// The child half of the test above (ignored, so it runs only when started by it): N concurrent token
/// requests for one merchant through this process's token cache; prints `PROBE {json}`.
#[tokio::test]
#[ignore = "started as a child process by a_thousand_token_requests_across_four_processes_make_one_login"]
async fn token_probe_process() {
    let merchant: MerchantId = std::env::var("PROBE_MERCHANT").expect("PROBE_MERCHANT").parse().expect("merchant");
    let callers: usize = std::env::var("PROBE_CALLERS").expect("PROBE_CALLERS").parse().expect("callers");
    let config = storelink::config::Config::load(None).expect("config");
    let keys = storelink::keys::load(&config).expect("keys");
    let pool = storelink_core::db::connect(config.database.url.as_ref().expect("DATABASE_URL").expose_secret(), 10)
        .await
        .expect("pool");
    let services = storelink::server::Services::new(config, pool, keys).expect("services");
    let sessions = futures::future::join_all((0..callers).map(|_| services.tokens.session(merchant))).await;
    let tokens: std::collections::HashSet<String> =
        sessions.iter().filter_map(|s| s.as_ref().ok()).map(|s| s.token.expose_secret().to_owned()).collect();
    let failed = sessions.iter().filter(|s| s.is_err()).count();
    println!(
        "PROBE {}",
        serde_json::json!({"ok": callers - failed, "failed": failed, "distinct_tokens": tokens.len()})
    );
}

#[tokio::test]
async fn a_worker_killed_mid_sync_is_replaced_without_loss_or_duplicates() {
    let s = setup(2000).await;
    s.sim.set_latency(Duration::from_millis(20));
    killed_mid_sync(&s, s.merchant).await;
    let mut expected = s.sim.product_ids();
    expected.sort();
    assert_eq!(product_ids(&s, s.merchant).await, expected);
}

#[tokio::test]
async fn a_worker_killed_mid_sync_of_a_sap_merchant_is_replaced_without_loss_or_duplicates() {
    let s = setup(1).await;
    let (sap, merchant) = sap_merchant(&s, 2000).await;
    sap.set_latency(Duration::from_millis(20));
    killed_mid_sync(&s, merchant).await;
    let mut expected = sap.keys(storelink_sap_sim::PRODUCT);
    expected.sort();
    assert_eq!(product_ids(&s, merchant).await, expected);
}

/// A full catalog run of `merchant`'s 2,000 products whose worker is killed with SIGKILL after 3
/// pages: a second worker finishes it with every product once and no change announced.
async fn killed_mid_sync(s: &Setup, merchant: MerchantId) {
    let queue = storelink_jobs::Queue::new(s.db.pool.clone());
    let job_id = queue.enqueue(merchant, "catalog", storelink_jobs::Mode::Full).await.expect("enqueue");
    let mut first =
        storelink(s, &["worker"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn worker");
    let pages = format!(
        "SELECT coalesce(max(pages_done), 0) FROM sync_state WHERE kind = 'catalog' AND merchant_id = '{merchant}'"
    );
    wait_until(s, &pages, 3).await;
    first.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    first.wait().expect("reaped");
    let mut second =
        storelink(s, &["worker"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn worker");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let job = queue.get(merchant, job_id).await.expect("get").expect("job");
        if job.state == storelink_jobs::JobState::Succeeded {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the replacement worker did not finish: {job:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().expect("stop");
    second.wait().expect("reaped");
    let (products, distinct, created): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM products WHERE merchant_id = $1),
                (SELECT count(DISTINCT product_id) FROM products WHERE merchant_id = $1),
                (SELECT count(*) FROM change_events WHERE merchant_id = $1 AND entity = 'product' AND change = 'created')",
    )
    .bind(merchant)
    .fetch_one(&s.db.pool)
    .await
    .expect("counts");
    assert_eq!(
        (products, distinct, created),
        (2000, 2000, 0),
        "every product once; a baseline run announces no changes"
    );
}

async fn product_ids(s: &Setup, merchant: MerchantId) -> Vec<String> {
    sqlx::query_scalar("SELECT product_id FROM products WHERE merchant_id = $1 ORDER BY product_id")
        .bind(merchant)
        .fetch_all(&s.db.pool)
        .await
        .expect("ids")
}

async fn wait_until(s: &Setup, sql: &str, at_least: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value: i64 = sqlx::query_scalar(sql).fetch_one(&s.db.pool).await.unwrap_or(0);
        if value >= at_least {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not reached: {sql}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sync_run_waits_with_progress_and_status_reports_it() {
    let s = setup(300).await;
    let merchant = s.merchant.to_string();
    let run =
        storelink(&s, &["sync", "run", "--merchant", &merchant, "--kind", "catalog", "--wait"]).output().expect("run");
    assert!(run.status.success(), "sync run failed: {}", String::from_utf8_lossy(&run.stderr));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("catalog full sync"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let products: i64 = sqlx::query_scalar("SELECT count(*) FROM products").fetch_one(&s.db.pool).await.expect("count");
    assert_eq!(products, 300);

    let status = storelink(&s, &["sync", "status", "--merchant", &merchant]).output().expect("status");
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success());
    assert!(table.contains(&merchant) && table.contains("catalog") && table.contains("300/300"), "{table}");
    let json = storelink(&s, &["sync", "status", "--json"]).output().expect("status json");
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(rows[0]["items_done"], 300);

    let unknown =
        storelink(&s, &["sync", "run", "--merchant", &merchant, "--kind", "widgets"]).output().expect("bad kind");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown sync kind"));
}
