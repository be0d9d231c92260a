//! Work that a crash or a failed write must not leave half done: slots that were never recorded
//! (item 7) and ops actions that commit unaudited (item 11).

use std::time::Duration;

use crate::common::{AppOptions, ORDER_SUBMIT_HOOK, count, spawn_app, spawn_app_with, wait_for, wait_for_count};
use storelink_core::MerchantId;
use storelink_occ_sim::{Fault, FaultKind};
use storelink_ops::Actor;

/// The process stops after the merchant's row commits but before any slot outcome is recorded: the
/// slots are already there as `pending`, ops and the partner see them once they are overdue, and the
/// retry loop of the next process registers them.
#[tokio::test]
async fn a_connect_cut_off_before_its_slot_outcomes_leaves_pending_slots_that_are_retried() {
    let mut app = spawn_app_with(AppOptions { slot_pending_stale_secs: 1.0, ..AppOptions::default() }).await;
    // The webhook writes hang, so the connect is still running when the process "dies".
    app.sim
        .inject(Fault::new(Some("PUT"), "/ccadmin/v1/webhooks/*", FaultKind::Delay(Duration::from_secs(60))).times(2));
    let session = app.open_form().await;
    let fields = [("store_url", app.sim.base_url()), ("app_key", app.key.clone())];
    let connect = {
        let (http, base, partner) = (app.http.clone(), app.base.clone(), app.partner.partner_id);
        tokio::spawn(async move {
            crate::common::post_connect_at(&http, &base, partner, &session, &fields, &[]).await.status()
        })
    };
    let pool = app.db.pool.clone();
    assert!(
        wait_for_count(&pool, "SELECT count(*) FROM merchants", 1, Duration::from_secs(10)).await,
        "the merchant is saved before the webhook writes"
    );
    assert!(
        wait_for(Duration::from_secs(10), || async {
            app.sim.count("PUT", &format!("/ccadmin/v1/webhooks/{ORDER_SUBMIT_HOOK}")) == 1
        })
        .await,
        "the webhook writes are under way"
    );
    // Saved in the merchant's own transaction: the slots exist as soon as the merchant does.
    assert_eq!(count(&pool, "SELECT count(*) FROM webhook_slots").await, 5);
    // The slots the store has no webhook for are settled at once (beside the writes, so a moment after
    // the first PUT); the two being written stay pending.
    assert!(
        wait_for_count(
            &pool,
            "SELECT count(*) FROM webhook_slots WHERE status = 'pending'",
            2,
            Duration::from_secs(10)
        )
        .await,
        "only the two slots being written stay pending"
    );

    app.restart().await; // abrupt: the connect's request dies with its slot outcomes unwritten
    connect.abort();
    let merchant: MerchantId =
        sqlx::query_scalar("SELECT merchant_id FROM merchants").fetch_one(&pool).await.expect("m");

    // The next process's retry loop takes the overdue pending slots and registers them.
    assert!(
        wait_for_count(
            &pool,
            "SELECT count(*) FROM webhook_slots WHERE status = 'registered'",
            2,
            Duration::from_secs(20)
        )
        .await,
        "pending slots registered by the retry loop: {:?}",
        storelink_registrar::list_slots(&pool, merchant).await
    );
    let ours = format!("{}/webhooks/occ/{merchant}/order-submit", app.base);
    let urls = app.sim.webhook(ORDER_SUBMIT_HOOK).expect("webhook")["urls"].to_string();
    assert!(urls.contains(&ours), "the store calls the new process: {urls}");
    app.stop().await;
}

/// An overdue `pending` slot counts as failed for the partner (`slots_failed`).
#[tokio::test]
async fn an_overdue_pending_slot_is_shown_to_the_partner() {
    let app = spawn_app().await;
    let merchant = crate::common::merchant_id_from(&app.connect().await);
    let pool = &app.db.pool;
    // As a crash leaves it: pending, its deadline passed, and no retry loop running to fix it.
    app.stop_workers();
    sqlx::query("UPDATE webhook_slots SET status = 'pending', next_attempt_at = now() - interval '1 minute' WHERE slot = 'order-update'")
        .execute(pool)
        .await
        .expect("pending");
    let shown: serde_json::Value = app
        .http
        .get(format!("{}/v1/merchants/{merchant}", app.base))
        .bearer_auth(app.bearer().await)
        .send()
        .await
        .expect("merchant")
        .json()
        .await
        .expect("json");
    assert_eq!(shown["slots_failed"], 1, "{shown}");
    app.stop().await;
}

fn actor() -> Actor {
    Actor { name: "mallory-test".into(), source: "203.0.113.9".into() }
}

/// The audit row is written in the action's own transaction: when it cannot be written, the action is
/// not carried out either, and no action ever stands in the database unaudited.
#[tokio::test]
async fn an_ops_action_that_cannot_be_audited_changes_nothing() {
    let app = spawn_app().await;
    let merchant: MerchantId = crate::common::merchant_id_from(&app.connect().await).parse().expect("id");
    let pool = &app.db.pool;
    // The audit insert fails for successful actions only (as a full disk or a lost connection would).
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_ok_audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.outcome = 'ok' THEN RAISE EXCEPTION 'audit log unavailable'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_ok_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_ok_audit();",
    )
    .execute(pool)
    .await
    .expect("trigger");
    let ops = app.services.ops();

    assert!(ops.pause(&actor(), merchant).await.is_err(), "pause reports the failure");
    let status: String = sqlx::query_scalar("SELECT status FROM merchants WHERE merchant_id = $1")
        .bind(merchant)
        .fetch_one(pool)
        .await
        .expect("status");
    assert_eq!(status, "active", "an unaudited pause did not happen");
    assert_eq!(count(pool, "SELECT count(*) FROM jobs WHERE state = 'paused'").await, 0);

    assert!(ops.revoke(&actor(), merchant, false).await.is_err(), "revoke reports the failure");
    assert_eq!(count(pool, "SELECT count(*) FROM merchants WHERE status = 'revoked'").await, 0);
    assert!(count(pool, "SELECT count(*) FROM vault_secrets").await > 0, "no crypto-shred without its audit row");

    // Each failed attempt is audited as such, on its own.
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE outcome = 'failed'").await, 2);
    sqlx::raw_sql("DROP TRIGGER refuse_ok_audit ON audit_log").execute(pool).await.expect("drop trigger");
    ops.pause(&actor(), merchant).await.expect("pause once the audit log works");
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE outcome = 'ok' AND action = 'pause'").await, 1);
    app.stop().await;
}
