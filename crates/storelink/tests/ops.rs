//! Ops actions end to end: revoke crypto-shreds and tells everyone, rotate keeps the old key when the
//! new one is refused, and every action lands in an append-only audit log.

mod common;

use std::time::Duration;

use common::{ORDER_SUBMIT_HOOK, merchant_id_from, spawn_app, wait_for};
use secrecy::{ExposeSecret, SecretString};
use storelink_connector_occ::APP_KEY_PURPOSE as OCC_APP_KEY_PURPOSE;
use storelink_core::{MerchantId, SyncKind};
use storelink_ops::{Actor, OpsError};

fn actor() -> Actor {
    Actor { name: "alice".into(), source: "203.0.113.7".into() }
}

async fn count(pool: &sqlx::PgPool, sql: &str, merchant: MerchantId) -> i64 {
    sqlx::query_scalar(sql).bind(merchant).fetch_one(pool).await.expect(sql)
}

#[tokio::test]
async fn revoke_shreds_secrets_stops_work_and_tells_the_partner() {
    let app = spawn_app().await;
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("id");
    app.wait_synced().await;
    let pool = &app.db.pool;
    assert!(count(pool, "SELECT count(*) FROM vault_secrets WHERE merchant_id = $1", merchant).await >= 2);
    let ops = app.services.ops();

    let report = ops.revoke(&actor(), merchant, false).await.expect("revoke");
    assert_eq!(report.slots_unregistered.len(), storelink_core::Slot::ALL.len(), "{report:?}");
    for hook in app.sim.webhook_ids() {
        let urls = app.sim.webhook(&hook).expect("webhook")["urls"].clone();
        assert!(!urls.to_string().contains(&merchant.to_string()), "{hook} no longer calls us: {urls}");
    }
    for table in ["vault_data_keys", "vault_secrets", "occ_tokens"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE merchant_id = $1");
        assert_eq!(count(pool, &sql, merchant).await, 0, "no {table} rows remain");
    }
    assert!(count(pool, "SELECT count(*) FROM products WHERE merchant_id = $1", merchant).await > 0, "data kept");
    assert_eq!(
        count(pool, "SELECT count(*) FROM jobs WHERE merchant_id = $1 AND state IN ('queued','running','paused') AND kind <> 'deliver'", merchant).await,
        0
    );
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM partner_events WHERE merchant_id = $1 AND type = 'merchant.revoked'",
            merchant
        )
        .await,
        1
    );

    // The partner API shows it revoked; OCC's webhooks for it are refused with 410.
    let bearer = app.bearer().await;
    let shown: serde_json::Value = app
        .http
        .get(format!("{}/v1/merchants/{merchant}", app.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(shown["status"], "revoked");
    let inbound = app
        .http
        .post(format!("{}/webhooks/occ/{merchant}/order-submit", app.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(inbound.status(), 410);

    // No OCC call with the old key: asked-for syncs are not run for a revoked merchant.
    app.sim.clear_calls();
    ops.resync(&actor(), merchant, SyncKind::Catalog).await.expect("enqueued");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.sim.calls().len(), 0, "no OCC calls after revoke");
    assert!(app.services.vault.open(merchant, OCC_APP_KEY_PURPOSE).await.expect("open").is_none());

    // Revoking again changes nothing; purging removes the synced data.
    let again = ops.revoke(&actor(), merchant, true).await.expect("idempotent");
    assert!(again.slots_unregistered.is_empty() && again.data_purged);
    assert_eq!(count(pool, "SELECT count(*) FROM products WHERE merchant_id = $1", merchant).await, 0);
    assert_eq!(
        count(
            pool,
            "SELECT count(*) FROM partner_events WHERE merchant_id = $1 AND type = 'merchant.revoked'",
            merchant
        )
        .await,
        1
    );

    // The audit trail, which the application cannot change.
    let trail = storelink_ops::recent(pool, Some(merchant), 10).await.expect("audit");
    let actions: Vec<(&str, &str)> = trail.iter().map(|e| (e.action.as_str(), e.outcome.as_str())).collect();
    assert_eq!(actions, vec![("revoke", "ok"), ("resync_catalog", "ok"), ("revoke", "ok")]);
    assert_eq!((trail[0].actor.as_str(), trail[0].source.as_str()), ("alice", "203.0.113.7"));
    for sql in ["UPDATE audit_log SET outcome = 'failed'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let refused = sqlx::query(sql).execute(pool).await;
        assert!(refused.is_err_and(|e| e.to_string().contains("append-only")), "{sql} refused");
    }
    app.stop().await;
}

#[tokio::test]
async fn rotate_keeps_the_old_key_when_the_new_one_is_refused() {
    let app = spawn_app().await;
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("id");
    app.wait_synced().await;
    let ops = app.services.ops();
    let vault = &app.services.vault;
    let key_now = || async {
        vault.open_string(merchant, OCC_APP_KEY_PURPOSE).await.expect("open").expect("key").expose_secret().to_owned()
    };
    assert_eq!(key_now().await, app.key);

    let refused = ops.rotate(&actor(), merchant, SecretString::from("sk_not_a_real_key".to_owned())).await;
    assert!(matches!(refused, Err(OpsError::KeyRejected(_))), "{refused:?}");
    assert!(!refused.expect_err("refused").to_string().contains("sk_not_a_real_key"), "the key is never echoed");
    assert_eq!(key_now().await, app.key, "the old key still works");

    let new_key = app.sim.add_key(storelink_occ_sim::Permissions::all());
    let report = ops.rotate(&actor(), merchant, SecretString::from(new_key.clone())).await.expect("rotate");
    assert_eq!(report.slots_registered, 2, "the slots the store has webhooks for");
    assert_eq!(key_now().await, new_key);
    // The merchant deletes the old integration: syncs keep working with the new key.
    app.sim.revoke_key(&app.key);
    app.sim.clear_calls();
    ops.resync(&actor(), merchant, SyncKind::Shipping).await.expect("resync");
    let pool = app.db.pool.clone();
    let synced = wait_for(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs WHERE kind = 'shipping' AND state = 'succeeded' AND mode = 'full' AND finished_at > now() - interval '10 seconds'")
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
                >= 1
        }
    })
    .await;
    assert!(synced, "a sync with the new key succeeded");
    let trail = storelink_ops::recent(&app.db.pool, Some(merchant), 10).await.expect("audit");
    let actions: Vec<(&str, &str)> = trail.iter().rev().map(|e| (e.action.as_str(), e.outcome.as_str())).collect();
    assert_eq!(actions, vec![("rotate_key", "refused"), ("rotate_key", "ok"), ("resync_shipping", "ok")]);
    assert!(trail.iter().all(|e| !e.detail.to_string().contains(&new_key)), "no key in the audit detail");
    app.stop().await;
}

#[tokio::test]
async fn master_key_rotation_rewraps_everything_even_when_interrupted() {
    let app = spawn_app().await;
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("id");
    let pool = &app.db.pool;
    let old = app.services.keys.clone();
    let endpoints =
        storelink_partner_webhooks::Endpoints::new(pool.clone(), old.clone(), storelink_netguard::Policy::insecure());
    let partner = app.partner.partner_id;
    for n in 0..3 {
        let new = storelink_partner_webhooks::NewEndpoint {
            url: format!("http://127.0.0.1:9/hook/{n}"),
            events: vec!["order.created".into()],
            description: None,
        };
        endpoints.create(partner, new).await.expect("endpoint");
    }
    let rotated = old.with_generated("k2").expect("rotate");
    let vault = storelink_vault::Vault::new(pool.clone(), rotated.clone());

    // Interrupted: one small batch of each, then a "restart" finishes the job.
    assert_eq!(storelink_partner_webhooks::rewrap_secrets(pool, &rotated, 2).await.expect("batch"), 2);
    assert!(vault.count_needing_rewrap().await.expect("count") >= 1);
    while vault.rewrap_batch(1).await.expect("rewrap") > 0 {}
    while storelink_partner_webhooks::rewrap_secrets(pool, &rotated, 2).await.expect("rewrap") > 0 {}

    assert_eq!(vault.count_under(old.active_id()).await.expect("count"), 0);
    assert_eq!(storelink_partner_webhooks::secrets_under(pool, old.active_id()).await.expect("count"), 0);
    let only_new = rotated.without(old.active_id()).expect("retire old");
    let new_vault = storelink_vault::Vault::new(pool.clone(), only_new.clone());
    let key = new_vault.open_string(merchant, OCC_APP_KEY_PURPOSE).await.expect("open").expect("key");
    assert_eq!(key.expose_secret(), app.key, "the app key opens under the new master key only");
    assert_eq!(storelink_partner_webhooks::open_all_secrets(pool, &only_new).await.expect("open all"), 3);
    let old_only = storelink_vault::Vault::new(pool.clone(), old.clone());
    assert!(old_only.open(merchant, OCC_APP_KEY_PURPOSE).await.is_err(), "the old master key opens nothing now");
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_format() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let _ = app.http.get(format!("{}/v1/merchants/{merchant}", app.base)).send().await.expect("get");
    // Served on the metrics port only (STORELINK_METRICS_LISTEN); the gauges are read when it starts.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = storelink::server::metrics_server(&app.services, listener).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    let scrape =
        || async { app.http.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text") };
    wait_for(Duration::from_secs(10), || async {
        scrape().await.contains("storelink_sync_lag_seconds{kind=\"catalog\"}")
    })
    .await;
    let text = scrape().await;
    for needle in [
        "storelink_http_requests_total{route=\"/connect\",method=\"POST\",status=\"200\"}",
        "route=\"/v1/merchants/{merchant_id}\"",
        "storelink_occ_calls_total{endpoint=\"/ccadmin/v1/login\",outcome=\"200\"}",
        "storelink_sync_items_total{kind=\"catalog\"} 50",
        "storelink_sync_lag_seconds{kind=\"catalog\"}",
        "storelink_partner_deliveries_pending 0",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    assert!(!text.contains(&merchant), "raw paths (with ids) are not labels");
    assert!(!text.contains(&app.key), "no secrets");
    handle.stop(true).await;
    app.stop().await;
}

#[tokio::test]
async fn worker_processes_serve_their_own_metrics_and_probes() {
    let app = spawn_app().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = storelink::server::metrics_server(&app.services, listener).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    let scrape =
        || async { app.http.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text") };
    let refreshed = wait_for(Duration::from_secs(10), || async {
        scrape().await.contains("storelink_partner_deliveries_pending 0")
    });
    assert!(refreshed.await, "the gauges are read when the metrics server starts:\n{}", scrape().await);
    assert_eq!(app.http.get(format!("{base}/readyz")).send().await.expect("readyz").status(), 200);
    assert_eq!(app.http.get(format!("{base}/v1/merchants")).send().await.expect("get").status(), 404, "metrics only");
    handle.stop(true).await;
    app.stop().await;
}

/// OCC's webhook PUT may replace the whole webhook (the simulator does): registering and revoking
/// send back every field read, so another integration's headers, basic authentication and resend
/// settings survive both, and only our URL comes and goes.
#[tokio::test]
async fn other_integrations_webhook_settings_survive_registration_and_revoke() {
    let app = spawn_app().await;
    let theirs = serde_json::json!({
        "urls": ["https://oms.example/occ/orders"],
        "headers": {"X-Tenant": "oms-7"},
        "basicAuthentication": {"oms": "s3cret"},
        "maxNumberOfResendAttempts": 3,
        "resendDelaySeconds": 120,
        "applyResendDelayToFirstAttempt": false,
    });
    app.sim.set_webhook_fields(ORDER_SUBMIT_HOOK, theirs.clone());
    let merchant: MerchantId = merchant_id_from(&app.connect().await).parse().expect("id");
    let ours = format!("{}/webhooks/occ/{merchant}/order-submit", app.base);
    let kept = |webhook: &serde_json::Value| {
        for field in [
            "headers",
            "basicAuthentication",
            "maxNumberOfResendAttempts",
            "resendDelaySeconds",
            "applyResendDelayToFirstAttempt",
        ] {
            assert_eq!(webhook[field], theirs[field], "{field} survived");
        }
    };
    let registered = app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook");
    kept(&registered);
    assert_eq!(registered["urls"], serde_json::json!(["https://oms.example/occ/orders", ours]));
    // The PUT never carries a secret (sending one may reset it for every webhook of that name).
    let put = app.sim.calls().into_iter().find(|c| c.method == "PUT").expect("PUT");
    assert!(!put.body.contains("secretKey"), "{}", put.body);

    app.services.ops().revoke(&actor(), merchant, false).await.expect("revoke");
    let revoked = app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook");
    kept(&revoked);
    assert_eq!(revoked["urls"], serde_json::json!(["https://oms.example/occ/orders"]), "only our URL is gone");
    app.stop().await;
}
