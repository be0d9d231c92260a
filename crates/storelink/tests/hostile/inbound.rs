//! Inbound webhooks under attack. The attacker is a merchant: it controls its "store" (a second
//! simulator) and holds its own webhook secrets, so every delivery it sends is validly signed.
//! Covers: poisoned dedupe keys (NUL, over the btree limit) sent to fail the shared group-commit batch;
//! any signed bytes (property test); an empty webhook secret; deliveries right after a revoke.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};

use crate::common::{
    ORDER_SUBMIT_HOOK, RETURN_UPDATE_HOOK, TestApp, merchant_id_from, sign_sha512, spawn_app, wait_for,
};

const FIXTURE: &str = include_str!("../../../../fixtures/occ/order-submit.json");

/// A merchant connected to the app: its id, the `order-submit` SHA-512 secret and our URL for it.
struct Tenant {
    id: MerchantId,
    secret: String,
    url: String,
}

/// Connects the app's own simulator as a merchant.
async fn victim(app: &TestApp) -> Tenant {
    tenant(app, &app.sim, &app.key).await
}

/// Connects a store of the attacker's own (a second simulator) as another merchant.
async fn attacker(app: &TestApp) -> (OccSim, Tenant) {
    let sim = OccSim::spawn(SimOptions { allow_http_callbacks: true, ..SimOptions::default() })
        .await
        .expect("attacker's store");
    let key = sim.add_key(Permissions::all());
    let tenant = tenant(app, &sim, &key).await;
    (sim, tenant)
}

async fn tenant(app: &TestApp, sim: &OccSim, key: &str) -> Tenant {
    let id: MerchantId = merchant_id_from(&app.connect_with(&sim.base_url(), key).await).parse().expect("id");
    let secret =
        sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook")["secretKeySHA512"].as_str().expect("secret").to_owned();
    Tenant { id, secret, url: format!("{}/webhooks/occ/{id}/order-submit", app.base) }
}

/// The fixture order under another id (a JSON string, any characters).
fn order_with_id(id: &str) -> Vec<u8> {
    let mut order: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
    order["order"]["id"] = serde_json::json!(id);
    order.to_string().into_bytes()
}

/// POSTs a signed delivery; the status, or 0 when no answer came back.
async fn deliver(http: &reqwest::Client, tenant: &Tenant, body: Vec<u8>) -> u16 {
    post_signed(http, &tenant.url, &tenant.secret, body).await
}

async fn post_signed(http: &reqwest::Client, url: &str, secret: &str, body: Vec<u8>) -> u16 {
    let signature = sign_sha512(secret, &body);
    http.post(url)
        .header("content-type", "application/json")
        .header("X-Oracle-CC-WebHook-Signature-SHA512", signature)
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Resident memory of this process (server, workers and test clients), in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    kib / 1024
}

/// An order id of `len` hex characters that does not compress (Postgres compresses index entries),
/// so its key is over the btree limit of about 2.7 KB.
fn incompressible_id(seed: u64, len: usize) -> String {
    use sha2::Digest;
    let mut id = String::with_capacity(len + 64);
    let mut n = 0u64;
    while id.len() < len {
        id.push_str(&format!("{:x}", sha2::Sha256::digest([seed.to_le_bytes(), n.to_le_bytes()].concat())));
        n += 1;
    }
    id.truncate(len);
    id
}

/// Issue 14, item 1: merchant B floods deliveries whose dedupe key Postgres cannot store (a NUL in
/// the order id, an id of about 3 KB) while merchant A sends hundreds of valid ones. Before the
/// defence most of A's deliveries shared a batch with a poisoned row and got 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchants_poisoned_deliveries_do_not_fail_another_merchants() {
    const VICTIM_DELIVERIES: usize = 480;
    let app = spawn_app().await;
    let a = victim(&app).await;
    let (attacker_sim, b) = attacker(&app).await;
    let idle = rss_mib();
    let peak = Arc::new(AtomicUsize::new(idle as usize));
    let victim_done = Arc::new(AtomicBool::new(false));

    // The flood: 32 concurrent senders, alternating the two poisons, until A is done.
    let b = Arc::new(b);
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (http, b, done, peak, sent) =
            (app.http.clone(), b.clone(), victim_done.clone(), peak.clone(), sent.clone());
        tokio::spawn(async move {
            let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<(&str, u16), usize>::new()));
            let senders = (0..32u64).map(|sender| {
                let (http, b, done, sent, statuses, peak) =
                    (http.clone(), b.clone(), done.clone(), sent.clone(), statuses.clone(), peak.clone());
                async move {
                    let mut n = 0u64;
                    while !done.load(Ordering::SeqCst) {
                        let (kind, id) = match n % 2 {
                            0 => ("nul", format!("poison-{sender}-{n}\u{0}")),
                            _ => ("long", incompressible_id(sender << 32 | n, 3000)),
                        };
                        let status = deliver(&http, &b, order_with_id(&id)).await;
                        *statuses.lock().unwrap_or_else(|e| e.into_inner()).entry((kind, status)).or_default() += 1;
                        sent.fetch_add(1, Ordering::SeqCst);
                        peak.fetch_max(rss_mib() as usize, Ordering::SeqCst);
                        n += 1;
                    }
                }
            });
            futures::future::join_all(senders).await;
            let statuses = statuses.lock().unwrap_or_else(|e| e.into_inner()).clone();
            (sent.load(Ordering::SeqCst), statuses)
        })
    };
    // Let the flood get going before A starts.
    let under_way = wait_for(Duration::from_secs(20), || {
        let sent = sent.clone();
        async move { sent.load(Ordering::SeqCst) >= 64 }
    })
    .await;
    assert!(under_way, "the flood is under way");

    let http = app.http.clone();
    let a = Arc::new(a);
    let victim_statuses: Vec<u16> = futures::stream::iter(0..VICTIM_DELIVERIES)
        .map(|n| {
            let (http, a) = (http.clone(), a.clone());
            async move { deliver(&http, &a, order_with_id(&format!("victim-{n}"))).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    victim_done.store(true, Ordering::SeqCst);
    let (flooded, attacker_statuses) = flood.await.expect("flood");

    let ok = victim_statuses.iter().filter(|s| (200..300).contains(*s)).count();
    let mut victim_by_status = std::collections::BTreeMap::<u16, usize>::new();
    for status in &victim_statuses {
        *victim_by_status.entry(*status).or_default() += 1;
    }
    println!(
        "poisoned flood: victim {ok}/{VICTIM_DELIVERIES} 2xx ({:.1}%), victim statuses {victim_by_status:?}; \
         attacker sent {flooded}, statuses {attacker_statuses:?}; RSS idle {idle} MiB, peak {} MiB",
        100.0 * ok as f64 / VICTIM_DELIVERIES as f64,
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(ok, VICTIM_DELIVERIES, "every victim delivery is acknowledged: {victim_by_status:?}");
    assert_eq!(stored_for(&app.db.pool, a.id).await, VICTIM_DELIVERIES as i64, "and stored");
    // The attacker's NUL ids are refused by name; its long ids are stored under a hashed key.
    assert!(attacker_statuses.keys().all(|(kind, status)| match *kind {
        "nul" => *status == 400,
        _ => *status == 200,
    }));
    let longest: i32 = sqlx::query_scalar("SELECT max(length(dedupe_key)) FROM inbound_events")
        .fetch_one(&app.db.pool)
        .await
        .expect("longest key");
    assert!(longest <= 256, "no stored key is longer than 256 characters ({longest})");
    attacker_sim.stop().await;
    app.stop().await;
}

async fn stored_for(pool: &PgPool, merchant: MerchantId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbound_events WHERE merchant_id = $1")
        .bind(merchant)
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// A NUL in the order id is answered 400 with a problem that names the field; a long id is stored
/// once however often it is delivered.
#[tokio::test]
async fn poisoned_keys_get_a_named_error_or_a_fixed_size_key() {
    let app = spawn_app().await;
    let (attacker_sim, b) = attacker(&app).await;
    let body = order_with_id("o\u{0}1");
    let signature = sign_sha512(&b.secret, &body);
    let response = app
        .http
        .post(&b.url)
        .header("X-Oracle-CC-WebHook-Signature-SHA512", signature)
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value = response.json().await.expect("problem");
    assert_eq!((problem["code"].as_str(), problem["field"].as_str()), (Some("invalid_field"), Some("order.id")));
    assert!(problem["title"].as_str().is_some_and(|t| t.contains("order.id")), "{problem}");
    let long = order_with_id(&incompressible_id(7, 3000));
    assert_eq!(deliver(&app.http, &b, long.clone()).await, 200);
    let again = app
        .http
        .post(&b.url)
        .header("X-Oracle-CC-WebHook-Signature-SHA512", sign_sha512(&b.secret, &long))
        .body(long)
        .send()
        .await
        .expect("send");
    assert_eq!(again.text().await.expect("body"), r#"{"status":"duplicate"}"#, "a redelivery still dedupes");
    assert_eq!(stored_for(&app.db.pool, b.id).await, 1);
    attacker_sim.stop().await;
    app.stop().await;
}

/// Issue 14, item 9: a store whose webhook has an empty secret (`secretKey: ""`). Anyone can compute
/// an HMAC under an empty key, so such a slot is recorded `failed` with the reason (our URL is not
/// added), and no delivery signed with an empty key is accepted, even on a slot whose other secret
/// is good.
#[tokio::test]
async fn an_empty_webhook_secret_fails_the_slot_and_signs_nothing() {
    let app = spawn_app().await;
    app.sim.set_webhook_secrets(ORDER_SUBMIT_HOOK, "", "");
    let update = app.sim.webhook(RETURN_UPDATE_HOOK).expect("webhook");
    let update_sha512 = update["secretKeySHA512"].as_str().expect("secret").to_owned();
    app.sim.set_webhook_secrets(RETURN_UPDATE_HOOK, "", &update_sha512);
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("id");

    let slots = storelink_registrar::list_slots(&app.db.pool, merchant).await.expect("slots");
    let slot = |name: &str| slots.iter().find(|s| s.slot.as_str() == name).expect("slot row").clone();
    let submit = slot("order-submit");
    assert_eq!(submit.status, storelink_registrar::SlotStatus::Failed);
    assert_eq!(submit.last_error.as_deref(), Some(storelink_registrar::UNUSABLE_SECRET));
    let urls = app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook")["urls"].to_string();
    assert!(!urls.contains(&merchant.to_string()), "our URL was not added: {urls}");
    assert_eq!(
        slot("return-request-update").status,
        storelink_registrar::SlotStatus::Registered,
        "its SHA-512 secret is good"
    );

    let body = order_with_id("forged");
    let forged_sha1 = {
        use base64::Engine;
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(&[]).expect("any key length");
        mac.update(&body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let forged_sha512 = sign_sha512("", &body);
    let forgeries = [
        ("X-Oracle-CC-WebHook-Signature-SHA512", &forged_sha512),
        ("X-Oracle-CC-WebHook-Signature", &forged_sha1),
        ("X-Oracle-CC-WebHook-Signature", &forged_sha512),
    ];
    for slot in ["order-submit", "return-request-update"] {
        let url = format!("{}/webhooks/occ/{merchant}/{slot}", app.base);
        for (header, forged) in forgeries {
            let status =
                app.http.post(&url).header(header, forged).body(body.clone()).send().await.expect("send").status();
            assert_eq!(status, 401, "{slot}: a delivery signed with the empty key in {header}");
        }
    }
    let url = format!("{}/webhooks/occ/{merchant}/return-request-update", app.base);
    assert_eq!(post_signed(&app.http, &url, &update_sha512, body).await, 200, "the good secret still verifies");
    assert_eq!(stored_for(&app.db.pool, merchant).await, 1, "only the genuine delivery is stored");
    app.stop().await;
}

/// A second web process (`storelink serve`, no workers) on the same database and master keys, with
/// its own connection pool and so its own inbound lookup cache.
async fn second_server(app: &TestApp) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = app.services.config.clone();
    config.http.listen = addr;
    config.http.public_url = format!("http://{addr}").parse().expect("url");
    let pool = storelink_core::db::connect(&app.db.url, 5).await.expect("pool");
    let services = storelink::server::Services::new(config, pool, app.services.keys.clone()).expect("services");
    let server = storelink::server::http_server(&services, listener, false).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), handle)
}

/// Issue 14, item 13: a delivery sent right after a revoke, to another web process that has the
/// merchant in its lookup cache, is refused (410), and the revoked merchant leaves nothing queued:
/// its unprocessed deliveries are settled (kept, without `--purge`), a delivery that slipped in as
/// the revoke committed is dropped by the workers' safety net, and no job waits for it.
#[tokio::test]
async fn a_revoke_reaches_every_process_at_once_and_leaves_nothing_queued() {
    let app = spawn_app().await;
    let merchant = victim(&app).await;
    let (base2, server2) = second_server(&app).await;
    let other = Tenant { url: format!("{base2}/webhooks/occ/{}/order-submit", merchant.id), ..merchant };
    let ops = app.services.ops();
    let actor = storelink_ops::Actor { name: "alice".into(), source: "203.0.113.7".into() };

    // The second process caches the merchant; while it is paused a delivery waits unprocessed.
    assert_eq!(deliver(&app.http, &other, order_with_id("before-pause")).await, 200);
    // Processed, and its job finished: a job still running when the pause commits would go on to
    // process the deliveries below (a running job parks only at its next check).
    let idle = format!(
        "SELECT count(*) FROM inbound_events WHERE merchant_id = '{id}' AND processed_at IS NULL
         UNION ALL SELECT count(*) FROM jobs WHERE merchant_id = '{id}' AND kind = 'inbound' AND state IN ('queued', 'running')",
        id = other.id
    );
    let settled_before = wait_for(Duration::from_secs(10), || async {
        let counts: Vec<i64> = sqlx::query_scalar(&idle).fetch_all(&app.db.pool).await.unwrap_or_default();
        counts.iter().all(|&n| n == 0)
    })
    .await;
    assert!(settled_before, "the first delivery is processed and its job done");
    ops.pause(&actor, other.id).await.expect("pause");
    assert_eq!(deliver(&app.http, &other, order_with_id("while-paused")).await, 200);
    assert_eq!(deliver(&app.http, &other, order_with_id("cached")).await, 200, "cached again");

    ops.revoke(&actor, other.id, false).await.expect("revoke");
    // The revoke reaches the second process by a notification, a moment after the commit. Wait for
    // it with wrongly signed probes, which are never stored (401 while the merchant is still cached
    // active, 410 once the revoke arrived), then a signed delivery is refused.
    let reached = wait_for(Duration::from_secs(5), || async {
        post_signed(&app.http, &other.url, "d3Jvbmcgc2VjcmV0IGZvciB0aGUgcHJvYmU=", order_with_id("probe")).await == 410
    })
    .await;
    assert!(reached, "the revoke reaches the second process within moments");
    let status = deliver(&app.http, &other, order_with_id("after-revoke")).await;
    assert_eq!(status, 410, "the second process refuses the revoked merchant");

    let pool = &app.db.pool;
    let unprocessed = "SELECT count(*) FROM inbound_events WHERE merchant_id = $1 AND processed_at IS NULL";
    let by_merchant = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql).bind(other.id).fetch_one(pool).await.expect(sql)
    };
    assert_eq!(by_merchant(unprocessed).await, 0, "the revoke settled what was waiting");
    let settled = "SELECT count(*) FROM inbound_events WHERE merchant_id = $1 AND last_error = 'merchant revoked'";
    assert!(by_merchant(settled).await >= 1, "kept as history (no --purge), marked settled");

    // A delivery that slipped in while the revoke committed: the safety net drops it, queues nothing.
    sqlx::query(
        "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body, received_at)
         VALUES ($1, 'order-submit', 'slipped-in', '\\x7b7d', now() - interval '1 minute')",
    )
    .bind(other.id)
    .execute(pool)
    .await
    .expect("insert");
    let queued = storelink_inbound::enqueue_stale(pool, &app.services.queue, Duration::from_secs(5)).await;
    assert_eq!(queued.expect("safety net"), 0, "nothing is queued for a merchant that is not active");
    assert_eq!(by_merchant(unprocessed).await, 0, "the slipped-in delivery was dropped");
    let live_jobs = "SELECT count(*) FROM jobs WHERE merchant_id = $1 AND kind = 'inbound'
                     AND state IN ('queued', 'running', 'paused')";
    assert_eq!(by_merchant(live_jobs).await, 0, "no inbound job waits for the revoked merchant");
    server2.stop(true).await;
    app.stop().await;
}

/// Bodies an attacker holding its own secret might sign: raw bytes, orders with any string as id
/// (NUL, kilobytes, any Unicode), any `lastModifiedTime`, lone surrogate escapes, and valid orders
/// with random bytes spliced in.
fn hostile_body() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let long_id = proptest::collection::vec(any::<u8>(), 1200..2200)
        .prop_map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let id = prop_oneof![any::<String>(), long_id, Just("o\u{0}1".to_owned()), Just(String::new())];
    let modified = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    let order = (id, modified, any::<String>(), any::<bool>()).prop_map(|(id, modified, note, nested)| {
        let order = serde_json::json!({"id": id, "lastModifiedTime": modified, "note": note});
        let body = if nested { serde_json::json!({"order": order}) } else { order };
        body.to_string().into_bytes()
    });
    let surrogates = prop_oneof![
        Just(br#"{"order":{"id":"\ud800","lastModifiedTime":1}}"#.to_vec()),
        Just(br#"{"note":"\udc00","id":"o1","lastModifiedTime":1}"#.to_vec()),
        Just(br#"{"order":{"id":"o\u0000","lastModifiedTime":"\ud83d\ude00"}}"#.to_vec()),
    ];
    let spliced = (order.clone(), any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(
        |(mut body, at, bytes)| {
            let at = at.index(body.len() + 1);
            body.splice(at..at, bytes);
            body
        },
    );
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..600), order, surrogates, spliced]
}

/// Issue 14, property: any bytes an attacker signs with its own secret get 2xx, 4xx or 503 (never
/// a panic, a dropped connection or a 500), and deliveries of another merchant sent at the same time
/// (so sharing the attacker's batch) are all acknowledged. 256 cases by default
/// (`PROPTEST_CASES` overrides), a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_signed_bytes_get_an_answer_and_never_harm_another_merchant() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let app = spawn_app().await;
    let a = victim(&app).await;
    let (attacker_sim, b) = attacker(&app).await;
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 64, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let runtime = tokio::runtime::Handle::current();
    let sent = AtomicUsize::new(0);
    let result = tokio::task::block_in_place(|| {
        runner.run(&hostile_body(), |body| {
            let n = sent.fetch_add(1, Ordering::SeqCst);
            let (attacker, first, second) = runtime.block_on(async {
                tokio::join!(
                    deliver(&app.http, &b, body.clone()),
                    deliver(&app.http, &a, order_with_id(&format!("victim-{n}-a"))),
                    deliver(&app.http, &a, order_with_id(&format!("victim-{n}-b"))),
                )
            });
            let answered = (200..500).contains(&attacker) || attacker == 503;
            if !answered {
                return Err(TestCaseError::fail(format!("the attacker's delivery got {attacker}")));
            }
            if (first, second) != (200, 200) {
                return Err(TestCaseError::fail(format!("the victim got {first} and {second}")));
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let expected = 2 * sent.load(Ordering::SeqCst) as i64;
    assert_eq!(stored_for(&app.db.pool, a.id).await, expected, "every victim delivery is stored");
    attacker_sim.stop().await;
    app.stop().await;
}

/// A delivery that was stored but that Postgres cannot process (an order id of 3 KB, over the
/// btree limit of the orders table) is marked with its error; the merchant's other deliveries are
/// still processed, and its job does not fail over it again and again.
#[tokio::test]
async fn an_unprocessable_delivery_is_marked_and_the_rest_is_processed() {
    let app = spawn_app().await;
    let (attacker_sim, b) = attacker(&app).await;
    assert_eq!(deliver(&app.http, &b, order_with_id(&incompressible_id(3, 3000))).await, 200);
    assert_eq!(deliver(&app.http, &b, order_with_id("after-the-long-one")).await, 200);
    let pool = app.db.pool.clone();
    let processed = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM orders WHERE order_id = 'after-the-long-one'")
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
                == 1
        }
    })
    .await;
    assert!(processed, "the merchant's next delivery is processed");
    let (unprocessed, marked): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE processed_at IS NULL), count(*) FILTER (WHERE last_error IS NOT NULL)
         FROM inbound_events WHERE merchant_id = $1",
    )
    .bind(b.id)
    .fetch_one(&app.db.pool)
    .await
    .expect("counts");
    assert_eq!((unprocessed, marked), (0, 1), "the long one is settled with its error");
    attacker_sim.stop().await;
    app.stop().await;
}
