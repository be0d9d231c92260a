//! Retention: one sweep deletes processed inbound deliveries, settled partner events (with their
//! deliveries and delivery log) and change events older than the retention, and keeps everything
//! newer, unprocessed or still waiting to be delivered.

mod common;

use std::time::Duration;

use common::{count, merchant_id_from, spawn_app};

const DAY: Duration = Duration::from_secs(86_400);

/// A replay as `Endpoints::replay` writes it: a new pending delivery of the event `$1`.
const REPLAY: &str = "INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id)
    SELECT merchant_id, endpoint_id, event_id FROM partner_deliveries WHERE event_id = $1";

#[tokio::test]
async fn a_sweep_deletes_only_settled_rows_older_than_the_retention() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let pool = app.db.pool.clone();
    let exec = |sql: &'static str| {
        let (pool, merchant) = (pool.clone(), merchant.clone());
        async move { sqlx::query(sql).bind(merchant).execute(&pool).await.expect(sql) }
    };

    // Inbound deliveries: 6,000 processed 40 days ago (go, in more than one batch of the sweep),
    // unprocessed 40 days old (stays), processed yesterday (stays).
    exec(
        "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body, received_at, processed_at)
         SELECT $1::uuid, 'order-submit', 'old-' || n, '\\x7b7d', now() - interval '40 days', now() - interval '40 days'
         FROM generate_series(1, 6000) AS n",
    )
    .await;
    exec(
        "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body, received_at, processed_at) VALUES
           ($1::uuid, 'order-submit', 'old-processed', '\\x7b7d', now() - interval '40 days', now() - interval '40 days'),
           ($1::uuid, 'order-submit', 'old-unprocessed', '\\x7b7d', now() - interval '40 days', NULL),
           ($1::uuid, 'order-submit', 'new-processed', '\\x7b7d', now() - interval '1 day', now() - interval '1 day')",
    )
    .await;

    // Change events: one 40 days old (goes), one a day old (stays). SKU changes raise no partner events.
    exec(
        "INSERT INTO change_events (merchant_id, entity, entity_id, change, created_at) VALUES
           ($1::uuid, 'sku', 'retention-old', 'updated', now() - interval '40 days'),
           ($1::uuid, 'sku', 'retention-new', 'updated', now() - interval '1 day')",
    )
    .await;

    // Partner events of a type the endpoint does not subscribe to (so no trigger fans them out), with
    // deliveries written here: old and delivered (goes, with its attempt), old and still pending
    // (stays), new and delivered (stays).
    exec(
        "INSERT INTO partner_endpoints (endpoint_id, partner_id, url, events)
         SELECT gen_random_uuid(), partner_id, 'https://partner.example/hooks', ARRAY['order.created']
         FROM merchants WHERE merchant_id = $1::uuid",
    )
    .await;
    exec(
        "WITH events AS (
           INSERT INTO partner_events (merchant_id, partner_id, type, data, created_at)
           SELECT merchant_id, partner_id, 'retention.test', jsonb_build_object('case', c.name), c.at
           FROM merchants, (VALUES ('old-delivered', now() - interval '40 days'),
                                   ('old-pending', now() - interval '40 days'),
                                   ('new-delivered', now() - interval '1 day')) AS c (name, at)
           WHERE merchant_id = $1::uuid
           RETURNING merchant_id, event_id, data->>'case' AS name
         ), deliveries AS (
           INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id, state)
           SELECT e.merchant_id, p.endpoint_id, e.event_id,
                  CASE WHEN e.name = 'old-pending' THEN 'pending' ELSE 'delivered' END
           FROM events e, partner_endpoints p WHERE p.url = 'https://partner.example/hooks'
           RETURNING merchant_id, delivery_id
         )
         INSERT INTO partner_delivery_attempts (merchant_id, delivery_id, attempt, status, duration_ms)
         SELECT merchant_id, delivery_id, 1, 200, 5 FROM deliveries",
    )
    .await;

    let keep = DAY * 30;
    let deleted = storelink::server::prune(&app.db.pool, keep).await;
    assert_eq!(deleted, vec![("inbound_events", 6001), ("partner_events", 1), ("change_events", 1)]);

    let keys: Vec<String> =
        sqlx::query_scalar("SELECT dedupe_key FROM inbound_events WHERE dedupe_key IN ('old-processed', 'old-unprocessed', 'new-processed') ORDER BY dedupe_key")
            .fetch_all(&app.db.pool)
            .await
            .expect("keys");
    assert_eq!(keys, ["new-processed", "old-unprocessed"]);
    let changes: Vec<String> =
        sqlx::query_scalar("SELECT entity_id FROM change_events WHERE entity_id LIKE 'retention-%' ORDER BY entity_id")
            .fetch_all(&app.db.pool)
            .await
            .expect("changes");
    assert_eq!(changes, ["retention-new"]);
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT data->>'case' FROM partner_events WHERE type = 'retention.test' ORDER BY data->>'case'",
    )
    .fetch_all(&app.db.pool)
    .await
    .expect("events");
    assert_eq!(events, ["new-delivered", "old-pending"]);
    assert_eq!(count(&app.db.pool, "SELECT count(*) FROM partner_deliveries WHERE event_id IN (SELECT event_id FROM partner_events WHERE type = 'retention.test')").await, 2);
    assert_eq!(
        count(&app.db.pool, "SELECT count(*) FROM partner_delivery_attempts").await,
        2,
        "the old attempt went with its delivery"
    );

    // A second sweep finds nothing more.
    let again = storelink::server::prune(&app.db.pool, keep).await;
    assert_eq!(again, vec![("inbound_events", 0), ("partner_events", 0), ("change_events", 0)]);
    app.stop().await;
}

/// A replay in flight (its new delivery inserted, not yet committed) holds its old event: the sweep
/// skips the event rather than waiting for it or deleting it, and once the replay commits its pending
/// delivery keeps the event.
#[tokio::test]
async fn a_sweep_leaves_the_event_of_a_replay_in_flight() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let pool = app.db.pool.clone();
    let event = old_delivered_event(&pool, &merchant).await;

    let mut replay = pool.begin().await.expect("begin");
    sqlx::query(REPLAY).bind(event).execute(&mut *replay).await.expect("replayed delivery");
    let swept = tokio::time::timeout(Duration::from_secs(30), storelink_partner_webhooks::prune(&pool, DAY * 30))
        .await
        .expect("the sweep waited for the replay instead of skipping its event")
        .expect("sweep");
    assert_eq!(swept, 0, "the event of a replay in flight was deleted");
    replay.commit().await.expect("commit");

    assert_eq!(storelink_partner_webhooks::prune(&pool, DAY * 30).await.expect("sweep"), 0);
    let sql = format!("SELECT count(*) FROM partner_deliveries WHERE event_id = {event} AND state = 'pending'");
    assert_eq!(count(&pool, &sql).await, 1, "the replayed delivery was lost");
    app.stop().await;
}

/// The race the sweep's two statements close: a replay that commits after the sweep has taken its
/// snapshot but before it locks the event. The condition is `prune`'s own with a pause put in front of
/// it, so the replay commits while the sweep's first statement is paused on the event; the delete
/// then judges the event on a snapshot that sees the new pending delivery and keeps both. (One
/// `DELETE ... IN (SELECT ... FOR UPDATE)` judged on its first snapshot and deleted both.)
#[tokio::test]
async fn a_replay_committed_during_a_sweep_keeps_its_event() {
    let paused: &'static str = format!(
        "CASE WHEN t.created_at < now() - make_interval(secs => $1) THEN pg_sleep(1) IS NOT NULL END AND {}",
        storelink_partner_webhooks::PRUNE_CONDITION
    )
    .leak();
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let pool = app.db.pool.clone();
    let event = old_delivered_event(&pool, &merchant).await;

    let sweep = tokio::spawn({
        let pool = pool.clone();
        async move { storelink_core::db::delete_in_batches(&pool, "partner_events", paused, DAY * 30).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query(REPLAY).bind(event).execute(&pool).await.expect("replayed delivery, committed while the sweep pauses");
    let swept = sweep.await.expect("sweep task").expect("sweep");
    assert_eq!(swept, 0, "the sweep deleted an event on a stale snapshot");
    let sql = format!("SELECT count(*) FROM partner_deliveries WHERE event_id = {event} AND state = 'pending'");
    assert_eq!(count(&pool, &sql).await, 1, "the replayed delivery was lost");
    app.stop().await;
}

/// An event of the partner a merchant belongs to, 40 days old, whose one delivery was delivered:
/// what a sweep deletes unless a replay holds it.
async fn old_delivered_event(pool: &sqlx::PgPool, merchant: &str) -> i64 {
    sqlx::query_scalar(
        "WITH endpoint AS (
           INSERT INTO partner_endpoints (endpoint_id, partner_id, url, events)
           SELECT gen_random_uuid(), partner_id, 'https://partner.example/hooks', ARRAY['order.created']
           FROM merchants WHERE merchant_id = $1::uuid RETURNING endpoint_id
         ), event AS (
           INSERT INTO partner_events (merchant_id, partner_id, type, data, created_at)
           SELECT merchant_id, partner_id, 'retention.test', '{}', now() - interval '40 days'
           FROM merchants WHERE merchant_id = $1::uuid RETURNING merchant_id, event_id
         ), delivered AS (
           INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id, state)
           SELECT merchant_id, endpoint_id, event_id, 'delivered' FROM event, endpoint
         )
         SELECT event_id FROM event",
    )
    .bind(merchant)
    .fetch_one(pool)
    .await
    .expect("old delivered event")
}
