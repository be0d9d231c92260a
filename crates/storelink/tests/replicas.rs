//! Read replicas against real Postgres streaming replication: a primary cluster and a
//! `pg_basebackup -R` standby of it, each on its own port. The partner API's reads and the ops
//! lists are served by the standby (shown by pausing its replay: a read without the partner's last
//! write position sees the old data), a partner's own writes are read back (from the primary until
//! the standby has replayed them), lag is measured and a lagging standby skipped, and a stopped
//! standby fails no request. Skipped, saying so, only when the Postgres server binaries are absent.

#[path = "replicas/cluster.rs"]
mod cluster;
mod common;

use std::net::TcpListener;
use std::time::Duration;

use cluster::Clusters;
use common::{AppOptions, TestApp, merchant_id_from, spawn_app_with, wait_for};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use storelink_core::Lsn;
use storelink_ops_console::users::{self, Role};
use storelink_testkit::TestDb;

/// The clusters, or `None` (and a message saying why the test is skipped) without server binaries.
fn clusters() -> Option<Clusters> {
    match cluster::server_binaries() {
        Some(bin) => Some(Clusters::start(bin)),
        None => {
            eprintln!(
                "SKIPPED: no Postgres server binaries (initdb, pg_ctl, pg_basebackup, postgres) were found \
                 (pg_config --bindir, /usr/lib/postgresql/*/bin); install the postgresql package to run this test"
            );
            None
        }
    }
}

/// The app on a fresh, migrated `storelink` database of the primary, reading from the standby.
async fn replicated_app(clusters: &Clusters, max_lag: &str) -> TestApp {
    let mut admin = PgConnection::connect(&clusters.primary_url("postgres")).await.expect("primary");
    admin.execute("CREATE DATABASE storelink").await.expect("create database");
    admin.close().await.ok();
    let url = clusters.primary_url("storelink");
    let pool = storelink_core::db::connect(&url, 10).await.expect("pool");
    storelink_core::db::migrate(&pool).await.expect("migrate");
    let db = TestDb { pool, url, name: "storelink".into() };
    spawn_app_with(AppOptions {
        db: Some(db),
        read_database_url: Some(clusters.standby_url("storelink")),
        read_max_lag: max_lag.into(),
        ..AppOptions::default()
    })
    .await
}

/// Until the monitor sees the standby usable and past everything the primary has written so far.
async fn wait_caught_up(app: &TestApp) {
    let target: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        .fetch_one(&app.db.pool)
        .await
        .expect("primary position");
    let target = Lsn(u64::try_from(target).expect("position"));
    let caught_up = wait_for(Duration::from_secs(30), || async {
        app.services.reads.status().iter().all(|s| s.usable && s.replay_lsn.is_some_and(|r| r >= target))
    })
    .await;
    assert!(caught_up, "the standby caught up: {:?}", app.services.reads.status());
}

/// A second web server on the same services: another web process, which has not seen this
/// process's writes (no sticky window), as behind a load balancer.
async fn other_process(app: &TestApp) -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = storelink::server::http_server(&app.services, listener, false).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

/// A partner API call: status, `Storelink-Read-Source`, `Storelink-Read-After` and the JSON body.
struct Answer {
    status: u16,
    source: Option<String>,
    read_after: Option<String>,
    body: Value,
}

async fn call(
    app: &TestApp,
    base: &str,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    read_after: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = app.http.request(method, format!("{base}{path}")).bearer_auth(bearer);
    if let Some(lsn) = read_after {
        request = request.header("Storelink-Read-After", lsn);
    }
    if let Some(body) = body {
        request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string()).json(&body);
    }
    let response = request.send().await.expect("request");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, source, read_after) =
        (response.status().as_u16(), header("storelink-read-source"), header("storelink-read-after"));
    Answer { status, source, read_after, body: response.json().await.unwrap_or(Value::Null) }
}

async fn get(app: &TestApp, base: &str, path: &str, bearer: &str, read_after: Option<&str>) -> Answer {
    call(app, base, reqwest::Method::GET, path, bearer, read_after, None).await
}

async fn standby_pool(clusters: &Clusters) -> PgPool {
    storelink_core::db::connect(&clusters.standby_url("storelink"), 2).await.expect("standby")
}

/// Stops the standby's replay (it keeps answering queries, with what it had replayed).
async fn pause_replay(standby: &PgPool) {
    sqlx::query("SELECT pg_wal_replay_pause()").execute(standby).await.expect("pause");
    let paused = wait_for(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, String>("SELECT pg_get_wal_replay_pause_state()")
            .fetch_one(standby)
            .await
            .is_ok_and(|s| s == "paused")
    })
    .await;
    assert!(paused, "replay paused");
}

async fn resume_replay(standby: &PgPool) {
    sqlx::query("SELECT pg_wal_replay_resume()").execute(standby).await.expect("resume");
}

fn order_body(sku: &str) -> Value {
    json!({"partner_order_reference": "PO-replica", "items": [{"sku_id": sku, "quantity": 1}],
           "shipping_method": "ship1",
           "shipping_address": {"first_name": "Jean", "last_name": "Smith", "line1": "1 Main St", "city": "Austin",
                                "region": "TX", "postal_code": "78701", "country": "US"}})
}

/// An ops admin's session cookie.
async fn ops_admin(app: &TestApp) -> String {
    let password = "replica admin password";
    users::add(&app.db.pool, "ada", &SecretString::from(password.to_owned()), Role::Admin).await.expect("admin");
    let response = app
        .http
        .post(format!("{}/ops/login", app.base))
        .form(&[("username", "ada"), ("password", password)])
        .send()
        .await
        .expect("login");
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("session cookie");
    cookie.split(';').next().expect("pair").to_owned()
}

async fn ops_page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = app.http.get(format!("{}{path}", app.base)).header("cookie", cookie).send().await.expect("get");
    (response.status().as_u16(), response.text().await.expect("text"))
}

#[tokio::test]
async fn partner_reads_come_from_the_standby_and_the_partners_own_writes_are_read_back() {
    let Some(clusters) = clusters() else { return };
    let app = replicated_app(&clusters, "60s").await;
    let (other, other_handle) = other_process(&app).await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let created = call(
        &app,
        &app.base,
        reqwest::Method::POST,
        "/v1/webhooks/endpoints",
        &bearer,
        None,
        Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["merchant.revoked"], "description": "first"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let endpoint = created.body["endpoint_id"].as_str().expect("endpoint id").to_owned();
    assert!(created.read_after.as_deref().is_some_and(|l| l.parse::<Lsn>().is_ok()), "a write answers its position");
    wait_caught_up(&app).await;

    // Reads are served by the standby (from the other process: this one remembers the write above).
    for path in [
        "/v1/merchants".to_owned(),
        format!("/v1/merchants/{merchant}"),
        format!("/v1/merchants/{merchant}/products?limit=5"),
        format!("/v1/merchants/{merchant}/orders"),
        format!("/v1/webhooks/endpoints/{endpoint}"),
        "/v1/return-policy".to_owned(),
    ] {
        let read = get(&app, &other, &path, &bearer, None).await;
        assert_eq!((read.status, read.source.as_deref()), (200, Some("replica")), "{path}: {}", read.body);
    }

    // With the standby's replay paused, the partner places an order and changes its endpoint.
    let standby = standby_pool(&clusters).await;
    pause_replay(&standby).await;
    let sku = app.sku_in_stock().await;
    let path = format!("/v1/merchants/{merchant}/orders");
    let placed = call(&app, &app.base, reqwest::Method::POST, &path, &bearer, None, Some(order_body(&sku))).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order_id = placed.body["order_id"].as_str().expect("order id").to_owned();
    let after_order = placed.read_after.expect("Storelink-Read-After on the order");
    let patch = Some(json!({"description": "second"}));
    let path = format!("/v1/webhooks/endpoints/{endpoint}");
    let changed = call(&app, &app.base, reqwest::Method::PATCH, &path, &bearer, None, patch).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let after_change = changed.read_after.expect("Storelink-Read-After on the change");
    assert!(after_change.parse::<Lsn>().expect("lsn") >= after_order.parse::<Lsn>().expect("lsn"));

    // Proof the standby serves reads: without the position, the other process reads the standby's
    // copy, which has neither write yet.
    let order_path = format!("/v1/merchants/{merchant}/orders/{order_id}");
    let stale = get(&app, &other, &order_path, &bearer, None).await;
    assert_eq!((stale.status, stale.source.as_deref()), (404, Some("replica")), "{}", stale.body);
    let stale = get(&app, &other, &path, &bearer, None).await;
    assert_eq!((stale.source.as_deref(), stale.body["description"].as_str()), (Some("replica"), Some("first")));

    // Read-your-writes: with the position, the primary answers (the standby has not replayed it).
    let fresh = get(&app, &other, &order_path, &bearer, Some(&after_order)).await;
    assert_eq!((fresh.status, fresh.source.as_deref()), (200, Some("primary")), "{}", fresh.body);
    assert_eq!(fresh.body["order_id"], order_id.as_str());
    let fresh = get(&app, &other, &path, &bearer, Some(&after_change)).await;
    assert_eq!((fresh.source.as_deref(), fresh.body["description"].as_str()), (Some("primary"), Some("second")));
    let listed = get(&app, &other, &format!("/v1/merchants/{merchant}/orders"), &bearer, Some(&after_order)).await;
    assert!(listed.body["items"].as_array().expect("items").iter().any(|o| o["order_id"] == order_id.as_str()));
    // The process that took the writes remembers them for this partner, header or not.
    let sticky = get(&app, &app.base, &order_path, &bearer, None).await;
    assert_eq!((sticky.status, sticky.source.as_deref()), (200, Some("primary")));
    // A position that is not one is never wrong: the primary answers.
    let odd = get(&app, &other, &order_path, &bearer, Some("yesterday")).await;
    assert_eq!((odd.status, odd.source.as_deref()), (200, Some("primary")));

    // Once the standby has replayed the writes, reads carrying their position go back to it.
    resume_replay(&standby).await;
    let back = wait_for(Duration::from_secs(30), || async {
        let read = get(&app, &other, &order_path, &bearer, Some(&after_change)).await;
        read.status == 200 && read.source.as_deref() == Some("replica")
    })
    .await;
    assert!(back, "the standby serves the partner's writes once replayed");

    // The ops lists read the standby too, and an operator's action is read back (its cookie).
    let admin = ops_admin(&app).await;
    let (status, list) = ops_page(&app, &admin, "/ops").await;
    assert!(status == 200 && list.contains(&merchant), "{status}");
    pause_replay(&standby).await;
    let (status, tenant) = ops_page(&app, &admin, &format!("/ops/tenants/{merchant}")).await;
    assert_eq!(status, 200);
    let csrf = storelink_testkit::extract_csrf_token(&tenant).expect("csrf token");
    let acted = app
        .http
        .post(format!("{}/ops/tenants/{merchant}/pause", app.base))
        .header("cookie", &admin)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("pause");
    assert_eq!(acted.status(), 200);
    let read_after_cookie = acted
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sl_ops_read_after="))
        .and_then(|c| c.split(';').next())
        .expect("the action's read-after cookie")
        .to_owned();
    let (_, without) = ops_page(&app, &admin, "/ops?status=paused").await;
    assert!(!without.contains(&merchant), "the standby's list: not paused yet");
    let (_, with) = ops_page(&app, &format!("{admin}; {read_after_cookie}"), "/ops?status=paused").await;
    assert!(with.contains(&merchant), "after the action: read from the primary");
    resume_replay(&standby).await;

    other_handle.stop(false).await;
    app.stop().await;
    drop(clusters);
}

/// A scrape of the metrics port: the value of the first sample whose line starts with `prefix`.
async fn metric(http: &reqwest::Client, url: &str, prefix: &str) -> Option<f64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    text.lines().find(|l| l.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

#[tokio::test]
async fn a_lagging_or_stopped_standby_is_skipped_and_no_read_fails() {
    let Some(clusters) = clusters() else { return };
    let app = replicated_app(&clusters, "1s").await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let metrics = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    tokio::spawn(storelink::server::metrics_server(&app.services, listener).expect("metrics server"));
    let replica = format!("replica=\"127.0.0.1:{}/storelink\"", clusters.standby_port);
    let products = format!("/v1/merchants/{merchant}/products?limit=5");
    wait_caught_up(&app).await;
    let read = get(&app, &app.base, &products, &bearer, None).await;
    assert_eq!((read.status, read.source.as_deref()), (200, Some("replica")));
    let lag = metric(&app.http, &metrics, &format!("storelink_replica_lag_seconds{{{replica}}}")).await;
    assert!(lag.is_some_and(|l| l < 1.0), "a caught-up standby reports (almost) no lag: {lag:?}");

    // Replay paused while the primary writes: the lag grows past the bound, and reads move to the primary.
    let standby = standby_pool(&clusters).await;
    pause_replay(&standby).await;
    sqlx::query("CREATE TABLE lag_probe AS SELECT n FROM generate_series(1, 1000) AS n")
        .execute(&app.db.pool)
        .await
        .expect("a write");
    let lagging = wait_for(Duration::from_secs(30), || async {
        let status = &app.services.reads.status()[0];
        status.up && !status.usable && status.lag.is_some_and(|l| l > Duration::from_secs(1))
    })
    .await;
    assert!(lagging, "lag measured past the bound: {:?}", app.services.reads.status());
    let read = get(&app, &app.base, &products, &bearer, None).await;
    assert_eq!((read.status, read.source.as_deref()), (200, Some("primary")));
    let lag = metric(&app.http, &metrics, &format!("storelink_replica_lag_seconds{{{replica}}}")).await;
    assert!(lag.is_some_and(|l| l > 1.0), "the gauge reports the lag: {lag:?}");
    let usable = metric(&app.http, &metrics, &format!("storelink_replica_usable{{{replica}}}")).await;
    assert_eq!(usable, Some(0.0));
    let skipped = "storelink_db_reads_total{pool=\"primary\",reason=\"replicas_unavailable\"}";
    assert!(metric(&app.http, &metrics, skipped).await.is_some_and(|n| n >= 1.0), "counted: {skipped}");

    // Caught up again: back in use.
    resume_replay(&standby).await;
    standby.close().await;
    let back = wait_for(Duration::from_secs(30), || async {
        get(&app, &app.base, &products, &bearer, None).await.source.as_deref() == Some("replica")
    })
    .await;
    assert!(back, "the standby is used again once it has caught up");

    // The standby stops: no read fails, whether it is still believed up or already known down.
    let admin = ops_admin(&app).await;
    clusters.stop_standby();
    for _ in 0..5 {
        let read = get(&app, &app.base, &products, &bearer, None).await;
        assert_eq!(read.status, 200, "{}", read.body);
        let (status, list) = ops_page(&app, &admin, "/ops").await;
        assert!(status == 200 && list.contains(&merchant), "the ops list: {status}");
        let (status, _) = ops_page(&app, &admin, &format!("/ops/tenants/{merchant}")).await;
        assert_eq!(status, 200, "the tenant page");
    }
    let down = wait_for(Duration::from_secs(30), || async { !app.services.reads.status()[0].up }).await;
    assert!(down, "the monitor sees the standby down");
    let read = get(&app, &app.base, &products, &bearer, None).await;
    assert_eq!((read.status, read.source.as_deref()), (200, Some("primary")));
    assert_eq!(metric(&app.http, &metrics, &format!("storelink_replica_up{{{replica}}}")).await, Some(0.0));

    app.stop().await;
    drop(clusters);
}
