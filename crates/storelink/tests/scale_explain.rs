//! Issue 18, item 2: the periodic statements (scheduling, claiming, the safety-net sweeps, retention
//! and the metrics gauges) cost O(due work) or O(page), never a scan of every merchant. A database of
//! 10,000 merchants with realistic rows (generate_series, ANALYZE) is built, each statement, taken from
//! the crate that owns it, is run under `EXPLAIN (ANALYZE, FORMAT JSON)` in a rolled-back transaction,
//! and the test fails on a sequential scan of any tenant table (a table with a `merchant_id` column,
//! and `merchants`). The plans and timings it prints are the figures of docs/BENCHMARKS.md.
//!
//! `cargo nextest run -p storelink --test scale_explain --no-capture`

use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use std::time::Instant;
use storelink_core::db::{delete_batch_sql, lock_batch_sql};
use uuid::Uuid;

const MERCHANTS: i64 = 10_000;
const DAY_SECS: f64 = 86_400.0;

/// The rows of a platform of `MERCHANTS` merchants in steady state: a 10-second tick's worth of
/// schedules due, an hour's worth of rows past the 30-day retention, a few failed slots, pending
/// deliveries and expired leases, and the job history of a week.
const SEED: &[&str] = &[
    // Triggers off while seeding: every table is written explicitly.
    "SET session_replication_role = replica",
    "INSERT INTO partners (partner_id, name, client_id, client_secret_hash)
     SELECT gen_random_uuid(), 'partner ' || i, 'slp_scale_' || i, 'unused' FROM generate_series(1, 20) i",
    "INSERT INTO partner_endpoints (endpoint_id, partner_id, url, events)
     SELECT gen_random_uuid(), partner_id, 'https://hooks.example/' || partner_id, ARRAY['product.updated', 'order.created']
     FROM partners",
    "INSERT INTO merchants (merchant_id, partner_id, store_url, status)
     SELECT gen_random_uuid(), (ARRAY(SELECT partner_id FROM partners ORDER BY partner_id))[1 + i % 20],
            'https://s' || i || '.example',
            CASE i % 100 WHEN 0 THEN 'paused' WHEN 1 THEN 'credentials_invalid' WHEN 2 THEN 'revoked' ELSE 'active' END
     FROM generate_series(1, $N) i",
    "CREATE TEMP TABLE seq AS SELECT merchant_id, status, row_number() OVER (ORDER BY merchant_id) AS i FROM merchants",
    "INSERT INTO job_schedules (kind, every_secs) VALUES ('catalog', 900), ('inventory', 600), ('shipping', 3600), ('orders', 300)",
    "INSERT INTO job_schedule_state (merchant_id, kind, last_succeeded_at, last_full_at, next_due_at)
     SELECT merchant_id, kind, t, t - random() * interval '1 day', t + make_interval(secs => every_secs)
     FROM (SELECT m.merchant_id, s.kind, s.every_secs,
                  now() - interval '10 seconds' - random() * make_interval(secs => s.every_secs) AS t
           FROM merchants m CROSS JOIN job_schedules s) x",
    "INSERT INTO job_schedule_state (merchant_id, kind, last_succeeded_at)
     SELECT merchant_id, k, now() - random() * interval '1 hour' FROM merchants CROSS JOIN (VALUES ('inbound'), ('deliver')) v (k)",
    "INSERT INTO sync_state (merchant_id, kind, mode, generation, state, run_started_at, watermark, last_success_at,
                             last_full_at, pages_done, items_done, updated_at)
     SELECT merchant_id, kind, 'incremental', 5, 'idle', last_succeeded_at, last_succeeded_at - interval '2 minutes',
            last_succeeded_at, last_full_at, 1, 3, last_succeeded_at
     FROM job_schedule_state WHERE next_due_at IS NOT NULL",
    // A week of finished jobs (7 days kept), a handful just past it.
    "INSERT INTO jobs (merchant_id, kind, mode, state, run_at, slices, created_at, started_at, finished_at, updated_at)
     SELECT merchant_id, kind, 'incremental', 'succeeded', t, 1, t, t, t + interval '2 seconds', t + interval '2 seconds'
     FROM (SELECT m.merchant_id, k.kind, now() - random() * interval '7 days 10 minutes' AS t
           FROM merchants m CROSS JOIN (VALUES ('catalog'), ('inventory'), ('orders'), ('inbound'), ('deliver')) k (kind)
           CROSS JOIN generate_series(1, 3)) x",
    // Live jobs: due (2%), waiting for a retry (1%), running, expired leases, paused, dead letters.
    "INSERT INTO jobs (merchant_id, kind, mode, state, run_at)
     SELECT merchant_id, 'orders', 'incremental', 'queued', now() - random() * interval '10 seconds' FROM seq WHERE i % 50 = 7
     ON CONFLICT DO NOTHING",
    "INSERT INTO jobs (merchant_id, kind, mode, state, run_at, attempts)
     SELECT merchant_id, 'catalog', 'incremental', 'queued', now() + random() * interval '10 minutes', 2 FROM seq WHERE i % 100 = 9
     ON CONFLICT DO NOTHING",
    "INSERT INTO jobs (merchant_id, kind, mode, state, run_at, lease_token, lease_expires_at, heartbeat_at, started_at)
     SELECT merchant_id, 'inventory', 'incremental', 'running', now(), gen_random_uuid(), now() + interval '20 seconds', now(), now()
     FROM seq WHERE i % 250 = 11
     ON CONFLICT DO NOTHING",
    "INSERT INTO jobs (merchant_id, kind, mode, state, run_at, lease_token, lease_expires_at, heartbeat_at, started_at)
     SELECT merchant_id, 'shipping', 'incremental', 'running', now(), gen_random_uuid(), now() - interval '5 seconds', now(), now()
     FROM seq WHERE i % 2500 = 13
     ON CONFLICT DO NOTHING",
    "INSERT INTO jobs (merchant_id, kind, mode, state) SELECT merchant_id, 'catalog', 'incremental', 'paused' FROM seq WHERE status = 'paused'
     ON CONFLICT DO NOTHING",
    "INSERT INTO jobs (merchant_id, kind, mode, state, attempts, finished_at, last_error)
     SELECT merchant_id, 'deliver', 'incremental', 'dead', 8, now() - random() * interval '30 days', 'gone' FROM seq WHERE i % 100 = 17",
    "INSERT INTO webhook_slots (merchant_id, slot, occ_webhook_id, callback_url, status, attempts, next_attempt_at, registered_at)
     SELECT merchant_id, slot, 'production-' || slot, 'https://storelink.example/webhooks/occ/' || merchant_id || '/' || slot,
            CASE WHEN i % 200 = 5 AND slot = 'order-update' THEN 'failed' ELSE 'registered' END, 1,
            CASE WHEN i % 200 = 5 AND slot = 'order-update' THEN now() - interval '30 seconds' + random() * interval '10 minutes' END,
            now() - interval '20 days'
     FROM seq CROSS JOIN unnest(ARRAY['order-submit', 'order-update', 'shipment-create', 'shipment-update',
                                      'return-request-update']) slot",
    "INSERT INTO webhook_resends (merchant_id, next_at, last_at)
     SELECT merchant_id, now() - interval '5 seconds' + random() * interval '10 minutes', now() - interval '5 minutes' FROM seq",
    // 30 days of deliveries, change and partner events (30 kept), an hour's worth past that.
    "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body, received_at, processed_at)
     SELECT merchant_id, 'order-submit', 'k' || g, '\\x7b7d'::bytea, t, t + interval '1 second'
     FROM (SELECT merchant_id, g, now() - random() * interval '30 days 1 hour' AS t
           FROM seq CROSS JOIN generate_series(1, 10) g) x",
    "INSERT INTO inbound_events (merchant_id, slot, dedupe_key, body, received_at)
     SELECT merchant_id, 'order-update', 'waiting', '\\x7b7d'::bytea, now() - interval '30 seconds' FROM seq WHERE i % 500 = 21",
    "INSERT INTO change_events (merchant_id, entity, entity_id, change, created_at)
     SELECT merchant_id, 'product', 'p' || g, 'updated', now() - random() * interval '30 days 1 hour'
     FROM seq CROSS JOIN generate_series(1, 10) g",
    "INSERT INTO partner_events (merchant_id, partner_id, type, data, created_at)
     SELECT s.merchant_id, m.partner_id, 'product.updated', '{}', now() - random() * interval '30 days 1 hour'
     FROM seq s JOIN merchants m USING (merchant_id) CROSS JOIN generate_series(1, 10) g",
    "INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id, state, attempts, delivered_at, created_at)
     SELECT e.merchant_id, p.endpoint_id, e.event_id, 'delivered', 1, e.created_at, e.created_at
     FROM partner_events e JOIN partner_endpoints p USING (partner_id)",
    "UPDATE partner_deliveries SET state = 'pending', delivered_at = NULL
     WHERE (merchant_id, delivery_id) IN (SELECT merchant_id, delivery_id FROM partner_deliveries ORDER BY created_at DESC LIMIT 200)",
    "SET session_replication_role = DEFAULT",
    "ANALYZE",
];

/// Tables holding one tenant's rows: `merchants` and every table with a `merchant_id` column.
const TENANT_TABLES_SQL: &str = "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
       AND (c.relname = 'merchants' OR EXISTS (SELECT 1 FROM pg_attribute a
            WHERE a.attrelid = c.oid AND a.attname = 'merchant_id' AND NOT a.attisdropped))
     ORDER BY 1";

/// A bind parameter of a checked statement.
enum Arg {
    Text(&'static str),
    Texts(Vec<String>),
    F64(f64),
    I64(i64),
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
    I64s(Vec<i64>),
}

struct Checked {
    name: &'static str,
    sql: String,
    args: Vec<Arg>,
}

fn checked(name: &'static str, sql: impl Into<String>, args: Vec<Arg>) -> Checked {
    Checked { name, sql: sql.into(), args }
}

/// Every periodic statement, as its owning crate runs it, with the binds it runs with.
fn statements(sample: (Vec<Uuid>, Vec<i64>)) -> Vec<Checked> {
    let keep = 30.0 * DAY_SECS;
    let sync_kinds = || storelink_sync::kinds();
    let all_kinds = {
        let mut kinds = sync_kinds();
        kinds.extend(["inbound".to_owned(), "deliver".to_owned()]);
        kinds
    };
    vec![
        checked(
            "jobs: scheduler tick (orders)",
            storelink_jobs::ENQUEUE_DUE_SQL,
            vec![Arg::Text("orders"), Arg::F64(300.0), Arg::F64(DAY_SECS), Arg::I64(1000)],
        ),
        checked(
            "jobs: scheduler, inactive merchants postponed",
            storelink_jobs::POSTPONE_INACTIVE_SQL,
            vec![Arg::Text("orders"), Arg::F64(300.0), Arg::I64(1000)],
        ),
        checked(
            "jobs: scheduler, withdraw jobs no longer due",
            storelink_jobs::WITHDRAW_SQL,
            vec![Arg::Uuids(sample.0.clone()), Arg::I64s(sample.1.clone())],
        ),
        checked(
            "jobs: claim",
            storelink_jobs::claim_sql(),
            vec![
                Arg::Texts(all_kinds),
                Arg::Uuid(Uuid::new_v4()),
                Arg::F64(30.0),
                Arg::Texts(vec!["deliver".to_owned()]),
            ],
        ),
        checked("jobs: reap expired leases", storelink_jobs::REAP_EXPIRED_SQL, vec![]),
        checked("jobs: purge finished jobs", storelink_jobs::PURGE_FINISHED_SQL, vec![Arg::F64(7.0 * DAY_SECS)]),
        checked("jobs: gauge storelink_jobs", storelink_jobs::COUNTS_SQL, vec![]),
        checked(
            "inbound: safety net (waiting deliveries)",
            storelink_inbound::WAITING_MERCHANTS_SQL,
            vec![Arg::F64(5.0)],
        ),
        checked("registrar: slot retry claim", storelink_registrar::CLAIM_DUE_SQL, vec![Arg::I64(50), Arg::F64(120.0)]),
        checked("registrar: resend claim", storelink_registrar::RESEND_CLAIM_SQL, vec![Arg::F64(600.0), Arg::I64(50)]),
        checked(
            "retention: inbound_events batch lock",
            lock_batch_sql("inbound_events", storelink_inbound::PRUNE_CONDITION),
            vec![Arg::F64(keep), Arg::I64(5000)],
        ),
        checked(
            "retention: partner_events batch lock",
            lock_batch_sql("partner_events", storelink_partner_webhooks::PRUNE_CONDITION),
            vec![Arg::F64(keep), Arg::I64(5000)],
        ),
        checked(
            "retention: change_events batch lock",
            lock_batch_sql("change_events", storelink_sync::PRUNE_CHANGES_CONDITION),
            vec![Arg::F64(keep), Arg::I64(5000)],
        ),
        checked(
            "retention: change_events batch delete",
            delete_batch_sql("change_events", storelink_sync::PRUNE_CHANGES_CONDITION),
            vec![Arg::F64(keep), Arg::Uuids(sample.0), Arg::I64s(sample.1)],
        ),
        checked(
            "sync: gauge storelink_sync_lag_seconds",
            storelink_sync::LAG_BY_KIND_SQL,
            vec![Arg::Texts(sync_kinds())],
        ),
        checked(
            "partner-webhooks: gauge storelink_partner_deliveries_pending",
            storelink_partner_webhooks::PENDING_DELIVERIES_SQL,
            vec![],
        ),
    ]
}

/// Each node of a plan that reads a table: (node type, table, index).
fn scans(plan: &Value, out: &mut Vec<(String, String, Option<String>)>) {
    let node = plan["Node Type"].as_str().unwrap_or("?").to_owned();
    let index = plan["Index Name"].as_str().map(str::to_owned);
    match plan["Relation Name"].as_str() {
        Some(relation) => out.push((node, relation.to_owned(), index)),
        // A bitmap heap scan's index.
        None if index.is_some() => out.push((node, String::new(), index)),
        None => {}
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        scans(child, out);
    }
}

async fn explain(conn: &mut PgConnection, statement: &Checked) -> (Value, f64) {
    let sql = format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", statement.sql);
    let mut query = sqlx::query_scalar::<_, Value>(&sql);
    for arg in &statement.args {
        query = match arg {
            Arg::Text(v) => query.bind(*v),
            Arg::Texts(v) => query.bind(v.clone()),
            Arg::F64(v) => query.bind(*v),
            Arg::I64(v) => query.bind(*v),
            Arg::Uuid(v) => query.bind(*v),
            Arg::Uuids(v) => query.bind(v.clone()),
            Arg::I64s(v) => query.bind(v.clone()),
        };
    }
    // Run for real (ANALYZE) but leave nothing behind.
    let mut tx = conn.begin().await.expect("begin");
    let output = query.fetch_one(&mut *tx).await.unwrap_or_else(|e| panic!("{}: {e}", statement.name));
    tx.rollback().await.expect("rollback");
    let top = &output[0];
    let ms = top["Planning Time"].as_f64().unwrap_or(0.0) + top["Execution Time"].as_f64().unwrap_or(0.0);
    (top["Plan"].clone(), ms)
}

#[tokio::test]
async fn periodic_statements_never_scan_a_tenant_table_at_ten_thousand_merchants() {
    let db = storelink_testkit::test_db().await;
    let mut conn = db.pool.acquire().await.expect("conn");
    let started = Instant::now();
    for step in SEED {
        let step = step.replace("$N", &MERCHANTS.to_string());
        conn.execute(step.as_str()).await.unwrap_or_else(|e| panic!("seeding: {e}\n{step}"));
    }
    println!("seeded {MERCHANTS} merchants in {:.1} s (database {})", started.elapsed().as_secs_f64(), db.name);
    let tenant_tables: Vec<String> = sqlx::query_scalar(TENANT_TABLES_SQL).fetch_all(&mut *conn).await.expect("tables");
    for table in ["merchants", "jobs", "sync_state", "webhook_slots", "inbound_events", "job_schedule_state"] {
        assert!(tenant_tables.iter().any(|t| t == table), "{table} is a tenant table");
    }
    let sample: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT merchant_id, event_id FROM change_events ORDER BY created_at LIMIT 10")
            .fetch_all(&mut *conn)
            .await
            .expect("sample");
    let sample = sample.into_iter().unzip();

    let mut failures = Vec::new();
    println!("| statement | plan (tables read) | rows | ms |");
    println!("|---|---|---|---|");
    for statement in statements(sample) {
        // Best of three: the first run also warms the cache.
        let mut best = f64::MAX;
        let mut plan = Value::Null;
        for _ in 0..3 {
            let (p, ms) = explain(&mut conn, &statement).await;
            best = best.min(ms);
            plan = p;
        }
        let mut read = Vec::new();
        scans(&plan, &mut read);
        let described: Vec<String> = read
            .iter()
            .map(|(node, table, index)| match index {
                Some(index) => format!("{node} {table} ({index})").replace("  ", " "),
                None => format!("{node} {table}"),
            })
            .collect();
        let rows = plan["Actual Rows"].as_f64().unwrap_or(0.0);
        println!("| {} | {} | {rows} | {best:.2} |", statement.name, described.join(", "));
        for (node, table, _) in &read {
            if node == "Seq Scan" && tenant_tables.contains(table) {
                failures.push(format!("{}: Seq Scan on {table}\n{plan:#}", statement.name));
            }
        }
    }
    assert!(failures.is_empty(), "sequential scans of tenant tables:\n{}", failures.join("\n\n"));
}
