//! One live platform session per merchant, on demand: whatever session the merchant's connector
//! (`merchants.platform`, through the `Registry`) returns from `login`, an opaque secret and its
//! lifetime. L1 is an in-process map with single-flight per merchant; L2 is the secret sealed in the
//! vault with its expiry in `occ_tokens`, whose row lock makes every process share one login per
//! merchant per session lifetime. Renewal is a new login with the merchant's credentials. Every call to
//! a store goes through `call`, which logs in again once when the session is refused. Must not sync
//! data, know any platform's API, or decide what a merchant may do beyond "its credentials no longer
//! work" (it marks the merchant `credentials_invalid`; the job runner pauses work).

mod error;
mod store;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool};
use storelink_connector::{Connector, ConnectorError, Registry, Session};
use storelink_core::MerchantId;
use storelink_tenants::{MerchantStatus, merchants};
use storelink_vault::Vault;
use url::Url;

pub use error::TokenError;
pub use store::{TokenStatus, forget_timing, status};

/// Vault purpose under which the current session secret is sealed (named when OCC was the only
/// platform; kept so sealed sessions stay readable).
pub const ACCESS_TOKEN_PURPOSE: &str = "occ-access-token";

/// A merchant's connector with a live session for its store; derefs to the `Session` its methods take.
#[derive(Clone)]
pub struct StoreSession {
    pub connector: Arc<dyn Connector>,
    pub session: Session,
}

impl std::fmt::Debug for StoreSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSession")
            .field("platform", &self.connector.platform())
            .field("session", &self.session)
            .finish()
    }
}

impl std::ops::Deref for StoreSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

#[derive(Clone, Copy, Debug)]
pub struct TokenConfig {
    /// Refresh this long before the token expires (OCC advice: about 60 s).
    pub refresh_before: Duration,
    /// Random extra lead, so many merchants' refreshes spread out instead of lining up.
    pub jitter: Duration,
    /// Never hand out a token with less life left than this.
    pub min_validity: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            refresh_before: Duration::from_secs(60),
            jitter: Duration::from_secs(20),
            min_validity: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
struct Cached {
    session: StoreSession,
    refresh_at: Instant,
    expires_at: Instant,
}

#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    connectors: Registry,
    vault: Vault,
    config: TokenConfig,
    l1: RwLock<HashMap<MerchantId, Cached>>,
    flights: Mutex<HashMap<MerchantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    pub fn new(pool: PgPool, connectors: Registry, vault: Vault, config: TokenConfig) -> Self {
        let inner = Inner { pool, connectors, vault, config, l1: RwLock::default(), flights: Mutex::default() };
        Self { inner: Arc::new(inner) }
    }

    /// The connectors sessions come from, by platform.
    pub fn connectors(&self) -> &Registry {
        &self.inner.connectors
    }

    /// The hot path: a cached session that needs no refresh yet, without I/O.
    pub fn cached(&self, merchant: MerchantId) -> Option<StoreSession> {
        let l1 = self.inner.l1.read().unwrap_or_else(|e| e.into_inner());
        let entry = l1.get(&merchant)?;
        (Instant::now() < entry.refresh_at).then(|| entry.session.clone())
    }

    /// A session with a valid token, logging in only when no process holds a fresh one.
    pub async fn session(&self, merchant: MerchantId) -> Result<StoreSession, TokenError> {
        if let Some(session) = self.cached(merchant) {
            return Ok(session);
        }
        let flight = self.flight(merchant);
        // Past refresh time but still valid: one caller refreshes, the others keep using the old token.
        let _guard = match (flight.try_lock(), self.still_valid(merchant)) {
            (Ok(guard), _) => guard,
            (Err(_), Some(session)) => return Ok(session),
            (Err(_), None) => flight.lock().await,
        };
        if let Some(session) = self.cached(merchant) {
            return Ok(session);
        }
        let fresh = self.load_or_login(merchant).await;
        match &fresh {
            Ok(cached) => self.put(merchant, cached.clone()),
            Err(_) => self.drop_l1(merchant),
        }
        fresh.map(|c| c.session)
    }

    /// Run `call` with a session; when the store refuses the session, drop it, get a new one and try
    /// once more.
    pub async fn call<T, F, Fut>(&self, merchant: MerchantId, call: F) -> Result<T, TokenError>
    where
        F: Fn(StoreSession) -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        let session = self.session(merchant).await?;
        let token = session.token.clone();
        match call(session).await {
            Err(ConnectorError::SessionExpired) => {
                tracing::info!(%merchant, "session refused by the store; logging in again");
                self.invalidate(merchant, &token).await?;
                let session = self.session(merchant).await?;
                call(session).await.map_err(TokenError::Platform)
            }
            other => other.map_err(TokenError::Platform),
        }
    }

    /// The merchant's credentials, for the calls that log in by themselves (placing an order).
    pub async fn credentials(&self, merchant: MerchantId) -> Result<SecretString, TokenError> {
        let row = merchants::get(&self.inner.pool, merchant).await?.ok_or(TokenError::MerchantNotFound)?;
        let connector = self.inner.connectors.get(&row.platform)?;
        self.inner.vault.open_string(merchant, connector.credentials_purpose()).await?.ok_or(TokenError::NoKey)
    }

    /// Share a token obtained elsewhere (the connect pipeline's test login), so the merchant's first
    /// syncs need no login of their own; inside the caller's transaction (the connect saves the
    /// merchant, its key, this token and its first jobs together). This process's copy is kept at
    /// once: the token is valid whether or not the transaction commits.
    pub async fn adopt_in(
        &self,
        conn: &mut PgConnection,
        merchant: MerchantId,
        connector: Arc<dyn Connector>,
        session: &Session,
        ttl: Duration,
    ) -> Result<(), TokenError> {
        let token = &session.token;
        let refresh_in = self.refresh_in(ttl);
        store::lock(conn, merchant).await?;
        self.inner.vault.seal_with(conn, merchant, ACCESS_TOKEN_PURPOSE, token.expose_secret().as_bytes()).await?;
        store::save(conn, merchant, &store::token_hash(token), ttl, refresh_in).await?;
        self.put(merchant, cached(StoreSession { connector, session: session.clone() }, refresh_in, ttl));
        Ok(())
    }

    /// Forget exactly this token (L1 and L2), e.g. after OCC answered 401 to it. A newer token stays.
    pub async fn invalidate(&self, merchant: MerchantId, token: &SecretString) -> Result<(), TokenError> {
        {
            let mut l1 = self.inner.l1.write().unwrap_or_else(|e| e.into_inner());
            if l1.get(&merchant).is_some_and(|c| c.session.token.expose_secret() == token.expose_secret()) {
                l1.remove(&merchant);
            }
        }
        store::expire_if_current(&self.inner.pool, merchant, &store::token_hash(token)).await
    }

    /// Drop every cached token of the merchant (revocation, key rotation).
    pub async fn forget(&self, merchant: MerchantId) -> Result<(), TokenError> {
        self.drop_l1(merchant);
        store::forget(&self.inner.pool, &self.inner.vault, merchant).await
    }

    fn still_valid(&self, merchant: MerchantId) -> Option<StoreSession> {
        let l1 = self.inner.l1.read().unwrap_or_else(|e| e.into_inner());
        let entry = l1.get(&merchant)?;
        (Instant::now() + self.inner.config.min_validity < entry.expires_at).then(|| entry.session.clone())
    }

    fn flight(&self, merchant: MerchantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.inner.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.entry(merchant).or_default().clone()
    }

    fn put(&self, merchant: MerchantId, cached: Cached) {
        self.inner.l1.write().unwrap_or_else(|e| e.into_inner()).insert(merchant, cached);
    }

    fn drop_l1(&self, merchant: MerchantId) {
        self.inner.l1.write().unwrap_or_else(|e| e.into_inner()).remove(&merchant);
    }

    /// L2 under the merchant's row lock: reuse the shared token if fresh, else log in and share it.
    async fn load_or_login(&self, merchant: MerchantId) -> Result<Cached, TokenError> {
        let inner = &self.inner;
        let row = merchants::get(&inner.pool, merchant).await?.ok_or(TokenError::MerchantNotFound)?;
        if row.status != MerchantStatus::Active {
            return Err(TokenError::NotActive(row.status));
        }
        let connector = inner.connectors.get(&row.platform)?.clone();
        let hosts = storelink_tenants::hosts::effective_or(&inner.pool, merchant, &row.store_url).await?;
        let store = Arc::new(Url::parse(&hosts.admin).map_err(|_| TokenError::BadStoreUrl)?);
        let storefront = Arc::new(Url::parse(&hosts.storefront).map_err(|_| TokenError::BadStoreUrl)?);
        let mut tx = inner.pool.begin().await?;
        let timing = store::lock(&mut tx, merchant).await?;
        if let Some(ttl) = timing.fresh_for(inner.config.min_validity)
            && let Some(token) = inner.vault.open_string(merchant, ACCESS_TOKEN_PURPOSE).await?
        {
            tx.commit().await?;
            let refresh_in = timing.refresh_in.unwrap_or_default();
            let session = Session { store, storefront, token };
            return Ok(cached(StoreSession { connector, session }, refresh_in, ttl));
        }
        let key = inner.vault.open_string(merchant, connector.credentials_purpose()).await?.ok_or(TokenError::NoKey)?;
        let result = connector.login(&store, &key).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind_code(),
        };
        let platform = connector.platform();
        metrics::counter!("storelink_store_logins_total", "platform" => platform, "outcome" => outcome).increment(1);
        let login = match result {
            Ok(login) => login,
            Err(ConnectorError::CredentialsRefused { status }) => {
                drop(tx);
                let reason = format!("the store refused the merchant's credentials (HTTP {status})");
                if storelink_tenants::events::mark_credentials_invalid(&inner.pool, merchant, &reason).await? {
                    tracing::warn!(%merchant, status, "credentials rejected; merchant marked credentials_invalid");
                }
                return Err(TokenError::CredentialsInvalid);
            }
            Err(e) => return Err(TokenError::Platform(e)),
        };
        let ttl = login.expires_in;
        let refresh_in = self.refresh_in(ttl);
        inner.vault.seal_with(&mut tx, merchant, ACCESS_TOKEN_PURPOSE, login.token.expose_secret().as_bytes()).await?;
        store::save(&mut tx, merchant, &store::token_hash(&login.token), ttl, refresh_in).await?;
        tx.commit().await?;
        tracing::info!(%merchant, platform, ttl_secs = ttl.as_secs(), "logged in to the store");
        let session = Session { store, storefront, token: login.token };
        Ok(cached(StoreSession { connector, session }, refresh_in, ttl))
    }

    fn refresh_in(&self, ttl: Duration) -> Duration {
        let config = &self.inner.config;
        let jitter = if config.jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..config.jitter)
        };
        ttl.saturating_sub(config.refresh_before + jitter).max(ttl / 2)
    }
}

fn cached(session: StoreSession, refresh_in: Duration, ttl: Duration) -> Cached {
    let now = Instant::now();
    Cached { session, refresh_at: now + refresh_in.min(ttl), expires_at: now + ttl }
}
