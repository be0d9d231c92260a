//! Assembling the web server and the background workers from validated configuration.
//! Roles: `serve` runs the HTTP server, `worker` the background loops, `demo` both.
//! This module assembles the shared services; `http` serves the web role, `workers` runs the
//! background role and `metrics` the Prometheus recorder, the gauges and the metrics port.

mod http;
mod metrics;
mod workers;

pub use http::http_server;
pub use metrics::{GAUGE_REFRESH, metrics_server};
pub use workers::{prune, run_workers};

use crate::config::Config;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use std::sync::Arc;
use storelink_connector::{Connector, Registry};
use storelink_connector_occ::OccConnector;
use storelink_connector_sap::{SapConfig, SapConnector};
use storelink_core::ReadPools;
use storelink_core::replicas::ReplicaSettings;
use storelink_jobs::Queue;
use storelink_netguard::Policy;
use storelink_occ::{OccClient, OccConfig};
use storelink_onboarding::{ConnectLimits, Csrf, Limiters, Onboarding, Pipeline};
use storelink_partner_webhooks::DeliveryConfig;
use storelink_registrar::{Registrar, RegistrarConfig};
use storelink_token_cache::{TokenCache, TokenConfig};
use storelink_vault::{MasterKeys, Vault};

/// Everything the roles share, built once per process.
#[derive(Clone)]
pub struct Services {
    pub config: Config,
    /// The primary.
    pub pool: PgPool,
    /// The primary and its standbys (`STORELINK_READ_DATABASE_URL`) for the partner API's reads and
    /// the ops lists; monitored once the web role starts.
    pub reads: ReadPools,
    pub vault: Vault,
    /// The platforms served, by `merchants.platform` (OCC and SAP, plus any a test adds).
    pub connectors: Registry,
    pub registrar: Registrar,
    pub tokens: TokenCache,
    pub queue: Queue,
    pub policy: Policy,
    pub keys: MasterKeys,
}

impl Services {
    pub fn new(config: Config, pool: PgPool, keys: MasterKeys) -> anyhow::Result<Self> {
        Self::with_connectors(config, pool, keys, Vec::new())
    }

    /// The services with the OCC and SAP connectors and `extra` ones (a platform's connector of the
    /// same name replaces the built-in one).
    pub fn with_connectors(
        config: Config,
        pool: PgPool,
        keys: MasterKeys,
        extra: Vec<Arc<dyn Connector>>,
    ) -> anyhow::Result<Self> {
        let policy = Policy { allow_insecure: config.stores.allow_insecure_urls };
        if policy.allow_insecure {
            tracing::warn!(
                "STORELINK_ALLOW_INSECURE_STORE_URLS is set: store URLs may be plain http and private addresses (development only)"
            );
        }
        let occ = OccClient::new(
            OccConfig { request_timeout: config.stores.request_timeout, ..OccConfig::default() },
            policy,
        )?;
        let occ: Arc<dyn Connector> = Arc::new(OccConnector::new(occ, config.slots.map.clone()));
        let sap = SapConnector::with_config(
            SapConfig { request_timeout: config.stores.request_timeout, ..SapConfig::default() },
            policy,
        )?;
        let sap: Arc<dyn Connector> = Arc::new(sap);
        let connectors = Registry::new([occ, sap].into_iter().chain(extra));
        let vault = Vault::new(pool.clone(), keys.clone());
        let read_urls: Vec<&str> = config.database.read_urls.iter().map(ExposeSecret::expose_secret).collect();
        let replica_settings = ReplicaSettings::new(config.database.read_max_lag, config.database.max_connections);
        let reads = ReadPools::new(pool.clone(), &read_urls, replica_settings)?;
        let mut registrar_config = RegistrarConfig::new(config.http.public_url.clone());
        registrar_config.retry_base = config.slots.retry_base;
        registrar_config.retry_cap = config.slots.retry_cap;
        registrar_config.retry_poll = config.slots.retry_poll;
        registrar_config.pending_stale_after = config.slots.pending_stale_after;
        registrar_config.resend_every = config.slots.resend_every;
        // Slots the store has no webhook for are covered by the orders sync, as fresh as its schedule.
        registrar_config.orders_sync_every = config
            .workers
            .sync_schedules()
            .into_iter()
            .find(|s| s.kind == storelink_core::SyncKind::Orders.as_str())
            .map(|s| s.every);
        let registrar = Registrar::new(pool.clone(), connectors.clone(), vault.clone(), registrar_config);
        let tokens = TokenCache::new(pool.clone(), connectors.clone(), vault.clone(), TokenConfig::default());
        let queue = Queue::new(pool.clone()).with_any_status_kinds(&[storelink_partner_webhooks::KIND]);
        Ok(Self { config, pool, reads, vault, connectors, registrar, tokens, queue, policy, keys })
    }

    /// The ops actions (revoke, rotate, ...) on these services.
    pub fn ops(&self) -> storelink_ops::Ops {
        storelink_ops::Ops {
            pool: self.pool.clone(),
            vault: self.vault.clone(),
            connectors: self.connectors.clone(),
            tokens: self.tokens.clone(),
            registrar: self.registrar.clone(),
            queue: self.queue.clone(),
        }
    }

    pub(crate) fn delivery_config(&self) -> DeliveryConfig {
        DeliveryConfig {
            retry_schedule: self.config.webhooks.retry_schedule.clone(),
            disable_after: self.config.webhooks.disable_after,
            timeout: self.config.webhooks.timeout,
            ..DeliveryConfig::new(self.policy)
        }
    }

    pub(crate) fn onboarding(&self) -> Onboarding {
        Onboarding {
            pipeline: Pipeline {
                pool: self.pool.clone(),
                connectors: self.connectors.clone(),
                default_platform: storelink_connector_occ::PLATFORM.to_owned(),
                vault: self.vault.clone(),
                registrar: self.registrar.clone(),
                tokens: self.tokens.clone(),
                policy: self.policy,
            },
            // Derived from the master keys so every web process accepts every other's forms.
            csrf: Csrf::new(self.keys.derive_key(b"storelink/csrf/v1"), self.config.http.secure()),
            limiters: Limiters::new(ConnectLimits {
                per_client_per_minute: self.config.limits.connect_per_client_per_minute,
                per_store_per_minute: self.config.limits.connect_per_store_per_minute,
            }),
        }
    }
}
