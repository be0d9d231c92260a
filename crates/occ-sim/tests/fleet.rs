//! One fleet process serves many stores, each chosen by its host name: its own key, catalog and
//! call log.

use serde_json::Value;
use storelink_occ_sim::{OccFleet, SimOptions};

#[tokio::test]
async fn each_store_of_a_fleet_is_its_own_store() {
    let fleet = OccFleet::spawn(3, SimOptions { products: 4, ..SimOptions::default() }).await.expect("fleet");
    let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let http = reqwest::Client::builder()
        .resolve("s0.localhost", loopback)
        .resolve("s2.localhost", loopback)
        .resolve("s9.localhost", loopback)
        .build()
        .expect("client");
    let login = |n: usize, key: String| {
        let http = http.clone();
        let url = format!("{}/ccadmin/v1/login", fleet.store_url(n));
        async move {
            let r = http.post(url).bearer_auth(key).form(&[("grant_type", "client_credentials")]).send().await;
            let r = r.expect("login");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, token) = login(2, OccFleet::key(2)).await;
    assert_eq!(status, 200);
    assert_eq!(login(0, OccFleet::key(2)).await.0, 401, "another store's key is refused");
    let token = token["access_token"].as_str().expect("token").to_owned();
    let products = |n: usize, token: String| {
        let http = http.clone();
        let url = format!("{}/ccadmin/v1/products", fleet.store_url(n));
        async move { http.get(url).bearer_auth(token).send().await.expect("products").json::<Value>().await.expect("json") }
    };
    let page = products(2, token.clone()).await;
    assert_eq!(page["totalResults"], 4, "{page}");
    assert_eq!(products(0, token).await["errorCode"], "000002", "a token is its store's own");

    let store = fleet.store(2).expect("store 2");
    assert_eq!(store.base_url(), fleet.store_url(2));
    let id = store.add_product();
    assert!(fleet.store(0).expect("store 0").product(&id).is_none(), "changes stay in their store");
    assert!(store.count("GET", "/ccadmin/v1/products") == 1);
    assert!(fleet.take_call_count() >= 4 && fleet.take_call_count() == 0, "the logs were cleared");

    let r = http.get(format!(
        "http://s9.localhost:{}/ccadmin/v1/products",
        fleet.store_url(0).rsplit(':').next().expect("port")
    ));
    assert_eq!(r.send().await.expect("answer").status(), 404, "no such store");
    fleet.stop().await;
}
