//! The token cache against real Postgres and the OCC simulator over HTTP.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use storelink_connector::{PageRequest, Registry};
use storelink_connector_occ::{APP_KEY_PURPOSE, OccConnector};
use storelink_core::{MerchantId, SyncKind};
use storelink_netguard::Policy;
use storelink_occ::OccConfig;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_tenants::{MerchantStatus, events, merchants};
use storelink_testkit::{TestDb, test_db};
use storelink_token_cache::{TokenCache, TokenConfig, TokenError};
use storelink_vault::{MasterKeys, Vault};

struct Fixture {
    db: TestDb,
    sim: OccSim,
    key: String,
    merchant: MerchantId,
    vault: Vault,
    connectors: Registry,
}

impl Fixture {
    async fn new(sim_options: SimOptions) -> Self {
        let db = test_db().await;
        let sim = OccSim::spawn(sim_options).await.expect("sim");
        let key = sim.add_key(Permissions::all());
        let merchant = storelink_testkit::insert_merchant(&db.pool, &sim.base_url()).await;
        let vault = Vault::new(db.pool.clone(), MasterKeys::generate("t"));
        vault.seal(merchant, APP_KEY_PURPOSE, key.as_bytes()).await.expect("seal key");
        let config = OccConfig { retry_base: Duration::from_millis(5), ..OccConfig::default() };
        let connectors = Registry::default().with(OccConnector::with_config(config, Policy::insecure()).expect("occ"));
        Self { db, sim, key, merchant, vault, connectors }
    }

    fn cache(&self, config: TokenConfig) -> TokenCache {
        TokenCache::new(self.db.pool.clone(), self.connectors.clone(), self.vault.clone(), config)
    }

    fn logins(&self) -> usize {
        self.sim.count("POST", "/ccadmin/v1/login")
    }
}

#[tokio::test]
async fn a_thousand_cold_callers_make_one_login() {
    let f = Fixture::new(SimOptions::default()).await;
    let cache = f.cache(TokenConfig::default());
    let calls = (0..1000).map(|_| {
        let cache = cache.clone();
        let merchant = f.merchant;
        tokio::spawn(async move { cache.session(merchant).await })
    });
    let sessions = futures::future::join_all(calls).await;
    let first = sessions[0].as_ref().expect("join").as_ref().expect("session").token.expose_secret().to_owned();
    for s in &sessions {
        assert_eq!(s.as_ref().expect("join").as_ref().expect("session").token.expose_secret(), first);
    }
    assert_eq!(f.logins(), 1);
    assert!(f.sim.issued_tokens().contains(&first));
}

#[tokio::test]
async fn a_second_process_reuses_the_shared_token() {
    let f = Fixture::new(SimOptions::default()).await;
    let first = f.cache(TokenConfig::default()).session(f.merchant).await.expect("first");
    let other = f.cache(TokenConfig::default()).session(f.merchant).await.expect("second process");
    assert_eq!(first.token.expose_secret(), other.token.expose_secret());
    assert_eq!(f.logins(), 1, "the token came from Postgres, not a second login");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM vault_secrets WHERE purpose = 'occ-access-token'")
        .fetch_one(&f.db.pool)
        .await
        .expect("sealed token row");
    let needle = first.token.expose_secret().as_bytes();
    assert!(!sealed.windows(needle.len()).any(|w| w == needle), "token stored sealed, not in clear");
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_and_the_call_succeeds() {
    let f = Fixture::new(SimOptions::default()).await;
    let cache = f.cache(TokenConfig::default());
    cache.session(f.merchant).await.expect("session");
    f.sim.expire_tokens();
    let page = PageRequest { kind: SyncKind::Catalog, offset: 0, limit: 1, since: None, site: None };
    let page = cache
        .call(f.merchant, |s| async move { s.connector.list(&s, page).await.map(|page| page.items) })
        .await
        .expect("retried after re-login");
    assert_eq!(page, 1);
    assert_eq!(f.logins(), 2);
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry() {
    let f = Fixture::new(SimOptions { token_ttl: Duration::from_secs(2), ..SimOptions::default() }).await;
    let config =
        TokenConfig { refresh_before: Duration::from_millis(1500), jitter: Duration::ZERO, ..TokenConfig::default() };
    let cache = f.cache(config);
    let first = cache.session(f.merchant).await.expect("session");
    assert!(cache.cached(f.merchant).is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(cache.cached(f.merchant).is_none(), "past the refresh point");
    let second = cache.session(f.merchant).await.expect("refreshed");
    assert_ne!(first.token.expose_secret(), second.token.expose_secret());
    assert_eq!(f.logins(), 2);
}

#[tokio::test]
async fn a_revoked_key_marks_the_merchant_once_without_a_login_storm() {
    let f = Fixture::new(SimOptions::default()).await;
    let cache = f.cache(TokenConfig::default());
    cache.session(f.merchant).await.expect("session");
    f.sim.revoke_key(&f.key);
    let page = PageRequest { kind: SyncKind::Catalog, offset: 0, limit: 1, since: None, site: None };
    let result =
        cache.call(f.merchant, |s| async move { s.connector.list(&s, page).await.map(|page| page.items) }).await;
    assert!(matches!(result, Err(TokenError::CredentialsInvalid)), "{result:?}");
    let merchant = merchants::get(&f.db.pool, f.merchant).await.expect("get").expect("merchant");
    assert_eq!(merchant.status, MerchantStatus::CredentialsInvalid);
    let logins_after_revoke = f.logins();
    assert_eq!(logins_after_revoke, 2, "one refused login after the 401");
    for _ in 0..50 {
        let again = cache.session(f.merchant).await;
        assert!(matches!(again, Err(TokenError::NotActive(MerchantStatus::CredentialsInvalid))));
        assert!(again.expect_err("stopped").stops_merchant());
    }
    assert_eq!(f.logins(), logins_after_revoke, "no retry storm");
    let recorded = events::list(&f.db.pool, f.merchant, 10).await.expect("events");
    assert_eq!(recorded.iter().filter(|e| e.kind == events::CREDENTIALS_INVALID).count(), 1);
}

#[tokio::test]
async fn invalidate_drops_only_the_named_token_and_forget_drops_everything() {
    let f = Fixture::new(SimOptions::default()).await;
    let cache = f.cache(TokenConfig::default());
    let first = cache.session(f.merchant).await.expect("session");
    cache.invalidate(f.merchant, &SecretString::from("not-the-token".to_owned())).await.expect("noop");
    assert!(cache.cached(f.merchant).is_some(), "a different token does not evict");
    cache.invalidate(f.merchant, &first.token).await.expect("invalidate");
    assert!(cache.cached(f.merchant).is_none());
    let second = f.cache(TokenConfig::default()).session(f.merchant).await.expect("new");
    assert_ne!(first.token.expose_secret(), second.token.expose_secret(), "L2 dropped it too");
    cache.forget(f.merchant).await.expect("forget");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM occ_tokens").fetch_one(&f.db.pool).await.expect("count");
    assert_eq!(rows, 0);
    assert!(f.vault.open(f.merchant, "occ-access-token").await.expect("open").is_none());
}
