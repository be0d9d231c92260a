//! The partner API over HTTP: client-credentials tokens, merchants and products scoped to the calling
//! partner (another partner's merchant is a 404 on every route), keyset paging, problem+json errors.

mod common;

use std::time::Duration;

use common::{merchant_id_from, spawn_app};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use storelink_tenants::{NewPartner, partners};

async fn token(app: &common::TestApp, client_id: &str, secret: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/oauth/token", app.base))
        .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)])
        .send()
        .await
        .expect("token")
}

async fn send(app: &common::TestApp, bearer: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base)).bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body).header("idempotency-key", "isolation");
    }
    let r = request.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
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
    let synced = "SELECT count(*) FROM sync_state WHERE kind = 'catalog' AND last_success_at IS NOT NULL";
    assert!(common::wait_for_count(&app.db.pool, synced, 1, Duration::from_secs(20)).await, "catalog synced");

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

    // Tenant isolation: every partner route, called with the other partner's token.
    let (status, created) = send(
        &app,
        &bearer,
        Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["order.created"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let endpoint = created["endpoint_id"].as_str().expect("endpoint id").to_owned();
    let order_body = json!({"partner_order_reference": "PO-1", "items": [{"sku_id": "sku000001-1", "quantity": 1}],
        "shipping_method": "ship1", "shipping_address": {"first_name": "A"}});
    let patch = json!({"description": "x"});
    // (method, route pattern, body, status for the other partner)
    let cases: Vec<(Method, &str, Option<Value>, u16)> = vec![
        (Method::GET, "/v1/merchants", None, 200),
        (Method::GET, "/v1/merchants/{merchant_id}", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/products", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/skus", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/inventory", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/shipping-methods", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/orders", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/orders/{order_id}", None, 404),
        (Method::POST, "/v1/merchants/{merchant_id}/orders", Some(order_body), 404),
        (Method::POST, "/v1/merchants/{merchant_id}/orders/{order_id}/cancel", None, 404),
        (
            Method::PUT,
            "/v1/merchants/{merchant_id}/orders/{order_id}/status",
            Some(json!({"status": "processing"})),
            404,
        ),
        (
            Method::POST,
            "/v1/merchants/{merchant_id}/orders/{order_id}/shipments",
            Some(json!({"tracking_number": "1Z"})),
            404,
        ),
        (Method::GET, "/v1/merchants/{merchant_id}/shipments", None, 404),
        (Method::GET, "/v1/merchants/{merchant_id}/returns", None, 404),
        (
            Method::POST,
            "/v1/merchants/{merchant_id}/returns",
            Some(json!({"order_id": "o1", "reason": "defective", "lines": [{"line_id": "ci1"}]})),
            404,
        ),
        (Method::PATCH, "/v1/merchants/{merchant_id}/returns/{return_id}", Some(json!({"reason": "defective"})), 404),
        (Method::GET, "/v1/merchants/{merchant_id}/return-policy", None, 404),
        (Method::PUT, "/v1/merchants/{merchant_id}/return-policy", Some(json!({"window_days": 1})), 404),
        (Method::GET, "/v1/return-policy", None, 200),
        (Method::PUT, "/v1/return-policy", Some(json!({"window_days": 14})), 200),
        (Method::GET, "/v1/webhooks/event-types", None, 200),
        (Method::GET, "/v1/webhooks/endpoints", None, 200),
        (
            Method::POST,
            "/v1/webhooks/endpoints",
            Some(json!({"url": "http://127.0.0.1:9/x", "events": ["order.created"]})),
            201,
        ),
        (Method::GET, "/v1/webhooks/endpoints/{endpoint_id}", None, 404),
        (Method::PATCH, "/v1/webhooks/endpoints/{endpoint_id}", Some(patch), 404),
        (Method::DELETE, "/v1/webhooks/endpoints/{endpoint_id}", None, 404),
        (Method::POST, "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", None, 404),
        (Method::GET, "/v1/webhooks/endpoints/{endpoint_id}/deliveries", None, 404),
        (Method::POST, "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/replay", None, 404),
    ];
    let mut covered: Vec<(String, String)> =
        cases.iter().map(|(m, p, _, _)| (m.to_string(), (*p).to_owned())).collect();
    covered.sort();
    let mut served: Vec<(String, String)> = storelink_partner_api::routes()
        .iter()
        .filter(|r| !storelink_partner_api::PUBLIC_ROUTES.contains(&r.path))
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    served.sort();
    assert_eq!(covered, served, "every authenticated route needs an isolation case");
    let order_id: String = sqlx::query_scalar("SELECT order_id FROM orders LIMIT 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap_or_else(|_| "o10001".into());
    for (method, pattern, body, expected) in cases {
        let route = pattern
            .replace("{merchant_id}", &merchant)
            .replace("{endpoint_id}", &endpoint)
            .replace("{order_id}", &order_id)
            .replace("{delivery_id}", "1")
            .replace("{return_id}", "rr1");
        let (status, problem) = send(&app, &other_bearer, method.clone(), &route, body.clone()).await;
        assert_eq!(status, expected, "{method} {route} for another partner: {problem}");
        if expected == 404 {
            assert_eq!(problem["code"], "not_found", "{method} {route}");
        }
        assert_eq!(
            send(&app, "garbage", method.clone(), &route, body).await.0,
            401,
            "{method} {route} without a valid token"
        );
    }
    for suffix in ["", "/products", "/skus", "/inventory", "/shipping-methods", "/orders", "/shipments", "/returns"] {
        let route = format!("/v1/merchants/{merchant}{suffix}");
        assert_eq!(get(&app, &bearer, &route).await.0, 200, "{route} for its partner");
    }
    let (_, theirs) = get(&app, &other_bearer, "/v1/merchants").await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0));
    let (_, mine) = get(&app, &bearer, "/v1/merchants").await;
    assert_eq!(mine["items"][0]["merchant_id"], merchant.as_str());
    assert_eq!(
        mine["items"][0]["slots_registered"], 2,
        "order submit and return request update; OCC has no other webhook"
    );
    // Every slot, and for each the store has no webhook for, the sync that covers it and how often.
    let slots = mine["items"][0]["webhook_slots"].as_array().expect("webhook_slots").clone();
    let status =
        |name: &str| slots.iter().find(|s| s["slot"] == name).map(|s| (s["status"].clone(), s["detail"].clone()));
    assert_eq!(slots.len(), 5, "{slots:?}");
    assert_eq!(status("order-submit"), Some((json!("registered"), Value::Null)));
    for slot in ["order-update", "shipment-create", "shipment-update"] {
        let (state, detail) = status(slot).expect("listed");
        assert_eq!(state, "unsupported", "{slot}");
        assert!(detail.as_str().is_some_and(|d| d.contains("orders sync") && d.contains("every")), "{slot}: {detail}");
    }
    let (_, one) = get(&app, &bearer, &format!("/v1/merchants/{merchant}")).await;
    assert_eq!(one["webhook_slots"], json!(slots), "the same on the merchant's own page");
    let (_, methods) = get(&app, &bearer, &format!("/v1/merchants/{merchant}/shipping-methods")).await;
    let methods = methods["items"].as_array().expect("items").clone();
    assert!(
        !methods.is_empty()
            && methods.iter().all(|m| m.get("content_hash").is_none() && m.get("merchant_id").is_none())
    );
    let rate = &methods[0]["rates"][0];
    assert!(rate["price"]["amount"].is_string() && rate["max_order_amount"].is_null(), "typed rates: {rate}");
    assert_eq!(mine["items"][0]["platform"], "occ");
    assert_eq!(mine["items"][0]["capabilities"], json!(["create_orders", "webhooks", "incremental_filters"]));
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
            assert!(item["variants"].as_array().is_some_and(|s| s.len() == 2));
            assert!(item["list_price"]["amount"].is_string(), "decimal string: {item}");
            let image = item["images"][0]["url"].as_str().unwrap_or_default();
            assert!(image.starts_with(app.sim.base_url().trim_end_matches('/')), "absolute image URL: {image}");
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

/// Cancelling an order and looking up an unconfirmed one are Admin API calls with the merchant's
/// session from the token cache: while the connect's token is fresh there, neither logs in to OCC;
/// a token OCC refuses (401) is replaced by one login and the call made once more.
#[tokio::test]
async fn cancel_and_order_lookup_take_their_session_from_the_token_cache() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let sku = app.sku_in_stock().await;
    let order = |reference: &str| {
        json!({"partner_order_reference": reference, "items": [{"sku_id": sku, "quantity": 1}],
               "shipping_method": "ship1",
               "shipping_address": {"first_name": "Jean", "last_name": "Smith", "line1": "1 Main St",
                                    "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}})
    };
    let logins = || app.sim.count("POST", "/ccadmin/v1/login");
    let logins_after_connect = logins();

    // OCC creates the order but the answer is lost; the retry looks it up (Admin API) and finds it.
    let lost = app.sim.inject(
        storelink_occ_sim::Fault::new(
            Some("POST"),
            "/ccappagent/v1/orders",
            storelink_occ_sim::FaultKind::ApplyThenDrop,
        )
        .times(1),
    );
    let (status, problem, _) = common::place_order(&app, &bearer, &merchant, "k-lookup", &order("PO-LOOKUP")).await;
    assert_eq!((status, problem["code"].as_str()), (503, Some("order_outcome_unknown")), "{problem}");
    app.sim.remove_fault(lost);
    let (status, found, _) = common::place_order(&app, &bearer, &merchant, "k-lookup", &order("PO-LOOKUP")).await;
    assert_eq!(status, 201, "{found}");
    let lookups: Vec<_> = app
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.path == "/ccadmin/v1/orders" && c.query.contains("externalOrderReference"))
        .collect();
    assert_eq!(lookups.len(), 1, "the retry looked the order up");
    // On a real store `q` is RQL unless the query says SCIM (the simulator refuses it too).
    assert!(lookups[0].query.contains("queryFormat=SCIM") && lookups[0].status == 200, "{:?}", lookups[0]);
    let found_id = found["order_id"].as_str().expect("order id").to_owned();

    // Cancel: the PUT with the cached token.
    let cancel_path = |id: &str| format!("/v1/merchants/{merchant}/orders/{id}/cancel");
    let (status, cancelled) = send(&app, &bearer, Method::POST, &cancel_path(&found_id), None).await;
    assert_eq!(
        (status, cancelled["status"].as_str(), cancelled["platform_status"].as_str()),
        (200, Some("cancelled"), Some("REMOVED")),
        "{cancelled}"
    );
    assert_eq!(logins(), logins_after_connect, "neither the lookup nor the cancel logged in");

    // OCC refuses the cached token: one login, and the cancel goes through.
    let (status, second, _) = common::place_order(&app, &bearer, &merchant, "k-second", &order("PO-SECOND")).await;
    assert_eq!(status, 201, "{second}");
    let second_id = second["order_id"].as_str().expect("order id").to_owned();
    app.sim.expire_tokens();
    let (status, cancelled) = send(&app, &bearer, Method::POST, &cancel_path(&second_id), None).await;
    assert_eq!(
        (status, cancelled["status"].as_str(), cancelled["platform_status"].as_str()),
        (200, Some("cancelled"), Some("REMOVED")),
        "{cancelled}"
    );
    assert_eq!(logins(), logins_after_connect + 1, "one login after the 401");
    assert_eq!(app.sim.count("PUT", &format!("/ccadmin/v1/orders/{second_id}")), 2, "refused once, then sent again");
    app.stop().await;
}

/// A multi-site store: every order carries its site, and `site` narrows the order list to one site.
#[tokio::test]
async fn orders_carry_their_site_and_the_site_filter_narrows_the_list() {
    let app = common::spawn_app_with(common::AppOptions {
        sim: storelink_occ_sim::SimOptions {
            sites: storelink_occ_sim::SimSite::three(),
            allow_http_callbacks: true,
            ..storelink_occ_sim::SimOptions::default()
        },
        ..common::AppOptions::default()
    })
    .await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let list = |query: &'static str| {
        let (app, bearer, merchant) = (&app, &bearer, &merchant);
        async move {
            let url = format!("{}/v1/merchants/{merchant}/orders?limit=250{query}", app.base);
            let response = app.http.get(url).bearer_auth(bearer).send().await.expect("get");
            assert_eq!(response.status(), 200);
            let body: serde_json::Value = response.json().await.expect("json");
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|o| o["site_id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    let all = list("").await;
    assert_eq!(all.len(), 10);
    let us = list("&site=siteUS").await;
    let eu = list("&site=siteEU").await;
    assert_eq!((us.len(), eu.len()), (5, 5), "the seed orders take turns over the two enabled sites");
    assert!(us.iter().all(|s| s.as_deref() == Some("siteUS")) && eu.iter().all(|s| s.as_deref() == Some("siteEU")));
    assert!(list("&site=siteUK").await.is_empty(), "the disabled site has no orders");
    // Catalog, stock and shipping lists are per site: each item names its site, and the filter keeps
    // one site's (siteEU lacks every tenth product, sold on the default site only).
    let items = |path: &'static str, query: &'static str| {
        let (app, bearer, merchant) = (&app, &bearer, &merchant);
        async move {
            let url = format!("{}/v1/merchants/{merchant}/{path}?limit=250{query}", app.base);
            let response = app.http.get(url).bearer_auth(bearer).send().await.expect("get");
            assert_eq!(response.status(), 200, "{path}");
            let body: serde_json::Value = response.json().await.expect("json");
            body["items"].as_array().expect("items").clone()
        }
    };
    let sites =
        |items: &[serde_json::Value]| items.iter().map(|i| i["site"].as_str().map(str::to_owned)).collect::<Vec<_>>();
    assert_eq!(items("products", "").await.len(), 95, "50 on siteUS, 45 on siteEU");
    let eu_products = items("products", "&site=siteEU").await;
    assert_eq!(eu_products.len(), 45);
    assert!(sites(&eu_products).iter().all(|s| s.as_deref() == Some("siteEU")));
    assert!(
        eu_products.iter().all(|p| p["variants"].as_array().is_some_and(|v| v.iter().all(|v| v["site"] == "siteEU")))
    );
    let us_products = items("products", "&site=siteUS").await;
    let price = |list: &[serde_json::Value], id: &str| {
        list.iter().find(|p| p["product_id"] == id).map(|p| p["list_price"]["amount"].clone()).expect("product")
    };
    assert_ne!(price(&us_products, "prod000001"), price(&eu_products, "prod000001"), "each site's own price");
    // In each site's currency (its price list group's), on products and their variants.
    let currencies = |list: &[serde_json::Value]| {
        let mut found: Vec<serde_json::Value> = list
            .iter()
            .flat_map(|p| {
                let variants = p["variants"].as_array().cloned().unwrap_or_default();
                std::iter::once(p["list_price"]["currency"].clone())
                    .chain(variants.into_iter().map(|v| v["list_price"]["currency"].clone()))
            })
            .collect();
        found.dedup();
        found
    };
    assert_eq!(currencies(&eu_products), vec![json!("EUR")]);
    assert_eq!(currencies(&us_products), vec![json!("USD")]);
    let eu_skus = items("skus", "&site=siteEU").await;
    assert!(eu_skus.iter().all(|v| v["list_price"]["currency"] == "EUR"), "{:?}", eu_skus.first());
    assert!(!eu_products.iter().any(|p| p["product_id"] == "prod000010"), "sold on the default site only");
    for path in ["skus", "inventory", "shipping-methods"] {
        let eu = items(path, "&site=siteEU").await;
        assert!(!eu.is_empty(), "{path}");
        assert!(sites(&eu).iter().all(|s| s.as_deref() == Some("siteEU")), "{path}");
        assert!(items(path, "&site=siteUK").await.is_empty(), "{path}: the disabled site is not synced");
    }
    app.stop().await;
}

/// A single-site store syncs without a site: its rows have `site: null` and pass every site filter.
#[tokio::test]
async fn a_single_site_stores_catalog_is_store_wide() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    for query in ["", "&site=siteUS", "&site=anything"] {
        let url = format!("{}/v1/merchants/{merchant}/products?limit=250{query}", app.base);
        let body: Value = app.http.get(url).bearer_auth(&bearer).send().await.expect("get").json().await.expect("json");
        let items = body["items"].as_array().expect("items");
        assert_eq!(items.len(), 50, "{query}");
        assert!(items.iter().all(|p| p["site"].is_null()), "{query}");
    }
    assert!(app.sim.calls().iter().all(|c| c.site.is_none()), "no x-ccsite sent");
    app.stop().await;
}
