//! The ops tenants list at 10,000 tenants: every list statement walks an index of `merchant_health`
//! and reads about one page (EXPLAIN, custom and generic plans, never a Seq Scan of a tenant table);
//! the triggers keep each merchant's health row and the per-status counts current.

use sqlx::{Connection, Executor, PgPool};
use storelink_core::MerchantId;
use storelink_tenants::MerchantStatus;
use storelink_tenants::health::{self, Cursor, Filter, ListQuery, Sort};
use storelink_testkit::fleet;

const N: i64 = 10_000;
const TENANT_TABLES: [&str; 2] = ["merchants", "merchant_health"];

/// The statement's plan as text, with the binds as SQL literals, under the given plan cache mode.
async fn plan(pool: &PgPool, sql: &str, args: &[&str], mode: &str, analyze: bool) -> String {
    let mut conn = pool.acquire().await.expect("connection").detach();
    conn.execute(format!("SET plan_cache_mode = {mode}").as_str()).await.expect("plan mode");
    conn.execute(format!("PREPARE listing AS {sql}").as_str()).await.expect("prepare");
    let options = if analyze { "ANALYZE, " } else { "" };
    let explain = format!("EXPLAIN ({options}COSTS OFF) EXECUTE listing({})", args.join(", "));
    let lines: Vec<String> = sqlx::query_scalar(&explain).fetch_all(&mut conn).await.expect("explain");
    conn.close().await.ok();
    lines.join("\n")
}

fn assert_no_tenant_scan(what: &str, plan: &str) {
    // "Seq Scan on merchants m" or, without an alias, "Seq Scan on merchants" at the end of a line.
    let scanned = plan.split("Seq Scan on ").skip(1).filter_map(|rest| rest.split_whitespace().next());
    for table in scanned {
        assert!(!TENANT_TABLES.contains(&table), "{what} scans {table}:\n{plan}");
    }
}

/// The largest `rows=` any node of an EXPLAIN ANALYZE produced.
fn most_rows(plan: &str) -> i64 {
    plan.split("rows=").skip(1).filter_map(|rest| rest.split(' ').next()?.parse::<i64>().ok()).max().unwrap_or(0)
}

#[tokio::test]
async fn every_list_statement_reads_one_page_through_an_index_at_ten_thousand_tenants() {
    let db = storelink_testkit::test_db().await;
    fleet::seed_fleet(&db.pool, N).await.expect("fleet");
    let counts = health::counts(&db.pool).await.expect("counts");
    assert_eq!(counts.total(), N);

    // The check sees a scan where there is one (the old list's substring search was one).
    let scan = plan(
        &db.pool,
        "SELECT merchant_id FROM merchants WHERE store_url ILIKE $1",
        &["'%07%'"],
        "force_custom_plan",
        false,
    )
    .await;
    let caught = std::panic::catch_unwind(|| assert_no_tenant_scan("a substring search", &scan));
    assert!(caught.is_err(), "the check must catch a Seq Scan of merchants:\n{scan}");

    let nil = "'00000000-0000-0000-0000-000000000000'";
    let top = "chr(1114111)";
    let mut checked = 0;
    for filter in [Filter::Any, Filter::NeedsAttention, Filter::Status(MerchantStatus::CredentialsInvalid)] {
        for sort in [Sort::Attention, Sort::Store] {
            let sql = health::list_sql(filter, sort, 51);
            let mut args: Vec<String> = match sort {
                Sort::Attention => vec!["-9223372036854775808".into(), nil.into()],
                Sort::Store => vec!["'store-00'".into(), nil.into(), format!("'store-00' || {top}")],
            };
            if let Filter::Status(status) = filter {
                args.push(format!("'{}'", status.as_str()));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            for mode in ["force_custom_plan", "force_generic_plan"] {
                let text = plan(&db.pool, &sql, &args, mode, false).await;
                assert_no_tenant_scan(&format!("{filter:?} {sort:?} {mode}"), &text);
                assert!(text.contains("merchant_health_"), "an index of merchant_health: {text}");
                checked += 1;
            }
            let analyzed = plan(&db.pool, &sql, &args, "force_generic_plan", true).await;
            assert!(most_rows(&analyzed) <= 51, "{filter:?} {sort:?} reads about a page:\n{analyzed}");
        }
    }
    assert_eq!(checked, 12);
    for (what, sql, args) in
        [("by id", health::BY_ID_SQL, vec![nil.to_owned()]), ("status counts", health::COUNTS_SQL, vec![])]
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = if args.is_empty() {
            let lines: Vec<String> =
                sqlx::query_scalar(&format!("EXPLAIN (COSTS OFF) {sql}")).fetch_all(&db.pool).await.expect("explain");
            lines.join("\n")
        } else {
            plan(&db.pool, sql, &args, "force_generic_plan", false).await
        };
        assert_no_tenant_scan(what, &text);
    }
}

#[tokio::test]
async fn triggers_keep_health_current_and_the_list_pages_most_urgent_first() {
    let db = storelink_testkit::test_db().await;
    let pool = &db.pool;
    fleet::seed_fleet(pool, 300).await.expect("fleet");
    let counts = health::counts(pool).await.expect("counts");
    // 1..=300: 6 credentials_invalid (every 50th), 7 paused (41st, none of them a 50th), 3 revoked.
    assert_eq!(
        (counts.active, counts.credentials_invalid, counts.paused, counts.revoked, counts.total()),
        (284, 6, 7, 3, 300)
    );
    let id_of = |i: i64| async move {
        sqlx::query_scalar::<_, MerchantId>("SELECT merchant_id FROM merchants WHERE store_url = $1")
            .bind(fleet::store_url(i))
            .fetch_one(pool)
            .await
            .expect("merchant")
    };

    // Page through everything in attention order: each row once, keys ascending, the
    // credentials-invalid ones (720 points) first, paused and revoked last.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let q = ListQuery { filter: Filter::Any, sort: Sort::Attention, host_prefix: "", after, limit: 40 };
        let page = health::list(pool, &q).await.expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|h| h.cursor(Sort::Attention));
        seen.extend(page);
    }
    assert_eq!(seen.len(), 300);
    assert!(seen.windows(2).all(|w| (w[0].attention_key, w[0].merchant_id) < (w[1].attention_key, w[1].merchant_id)));
    assert!(seen[..6].iter().all(|h| h.status == MerchantStatus::CredentialsInvalid), "{:?}", &seen[..6]);
    assert!(seen[290..].iter().all(|h| matches!(h.status, MerchantStatus::Paused | MerchantStatus::Revoked)));
    // 58 = 2 * 29: a failed slot (24 points), 28 minutes behind; 62 = 2 * 31: a dead letter (24).
    let m58 = seen.iter().find(|h| h.store_url == fleet::store_url(58)).expect("58");
    assert_eq!((m58.failed_slots, m58.score), (1, 24));
    assert!(m58.lag(chrono::Utc::now()).expect("lag").num_minutes() >= 27, "{m58:?}");
    // 26 = 2 * 13: shipping 26 hours behind, no other trouble: its lag alone puts it before 58.
    let position = |i: i64| seen.iter().position(|h| h.store_url == fleet::store_url(i)).expect("listed");
    assert!(position(26) < position(58), "26 h of lag outweighs 24 points and 28 min");

    // Fixing things lowers the score at once: a slot registered, the dead letter's kind succeeding.
    let m62 = id_of(62).await;
    assert_eq!(health::get(pool, m62).await.expect("get").expect("row").dead_jobs, 1);
    sqlx::query("INSERT INTO job_schedule_state (merchant_id, kind, last_succeeded_at) VALUES ($1, 'orders', now())")
        .bind(m62)
        .execute(pool)
        .await
        .expect("success");
    let fixed = health::get(pool, m62).await.expect("get").expect("row");
    assert_eq!((fixed.dead_jobs, fixed.score), (0, 0));
    sqlx::query("UPDATE webhook_slots SET status = 'registered' WHERE merchant_id = $1")
        .bind(m58.merchant_id)
        .execute(pool)
        .await
        .expect("registered");
    assert_eq!(health::get(pool, m58.merchant_id).await.expect("get").expect("row").score, 0);

    // A status change moves the counts and the row; a search by host prefix finds one store.
    let before = health::counts(pool).await.expect("counts");
    sqlx::query("UPDATE merchants SET status = 'paused' WHERE merchant_id = $1")
        .bind(m62)
        .execute(pool)
        .await
        .expect("pause");
    let after_pause = health::counts(pool).await.expect("counts");
    assert_eq!((after_pause.active, after_pause.paused), (before.active - 1, before.paused + 1));
    let paused = health::list(
        pool,
        &ListQuery {
            filter: Filter::Status(MerchantStatus::Paused),
            sort: Sort::Attention,
            host_prefix: "",
            after: None,
            limit: 100,
        },
    )
    .await
    .expect("paused");
    assert!(paused.iter().any(|h| h.merchant_id == m62) && paused.len() == 8);
    let prefix = health::host_prefix("HTTPS://store-00062.EXAMPLE.com/");
    let q = ListQuery { filter: Filter::Any, sort: Sort::Attention, host_prefix: &prefix, after: None, limit: 10 };
    let found = health::list(pool, &q).await.expect("search");
    assert_eq!(found.iter().map(|h| h.merchant_id).collect::<Vec<_>>(), [m62]);
    let q = ListQuery { filter: Filter::Any, sort: Sort::Store, host_prefix: "store-001", after: None, limit: 200 };
    assert_eq!(health::list(pool, &q).await.expect("prefix").len(), 100, "store-00100..store-00199");
    let q = ListQuery {
        filter: Filter::Any,
        sort: Sort::Store,
        host_prefix: "store-001",
        after: Some(Cursor::Store("store-00150.example.com".into(), MerchantId(uuid::Uuid::max()))),
        limit: 200,
    };
    assert_eq!(health::list(pool, &q).await.expect("next page").len(), 49, "after store-00150");

    // Deleting merchants drops their health rows and their counts: 62 (paused), 87 (a failed slot).
    let flagged_before = health::counts(pool).await.expect("counts").needs_attention;
    let m87 = id_of(87).await;
    assert!(health::get(pool, m87).await.expect("get").expect("row").score > 0);
    for id in [m62, m87] {
        sqlx::query("DELETE FROM merchants WHERE merchant_id = $1").bind(id).execute(pool).await.expect("delete");
        assert!(health::get(pool, id).await.expect("get").is_none());
    }
    assert_eq!(health::counts(pool).await.expect("counts").total(), 298);
    assert_eq!(health::counts(pool).await.expect("counts").needs_attention, flagged_before - 1);
    let flagged = health::counts(pool).await.expect("counts").needs_attention;
    let expected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM merchant_health WHERE status = 'active' AND score > 0")
            .fetch_one(pool)
            .await
            .expect("flagged");
    assert_eq!(flagged, expected);
    assert!(flagged > 0);
}
