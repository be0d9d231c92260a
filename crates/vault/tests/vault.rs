//! The vault against real Postgres: round trips, nothing in clear, tampering, wrong merchant or
//! purpose, master-key rotation with online rewrap, and crypto-shredding.

use secrecy::ExposeSecret;
use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_testkit::test_db;
use storelink_vault::{MasterKeys, Vault, VaultError};

async fn merchant(pool: &PgPool) -> MerchantId {
    storelink_testkit::insert_merchant(pool, &format!("https://{}.example", uuid::Uuid::new_v4())).await
}

const KEY: &str = "eyJhbGciOiJSUzI1NiJ9.an-occ-application-key.signature";

#[tokio::test]
async fn seal_open_round_trip_and_nothing_stored_in_clear() {
    let db = test_db().await;
    let m = merchant(&db.pool).await;
    let vault = Vault::new(db.pool.clone(), MasterKeys::generate("k1"));
    assert!(vault.open(m, "occ-app-key").await.expect("open").is_none());
    vault.seal(m, "occ-app-key", KEY.as_bytes()).await.expect("seal");
    vault.seal(m, "other", b"\x00\x01binary").await.expect("seal");
    assert_eq!(vault.open_string(m, "occ-app-key").await.expect("open").expect("some").expose_secret(), KEY);
    assert_eq!(vault.open(m, "other").await.expect("open").expect("some").as_slice(), b"\x00\x01binary");
    vault.seal(m, "occ-app-key", b"replaced").await.expect("reseal");
    assert_eq!(vault.open(m, "occ-app-key").await.expect("open").expect("some").as_slice(), b"replaced");

    vault.seal(m, "occ-app-key", KEY.as_bytes()).await.expect("seal");
    let blobs: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT ciphertext FROM vault_secrets UNION ALL SELECT sealed_dek FROM vault_data_keys")
            .fetch_all(&db.pool)
            .await
            .expect("rows");
    assert_eq!(blobs.len(), 3);
    for blob in blobs {
        assert!(!blob.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "plaintext found in the database");
    }
    assert!(vault.delete_secret(m, "other").await.expect("delete"));
    assert!(vault.open(m, "other").await.expect("open").is_none());
    assert!(matches!(vault.seal(m, "", b"x").await, Err(VaultError::Malformed(_))));
}

#[tokio::test]
async fn tampered_or_moved_ciphertexts_do_not_open() {
    let db = test_db().await;
    let (a, b) = (merchant(&db.pool).await, merchant(&db.pool).await);
    let vault = Vault::new(db.pool.clone(), MasterKeys::generate("k1"));
    vault.seal(a, "occ-app-key", KEY.as_bytes()).await.expect("seal");
    vault.seal(b, "occ-app-key", b"b's key").await.expect("seal");

    // One flipped byte in the secret.
    sqlx::query("UPDATE vault_secrets SET ciphertext = set_byte(ciphertext, 40, get_byte(ciphertext, 40) # 1) WHERE merchant_id = $1")
        .bind(a)
        .execute(&db.pool)
        .await
        .expect("tamper");
    assert!(matches!(vault.open(a, "occ-app-key").await, Err(VaultError::Tampered)));
    vault.seal(a, "occ-app-key", KEY.as_bytes()).await.expect("reseal");

    // One flipped byte in the sealed data key.
    sqlx::query("UPDATE vault_data_keys SET sealed_dek = set_byte(sealed_dek, 20, get_byte(sealed_dek, 20) # 1) WHERE merchant_id = $1")
        .bind(b)
        .execute(&db.pool)
        .await
        .expect("tamper");
    assert!(matches!(vault.open(b, "occ-app-key").await, Err(VaultError::Tampered)));

    // A's ciphertext copied under another purpose of A.
    sqlx::query("INSERT INTO vault_secrets (merchant_id, purpose, ciphertext) SELECT merchant_id, 'stolen', ciphertext FROM vault_secrets WHERE merchant_id = $1")
        .bind(a)
        .execute(&db.pool)
        .await
        .expect("copy");
    assert!(matches!(vault.open(a, "stolen").await, Err(VaultError::Tampered)));

    // A's data key and secret moved to merchant B.
    sqlx::query("DELETE FROM vault_data_keys WHERE merchant_id = $1").bind(b).execute(&db.pool).await.expect("clear b");
    sqlx::query("INSERT INTO vault_data_keys (merchant_id, dek_id, kek_id, sealed_dek) SELECT $2, gen_random_uuid(), kek_id, sealed_dek FROM vault_data_keys WHERE merchant_id = $1")
        .bind(a)
        .bind(b)
        .execute(&db.pool)
        .await
        .expect("move dek");
    sqlx::query("INSERT INTO vault_secrets (merchant_id, purpose, ciphertext) SELECT $2, purpose, ciphertext FROM vault_secrets WHERE merchant_id = $1 AND purpose = 'occ-app-key'")
        .bind(a)
        .bind(b)
        .execute(&db.pool)
        .await
        .expect("move secret");
    assert!(matches!(vault.open(b, "occ-app-key").await, Err(VaultError::Tampered)));
    assert_eq!(vault.open_string(a, "occ-app-key").await.expect("a intact").expect("some").expose_secret(), KEY);
}

#[tokio::test]
async fn master_key_rotation_rewraps_online_and_resumes() {
    let db = test_db().await;
    let old = MasterKeys::generate("k1");
    let v1 = Vault::new(db.pool.clone(), old.clone());
    let mut merchants = Vec::new();
    for i in 0..5 {
        let m = merchant(&db.pool).await;
        v1.seal(m, "occ-app-key", format!("key-{i}").as_bytes()).await.expect("seal");
        merchants.push(m);
    }
    let rotated = old.with_generated("k2").expect("rotate");
    let v2 = Vault::new(db.pool.clone(), rotated.clone());
    assert_eq!(v2.count_needing_rewrap().await.expect("count"), 5);
    assert_eq!(
        v2.open_string(merchants[0], "occ-app-key").await.expect("old key still opens").expect("some").expose_secret(),
        "key-0"
    );

    // Interrupted after one batch, finished by another process.
    assert_eq!(v2.rewrap_batch(2).await.expect("batch"), 2);
    let resumed = Vault::new(db.pool.clone(), rotated.clone());
    while resumed.rewrap_batch(2).await.expect("batch") > 0 {}
    assert_eq!(resumed.count_needing_rewrap().await.expect("count"), 0);

    let only_new = Vault::new(db.pool.clone(), rotated.without("k1").expect("drop old"));
    for (i, m) in merchants.iter().enumerate() {
        assert_eq!(
            only_new.open_string(*m, "occ-app-key").await.expect("opens").expect("some").expose_secret(),
            format!("key-{i}")
        );
    }
    let only_old = Vault::new(db.pool.clone(), MasterKeys::parse(old.to_config_string().expose_secret()).expect("old"));
    assert!(
        matches!(only_old.open(merchants[0], "occ-app-key").await, Err(VaultError::UnknownKek { kek_id }) if kek_id == "k2")
    );
    let stamped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vault_data_keys WHERE rewrapped_at IS NOT NULL AND kek_id = 'k2'")
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(stamped, 5);
}

#[tokio::test]
async fn shredding_removes_every_trace_of_one_merchant_only() {
    let db = test_db().await;
    let (a, b) = (merchant(&db.pool).await, merchant(&db.pool).await);
    let vault = Vault::new(db.pool.clone(), MasterKeys::generate("k1"));
    for m in [a, b] {
        vault.seal(m, "occ-app-key", KEY.as_bytes()).await.expect("seal");
        vault.seal(m, "webhook-secret:order-submit", b"s").await.expect("seal");
    }
    assert!(vault.shred(a).await.expect("shred"));
    assert!(!vault.shred(a).await.expect("again"), "nothing left to shred");
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM vault_data_keys WHERE merchant_id = $1), (SELECT count(*) FROM vault_secrets WHERE merchant_id = $1)",
    )
    .bind(a)
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(left, (0, 0));
    assert!(vault.open(a, "occ-app-key").await.expect("open").is_none());
    assert_eq!(vault.open_string(b, "occ-app-key").await.expect("b").expect("some").expose_secret(), KEY);
}

#[tokio::test]
async fn concurrent_first_seals_share_one_data_key() {
    let db = test_db().await;
    let m = merchant(&db.pool).await;
    let vault = Vault::new(db.pool.clone(), MasterKeys::generate("k1"));
    let seals = (0..8).map(|i| {
        let vault = vault.clone();
        tokio::spawn(async move { vault.seal(m, &format!("p{i}"), format!("v{i}").as_bytes()).await })
    });
    for result in futures_join(seals).await {
        result.expect("sealed");
    }
    let deks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vault_data_keys").fetch_one(&db.pool).await.expect("count");
    assert_eq!(deks, 1);
    for i in 0..8 {
        assert_eq!(
            vault.open(m, &format!("p{i}")).await.expect("open").expect("some").as_slice(),
            format!("v{i}").as_bytes()
        );
    }
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}
