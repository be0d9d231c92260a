//! The actions. Each one audits itself exactly once, whatever the outcome.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use storelink_connector::{ConnectorError, CredentialsError, FormField, Registry, Session};
use storelink_core::{MerchantId, SyncKind};
use storelink_jobs::{Mode, Queue};
use storelink_registrar::Registrar;
use storelink_tenants::{Merchant, MerchantStatus, RowLock, events, merchants};
use storelink_token_cache::{StoreSession, TokenCache};
use storelink_vault::Vault;
use url::Url;

use crate::OpsAction;
use crate::audit::{self, Actor};

/// How long revoke waits for OCC to drop our webhook URLs before going on without it.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no such merchant")]
    NotFound,
    #[error("the merchant is revoked; connect it again instead")]
    Revoked,
    #[error("the store refused the new credentials, so the current ones were kept: {0}")]
    KeyRejected(String),
    #[error("the store could not be reached to test the new credentials, so the current ones were kept: {0}")]
    StoreUnavailable(String),
    /// The operator's input is not usable (nothing was changed).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
}

/// An ops-given host: an `http(s)` URL with a host, reduced to its origin.
fn host_url(input: &str) -> Result<Url, OpsError> {
    let invalid = || OpsError::Invalid(format!("{input:?} is not an http(s) URL with a host"));
    let mut url = Url::parse(input.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(invalid());
    }
    url.set_path("");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

impl From<sqlx::Error> for OpsError {
    fn from(e: sqlx::Error) -> Self {
        OpsError::Internal(format!("database: {e}"))
    }
}

#[derive(Debug, serde::Serialize)]
pub struct RevokeReport {
    /// Slots whose webhook no longer names us (OCC reachable), and those left as they were.
    pub slots_unregistered: Vec<String>,
    pub slots_left: Vec<String>,
    pub jobs_cancelled: u64,
    pub data_purged: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct RotateReport {
    pub slots_registered: usize,
    pub jobs_resumed: u64,
}

#[derive(Clone)]
pub struct Ops {
    pub pool: PgPool,
    pub vault: Vault,
    /// The connectors of the platforms served (key rotation logs in with the new key).
    pub connectors: Registry,
    pub tokens: TokenCache,
    pub registrar: Registrar,
    pub queue: Queue,
}

impl Ops {
    async fn merchant(&self, id: MerchantId) -> Result<Merchant, OpsError> {
        merchants::get(&self.pool, id).await.map_err(|e| OpsError::Internal(e.to_string()))?.ok_or(OpsError::NotFound)
    }

    /// Runs `action` in one transaction and writes its audit row in that same transaction, so an
    /// action never commits unaudited (and an audit row never claims a change that did not commit).
    /// OCC calls the action makes are part of its report, so they are recorded as its outcome. A
    /// refused or failed action rolls back and is audited on its own (`refused` for
    /// NotFound/Revoked/KeyRejected, else `failed`).
    async fn audited<T: serde::Serialize>(
        &self,
        actor: &Actor,
        name: OpsAction,
        merchant: MerchantId,
        action: impl AsyncFnOnce(&mut PgConnection) -> Result<T, OpsError>,
    ) -> Result<T, OpsError> {
        let mut tx = self.pool.begin().await?;
        let error = match action(&mut tx).await {
            Ok(report) => {
                let detail = serde_json::to_value(&report).unwrap_or_default();
                let committed = async {
                    audit::record(&mut tx, actor, name, Some(merchant), "ok", detail).await?;
                    tx.commit().await
                };
                match committed.await {
                    Ok(()) => return Ok(report),
                    Err(e) => OpsError::Internal(format!("the action was not saved: {e}")),
                }
            }
            Err(e) => {
                drop(tx); // rolls back whatever the action wrote before it failed
                e
            }
        };
        let outcome = match &error {
            OpsError::NotFound | OpsError::Revoked | OpsError::KeyRejected(_) | OpsError::Invalid(_) => "refused",
            _ => "failed",
        };
        let detail = json!({"error": error.to_string()});
        let mut conn = self.pool.acquire().await?;
        if let Err(e) = audit::record(&mut conn, actor, name, Some(merchant), outcome, detail).await {
            tracing::error!(%merchant, action = name.as_str(), error = %e, "writing the audit log failed");
        }
        Err(error)
    }

    /// Revoke: unregister our webhook URLs in OCC where reachable, then in one transaction mark the
    /// merchant revoked, record `merchant.revoked` (the partner is told), cancel its jobs, delete its
    /// cached tokens and crypto-shred its data key (with it every sealed secret). `purge` also deletes
    /// the synced data; without it the unprocessed inbound deliveries are kept, marked settled. The
    /// status change is announced to every process (inbound lookups drop the merchant at once).
    /// Idempotent: revoking a revoked merchant changes nothing.
    pub async fn revoke(&self, actor: &Actor, merchant: MerchantId, purge: bool) -> Result<RevokeReport, OpsError> {
        let report = self
            .audited(actor, OpsAction::Revoke, merchant, async |tx| self.revoke_in(tx, merchant, purge).await)
            .await;
        self.forget_tokens_after(merchant, report).await
    }

    /// After an action that replaced or shredded the merchant's key committed: drop this process's
    /// cached tokens for it (other processes find theirs gone from `occ_tokens`).
    async fn forget_tokens_after<T>(&self, merchant: MerchantId, report: Result<T, OpsError>) -> Result<T, OpsError> {
        if report.is_ok()
            && let Err(e) = self.tokens.forget(merchant).await
        {
            tracing::warn!(%merchant, error = %e, "dropping in-process tokens after a key change");
        }
        report
    }

    async fn revoke_in(&self, tx: &mut PgConnection, id: MerchantId, purge: bool) -> Result<RevokeReport, OpsError> {
        let merchant = self.merchant(id).await?;
        let (slots_unregistered, slots_left) = if merchant.status == MerchantStatus::Revoked {
            (Vec::new(), Vec::new())
        } else {
            self.unregister(id).await
        };
        let jobs_cancelled = self.revoke_rows(tx, id, purge).await.map_err(|e| {
            // OCC was already changed: the audit row of the failed revoke says how.
            OpsError::Internal(format!("{e}; webhooks unregistered in OCC before the failure: {slots_unregistered:?}"))
        })?;
        Ok(RevokeReport { slots_unregistered, slots_left, jobs_cancelled, data_purged: purge })
    }

    /// Revoke's database changes; returns the number of jobs cancelled.
    async fn revoke_rows(&self, tx: &mut PgConnection, id: MerchantId, purge: bool) -> Result<u64, OpsError> {
        // NO KEY UPDATE, not UPDATE: a job committing rows that reference the merchant (its foreign keys
        // take KEY SHARE) while holding its own job row, which the cancel below waits for, would
        // otherwise deadlock with this revoke.
        let status = merchants::lock_status(&mut *tx, id, RowLock::NoKeyUpdate).await.map_err(internal)?;
        let was_revoked = status.ok_or(OpsError::NotFound)? == MerchantStatus::Revoked;
        let cancelled = Queue::cancel_merchant_in(&mut *tx, id, Some("merchant revoked")).await.map_err(internal)?;
        if !was_revoked {
            merchants::set_status_in(&mut *tx, id, MerchantStatus::Revoked).await.map_err(internal)?;
            // After the cancel above, so the outbox trigger's `deliver` job survives to tell the partner.
            events::record(&mut *tx, id, events::REVOKED, json!({"reason": "revoked by ops"}))
                .await
                .map_err(internal)?;
        }
        storelink_token_cache::forget_timing(&mut *tx, id).await.map_err(internal)?;
        self.vault.shred_with(&mut *tx, id).await.map_err(internal)?;
        if purge {
            storelink_sync::purge_merchant(&mut *tx, id).await?;
            storelink_inbound::purge_merchant(&mut *tx, id).await?;
        } else {
            // Kept as history, but never processed: nothing may pick them up again.
            storelink_inbound::settle_revoked(&mut *tx, id).await?;
        }
        Ok(cancelled)
    }

    /// Best effort, bounded in time: the key may already be deleted in OCC.
    async fn unregister(&self, id: MerchantId) -> (Vec<String>, Vec<String>) {
        let attempt = async {
            let session = self.tokens.session(id).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(self.registrar.unregister_all(&session, id).await)
        };
        match tokio::time::timeout(UNREGISTER_TIMEOUT, attempt).await {
            Ok(Ok(results)) => {
                let (done, left): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, r)| r.is_ok());
                (
                    done.into_iter().map(|(s, _)| s.to_string()).collect(),
                    left.into_iter().map(|(s, _)| s.to_string()).collect(),
                )
            }
            Ok(Err(e)) => {
                tracing::warn!(merchant = %id, error = %e, "OCC not reachable to unregister webhooks");
                (Vec::new(), storelink_core::Slot::ALL.iter().map(ToString::to_string).collect())
            }
            Err(_) => (Vec::new(), storelink_core::Slot::ALL.iter().map(ToString::to_string).collect()),
        }
    }

    /// Rotate the OCC application key: test-login with the new key first (a refused key changes
    /// nothing), re-register the slots with it, then in one transaction replace the sealed key, drop
    /// cached tokens and resume the merchant's jobs.
    pub async fn rotate(
        &self,
        actor: &Actor,
        merchant: MerchantId,
        new_key: SecretString,
    ) -> Result<RotateReport, OpsError> {
        let report = self
            .audited(actor, OpsAction::RotateKey, merchant, async |tx| self.rotate_in(tx, merchant, new_key).await)
            .await;
        self.forget_tokens_after(merchant, report).await
    }

    /// Rotate with the new credentials as the connect form's fields of the merchant's platform (e.g.
    /// SAP's auth choice, client and secret); fields that do not make credentials are refused, audited.
    pub async fn rotate_fields(
        &self,
        actor: &Actor,
        merchant: MerchantId,
        fields: &HashMap<String, String>,
    ) -> Result<RotateReport, OpsError> {
        let credentials = async {
            let found = self.merchant(merchant).await?;
            let connector = self.connectors.get(&found.platform).map_err(internal)?;
            let values = |name: &str| fields.get(name).map(String::as_str);
            connector.credentials(&values).map_err(|e| {
                let label = connector.form().iter().find(|f| f.name == e.field()).map_or(e.field(), |f| f.label);
                OpsError::Invalid(match e {
                    CredentialsError::Missing { .. } => format!("the new credentials lack: {label}"),
                    CredentialsError::TooLong { .. } => format!("{label} is too long"),
                    CredentialsError::Invalid { message, .. } => message,
                })
            })
        };
        match credentials.await {
            Ok(key) => self.rotate(actor, merchant, key).await,
            Err(e) => self.audited(actor, OpsAction::RotateKey, merchant, async |_| Err::<RotateReport, _>(e)).await,
        }
    }

    /// The merchant's platform's credential fields (`Connector::form`), for the rotate form.
    pub async fn credential_fields(&self, merchant: MerchantId) -> Result<&'static [FormField], OpsError> {
        let found = self.merchant(merchant).await?;
        Ok(self.connectors.get(&found.platform).map_err(internal)?.form())
    }

    async fn rotate_in(
        &self,
        tx: &mut PgConnection,
        id: MerchantId,
        new_key: SecretString,
    ) -> Result<RotateReport, OpsError> {
        let merchant = self.merchant(id).await?;
        if merchant.status == MerchantStatus::Revoked {
            return Err(OpsError::Revoked);
        }
        let connector = self.connectors.get(&merchant.platform).map_err(internal)?.clone();
        let hosts =
            storelink_tenants::hosts::effective_or(&self.pool, id, &merchant.store_url).await.map_err(internal)?;
        let store = Url::parse(&hosts.admin).map_err(|e| OpsError::Internal(e.to_string()))?;
        let storefront = Url::parse(&hosts.storefront).map_err(|e| OpsError::Internal(e.to_string()))?;
        let login = match connector.login(&store, &new_key).await {
            Ok(login) => login,
            Err(e @ ConnectorError::CredentialsRefused { .. }) => return Err(OpsError::KeyRejected(e.to_string())),
            Err(e) => return Err(OpsError::StoreUnavailable(e.to_string())),
        };
        let purpose = connector.credentials_purpose();
        let session = Session { store: store.into(), storefront: storefront.into(), token: login.token };
        // New credentials replace the old only once the store is confirmed set up with them.
        match connector.validate(&session, &new_key).await {
            Ok(()) => {}
            Err(e @ ConnectorError::CredentialsRefused { .. }) => return Err(OpsError::KeyRejected(e.to_string())),
            Err(e @ (ConnectorError::NotSetUp { .. } | ConnectorError::PermissionMissing { .. })) => {
                return Err(OpsError::Invalid(e.to_string()));
            }
            Err(e) => return Err(OpsError::StoreUnavailable(e.to_string())),
        }
        let outcomes = self.registrar.register_all(&StoreSession { connector, session }, id).await;
        let slots_registered =
            outcomes.iter().filter(|o| o.status == storelink_registrar::SlotStatus::Registered).count();
        self.vault
            .seal_with(&mut *tx, id, purpose, secrecy::ExposeSecret::expose_secret(&new_key).as_bytes())
            .await
            .map_err(|e| OpsError::Internal(e.to_string()))?;
        storelink_token_cache::forget_timing(&mut *tx, id).await.map_err(internal)?;
        merchants::set_status_in(&mut *tx, id, MerchantStatus::Active).await.map_err(internal)?;
        let jobs_resumed = Queue::resume_merchant_in(&mut *tx, id).await.map_err(internal)?;
        Ok(RotateReport { slots_registered, jobs_resumed })
    }

    /// Override where the merchant's store answers (issue 16 item 4): `admin` (logins and the Admin
    /// API) and `storefront` (the agent API placing orders), each an `http(s)` URL; `clear` first drops
    /// both overrides (back to what connect found). Cached sessions are dropped, so the next call uses
    /// the new hosts. Reports the hosts in effect.
    pub async fn set_store_hosts(
        &self,
        actor: &Actor,
        merchant: MerchantId,
        admin: Option<&str>,
        storefront: Option<&str>,
        clear: bool,
    ) -> Result<storelink_tenants::hosts::StoreHosts, OpsError> {
        use storelink_tenants::hosts::{self, Host};
        let report = self
            .audited(actor, OpsAction::SetStoreHosts, merchant, async |tx| {
                let found = self.merchant(merchant).await?;
                if found.status == MerchantStatus::Revoked {
                    return Err(OpsError::Revoked);
                }
                if admin.is_none() && storefront.is_none() && !clear {
                    return Err(OpsError::Invalid("give an admin URL, a storefront URL or clear".into()));
                }
                if clear {
                    hosts::set_override(tx, merchant, Host::Admin, None).await.map_err(internal)?;
                    hosts::set_override(tx, merchant, Host::Storefront, None).await.map_err(internal)?;
                }
                for (host, url) in [(Host::Admin, admin), (Host::Storefront, storefront)] {
                    if let Some(url) = url {
                        let url = host_url(url)?;
                        hosts::set_override(tx, merchant, host, Some(url.as_str())).await.map_err(internal)?;
                    }
                }
                let effective = hosts::effective_in(tx, merchant).await.map_err(internal)?;
                effective.ok_or_else(|| OpsError::Internal("the hosts were not saved".into()))
            })
            .await;
        self.forget_tokens_after(merchant, report).await
    }

    /// Pause: no jobs run for the merchant until resumed (inbound webhooks are still stored).
    pub async fn pause(&self, actor: &Actor, merchant: MerchantId) -> Result<u64, OpsError> {
        self.audited(actor, OpsAction::Pause, merchant, async |tx| {
            self.set_status(tx, merchant, MerchantStatus::Paused).await?;
            Queue::pause_merchant_in(tx, merchant).await.map_err(internal)
        })
        .await
    }

    pub async fn resume(&self, actor: &Actor, merchant: MerchantId) -> Result<u64, OpsError> {
        self.audited(actor, OpsAction::Resume, merchant, async |tx| {
            self.set_status(tx, merchant, MerchantStatus::Active).await?;
            Queue::resume_merchant_in(tx, merchant).await.map_err(internal)
        })
        .await
    }

    /// A full run of one sync kind now.
    pub async fn resync(&self, actor: &Actor, merchant: MerchantId, kind: SyncKind) -> Result<i64, OpsError> {
        self.audited(actor, OpsAction::resync(kind), merchant, async |tx| {
            self.merchant(merchant).await?;
            Queue::enqueue_in(tx, merchant, kind.as_str(), Mode::Full).await.map_err(internal)
        })
        .await
    }

    /// Register every slot again now (after fixing the store's webhook settings). The OCC writes and
    /// the slot outcomes are the action; its audit row records how many slots registered.
    pub async fn retry_slots(&self, actor: &Actor, merchant: MerchantId) -> Result<usize, OpsError> {
        self.audited(actor, OpsAction::RetrySlots, merchant, async |_tx| {
            let session = self.tokens.session(merchant).await.map_err(|e| OpsError::StoreUnavailable(e.to_string()))?;
            let outcomes = self.registrar.register_all(&session, merchant).await;
            Ok(outcomes.iter().filter(|o| o.status == storelink_registrar::SlotStatus::Registered).count())
        })
        .await
    }

    async fn set_status(
        &self,
        tx: &mut PgConnection,
        merchant: MerchantId,
        status: MerchantStatus,
    ) -> Result<(), OpsError> {
        let current = self.merchant(merchant).await?;
        if current.status == MerchantStatus::Revoked {
            return Err(OpsError::Revoked);
        }
        merchants::set_status_in(tx, merchant, status).await.map_err(internal)
    }
}

fn internal(e: impl std::fmt::Display) -> OpsError {
    OpsError::Internal(e.to_string())
}
