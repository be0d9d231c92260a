//! The deployed layout: two `storelink serve` and two `storelink worker` processes on one database
//! (as deploy/compose.yaml and the Kubernetes manifests run them). Merchants connect through either
//! web process; every sync job runs once, in one worker, and no OCC page is fetched twice; inbound
//! deliveries sent to both web processes become one order each, processed once; and one trace runs
//! from each connect request through its jobs' rows into the workers' OCC calls.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{count, merchant_id_from, open_form_at, post_connect_at, sign_sha512, wait_for};
use secrecy::ExposeSecret;
use storelink_core::trace::trace_id_in;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_tenants::{NewPartner, partners};
use storelink_testkit::test_db;
use storelink_vault::MasterKeys;

const FIXTURE: &str = include_str!("../../../fixtures/occ/order-submit.json");
const MERCHANTS: usize = 4;
const DELIVERIES: usize = 60;

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(role: &str, db_url: &str, keys: &MasterKeys, env: &[(&str, String)]) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storelink"));
    cmd.arg(role)
        .env("DATABASE_URL", db_url)
        .env("STORELINK_MASTER_KEYS", keys.to_config_string().expose_secret())
        .env("STORELINK_ALLOW_INSECURE_STORE_URLS", "1")
        .env("STORELINK_WORKER_CONCURRENCY", "3")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        cmd.env(name, value);
    }
    Process(cmd.spawn().expect("spawn storelink"))
}

fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").to_string()
}

#[tokio::test]
async fn two_web_and_two_worker_processes_share_the_work_without_doubling_it() {
    let db = test_db().await;
    let keys = MasterKeys::generate("test");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let uris = vec![common::REDIRECT_URI.to_owned()];
    let partner = partners::create(&db.pool, NewPartner { name: "P", redirect_uris: &uris }).await.expect("partner");

    let webs: Vec<String> = (0..2).map(|_| free_addr()).collect();
    let mut processes: Vec<Process> = webs
        .iter()
        .map(|addr| {
            // Each on its own metrics port (the default, 127.0.0.1:9464, would clash).
            let env = [
                ("STORELINK_LISTEN", addr.clone()),
                ("STORELINK_PUBLIC_URL", format!("http://{addr}")),
                ("STORELINK_METRICS_LISTEN", free_addr()),
            ];
            spawn("serve", &db.url, &keys, &env)
        })
        .chain((0..2).map(|_| spawn("worker", &db.url, &keys, &[])))
        .collect();
    let bases: Vec<String> = webs.iter().map(|addr| format!("http://{addr}")).collect();
    for base in &bases {
        let ready = wait_for(Duration::from_secs(30), || async {
            http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready, "{base} became ready");
    }

    // Each merchant connects through one of the two web processes, in a trace of its own.
    let mut sims = Vec::new();
    let mut merchants = Vec::new();
    let mut traces = Vec::new();
    for n in 0..MERCHANTS {
        let sim = OccSim::spawn(SimOptions { products: 120, allow_http_callbacks: true, ..SimOptions::default() })
            .await
            .expect("sim");
        let key = sim.add_key(Permissions::all());
        // A trace of the test's own (W3C ids: 32 and 16 hex digits, sampled).
        let trace_id = uuid::Uuid::new_v4().simple().to_string();
        let traceparent = format!("00-{trace_id}-{}-01", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let trace = trace_id_in(&traceparent).expect("a valid traceparent");
        let base = &bases[n % 2];
        let session = open_form_at(&http, base, partner.partner_id).await;
        let fields = [("store_url", sim.base_url()), ("app_key", key)];
        let response =
            post_connect_at(&http, base, partner.partner_id, &session, &fields, &[("traceparent", &traceparent)]).await;
        assert_eq!(response.status(), 200, "connect through {base}");
        let echoed = response.headers().get("traceresponse").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(echoed.and_then(|h| trace_id_in(&h)), Some(trace));
        merchants.push(merchant_id_from(&response));
        sims.push(sim);
        traces.push(trace);
    }
    let synced = wait_for(Duration::from_secs(60), || async {
        count(&db.pool, "SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL").await
            >= 4 * MERCHANTS as i64
    })
    .await;
    assert!(synced, "every merchant's four initial syncs finished");

    // No double work: one succeeded job per merchant and kind, products stored once, and no OCC
    // request (method, path, query) of the syncs sent twice.
    let doubled = count(
        &db.pool,
        "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE kind <> 'inbound' AND state = 'succeeded'
                               GROUP BY merchant_id, kind HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(doubled, 0, "a sync job ran twice");
    assert_eq!(count(&db.pool, "SELECT count(*) FROM products").await, 120 * MERCHANTS as i64);
    assert_eq!(
        count(&db.pool, "SELECT count(DISTINCT (merchant_id, product_id)) FROM products").await,
        120 * MERCHANTS as i64
    );
    for (sim, trace) in sims.iter().zip(&traces) {
        let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
        let calls = sim.calls();
        for call in calls.iter().filter(|c| c.method == "GET") {
            *seen.entry((call.method.clone(), call.path.clone(), call.query.clone())).or_default() += 1;
        }
        let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "OCC requests sent more than once: {repeated:?}");
        // One trace: the connect request's login and every worker's catalog call carry its trace id.
        let trace_of = |path: &str| {
            calls
                .iter()
                .filter(|c| c.path.starts_with(path))
                .map(|c| c.traceparent.as_deref().and_then(trace_id_in))
                .collect::<Vec<_>>()
        };
        let logins = trace_of("/ccadmin/v1/login");
        let catalog = trace_of("/ccadmin/v1/products");
        assert!(!logins.is_empty() && !catalog.is_empty(), "the sim saw logins and catalog calls");
        for seen in logins.iter().chain(&catalog) {
            assert_eq!(*seen, Some(*trace), "an OCC call outside the connect request's trace");
        }
    }
    let traced: Vec<Option<String>> = sqlx::query_scalar("SELECT traceparent FROM jobs WHERE kind = 'catalog'")
        .fetch_all(&db.pool)
        .await
        .expect("jobs");
    let trace_ids: Vec<_> = traced.iter().map(|t| t.as_deref().and_then(trace_id_in)).collect();
    for trace in &traces {
        assert!(trace_ids.contains(&Some(*trace)), "the catalog job row carries the request's trace");
    }

    // Inbound: every delivery is sent to both web processes; each becomes one stored event and one
    // order, processed once.
    let secret = sims[0].webhook(common::ORDER_SUBMIT_HOOK).expect("webhook")["secretKeySHA512"]
        .as_str()
        .expect("secret")
        .to_owned();
    let template: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
    let sends = (0..DELIVERIES).flat_map(|n| {
        let mut body = template.clone();
        body["order"]["id"] = serde_json::json!(format!("multi-{n}"));
        let body = body.to_string().into_bytes();
        let signature = sign_sha512(&secret, &body);
        bases
            .iter()
            .map(|base| {
                let request = http
                    .post(format!("{base}/webhooks/occ/{}/order-submit", merchants[0]))
                    .header("content-type", "application/json")
                    .header("X-Oracle-CC-WebHook-Signature-SHA512", signature.clone())
                    .body(body.clone());
                tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
            })
            .collect::<Vec<_>>()
    });
    for send in sends.collect::<Vec<_>>() {
        assert_eq!(send.await.expect("join").expect("send"), 200);
    }
    let processed = wait_for(Duration::from_secs(30), || async {
        count(&db.pool, "SELECT count(*) FROM orders WHERE order_id LIKE 'multi-%'").await == DELIVERIES as i64
            && count(&db.pool, "SELECT count(*) FROM inbound_events WHERE processed_at IS NULL").await == 0
    })
    .await;
    assert!(processed, "every delivery became an order");
    assert_eq!(count(&db.pool, "SELECT count(*) FROM inbound_events").await, DELIVERIES as i64, "stored once");
    assert_eq!(count(&db.pool, "SELECT count(*) FROM inbound_events WHERE attempts <> 1").await, 0, "processed once");
    for process in &mut processes {
        assert!(process.0.try_wait().expect("status").is_none(), "all four processes ran to the end");
    }
    for sim in sims {
        sim.stop().await;
    }
}
