use secrecy::{ExposeSecret, SecretString};
use storelink_tenants::{NewPartner, TenantError, events, merchants, partners};
use storelink_testkit::test_db;

#[tokio::test]
async fn partner_secret_is_hashed_and_verifiable() {
    let db = test_db().await;
    let uris = vec!["https://partner.example/cb".to_owned()];
    let creds = partners::create(&db.pool, NewPartner { name: "Acme Market", redirect_uris: &uris })
        .await
        .expect("create partner");

    let stored: String =
        sqlx::query_scalar("SELECT client_secret_hash FROM partners").fetch_one(&db.pool).await.expect("row");
    assert!(stored.starts_with("$argon2"), "stored as an argon2 hash");
    assert!(!stored.contains(creds.client_secret.expose_secret()));

    let ok = partners::verify_secret(&db.pool, &creds.client_id, &creds.client_secret).await.expect("verify");
    assert_eq!(ok, Some(creds.partner_id));
    let wrong = SecretString::from("sls_wrong".to_owned());
    assert_eq!(partners::verify_secret(&db.pool, &creds.client_id, &wrong).await.expect("verify"), None);
    assert_eq!(partners::verify_secret(&db.pool, "slp_unknown", &creds.client_secret).await.expect("verify"), None);

    assert!(partners::redirect_allowed(&db.pool, creds.partner_id, "https://partner.example/cb").await.expect("q"));
    assert!(!partners::redirect_allowed(&db.pool, creds.partner_id, "https://partner.example/cb/").await.expect("q"));
    assert!(!partners::redirect_allowed(&db.pool, creds.partner_id, "https://evil.example/cb").await.expect("q"));
}

#[tokio::test]
async fn partner_creation_rejects_bad_input_and_stores_nothing() {
    let db = test_db().await;
    let none: Vec<String> = vec![];
    let http = vec!["http://partner.example/cb".to_owned()];
    let good = vec!["https://partner.example/cb".to_owned()];
    assert!(matches!(
        partners::create(&db.pool, NewPartner { name: "  ", redirect_uris: &good }).await,
        Err(TenantError::InvalidName(_))
    ));
    assert!(matches!(
        partners::create(&db.pool, NewPartner { name: "A", redirect_uris: &none }).await,
        Err(TenantError::InvalidRedirectUri { .. })
    ));
    assert!(matches!(
        partners::create(&db.pool, NewPartner { name: "A", redirect_uris: &http }).await,
        Err(TenantError::InvalidRedirectUri { .. })
    ));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM partners").fetch_one(&db.pool).await.expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn reconnecting_the_same_store_keeps_the_merchant() {
    let db = test_db().await;
    let uris = vec!["https://partner.example/cb".to_owned()];
    let p1 = partners::create(&db.pool, NewPartner { name: "P1", redirect_uris: &uris }).await.expect("p1");
    let p2 = partners::create(&db.pool, NewPartner { name: "P2", redirect_uris: &uris }).await.expect("p2");
    let mut conn = db.pool.acquire().await.expect("conn");
    let a = merchants::upsert_connected(&mut conn, p1.partner_id, "occ", "https://s.example").await.expect("a");
    merchants::set_status(&db.pool, a, merchants::MerchantStatus::CredentialsInvalid).await.expect("status");
    let b = merchants::upsert_connected(&mut conn, p1.partner_id, "occ", "https://s.example").await.expect("b");
    let c = merchants::upsert_connected(&mut conn, p2.partner_id, "occ", "https://s.example").await.expect("c");
    assert_eq!(a, b, "same partner and store -> same merchant");
    assert_ne!(a, c, "another partner connecting the same store is another tenant");
    let m = merchants::get(&db.pool, a).await.expect("get").expect("exists");
    assert_eq!(m.status, merchants::MerchantStatus::Active, "reconnect revives the merchant");
}

#[tokio::test]
async fn credentials_invalid_is_marked_and_recorded_once() {
    let db = test_db().await;
    let uris = vec!["https://partner.example/cb".to_owned()];
    let creds = partners::create(&db.pool, NewPartner { name: "Acme", redirect_uris: &uris }).await.expect("partner");
    let mut conn = db.pool.acquire().await.expect("conn");
    let merchant =
        merchants::upsert_connected(&mut conn, creds.partner_id, "occ", "https://a.example").await.expect("m");
    drop(conn);

    assert!(events::mark_credentials_invalid(&db.pool, merchant, "login refused (401)").await.expect("mark"));
    assert!(!events::mark_credentials_invalid(&db.pool, merchant, "again").await.expect("mark"), "only once");
    let m = merchants::get(&db.pool, merchant).await.expect("get").expect("exists");
    assert_eq!(m.status, storelink_tenants::MerchantStatus::CredentialsInvalid);
    let recorded = events::list(&db.pool, merchant, 10).await.expect("events");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].kind, events::CREDENTIALS_INVALID);
    assert_eq!(recorded[0].detail["reason"], "login refused (401)");
}
