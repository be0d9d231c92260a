//! The connect pipeline (DESIGN.md section 2), shaped for about three store round trips, through the
//! chosen platform's connector: login; then, concurrently, validating and saving the merchant, the
//! checks and reading the four subscriptions; then writing them. The merchant is saved only after the
//! credentials passed the test login and the store its validation.

use crate::error::{ConnectError, Platform};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use storelink_connector::{Connector, Registry, Session, Storefront};
use storelink_core::{MerchantId, PartnerId, SyncKind};
use storelink_jobs::{Mode, Queue};
use storelink_netguard::{Policy, StoreUrl};
use storelink_registrar::{Registrar, SlotOutcome};
use storelink_tenants::sites::{self, ListedSite, MerchantSite};
use storelink_tenants::{CheckResult, events, hosts, merchants};
use storelink_token_cache::{StoreSession, TokenCache};
use storelink_vault::Vault;

#[derive(Clone)]
pub struct Pipeline {
    pub pool: PgPool,
    /// The platforms merchants can connect; the form names one (`platform`), else `default_platform`.
    pub connectors: Registry,
    pub default_platform: String,
    pub vault: Vault,
    pub registrar: Registrar,
    pub tokens: TokenCache,
    pub policy: Policy,
}

#[derive(Debug)]
pub struct Connected {
    pub merchant_id: MerchantId,
    pub store: StoreUrl,
    pub checks: Vec<CheckResult>,
    pub slots: Vec<SlotOutcome>,
    /// The store's sites with the merchant's selection, or why they could not be listed.
    pub sites: Result<Vec<MerchantSite>, String>,
}

impl Connected {
    /// Warning codes for the partner, e.g. `no_shipping_methods`, `missing_permission:orders`.
    pub fn warnings(&self) -> Vec<String> {
        self.checks.iter().filter(|c| !c.ok).map(CheckResult::warning_code).collect()
    }
}

impl Pipeline {
    /// Normalizes and vets the Store URL; the pre-flight resolution gives the merchant a clear
    /// message, and the guarded HTTP client re-checks the address it actually connects to.
    pub async fn vet_store(&self, input: &str) -> Result<StoreUrl, ConnectError> {
        let store = storelink_netguard::normalize_store_url(input, &self.policy)?;
        storelink_netguard::resolve_checked(&store, &self.policy).await?;
        Ok(store)
    }

    /// The connector for the form's platform (`None`: the default one).
    pub fn connector(&self, platform: Option<&str>) -> Result<&Arc<dyn Connector>, ConnectError> {
        let platform = platform.filter(|p| !p.is_empty()).unwrap_or(&self.default_platform);
        self.connectors.get(platform).map_err(|_| ConnectError::UnknownPlatform)
    }

    pub async fn connect(
        &self,
        partner: PartnerId,
        connector: &Arc<dyn Connector>,
        store: StoreUrl,
        credentials: SecretString,
    ) -> Result<Connected, ConnectError> {
        // A storefront address following OCC's host pattern logs in at its admin twin (item 4).
        let admin = Arc::new(connector.admin_host(store.url()));
        let host = admin.host_str().unwrap_or(store.host()).to_owned();
        let refused = |e| ConnectError::from_login(Platform::of(connector.platform()), &host, e);
        let login = connector.login(&admin, &credentials).await.map_err(refused)?;
        let session = Session { store: admin.clone(), storefront: admin, token: login.token };
        let bound = StoreSession { connector: connector.clone(), session };

        // Round trip 2: confirm the store is set up (`validate`; SAP: its integration objects), list
        // the store's sites, find and probe the storefront (the default site's address), then save
        // the merchant (with its hosts and first syncs); beside it run the checks and read the
        // subscriptions, which only read: a store that fails validation has them thrown away, and
        // SAP's checks (its order object) overlap its validation instead of following it.
        let located = async {
            connector.validate(&bound, &credentials).await.map_err(refused)?;
            let listed = connector.sites(&bound).await;
            let sites = listed.as_deref().unwrap_or(&[]);
            let storefront = connector.storefront(&bound, &credentials, sites).await;
            let mut located = bound.clone();
            located.session.storefront = Arc::new(storefront.url.clone());
            let found = Found { storefront: &storefront, sites: listed.as_deref().ok() };
            let saved = self.save_merchant(partner, &located, &store, &credentials, login.expires_in, found).await;
            Ok::<_, ConnectError>((saved, storefront.check, listed))
        };
        let (located, mut checks, reads) =
            futures::join!(located, self.checks(&bound), self.registrar.read_slots(&bound));
        let (saved, storefront_check, listed) = located?;
        checks.extend(storefront_check.map(|c| CheckResult { name: c.name, ok: c.ok, detail: c.detail }));
        let merchant_id = saved?;
        // Round trip 3: write the subscriptions; the local writes hide behind it.
        let (slots, recorded, _, sites) = futures::join!(
            self.registrar.write_slots(&bound, merchant_id, reads),
            storelink_tenants::checks::record(&self.pool, merchant_id, &checks),
            self.registrar.register_return_validation(&bound, merchant_id),
            self.record_sites(merchant_id, listed),
        );
        recorded.map_err(ConnectError::internal)?;
        tracing::info!(
            %merchant_id, %partner, store = %store,
            warnings = checks.iter().filter(|c| !c.ok).count(),
            slots_registered = slots.iter().filter(|s| s.error.is_none()).count(),
            "merchant connected"
        );
        Ok(Connected { merchant_id, store, checks, slots, sites })
    }

    /// The sites the store listed, with the selection (`save_merchant` recorded them: a new enabled
    /// site is selected, a known one keeps the merchant's choice). A store whose sites cannot be
    /// listed still connects: the merchant is told, and the default site is used.
    async fn record_sites(
        &self,
        merchant_id: MerchantId,
        listed: Result<Vec<storelink_connector::Site>, storelink_connector::ConnectorError>,
    ) -> Result<Vec<MerchantSite>, String> {
        if let Err(e) = listed {
            tracing::warn!(%merchant_id, error = %e, "listing the store's sites failed");
            return Err("Your store's sites could not be listed, so Storelink uses your default site. Reconnect later to choose sites.".to_owned());
        }
        sites::list(&self.pool, merchant_id).await.map_err(|e| {
            tracing::error!(%merchant_id, error = %e, "reading the store's sites failed");
            "Your store's sites could not be read. Reconnect to choose sites.".to_owned()
        })
    }

    /// The connector's checks, as the tenant records them.
    async fn checks(&self, bound: &StoreSession) -> Vec<CheckResult> {
        let checks = bound.connector.check(bound).await;
        checks.into_iter().map(|c| CheckResult { name: c.name, ok: c.ok, detail: c.detail }).collect()
    }

    /// Upserts the merchant, seals its key, writes its slots as `pending` and enqueues its initial full
    /// syncs, in one transaction: a reconnect replaces the key atomically, a failure leaves neither a
    /// merchant without a key nor a stray key, and a process that stops before the slot outcomes
    /// leaves them for the retry loop. The syncs start right away with the test login's token (shared
    /// with the token cache here), so they need no login of their own. Enqueued in the same
    /// transaction that makes the merchant active, they exist before the scheduler can see the
    /// merchant: it never adds a second run of a kind beside them.
    async fn save_merchant(
        &self,
        partner: PartnerId,
        bound: &StoreSession,
        store: &StoreUrl,
        credentials: &SecretString,
        ttl: Duration,
        found: Found<'_>,
    ) -> Result<MerchantId, ConnectError> {
        let storefront = found.storefront;
        let connector = &*bound.connector;
        let mut tx = self.pool.begin().await.map_err(ConnectError::internal)?;
        let platform = connector.platform();
        let merchant_id = merchants::upsert_connected(&mut tx, partner, platform, store.as_str())
            .await
            .map_err(ConnectError::internal)?;
        let detail = serde_json::json!({ "store_url": store.as_str() });
        events::record(&mut tx, merchant_id, events::CONNECTED, detail).await.map_err(ConnectError::internal)?;
        let (admin, front) = (bound.store.as_str(), storefront.url.as_str());
        hosts::save(&mut tx, merchant_id, admin, front, storefront.source).await.map_err(ConnectError::internal)?;
        self.registrar.mark_pending(&mut tx, connector, merchant_id).await.map_err(ConnectError::internal)?;
        self.vault
            .seal_with(&mut tx, merchant_id, connector.credentials_purpose(), credentials.expose_secret().as_bytes())
            .await
            .map_err(ConnectError::internal)?;
        self.tokens
            .adopt_in(&mut tx, merchant_id, bound.connector.clone(), &bound.session, ttl)
            .await
            .map_err(ConnectError::internal)?;
        // The first syncs read a multi-site store per selected site: its sites are there before them.
        if let Some(sites) = found.sites {
            let rows: Vec<ListedSite<'_>> = sites.iter().map(listed_site).collect();
            sites::record_listed_in(&mut tx, merchant_id, &rows).await.map_err(ConnectError::internal)?;
        }
        // A reconnect brings back a merchant whose jobs were paused (e.g. its old key was refused).
        Queue::resume_merchant_in(&mut *tx, merchant_id).await.map_err(ConnectError::internal)?;
        for kind in SyncKind::ALL {
            Queue::enqueue_in(&mut tx, merchant_id, kind.as_str(), Mode::Full).await.map_err(ConnectError::internal)?;
        }
        tx.commit().await.map_err(ConnectError::internal)?;
        Ok(merchant_id)
    }
}

/// What connect found besides the login: the storefront and the sites the store listed (`None`: the
/// listing failed).
struct Found<'a> {
    storefront: &'a Storefront,
    sites: Option<&'a [storelink_connector::Site]>,
}

fn listed_site(s: &storelink_connector::Site) -> ListedSite<'_> {
    ListedSite {
        site_id: &s.id,
        name: &s.name,
        is_default: s.default,
        enabled: s.enabled,
        production_url: s.production_url.as_deref(),
        price_list_group: s.price_list_group.as_deref(),
        currency: s.currency.as_deref(),
    }
}
