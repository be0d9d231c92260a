//! Inbound OCC webhooks end to end: the simulator delivers signed events to the URLs the connect
//! registered; bad requests are refused with nothing stored; redeliveries are stored once.

mod common;

use std::time::Duration;

use common::{
    AppOptions, ORDER_SUBMIT_HOOK, RETURN_UPDATE_HOOK, count, merchant_id_from, sign_sha512, spawn_app, spawn_app_with,
    wait_for,
};

const FIXTURE: &str = include_str!("../../../fixtures/occ/order-submit.json");

/// Connects a merchant; returns its id, the `order-submit` slot's SHA-512 secret and our URL for it.
async fn connect_for_order_submit(app: &common::TestApp) -> (String, String, String) {
    let merchant = merchant_id_from(&app.connect().await);
    let secret =
        app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook")["secretKeySHA512"].as_str().expect("secret").to_owned();
    let url = format!("{}/webhooks/occ/{merchant}/order-submit", app.base);
    (merchant, secret, url)
}

#[tokio::test]
async fn a_signed_order_submit_becomes_one_order_however_often_it_is_delivered() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    for _ in 0..5 {
        let results = app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, FIXTURE.as_bytes()).await;
        assert_eq!(results.len(), 1, "our URL is registered on the webhook");
        assert_eq!(results[0].1, Ok(200), "{:?}", results[0]);
    }
    let pool = app.db.pool.clone();
    let processed = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM orders WHERE order_id = 'o20005'").await == 1 }
    })
    .await;
    assert!(processed, "the fixture order was processed");
    let (stored, events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM inbound_events), (SELECT count(*) FROM change_events WHERE entity = 'order' AND entity_id = 'o20005')",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("counts");
    assert_eq!((stored, events), (1, 1), "stored once, one created event");
    let (total, currency, items): (f64, String, serde_json::Value) = sqlx::query_as(
        "SELECT total::float8, currency, lines FROM orders WHERE merchant_id = $1::uuid AND order_id = 'o20005'",
    )
    .bind(&merchant)
    .fetch_one(&app.db.pool)
    .await
    .expect("order");
    assert_eq!((total, currency.as_str()), (268.4, "USD"));
    assert!(items.as_array().is_some_and(|i| !i.is_empty()), "order lines kept despite the dangling relationship");
    app.stop().await;
}

#[tokio::test]
async fn bad_deliveries_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (merchant, secret, url) = connect_for_order_submit(&app).await;
    let body = FIXTURE.as_bytes();
    let good = sign_sha512(&secret, body);
    let post = |url: String, body: Vec<u8>, signature: Option<String>| {
        let http = app.http.clone();
        async move {
            let mut request = http.post(url).header("content-type", "application/json").body(body);
            if let Some(signature) = signature {
                request = request.header("X-Oracle-CC-WebHook-Signature-SHA512", signature);
            }
            request.send().await.expect("send").status().as_u16()
        }
    };
    let other_body = sign_sha512(&secret, b"{\"order\":{\"id\":\"other\"}}");
    let truncated = good[..good.len() - 8].to_owned();
    /// (what, url, body, signature header, expected status)
    type Case = (&'static str, String, Vec<u8>, Option<String>, u16);
    let cases: Vec<Case> = vec![
        ("no signature", url.clone(), body.to_vec(), None, 401),
        ("empty signature", url.clone(), body.to_vec(), Some(String::new()), 401),
        ("truncated signature", url.clone(), body.to_vec(), Some(truncated), 401),
        ("signature of another body", url.clone(), body.to_vec(), Some(other_body), 401),
        ("not base64", url.clone(), body.to_vec(), Some("%%%".into()), 401),
        (
            "unknown merchant",
            format!("{}/webhooks/occ/{}/order-submit", app.base, uuid::Uuid::new_v4()),
            body.to_vec(),
            Some(good.clone()),
            404,
        ),
        (
            "unknown slot",
            format!("{}/webhooks/occ/{merchant}/cart-idle", app.base),
            body.to_vec(),
            Some(good.clone()),
            404,
        ),
        (
            "a platform no connector serves",
            format!("{}/webhooks/sap/{merchant}/order-submit", app.base),
            body.to_vec(),
            Some(good.clone()),
            404,
        ),
        (
            "not a merchant id",
            format!("{}/webhooks/occ/nope/order-submit", app.base),
            body.to_vec(),
            Some(good.clone()),
            404,
        ),
        ("malformed JSON", url.clone(), b"{not json".to_vec(), Some(sign_sha512(&secret, b"{not json")), 400),
        ("JSON but not an object", url.clone(), b"[1,2]".to_vec(), Some(sign_sha512(&secret, b"[1,2]")), 400),
        ("trailing garbage", url.clone(), b"{} x".to_vec(), Some(sign_sha512(&secret, b"{} x")), 400),
        ("over 1 MiB", url.clone(), vec![b' '; (1 << 20) + 10], Some(good.clone()), 413),
    ];
    for (what, url, body, signature, expected) in cases {
        assert_eq!(post(url, body, signature).await, expected, "{what}");
    }
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM inbound_events").await, 0, "nothing stored");
    // The good delivery is accepted, and the job it wakes continues its trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let status = app
        .http
        .post(url.clone())
        .header("content-type", "application/json")
        .header("X-Oracle-CC-WebHook-Signature-SHA512", good)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .body(body.to_vec())
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status, 200, "the good delivery is accepted");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM inbound_events").await, 1);
    let sql = format!("SELECT count(*) FROM jobs WHERE kind = 'inbound' AND traceparent LIKE '00-{trace_id}-%'");
    let pool = app.db.pool.clone();
    let traced = wait_for(Duration::from_secs(10), || {
        let (pool, sql) = (pool.clone(), sql.clone());
        async move { count(&pool, &sql).await == 1 }
    })
    .await;
    assert!(traced, "the inbound job carries the delivery's trace");
    app.stop().await;
}

#[tokio::test]
async fn every_acknowledged_event_is_processed_across_a_restart_during_a_burst() {
    let mut app = spawn_app().await;
    let (_, secret, url) = connect_for_order_submit(&app).await;
    let template: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
    const BURST: usize = 300;
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sends = (0..BURST).map(|n| {
        let acked = acked.clone();
        let mut body = template.clone();
        body["order"]["id"] = serde_json::json!(format!("burst-{n}"));
        let body = body.to_string().into_bytes();
        let signature = sign_sha512(&secret, &body);
        let (http, url) = (app.http.clone(), url.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(n as u64)).await;
            let sent = http
                .post(url)
                .header("content-type", "application/json")
                .header("X-Oracle-CC-WebHook-Signature-SHA512", signature)
                .body(body)
                .send()
                .await;
            let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
            if status == 200 {
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (n, status)
        })
    });
    let sends: Vec<_> = sends.collect();
    let started = wait_for(Duration::from_secs(20), || {
        let a = acked.clone();
        async move { a.load(std::sync::atomic::Ordering::SeqCst) >= 20 }
    })
    .await;
    assert!(started, "the burst is under way");
    app.restart().await;
    let mut acknowledged = Vec::new();
    for send in sends {
        let (n, status) = send.await.expect("task");
        if status == 200 {
            acknowledged.push(format!("burst-{n}"));
        }
    }
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < BURST,
        "the restart cut the burst ({} of {BURST} acknowledged)",
        acknowledged.len()
    );
    let pool = app.db.pool.clone();
    let expected = acknowledged.clone();
    let all = wait_for(Duration::from_secs(30), || {
        let (pool, expected) = (pool.clone(), expected.clone());
        async move {
            let found: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE order_id = ANY($1)")
                .bind(&expected)
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            found as usize == expected.len()
        }
    })
    .await;
    assert!(all, "every acknowledged event became an order after the restart");
    // Stored but cut off before the 200 (or before the wake-up): the workers' safety net finds them.
    let pool = app.db.pool.clone();
    let drained = wait_for(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM inbound_events WHERE processed_at IS NULL").await == 0 }
    })
    .await;
    assert!(drained, "every stored event was processed");
    app.stop().await;
}

#[tokio::test]
async fn a_stuck_write_is_answered_503_and_ingest_carries_on() {
    let app = spawn_app().await;
    let (_, secret, url) = connect_for_order_submit(&app).await;
    let deliver = || {
        app.http
            .post(&url)
            .header("content-type", "application/json")
            .header("X-Oracle-CC-WebHook-Signature-SHA512", sign_sha512(&secret, FIXTURE.as_bytes()))
            .body(FIXTURE)
            .send()
    };
    // Another session holds the table, so the writer's insert waits (as behind a hung connection or
    // a long lock): the delivery is answered 503 in bounded time, nothing is stored, OCC resends.
    let mut holder = app.db.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE inbound_events IN ACCESS EXCLUSIVE MODE").execute(&mut *holder).await.expect("lock");
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(60), deliver())
        .await
        .expect("answered while the table is still held")
        .expect("send");
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(60), "answered after {waited:?}");
    holder.rollback().await.expect("release");
    // The writer replaced its connection: the resend is stored.
    let response = deliver().await.expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM inbound_events").await, 1);
    app.stop().await;
}

/// Redeliveries inside a burst: batches then hold new deliveries beside keys already stored or
/// repeated within the batch, so the writer's plain insert fails on the unique key and the batch is
/// written again deduplicating. Every new order is stored once and answered `stored`, every copy
/// `duplicate`, and none is refused.
#[tokio::test]
async fn redeliveries_within_a_burst_are_stored_once_and_nothing_new_is_lost() {
    let app = spawn_app().await;
    let (_, secret, url) = connect_for_order_submit(&app).await;
    let mut order: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
    let sends: Vec<_> = (0..40)
        .flat_map(|n| std::iter::repeat_n(n, 3))
        .map(|n| {
            order["order"]["id"] = serde_json::json!(format!("burst-{n}"));
            let body = order.to_string();
            app.http
                .post(&url)
                .header("content-type", "application/json")
                .header("X-Oracle-CC-WebHook-Signature-SHA512", sign_sha512(&secret, body.as_bytes()))
                .body(body)
                .send()
        })
        .collect();
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for response in futures::future::join_all(sends).await {
        let response = response.expect("send");
        assert_eq!(response.status(), 200, "a delivery was refused");
        let body: serde_json::Value = response.json().await.expect("json");
        *answers.entry(body["status"].as_str().expect("status").to_owned()).or_default() += 1;
    }
    assert_eq!(answers, [("duplicate".to_owned(), 80), ("stored".to_owned(), 40)].into());
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM inbound_events").await, 40);
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_for_a_site_the_merchant_did_not_select_is_acknowledged_but_not_published() {
    let app = common::spawn_app_with(common::AppOptions {
        sim: storelink_occ_sim::SimOptions {
            sites: storelink_occ_sim::SimSite::three(),
            allow_http_callbacks: true,
            ..storelink_occ_sim::SimOptions::default()
        },
        ..common::AppOptions::default()
    })
    .await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let id: storelink_core::MerchantId = merchant.parse().expect("id");
    let chosen = ["siteUS".to_owned()];
    storelink_tenants::sites::select(&app.db.pool, id, &chosen).await.expect("db").expect("selection saved");

    let mut eu: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
    eu["order"]["id"] = "o-eu-1".into();
    eu["order"]["siteId"] = "siteEU".into();
    let eu = serde_json::to_vec(&eu).expect("json");
    for body in [eu.as_slice(), FIXTURE.as_bytes()] {
        let results = app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, body).await;
        assert_eq!(results[0].1, Ok(200), "acknowledged: {:?}", results[0]);
    }
    let pool = app.db.pool.clone();
    let processed = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM inbound_events WHERE processed_at IS NOT NULL").await == 2 }
    })
    .await;
    assert!(processed, "both deliveries processed");
    assert_eq!(
        count(&app.db.pool, "SELECT count(*) FROM orders WHERE order_id = 'o20005' AND site_id = 'siteUS'").await,
        1,
        "the selected site's order is stored with its site"
    );
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM orders WHERE order_id = 'o-eu-1'").await, 0);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM change_events WHERE entity_id = 'o-eu-1'").await, 0);
    let note: Option<String> = sqlx::query_scalar("SELECT last_error FROM inbound_events WHERE last_error IS NOT NULL")
        .fetch_one(&app.db.pool)
        .await
        .expect("the kept delivery's note");
    assert!(note.is_some_and(|n| n.contains("siteEU is not one the merchant sells through")));
    app.stop().await;
}
/// The fifth slot: a Return Request Update delivered through its real (non-PCI) webhook is accepted
/// and processed into the merchant's returns.
#[tokio::test]
async fn a_return_request_update_arrives_through_its_webhook() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let body = include_str!("../../../fixtures/occ/return-request-update-body.json");
    let results = app.sim.deliver_webhook(RETURN_UPDATE_HOOK, body.as_bytes()).await;
    assert_eq!(results.len(), 1, "our URL is on the Return Request Update webhook: {results:?}");
    assert!(results[0].0.ends_with(&format!("/webhooks/occ/{merchant}/return-request-update")), "{results:?}");
    assert_eq!(results[0].1, Ok(200), "{results:?}");
    let pool = app.db.pool.clone();
    let processed = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM returns WHERE return_id = '200001'").await == 1 }
    })
    .await;
    assert!(processed, "the return request was stored");
    app.stop().await;
}

/// Recovery: while a slot is broken (the store's secret was reset behind our back, so our inbound
/// refuses the store's signatures), an order submit fails every attempt and the store keeps it as a
/// failed message. Once the slot is repaired, the registrar asks the store to resend what failed for
/// our URLs, and the order arrives.
#[tokio::test]
async fn deliveries_that_failed_while_a_slot_was_broken_are_resent_once_it_is_repaired() {
    let app = spawn_app_with(AppOptions { webhook_resend_secs: 0.3, ..AppOptions::default() }).await;
    let merchant = merchant_id_from(&app.connect().await);
    let fresh = |n: u8| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [n; 64]);
    app.sim.set_webhook_secrets(ORDER_SUBMIT_HOOK, &fresh(1), &fresh(2));
    let results = app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, FIXTURE.as_bytes()).await;
    assert_eq!(results[0].1, Ok(401), "refused while broken: {results:?}");
    assert_eq!(app.sim.failed_messages().len(), 1, "the store keeps the failed delivery");
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM orders WHERE order_id = 'o20005'").await, 0);

    // The slot is repaired (the background retry re-reads the webhook and seals its new secrets).
    sqlx::query("UPDATE webhook_slots SET status = 'failed', next_attempt_at = now() WHERE merchant_id = $1::uuid AND slot = 'order-submit'")
        .bind(&merchant)
        .execute(&app.db.pool)
        .await
        .expect("break the slot");
    let pool = app.db.pool.clone();
    let arrived = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM orders WHERE order_id = 'o20005'").await == 1 }
    })
    .await;
    assert!(arrived, "the store resent the order submit once the slot was repaired");
    assert!(app.sim.failed_messages().is_empty(), "nothing left failed");
    assert!(app.sim.count("PUT", "/ccadmin/v1/webhookFailedMessages/fm1") >= 1);
    app.stop().await;
}
