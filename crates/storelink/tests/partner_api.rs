//! The partner API over HTTP: client-credentials tokens, merchants and products scoped to the calling
//! partner (another partner's merchant is a 404 on every route), keyset paging, problem+json errors.

mod common;

use std::time::Duration;

use common::{merchant_id_from, spawn_app, wait_for};
use secrecy::ExposeSecret;
use serde_json::Value;
use storelink_tenants::{NewPartner, partners};

async fn token(app: &common::TestApp, client_id: &str, secret: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/oauth/token", app.base))
        .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)])
        .send()
        .await
        .expect("token")
}

async fn get(app: &common::TestApp, bearer: &str, path: &str) -> (u16, Value) {
    let r = app.http.get(format!("{}{path}", app.base)).bearer_auth(bearer).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn partners_see_only_their_merchants_and_page_through_products() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    let pool = app.db.pool.clone();
    assert!(
        wait_for(Duration::from_secs(20), || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM sync_state WHERE kind = 'catalog' AND last_success_at IS NOT NULL",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
                    == 1
            }
        })
        .await,
        "catalog synced"
    );

    let ours = &app.partner;
    let response = token(&app, &ours.client_id, ours.client_secret.expose_secret()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    let bearer = body["access_token"].as_str().expect("token").to_owned();

    let uris = vec!["https://other.example/cb".to_owned()];
    let other =
        partners::create(&app.db.pool, NewPartner { name: "Other", redirect_uris: &uris }).await.expect("partner");
    let other_bearer = token(&app, &other.client_id, other.client_secret.expose_secret())
        .await
        .json::<Value>()
        .await
        .expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Tenant isolation: every merchant-scoped route, called with the other partner's token.
    let routes: Vec<String> = storelink_partner_api::PartnerApi::merchant_routes()
        .iter()
        .map(|suffix| format!("/v1/merchants/{merchant}{suffix}"))
        .collect();
    assert!(routes.len() >= 6, "{routes:?}");
    for route in &routes {
        assert_eq!(get(&app, &bearer, route).await.0, 200, "{route} for its partner");
        let (status, problem) = get(&app, &other_bearer, route).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")), "{route} for another partner");
        assert_eq!(get(&app, "garbage", route).await.0, 401, "{route} without a valid token");
    }
    let (_, theirs) = get(&app, &other_bearer, "/v1/merchants").await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0));
    let (_, mine) = get(&app, &bearer, "/v1/merchants").await;
    assert_eq!(mine["items"][0]["merchant_id"], merchant.as_str());
    assert_eq!(mine["items"][0]["slots_registered"], 4);
    let (_, methods) = get(&app, &bearer, &format!("/v1/merchants/{merchant}/shipping-methods")).await;
    let methods = methods["items"].as_array().expect("items").clone();
    assert!(
        !methods.is_empty()
            && methods.iter().all(|m| m.get("content_hash").is_none() && m.get("merchant_id").is_none())
    );
    let (_, inventory) = get(&app, &bearer, &format!("/v1/merchants/{merchant}/inventory?limit=250")).await;
    assert_eq!(inventory["items"].as_array().map(Vec::len), Some(100), "two SKUs x 50 products");

    // Keyset paging: 50 products in pages of 20, no gaps or repeats.
    let mut seen = Vec::new();
    let mut path = format!("/v1/merchants/{merchant}/products?limit=20");
    loop {
        let (status, page) = get(&app, &bearer, &path).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().expect("items") {
            seen.push(item["product_id"].as_str().expect("id").to_owned());
            assert!(item["skus"].as_array().is_some_and(|s| s.len() == 2));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/merchants/{merchant}/products?limit=20&cursor={cursor}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (50, 50));

    assert_eq!(get(&app, &bearer, &format!("/v1/merchants/{merchant}/products?limit=251")).await.0, 400);
    assert_eq!(get(&app, &bearer, &format!("/v1/merchants/{merchant}/products?cursor=%%%")).await.0, 400);
    assert_eq!(token(&app, &ours.client_id, "sls_wrong").await.status(), 401);
    let wrong_grant = app
        .http
        .post(format!("{}/v1/oauth/token", app.base))
        .form(&[("grant_type", "password"), ("client_id", ours.client_id.as_str()), ("client_secret", "x")])
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_grant.status(), 400);
    app.stop().await;
}
