//! A merchant-controlled (or merely changing) store against the real server: answers too large to
//! hold, late webhooks that would turn a cancelled order back, and a catalog that changes while a
//! full sync pages through it. Nothing here may cost the platform memory or show partners a change
//! that did not happen.

use std::time::Duration;

use storelink_core::MerchantId;
use storelink_jobs::Mode;
use storelink_occ::ReplyLimit;
use storelink_occ_sim::{Fault, FaultKind};
use storelink_testkit::memory;

use crate::common::{count, merchant_id_from, spawn_app, wait_for};

/// What the hostile store streams: generated as it is sent, never held by the simulator.
const HUGE: u64 = 1 << 30;

/// Queue a full run of `kind` once the merchant has no live job of that kind (the initial sync's job
/// may still be recording its success), so the id returned is the new run's.
async fn enqueue_full_run(app: &crate::common::TestApp, merchant: MerchantId, kind: &str) -> i64 {
    let pool = app.db.pool.clone();
    let idle = wait_for(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM jobs WHERE merchant_id = $1 AND kind = $2 AND state IN ('queued', 'running', 'paused')",
            )
            .bind(merchant)
            .bind(kind)
            .fetch_one(&pool)
            .await
            .is_ok_and(|n| n == 0)
        }
    })
    .await;
    assert!(idle, "no live {kind} job");
    app.services.queue.enqueue(merchant, kind, Mode::Full).await.expect("enqueue")
}

/// A store that answers the connect login with 1 GiB: the merchant is told the answer was too large,
/// nothing is stored, and the server's RSS stays within tens of MB of idle (whole-body reads took a
/// web process from 22 MB to 5.8 GB). The same store answering a sync page with 1 GiB fails the run
/// with that error recorded, also without the memory.
#[tokio::test]
async fn a_store_answering_with_gigabytes_costs_no_memory() {
    let app = spawn_app().await;
    // Warm up the connect path once (a failed login: nothing is stored) so idle includes its code.
    let warm = app.connect_with(&app.sim.base_url(), "not-a-key").await;
    assert_eq!(warm.status(), 422);
    let idle = memory::rss();
    memory::reset_peak();

    let fault = app.sim.inject(Fault::new(Some("POST"), "/ccadmin/v1/login", FaultKind::HugeBody { bytes: HUGE }));
    let response = app.connect().await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("far larger answer than an OCC store sends"), "{page}");
    let login_peak = memory::peak();
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM merchants").await, 0, "nothing stored");
    assert_eq!(app.sim.count("POST", "/ccadmin/v1/login"), 2, "the huge answer is not fetched again");
    app.sim.remove_fault(fault);

    // A connected merchant whose store then answers a catalog page with 1 GiB.
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("merchant id");
    app.wait_synced().await;
    memory::reset_peak();
    app.sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::HugeBody { bytes: HUGE }));
    enqueue_full_run(&app, merchant, "catalog").await;
    let pool = app.db.pool.clone();
    let expected = format!("larger than {} bytes", ReplyLimit::Page.bytes());
    let recorded = wait_for(Duration::from_secs(30), || {
        let (pool, expected) = (pool.clone(), expected.clone());
        async move {
            let error: Option<String> =
                sqlx::query_scalar("SELECT last_error FROM sync_state WHERE merchant_id = $1 AND kind = 'catalog'")
                    .bind(merchant)
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(None);
            error.is_some_and(|e| e.contains(&expected))
        }
    })
    .await;
    assert!(recorded, "the sync records that the store's answer was too large");
    let sync_peak = memory::peak();
    eprintln!(
        "huge reply: RSS idle {:.1} MiB, peak during the connect {:.1} MiB, during the sync {:.1} MiB",
        memory::mib(idle),
        memory::mib(login_peak),
        memory::mib(sync_peak)
    );
    let bound = idle + 50 * 1024 * 1024;
    assert!(login_peak < bound && sync_peak < bound, "idle {idle}, peaks {login_peak} / {sync_peak}");
    app.stop().await;
}

/// `order` as the store would send it `ms` after the version it lists, with `changes` applied.
fn version_after(order: &serde_json::Value, ms: i64, changes: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let mut order = order.clone();
    let at = order["lastModifiedTime"].as_i64().expect("lastModifiedTime") + ms;
    order["lastModifiedTime"] = at.into();
    let iso = chrono::DateTime::from_timestamp_millis(at).expect("time").format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    order["lastModifiedDate"] = iso.into();
    for (pointer, value) in changes {
        *order.pointer_mut(pointer).expect("field") = value.clone();
    }
    serde_json::to_vec(&serde_json::json!({ "order": order })).expect("body")
}

/// The webhook path of "newer wins": the store sends an order's cancellation (with a tracking
/// number), then a late delivery of an older version (still SUBMITTED). The order stays cancelled,
/// its shipment keeps the newer tracking number, and partners get one `order.updated`, not two.
#[tokio::test]
async fn a_late_webhook_never_turns_a_cancelled_order_back() {
    let app = spawn_app().await;
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("merchant id");
    app.wait_synced().await;
    let listed = app.sim.order("o10001").expect("order");
    let cancelled = version_after(
        &listed,
        120_000,
        &[
            ("/state", "REMOVED".into()),
            ("/shippingGroups/0/trackingNumber", "1Z-NEW".into()),
            ("/shippingGroups/0/state", "SHIPPED".into()),
        ],
    );
    let late = version_after(
        &listed,
        60_000,
        &[
            ("/state", "SUBMITTED".into()),
            ("/shippingGroups/0/trackingNumber", "1Z-OLD".into()),
            ("/shippingGroups/0/state", "SHIPPED".into()),
        ],
    );
    for body in [&cancelled, &late] {
        let sent = app.sim.deliver_webhook(crate::common::ORDER_SUBMIT_HOOK, body).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, Ok(200), "{:?}", sent[0]);
    }
    let pool = app.db.pool.clone();
    let processed = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            count(&pool, "SELECT count(*) FROM inbound_events WHERE processed_at IS NOT NULL AND last_error IS NULL")
                .await
                == 2
        }
    })
    .await;
    assert!(processed, "both deliveries were processed");
    let (state, tracking): (String, String) = sqlx::query_as(
        "SELECT o.state, s.tracking_number FROM orders o JOIN shipments s USING (merchant_id, order_id)
         WHERE o.merchant_id = $1 AND o.order_id = 'o10001'",
    )
    .bind(merchant)
    .fetch_one(&app.db.pool)
    .await
    .expect("order");
    assert_eq!((state.as_str(), tracking.as_str()), ("REMOVED", "1Z-NEW"), "the late delivery did not win");
    let changes: Vec<(String, String)> = sqlx::query_as(
        "SELECT entity, change FROM change_events WHERE merchant_id = $1 AND entity_id IN ('o10001', 'sg10001')
         ORDER BY event_id",
    )
    .bind(merchant)
    .fetch_all(&app.db.pool)
    .await
    .expect("events");
    let expected = [("order", "updated"), ("shipment", "created")].map(|(e, c)| (e.to_owned(), c.to_owned()));
    assert_eq!(changes, expected.to_vec(), "one order.updated, no second one for the late delivery");
    app.stop().await;
}

/// A store that deletes and adds products while the server's full catalog run pages through it
/// (the simulator's churn mode: one page boundary item skipped per page). No live product is ever
/// announced as deleted to partners; the products the store really deleted are, after a point read.
#[tokio::test]
async fn a_store_changing_during_a_full_sync_never_loses_a_live_product() {
    use crate::common::{AppOptions, spawn_app_with};
    use storelink_occ_sim::SimOptions;
    let sim = SimOptions { products: 1200, allow_http_callbacks: true, ..SimOptions::default() };
    let app = spawn_app_with(AppOptions { sim, ..AppOptions::default() }).await;
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("merchant id");
    app.wait_synced().await;
    app.sim.set_churn(true);
    for run in 0..2 {
        let job = enqueue_full_run(&app, merchant, "catalog").await;
        let pool = app.db.pool.clone();
        let done = wait_for(Duration::from_secs(60), || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT state FROM jobs WHERE job_id = $1")
                    .bind(job)
                    .fetch_one(&pool)
                    .await
                    .is_ok_and(|s| s == "succeeded")
            }
        })
        .await;
        assert!(done, "full run {run} finished");
        let live: std::collections::BTreeSet<String> = app.sim.product_ids().into_iter().collect();
        let deleted: Vec<String> = sqlx::query_scalar(
            "SELECT entity_id FROM change_events WHERE merchant_id = $1 AND entity = 'product' AND change = 'deleted'",
        )
        .bind(merchant)
        .fetch_all(&app.db.pool)
        .await
        .expect("events");
        for id in &deleted {
            assert!(!live.contains(id), "run {run}: live product {id} was announced deleted");
        }
        if run == 1 {
            assert!(!deleted.is_empty(), "products the store deleted in the first run are swept in the second");
        }
    }
    app.stop().await;
}
