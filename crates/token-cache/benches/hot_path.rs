//! Token hot path: a cached, fresh token for a merchant (target < 1 microsecond per call).
//! Needs Postgres (TEST_DATABASE_URL or 127.0.0.1:5432) for the one cold login that fills the cache.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use storelink_connector::Registry;
use storelink_connector_occ::{APP_KEY_PURPOSE, OccConnector};
use storelink_netguard::Policy;
use storelink_occ::OccConfig;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_token_cache::{TokenCache, TokenConfig};
use storelink_vault::{MasterKeys, Vault};

fn hot_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (cache, merchant, _sim, _db) = runtime.block_on(async {
        let db = storelink_testkit::test_db().await;
        let sim = OccSim::spawn(SimOptions::default()).await.expect("sim");
        let key = sim.add_key(Permissions::all());
        let merchant = storelink_testkit::insert_merchant(&db.pool, &sim.base_url()).await;
        let vault = Vault::new(db.pool.clone(), MasterKeys::generate("bench"));
        vault.seal(merchant, APP_KEY_PURPOSE, key.as_bytes()).await.expect("seal");
        let occ = OccConnector::with_config(OccConfig::default(), Policy::insecure()).expect("occ");
        let cache = TokenCache::new(db.pool.clone(), Registry::default().with(occ), vault, TokenConfig::default());
        cache.session(merchant).await.expect("cold login");
        (cache, merchant, sim, db)
    });
    c.bench_function("token_cache_cached_session", |b| b.iter(|| black_box(cache.cached(black_box(merchant)))));
    c.bench_function("token_cache_session_hot", |b| {
        b.to_async(&runtime).iter(|| async { black_box(cache.session(black_box(merchant)).await.expect("session")) })
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
