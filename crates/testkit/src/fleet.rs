//! A fleet of tenants written straight into the database (no onboarding), for the tests and benches
//! that need thousands of merchants: store hosts `store-00001.example.com`..., a spread of statuses,
//! sync lags, failed slots and syncs and dead letters, deterministic by the merchant's number.

use sqlx::PgPool;
use storelink_core::PartnerId;

/// Merchant number `i` (1-based) of a fleet: its store URL.
pub fn store_url(i: i64) -> String {
    format!("https://store-{i:05}.example.com")
}

/// Inserts `n` merchants of a new partner, four sync kinds each, and their troubles:
/// every 50th is credentials_invalid, every 41st paused, every 97th revoked (first match wins);
/// every 37th has a failed catalog sync, every 29th a failed `order-submit` slot, every 31st a dead
/// `orders` job; every 13th lags `i % 48` hours on shipping, the rest `i % 30` minutes. Then ANALYZE.
pub async fn seed_fleet(pool: &PgPool, n: i64) -> Result<PartnerId, sqlx::Error> {
    let partner = crate::insert_partner(pool, "fleet").await?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO merchants (merchant_id, partner_id, store_url, status, connected_at)
         SELECT gen_random_uuid(), $1, format('https://store-%s.example.com', lpad(i::text, 5, '0')),
                CASE WHEN i % 50 = 0 THEN 'credentials_invalid' WHEN i % 41 = 0 THEN 'paused'
                     WHEN i % 97 = 0 THEN 'revoked' ELSE 'active' END,
                now() - interval '30 days'
         FROM generate_series(1, $2::bigint) i",
    )
    .bind(partner)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    let numbered = "WITH fleet AS (SELECT merchant_id, substring(store_url FROM 'store-([0-9]+)')::int AS i
                                   FROM merchants WHERE partner_id = $1)";
    sqlx::query(&format!(
        "{numbered}
         INSERT INTO sync_state (merchant_id, kind, state, last_success_at, last_error, last_error_at)
         SELECT merchant_id, k,
                CASE WHEN k = 'catalog' AND i % 37 = 0 THEN 'failed' ELSE 'idle' END,
                CASE WHEN k = 'shipping' AND i % 13 = 0 THEN now() - make_interval(hours => i % 48)
                     ELSE now() - make_interval(mins => i % 30) END,
                CASE WHEN k = 'catalog' AND i % 37 = 0 THEN 'the store answered 500' END,
                CASE WHEN k = 'catalog' AND i % 37 = 0 THEN now() - interval '20 minutes' END
         FROM fleet, unnest(ARRAY['catalog', 'inventory', 'shipping', 'orders']) k"
    ))
    .bind(partner)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "{numbered}
         INSERT INTO webhook_slots (merchant_id, slot, occ_webhook_id, callback_url, status, attempts, last_error)
         SELECT merchant_id, 'order-submit', 'production-orderSubmit', 'https://storelink.example/webhooks', 'failed', 3,
                'the store refused the callback URL'
         FROM fleet WHERE i % 29 = 0"
    ))
    .bind(partner)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "{numbered}
         INSERT INTO jobs (merchant_id, kind, mode, state, attempts, last_error, finished_at)
         SELECT merchant_id, 'orders', 'incremental', 'dead', 8, 'gave up after 8 attempts', now() - interval '1 hour'
         FROM fleet WHERE i % 31 = 0"
    ))
    .bind(partner)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for table in ["merchants", "merchant_health", "sync_state", "webhook_slots", "jobs", "merchant_status_counts"] {
        sqlx::query(&format!("ANALYZE {table}")).execute(pool).await?;
    }
    Ok(partner)
}
