//! Test support shared by every crate's integration tests: a fresh, migrated Postgres database per test.
//! Test-only (a dev-dependency everywhere, and a dependency of `storelink-bench`); must never be
//! linked into the `storelink` binary.

pub mod fleet;
pub mod memory;

use sqlx::{Connection, Executor, PgConnection, PgPool};

/// Server that holds the per-test databases. `TEST_DATABASE_URL` overrides the machine default.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A freshly created database with every migration applied. Names start with `sl_test_`;
/// `.ci/run` drops leftovers before a run.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    pub name: String,
}

pub async fn test_db() -> TestDb {
    let admin = admin_url();
    let name = format!("sl_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("tests need Postgres at {admin} (set TEST_DATABASE_URL): {e}"));
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create test database");
    conn.close().await.ok();
    let url = with_database(&admin, &name);
    let pool = storelink_core::db::connect(&url, 10).await.expect("connect to test database");
    storelink_core::db::migrate(&pool).await.expect("migrate test database");
    TestDb { pool, url, name }
}

/// A bare partner and merchant row for tests of crates below `tenants` (vault, token cache, sync):
/// plain SQL, so those crates need not depend on `tenants` to get a merchant id.
pub async fn insert_merchant(pool: &PgPool, store_url: &str) -> storelink_core::MerchantId {
    let partner = insert_partner(pool, "test").await.expect("insert partner");
    let merchant = storelink_core::MerchantId::new();
    sqlx::query("INSERT INTO merchants (merchant_id, partner_id, store_url) VALUES ($1, $2, $3)")
        .bind(merchant)
        .bind(partner)
        .bind(store_url)
        .execute(pool)
        .await
        .expect("insert merchant");
    merchant
}

/// A bare partner row named `name` (no usable secret), for tests and benchmarks.
pub async fn insert_partner(pool: &PgPool, name: &str) -> Result<storelink_core::PartnerId, sqlx::Error> {
    let partner = storelink_core::PartnerId::new();
    sqlx::query("INSERT INTO partners (partner_id, name, client_id, client_secret_hash) VALUES ($1, $2, $3, 'unused')")
        .bind(partner)
        .bind(name)
        .bind(format!("slp_{name}_{partner}"))
        .execute(pool)
        .await?;
    Ok(partner)
}

/// The same server URL with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").map(|p| p + 2).unwrap_or(0) => &base[..i],
        _ => base,
    };
    format!("{base}/{name}{query}")
}

/// The CSRF token of the `/connect` form in `html`, as a browser would submit it.
pub fn extract_csrf_token(html: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_csrf_token() {
        let html = r#"<input type="hidden" name="csrf_token" value="abc-_1"><input name="x">"#;
        assert_eq!(extract_csrf_token(html).as_deref(), Some("abc-_1"));
        assert_eq!(extract_csrf_token("<p>none</p>"), None);
    }

    #[test]
    fn with_database_replaces_only_the_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u@h:1/db?sslmode=disable", "y"), "postgres://u@h:1/y?sslmode=disable");
        assert_eq!(
            with_database("postgres://postgres@localhost/storelink?host=/tmp/run", "postgres"),
            "postgres://postgres@localhost/postgres?host=/tmp/run"
        );
    }
}
