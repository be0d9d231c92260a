//! One valid OCC access token per merchant, on demand. L1 is an in-process map with single-flight per
//! merchant; L2 is the token sealed in the vault with its expiry in `occ_tokens`, whose row lock makes
//! every process share one login per merchant per token lifetime. OCC has no refresh tokens: the
//! application key is exchanged again. Must not sync data or decide what a merchant may do beyond
//! "its key no longer works" (it marks the merchant `credentials_invalid`; the job runner pauses work).

mod error;
mod store;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_occ::{OccClient, OccError};
use storelink_tenants::{MerchantStatus, merchants};
use storelink_vault::Vault;
use url::Url;

pub use error::TokenError;
pub use store::{TokenStatus, forget_timing, status};

/// Vault purpose under which the current access token is sealed.
pub const ACCESS_TOKEN_PURPOSE: &str = "occ-access-token";

/// What a call to a merchant's store needs: where, and a valid token.
#[derive(Clone, Debug)]
pub struct Session {
    pub store: Arc<Url>,
    pub token: SecretString,
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
    session: Session,
    refresh_at: Instant,
    expires_at: Instant,
}

#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    occ: OccClient,
    vault: Vault,
    config: TokenConfig,
    l1: RwLock<HashMap<MerchantId, Cached>>,
    flights: Mutex<HashMap<MerchantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    pub fn new(pool: PgPool, occ: OccClient, vault: Vault, config: TokenConfig) -> Self {
        let inner = Inner { pool, occ, vault, config, l1: RwLock::default(), flights: Mutex::default() };
        Self { inner: Arc::new(inner) }
    }

    /// The hot path: a cached session that needs no refresh yet, without I/O.
    pub fn cached(&self, merchant: MerchantId) -> Option<Session> {
        let l1 = self.inner.l1.read().unwrap_or_else(|e| e.into_inner());
        let entry = l1.get(&merchant)?;
        (Instant::now() < entry.refresh_at).then(|| entry.session.clone())
    }

    /// A session with a valid token, logging in only when no process holds a fresh one.
    pub async fn session(&self, merchant: MerchantId) -> Result<Session, TokenError> {
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

    /// Run `call` with a session; on 401 drop that token, get a new one and try once more.
    pub async fn call<T, F, Fut>(&self, merchant: MerchantId, call: F) -> Result<T, TokenError>
    where
        F: Fn(Session) -> Fut,
        Fut: Future<Output = Result<T, OccError>>,
    {
        let session = self.session(merchant).await?;
        let token = session.token.clone();
        match call(session).await {
            Err(OccError::Unauthorized) => {
                tracing::info!(%merchant, "token refused by OCC; logging in again");
                self.invalidate(merchant, &token).await?;
                let session = self.session(merchant).await?;
                call(session).await.map_err(TokenError::Occ)
            }
            other => other.map_err(TokenError::Occ),
        }
    }

    /// Share a token obtained elsewhere (the connect pipeline's test login), so the merchant's first
    /// syncs need no login of their own.
    pub async fn adopt(
        &self,
        merchant: MerchantId,
        store: &Url,
        token: &SecretString,
        ttl: Duration,
    ) -> Result<(), TokenError> {
        let inner = &self.inner;
        let refresh_in = self.refresh_in(ttl);
        let mut tx = inner.pool.begin().await?;
        store::lock(&mut tx, merchant).await?;
        inner.vault.seal_with(&mut tx, merchant, ACCESS_TOKEN_PURPOSE, token.expose_secret().as_bytes()).await?;
        store::save(&mut tx, merchant, &store::token_hash(token), ttl, refresh_in).await?;
        tx.commit().await?;
        let session = Session { store: Arc::new(store.clone()), token: token.clone() };
        self.put(merchant, cached(session, refresh_in, ttl));
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

    fn still_valid(&self, merchant: MerchantId) -> Option<Session> {
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
        let store = Arc::new(Url::parse(&row.store_url).map_err(|_| TokenError::BadStoreUrl)?);
        let mut tx = inner.pool.begin().await?;
        let timing = store::lock(&mut tx, merchant).await?;
        if let Some(ttl) = timing.fresh_for(inner.config.min_validity)
            && let Some(token) = inner.vault.open_string(merchant, ACCESS_TOKEN_PURPOSE).await?
        {
            tx.commit().await?;
            let refresh_in = timing.refresh_in.unwrap_or_default();
            return Ok(cached(Session { store, token }, refresh_in, ttl));
        }
        let key =
            inner.vault.open_string(merchant, storelink_core::OCC_APP_KEY_PURPOSE).await?.ok_or(TokenError::NoKey)?;
        let result = inner.occ.login(&store, &key).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind_code(),
        };
        metrics::counter!("storelink_occ_logins_total", "outcome" => outcome).increment(1);
        let login = match result {
            Ok(login) => login,
            Err(OccError::KeyRejected { status }) => {
                drop(tx);
                let reason = format!("the store refused the application key (HTTP {status})");
                if storelink_tenants::events::mark_credentials_invalid(&inner.pool, merchant, &reason).await? {
                    tracing::warn!(%merchant, status, "application key rejected; merchant marked credentials_invalid");
                }
                return Err(TokenError::CredentialsInvalid);
            }
            Err(e) => return Err(TokenError::Occ(e)),
        };
        let ttl = login.expires_in;
        let refresh_in = self.refresh_in(ttl);
        inner.vault.seal_with(&mut tx, merchant, ACCESS_TOKEN_PURPOSE, login.token.expose_secret().as_bytes()).await?;
        store::save(&mut tx, merchant, &store::token_hash(&login.token), ttl, refresh_in).await?;
        tx.commit().await?;
        tracing::info!(%merchant, ttl_secs = ttl.as_secs(), "logged in to OCC");
        Ok(cached(Session { store, token: login.token }, refresh_in, ttl))
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

fn cached(session: Session, refresh_in: Duration, ttl: Duration) -> Cached {
    let now = Instant::now();
    Cached { session, refresh_at: now + refresh_in.min(ttl), expires_at: now + ttl }
}
