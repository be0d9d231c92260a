//! The audit trail: one row per action attempt, never updated (a database trigger refuses it).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use storelink_core::MerchantId;

use crate::OpsAction;

/// Who acts and from where.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub source: String,
}

impl Actor {
    /// The command line: the OS user and host.
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
        Self { name: format!("cli:{user}"), source: format!("cli@{host}") }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub source: String,
    /// An `OpsAction` value (`OpsAction::parse`), kept as text so any row reads back.
    pub action: String,
    pub merchant_id: Option<MerchantId>,
    pub outcome: String,
    pub detail: serde_json::Value,
}

/// Writes one audit row on `conn`: inside the action's transaction, it commits with the action or not at all.
pub(crate) async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: OpsAction,
    merchant: Option<MerchantId>,
    outcome: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (actor, source, action, merchant_id, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&actor.name)
    .bind(&actor.source)
    .bind(action.as_str())
    .bind(merchant)
    .bind(outcome)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest entries, for one merchant or for everyone.
pub async fn recent(pool: &PgPool, merchant: Option<MerchantId>, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT audit_id, at, actor, source, action, merchant_id, outcome, detail FROM audit_log
         WHERE $1::uuid IS NULL OR merchant_id = $1 ORDER BY audit_id DESC LIMIT $2",
    )
    .bind(merchant)
    .bind(limit)
    .fetch_all(pool)
    .await
}
