//! The ops tenants list at scale: one `merchant_health` row per merchant, kept current by database
//! triggers (migration 20261201000086 defines the needs-attention score), read here one index range
//! per page, and the per-status counts from `merchant_status_counts`. Never scans all merchants.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use storelink_core::MerchantId;

use crate::{MerchantStatus, TenantError};

/// Points of the needs-attention score; one point weighs as much as one hour of sync lag.
pub const SCORE_CREDENTIALS_INVALID: i32 = 720;
pub const SCORE_FAILED_SLOT: i32 = 24;
pub const SCORE_DEAD_JOB: i32 = 24;
pub const SCORE_FAILED_SYNC: i32 = 6;
pub const SCORE_FAILED_CHECK: i32 = 1;

/// Which tenants a page lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Any,
    Status(MerchantStatus),
    /// Active with a score above zero: a failed slot, sync or check, or an unresolved dead letter.
    NeedsAttention,
}

/// The order of a page. A host search always lists in host order (its index range is in that order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Most urgent first: ascending `attention_key` (lag plus score hours).
    Attention,
    /// By store host.
    Store,
}

/// Where the next page starts: the last row's sort key and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Attention(i64, MerchantId),
    Store(String, MerchantId),
}

impl Cursor {
    /// `a.<key>.<id>` or `s.<host>.<id>`; the host never holds the last dot-separated part.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Attention(key, id) => format!("a.{key}.{id}"),
            Cursor::Store(host, id) => format!("s.{host}.{id}"),
        }
    }

    pub fn decode(raw: &str) -> Option<Cursor> {
        let (head, id) = raw.rsplit_once('.')?;
        let id: MerchantId = id.parse().ok()?;
        match head.split_once('.')? {
            ("a", key) => Some(Cursor::Attention(key.parse().ok()?, id)),
            ("s", host) if host.len() <= 300 => Some(Cursor::Store(host.to_owned(), id)),
            _ => None,
        }
    }
}

/// One page's request.
#[derive(Clone, Debug)]
pub struct ListQuery<'a> {
    pub filter: Filter,
    pub sort: Sort,
    /// The start of a store host (lower-cased, scheme dropped); empty: any.
    pub host_prefix: &'a str,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// A tenant as the list shows it.
#[derive(Clone, Debug)]
pub struct Health {
    pub merchant_id: MerchantId,
    pub store_url: String,
    pub partner_name: String,
    pub status: MerchantStatus,
    pub store_host: String,
    pub failed_slots: i32,
    /// The earliest deadline of a slot left `pending`; overdue once in the past.
    pub pending_due_at: Option<DateTime<Utc>>,
    pub failed_syncs: i32,
    pub failed_checks: i32,
    /// Dead-lettered jobs of kinds that have not succeeded since.
    pub dead_jobs: i32,
    /// The oldest last success across the merchant's sync kinds (or its connection time).
    pub oldest_success_at: DateTime<Utc>,
    pub score: i32,
    pub attention_key: i64,
}

impl Health {
    /// Sync lag: now minus the oldest last success across the merchant's sync kinds. Only an active
    /// or credentials-invalid tenant is expected to sync; paused and revoked ones have none.
    pub fn lag(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        matches!(self.status, MerchantStatus::Active | MerchantStatus::CredentialsInvalid)
            .then(|| (now - self.oldest_success_at).max(chrono::Duration::zero()))
    }

    /// A slot left `pending` past its deadline.
    pub fn overdue_slot(&self, now: DateTime<Utc>) -> bool {
        self.pending_due_at.is_some_and(|due| due < now)
    }

    pub fn cursor(&self, sort: Sort) -> Cursor {
        match sort {
            Sort::Attention => Cursor::Attention(self.attention_key, self.merchant_id),
            Sort::Store => Cursor::Store(self.store_host.clone(), self.merchant_id),
        }
    }
}

const COLUMNS: &str = "h.merchant_id, m.store_url, p.name, h.status, h.store_host, h.failed_slots, h.pending_due_at,
       h.failed_syncs, h.failed_checks, h.dead_jobs, h.oldest_success_at, h.score, h.attention_key";
const FROM: &str = "merchant_health h JOIN merchants m ON m.merchant_id = h.merchant_id
     JOIN partners p ON p.partner_id = m.partner_id";

/// The most rows one page may ask for.
pub const MAX_LIMIT: i64 = 501;

/// The list statement for a filter, an order and a page size (a literal, clamped to `MAX_LIMIT`, so
/// that a generic plan knows it reads a page). Binds: $1 the cursor key (bigint for attention, text
/// for store), $2 the cursor id; for store order $3 the highest host in range; for a status filter
/// the status last. Every variant walks one index of `merchant_health` from the cursor and stops
/// after the limit (the EXPLAIN test in crates/tenants/tests/health.rs checks it at 10,000 tenants).
pub fn list_sql(filter: Filter, sort: Sort, limit: i64) -> String {
    let (cursor, order, next) = match sort {
        Sort::Attention => {
            ("(h.attention_key, h.merchant_id) > ($1::bigint, $2::uuid)", "h.attention_key, h.merchant_id", 3)
        }
        Sort::Store => (
            "(h.store_host, h.merchant_id) > ($1::text, $2::uuid) AND h.store_host <= $3::text",
            "h.store_host, h.merchant_id",
            4,
        ),
    };
    let filter = match filter {
        Filter::Any => String::new(),
        Filter::Status(_) => format!(" AND h.status = ${next}::text"),
        Filter::NeedsAttention => " AND h.status = 'active' AND h.score > 0".to_owned(),
    };
    let limit = limit.clamp(1, MAX_LIMIT);
    format!("SELECT {COLUMNS} FROM {FROM} WHERE {cursor}{filter} ORDER BY {order} LIMIT {limit}")
}

/// One tenant by id (a search by merchant id).
pub const BY_ID_SQL: &str = "SELECT h.merchant_id, m.store_url, p.name, h.status, h.store_host, h.failed_slots,
       h.pending_due_at, h.failed_syncs, h.failed_checks, h.dead_jobs, h.oldest_success_at, h.score,
       h.attention_key
     FROM merchant_health h JOIN merchants m ON m.merchant_id = h.merchant_id
     JOIN partners p ON p.partner_id = m.partner_id WHERE h.merchant_id = $1";

/// Tenants per status, and `needs_attention`: a sum over at most 16 counter rows each, kept by
/// triggers on `merchants` and `merchant_health`.
pub const COUNTS_SQL: &str = "SELECT status, sum(n)::bigint FROM merchant_status_counts GROUP BY status";

/// The highest string a host prefix range reaches (hosts are compared bytewise, `COLLATE "C"`).
const TOP: char = '\u{10FFFF}';

type Row =
    (MerchantId, String, String, String, String, i32, Option<DateTime<Utc>>, i32, i32, i32, DateTime<Utc>, i32, i64);

fn from_row(row: Row) -> Health {
    let (merchant_id, store_url, partner_name, status, store_host, failed_slots, pending_due_at, failed_syncs) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    Health {
        merchant_id,
        store_url,
        partner_name,
        status: MerchantStatus::parse(&status),
        store_host,
        failed_slots,
        pending_due_at,
        failed_syncs,
        failed_checks: row.8,
        dead_jobs: row.9,
        oldest_success_at: row.10,
        score: row.11,
        attention_key: row.12,
    }
}

/// A search text as a host prefix: lower case, without scheme or path.
pub fn host_prefix(text: &str) -> String {
    let text = text.trim().to_lowercase();
    let text = text.split_once("://").map_or(text.as_str(), |(_, rest)| rest);
    text.split('/').next().unwrap_or_default().chars().take(253).collect()
}

/// Up to `limit` tenants of the page after `after`. The caller picks the pool (primary or replica).
pub async fn list(pool: &PgPool, q: &ListQuery<'_>) -> Result<Vec<Health>, TenantError> {
    let sort = if q.host_prefix.is_empty() { q.sort } else { Sort::Store };
    let sql = list_sql(q.filter, sort, q.limit);
    let nil = MerchantId(uuid::Uuid::nil());
    let mut query = sqlx::query_as::<_, Row>(&sql);
    query = match (sort, &q.after) {
        (Sort::Attention, Some(Cursor::Attention(key, id))) => query.bind(*key).bind(*id),
        (Sort::Attention, _) => query.bind(i64::MIN).bind(nil),
        // A cursor from another search's range restarts at the prefix.
        (Sort::Store, Some(Cursor::Store(host, id))) if host.starts_with(q.host_prefix) => {
            query.bind(host.clone()).bind(*id)
        }
        (Sort::Store, _) => query.bind(q.host_prefix.to_owned()).bind(nil),
    };
    if sort == Sort::Store {
        query = query.bind(format!("{}{TOP}", q.host_prefix));
    }
    if let Filter::Status(status) = q.filter {
        query = query.bind(status.as_str());
    }
    Ok(query.fetch_all(pool).await?.into_iter().map(from_row).collect())
}

/// One tenant's health row, if the merchant exists.
pub async fn get(pool: &PgPool, merchant: MerchantId) -> Result<Option<Health>, TenantError> {
    let row = sqlx::query_as::<_, Row>(BY_ID_SQL).bind(merchant).fetch_optional(pool).await?;
    Ok(row.map(from_row))
}

/// Tenants per status and how many need attention.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub active: i64,
    pub credentials_invalid: i64,
    pub paused: i64,
    pub revoked: i64,
    /// Active with a score above zero.
    pub needs_attention: i64,
}

impl Counts {
    pub fn total(&self) -> i64 {
        self.active + self.credentials_invalid + self.paused + self.revoked
    }

    pub fn of(&self, status: MerchantStatus) -> i64 {
        match status {
            MerchantStatus::Active => self.active,
            MerchantStatus::CredentialsInvalid => self.credentials_invalid,
            MerchantStatus::Paused => self.paused,
            MerchantStatus::Revoked => self.revoked,
        }
    }
}

pub async fn counts(pool: &PgPool) -> Result<Counts, TenantError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(COUNTS_SQL).fetch_all(pool).await?;
    let mut counts = Counts::default();
    for (status, n) in rows {
        match status.as_str() {
            "active" => counts.active += n,
            "credentials_invalid" => counts.credentials_invalid += n,
            "paused" => counts.paused += n,
            "revoked" => counts.revoked += n,
            "needs_attention" => counts.needs_attention += n,
            _ => {}
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_hosts_are_prefixes() {
        let id = MerchantId::new();
        for cursor in [Cursor::Attention(-42, id), Cursor::Store("shop.example.com:8443".into(), id)] {
            assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }
        assert_eq!(Cursor::decode("x.1.2"), None);
        assert_eq!(Cursor::decode("a.notanumber.00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(host_prefix(" HTTPS://Shop.Example.com/path "), "shop.example.com");
        assert_eq!(host_prefix("127.0.0.1"), "127.0.0.1");
    }
}
