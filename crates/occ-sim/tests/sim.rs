//! The simulator over real HTTP: login and tokens, paging and filters, permissions, webhooks, orders,
//! faults and the call log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};

use serde_json::{Value, json};
use storelink_occ_sim::{Fault, FaultKind, OccSim, Permissions, SimOptions};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(sim: &OccSim) -> Self {
        Self { http: reqwest::Client::new(), base: sim.base_url() }
    }

    async fn login_raw(&self, key: &str, content_type: &str, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/ccadmin/v1/login", self.base))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("login")
    }

    async fn token(&self, key: &str) -> String {
        let r = self.login_raw(key, "application/x-www-form-urlencoded", "grant_type=client_credentials").await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.put(format!("{}{path}", self.base)).bearer_auth(token).json(&body).send().await.expect("put");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn sim_with(options: SimOptions) -> (OccSim, Client, String) {
    let sim = OccSim::spawn(options).await.expect("spawn");
    let key = sim.add_key(Permissions::all());
    let client = Client::new(&sim);
    (sim, client, key)
}

#[tokio::test]
async fn login_accepts_only_valid_requests_and_tokens_expire() {
    let (sim, c, key) = sim_with(SimOptions { token_ttl: Duration::from_secs(123), ..SimOptions::default() }).await;
    let ok = c.login_raw(&key, "application/x-www-form-urlencoded", "grant_type=client_credentials").await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["expires_in"], 123);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(c.login_raw(&key, "application/json", "{}").await.status(), 400);
    assert_eq!(c.login_raw(&key, "application/x-www-form-urlencoded", "grant_type=password").await.status(), 400);
    let unknown = c.login_raw("nope", "application/x-www-form-urlencoded", "grant_type=client_credentials").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.json::<Value>().await.expect("json")["status"], "401", "errorModel status is a string");

    let token = c.token(&key).await;
    assert_eq!(c.get(&token, "/ccadmin/v1/products?limit=1").await.0, 200);
    assert_eq!(c.get("garbage", "/ccadmin/v1/products").await.0, 401);
    sim.expire_tokens();
    assert_eq!(c.get(&token, "/ccadmin/v1/products").await.0, 401, "expired");
    sim.set_token_ttl(Duration::from_millis(200));
    let short = c.token(&key).await;
    assert_eq!(c.get(&short, "/ccadmin/v1/products?limit=1").await.0, 200);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(c.get(&short, "/ccadmin/v1/products?limit=1").await.0, 401, "ttl elapsed");

    sim.set_token_ttl(Duration::from_secs(300));
    let live = c.token(&key).await;
    sim.revoke_key(&key);
    assert_eq!(c.get(&live, "/ccadmin/v1/products").await.0, 401, "tokens of a revoked key are refused");
    let again = c.login_raw(&key, "application/x-www-form-urlencoded", "grant_type=client_credentials").await;
    assert_eq!(again.status(), 401);
    assert_eq!(sim.issued_tokens().len(), 4);
    sim.stop().await;
    sim.stop().await;
}

#[tokio::test]
async fn pages_cover_every_product_once_and_filters_work() {
    let (sim, c, key) = sim_with(SimOptions { products: 600, ..SimOptions::default() }).await;
    let token = c.token(&key).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut offset = 0;
    loop {
        let (status, page) = c.get(&token, &format!("/ccadmin/v1/products?offset={offset}&limit=250")).await;
        assert_eq!(status, 200);
        assert_eq!(page["totalResults"], 600);
        let items = page["items"].as_array().expect("items");
        if items.is_empty() {
            break;
        }
        for item in items {
            assert!(seen.insert(item["id"].as_str().expect("id").to_owned()), "no duplicates");
        }
        offset += items.len();
    }
    assert_eq!(seen.len(), 600);
    let (_, clamped) = c.get(&token, "/ccadmin/v1/products?limit=1000").await;
    assert_eq!(clamped["items"].as_array().expect("items").len(), 250);
    assert_eq!(clamped["limit"], 250);
    assert_eq!(c.get(&token, "/ccadmin/v1/products?offset=-1").await.0, 400);
    assert_eq!(c.get(&token, "/ccadmin/v1/products?q=id%20xx%201").await.0, 400);

    let ids = sim.product_ids();
    assert!(sim.update_product(&ids[10]));
    let q = "lastModifiedDate%20gt%20%222026-06-01T00:00:00.000Z%22";
    let (_, changed) = c.get(&token, &format!("/ccadmin/v1/products?q={q}")).await;
    assert_eq!(changed["totalResults"], 1);
    assert_eq!(changed["items"][0]["id"], ids[10].as_str());
    assert!(changed["items"][0]["displayName"].as_str().expect("name").contains("rev 1"));

    assert!(sim.delete_product(&ids[3]));
    let (_, after) = c.get(&token, "/ccadmin/v1/products?limit=5").await;
    assert_eq!(after["totalResults"], 599);
    assert!(after["items"].as_array().expect("items").iter().all(|p| p["id"] != ids[3].as_str()));
    let (_, skus) = c.get(&token, "/ccadmin/v1/skus?limit=3&offset=1").await;
    assert_eq!(skus["totalResults"], 599 * 2);
    assert_eq!(skus["items"][0]["repositoryId"], "sku000001-2");
    let (_, inventory) = c.get(&token, "/ccadmin/v1/inventories?limit=1").await;
    assert!(inventory["items"][0]["childSKUs"][0]["stockLevel"].is_number());
}

#[tokio::test]
async fn a_hundred_thousand_products_page_quickly() {
    let (_sim, c, key) = sim_with(SimOptions { products: 100_000, ..SimOptions::default() }).await;
    let token = c.token(&key).await;
    let started = Instant::now();
    let (status, page) = c.get(&token, "/ccadmin/v1/products?offset=99750&limit=250").await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().expect("items").len(), 250);
    assert_eq!(page["items"][249]["id"], "prod100000");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn permissions_shipping_methods_webhooks_and_orders() {
    let (sim, c, key) = sim_with(SimOptions::default()).await;
    let limited = sim.add_key(Permissions { orders: false, ..Permissions::all() });
    let limited_token = c.token(&limited).await;
    let (status, body) = c.get(&limited_token, "/ccadmin/v1/orders").await;
    assert_eq!((status, body["status"].as_str()), (403, Some("403")));
    let token = c.token(&key).await;

    let (_, enabled) = c.get(&token, "/ccadmin/v1/shippingMethods").await;
    assert_eq!(enabled["items"].as_array().expect("items").len(), 2, "the disabled method is hidden by default");
    let (_, all) = c.get(&token, "/ccadmin/v1/shippingMethods?enabledOnly=false").await;
    assert_eq!(all["items"].as_array().expect("items").len(), 3);

    let (_, hidden) = c.get(&token, "/ccadmin/v1/webhooks/production-submitOrder").await;
    assert_eq!(hidden["secretKey"], Value::Null);
    let (_, shown) = c.get(&token, "/ccadmin/v1/webhooks/production-submitOrder?includeSecretKeys=true").await;
    assert!(shown["secretKey"].as_str().is_some_and(|s| !s.is_empty()));
    let (status, _) =
        c.put(&token, "/ccadmin/v1/webhooks/production-submitOrder", json!({"urls": ["https://a.example/x"]})).await;
    assert_eq!(status, 200);
    assert_eq!(sim.webhook("production-submitOrder").expect("webhook")["urls"], json!(["https://a.example/x"]));
    assert_eq!(c.put(&token, "/ccadmin/v1/webhooks/production-submitOrder", json!({"urls": "x"})).await.0, 400);
    assert_eq!(c.get(&token, "/ccadmin/v1/webhooks/nope").await.0, 404);
    assert_eq!(c.put(&token, "/ccadmin/v1/webhooks/order-submit", json!({"urls": []})).await.0, 404);

    let (_, orders) = c.get(&token, "/ccadmin/v1/orders").await;
    let id = orders["items"][0]["id"].as_str().expect("id").to_owned();
    let (status, updated) = c.put(&token, &format!("/ccadmin/v1/orders/{id}"), json!({"state": "PROCESSING"})).await;
    assert_eq!((status, updated["state"].as_str()), (200, Some("PROCESSING")));
    assert_eq!(sim.order(&id).expect("order")["state"], "PROCESSING");
    assert_eq!(c.get(&token, "/ccadmin/v1/orders/o999").await.0, 404);
}

#[tokio::test]
async fn faults_fire_as_configured_and_calls_are_logged() {
    let (sim, c, key) = sim_with(SimOptions::default()).await;
    let token = c.token(&key).await;
    sim.inject(Fault::new(Some("GET"), "/ccadmin/v1/products", FaultKind::Status(500)).times(2));
    let statuses: Vec<u16> = futures_statuses(&c, &token, "/ccadmin/v1/products?limit=1", 3).await;
    assert_eq!(statuses, vec![500, 500, 200]);

    let limited = sim.inject(Fault::new(None, "/ccadmin/v1/sku*", FaultKind::RateLimited { retry_after_secs: 7 }));
    let r = c.http.get(format!("{}/ccadmin/v1/skus", c.base)).bearer_auth(&token).send().await.expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    sim.remove_fault(limited);

    sim.inject(Fault::new(None, "/ccadmin/v1/inventories", FaultKind::Delay(Duration::from_millis(300))));
    let started = Instant::now();
    assert_eq!(c.get(&token, "/ccadmin/v1/inventories?limit=1").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.inject(Fault::new(None, "/ccadmin/v1/orders", FaultKind::Drop));
    let dropped = c.http.get(format!("{}/ccadmin/v1/orders", c.base)).bearer_auth(&token).send().await;
    let failed = match dropped {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection is an error for the client");

    sim.clear_faults();
    sim.inject(Fault::new(None, "/ccadmin/v1/shippingMethods", FaultKind::Status(500)).probability(0.0));
    assert_eq!(c.get(&token, "/ccadmin/v1/shippingMethods").await.0, 200);

    let calls = sim.calls();
    assert!(calls.windows(2).all(|w| w[0].seq < w[1].seq));
    let drop_call = calls.iter().find(|c| c.path == "/ccadmin/v1/orders").expect("logged");
    assert_eq!(drop_call.status, 0);
    assert_eq!(sim.count("GET", "/ccadmin/v1/products"), 3);
    let login = calls.iter().find(|c| c.path == "/ccadmin/v1/login").expect("login logged");
    assert_eq!(login.body, "grant_type=client_credentials");
    assert!(calls.iter().all(|c| !c.body.contains(&key) && !c.query.contains(&key)), "keys are not logged");
    sim.clear_calls();
    assert!(sim.calls().is_empty());
}

async fn futures_statuses(c: &Client, token: &str, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.get(token, path).await.0);
    }
    out
}

#[tokio::test]
async fn webhook_deliveries_carry_both_signatures() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};

    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String, Vec<u8>)>::new()));
    let sink = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = actix_web::HttpServer::new(move || {
        let sink = sink.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest, body: bytes::Bytes| {
                let sink = sink.clone();
                async move {
                    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    sink.lock().expect("lock").push((
                        header("X-Oracle-CC-WebHook-Signature"),
                        header("X-Oracle-CC-WebHook-Signature-SHA512"),
                        body.to_vec(),
                    ));
                    actix_web::HttpResponse::Ok().finish()
                }
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let (sim, _c, _key) = sim_with(SimOptions::default()).await;
    sim.set_webhook_urls("production-submitOrder", vec![format!("http://127.0.0.1:{port}/hook")]);
    let body = br#"{"order":{"id":"o1"}}"#;
    let results = sim.deliver_webhook("production-submitOrder", body).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1, Ok(200));
    let webhook = sim.webhook("production-submitOrder").expect("webhook");
    let key1 = STANDARD.decode(webhook["secretKey"].as_str().expect("sha1 secret")).expect("b64");
    let key512 = STANDARD.decode(webhook["secretKeySHA512"].as_str().expect("sha512 secret")).expect("b64");
    let mut mac1 = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&key1).expect("key");
    mac1.update(body);
    let mut mac512 = <Hmac<sha2::Sha512> as Mac>::new_from_slice(&key512).expect("key");
    mac512.update(body);
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, STANDARD.encode(mac1.finalize().into_bytes()));
    assert_eq!(got[0].1, STANDARD.encode(mac512.finalize().into_bytes()));
    assert_eq!(got[0].2, body.to_vec());
    handle.stop(true).await;
}

/// `sort` on ids is honoured (and an unknown sort refused); point reads answer 404 for deleted
/// products; churn mode deletes an already-listed product and adds one before every later page, so
/// offset paging skips one live product per page; truncate mode ends lists early.
#[tokio::test]
async fn sort_point_reads_churn_and_truncate() {
    let (sim, c, key) = sim_with(SimOptions { products: 30, ..SimOptions::default() }).await;
    let token = c.token(&key).await;
    let ids = |page: &Value| -> Vec<String> {
        page["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect()
    };
    let (_, desc) = c.get(&token, "/ccadmin/v1/products?limit=3&sort=id:desc").await;
    assert_eq!(ids(&desc), vec!["prod000030", "prod000029", "prod000028"]);
    let (_, asc) = c.get(&token, "/ccadmin/v1/products?limit=2&sort=id:asc").await;
    assert_eq!(ids(&asc), vec!["prod000001", "prod000002"]);
    let (_, orders) = c.get(&token, "/ccadmin/v1/orders?limit=1&sort=id:desc").await;
    assert_eq!(orders["items"][0]["id"], "o10010");
    assert_eq!(c.get(&token, "/ccadmin/v1/products?sort=color:asc").await.0, 400);

    assert!(sim.delete_product("prod000002"));
    assert_eq!(c.get(&token, "/ccadmin/v1/products/prod000002").await.0, 404);
    let (status, product) = c.get(&token, "/ccadmin/v1/products/prod000003").await;
    assert_eq!((status, product["id"].as_str()), (200, Some("prod000003")));
    let (status, stock) = c.get(&token, "/ccadmin/v1/inventories/prod000003?type=product").await;
    assert_eq!((status, stock["childSKUs"].as_array().map(Vec::len)), (200, Some(2)));

    sim.set_churn(true);
    let (_, first) = c.get(&token, "/ccadmin/v1/products?limit=10&sort=id:asc").await;
    let (_, second) = c.get(&token, "/ccadmin/v1/products?offset=10&limit=10&sort=id:asc").await;
    sim.set_churn(false);
    let (deleted, added) = sim.churned();
    assert_eq!((deleted, added.len()), (vec!["prod000001".to_owned()], 1));
    assert_eq!(ids(&first).last().map(String::as_str), Some("prod000011"));
    assert_eq!(ids(&second)[0], "prod000013", "prod000012 moved up into the page already read");
    let (_, all) = c.get(&token, "/ccadmin/v1/products?limit=250").await;
    assert!(ids(&all).contains(&"prod000012".to_owned()), "the item skipped by paging is live");

    sim.set_truncate_after(Some(10));
    let (_, cut) = c.get(&token, "/ccadmin/v1/products?offset=10&limit=10").await;
    assert_eq!((ids(&cut).len(), cut["totalResults"].as_u64()), (0, Some(29)));
}

/// Orders `q` is RQL unless `queryFormat=SCIM` is sent: a SCIM filter without it is refused with an
/// errorModel body, as a real store refuses it (docs/occ.md, "Order queries").
#[tokio::test]
async fn orders_q_is_rql_unless_scim_is_asked_for() {
    let (_sim, c, key) = sim_with(SimOptions::default()).await;
    let token = c.token(&key).await;
    let (_, all) = c.get(&token, "/ccadmin/v1/orders?sort=id:asc").await;
    let id = all["items"][0]["id"].as_str().expect("id").to_owned();
    let encode = |q: &str| serde_urlencoded::to_string([("", q)]).expect("encode")[1..].to_owned();

    let scim = encode(&format!("id eq \"{id}\""));
    let (status, body) = c.get(&token, &format!("/ccadmin/v1/orders?q={scim}")).await;
    assert_eq!(status, 400, "SCIM without queryFormat must be refused: {body}");
    assert_eq!(body["status"], "400");
    assert!(body["errorCode"].is_string() && body["message"].as_str().is_some_and(|m| m.contains("RQL")), "{body}");

    let (status, found) = c.get(&token, &format!("/ccadmin/v1/orders?queryFormat=SCIM&q={scim}")).await;
    assert_eq!((status, found["items"].as_array().map(Vec::len)), (200, Some(1)), "{found}");

    let rql = encode(&format!("id = \"{id}\" OR NOT (id != \"{id}\")"));
    let (status, found) = c.get(&token, &format!("/ccadmin/v1/orders?q={rql}")).await;
    assert_eq!((status, found["items"][0]["id"].as_str()), (200, Some(id.as_str())), "{found}");

    let (status, _) = c.get(&token, &format!("/ccadmin/v1/orders?queryFormat=ATG&q={rql}")).await;
    assert_eq!(status, 400, "an unknown queryFormat is refused");
    let (status, _) = c.get(&token, &format!("/ccadmin/v1/orders?q={}", encode("id = o1 AND"))).await;
    assert_eq!(status, 400, "incomplete RQL is refused");
}
/// OCC's real set of event webhooks by default: production and preview twins, secrets shared by
/// name; the Violet ids only behind the option.
#[tokio::test]
async fn the_real_webhook_ids_are_served_and_the_violet_ones_only_on_request() {
    let (sim, c, key) = sim_with(SimOptions::default()).await;
    let token = c.token(&key).await;
    let (status, listed) = c.get(&token, "/ccadmin/v1/webhooks?serverType=production&includeSecretKeys=true").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["items"].as_array().expect("items").iter().filter_map(|w| w["id"].as_str()).collect();
    assert!(ids.contains(&"production-submitOrder") && ids.contains(&"production-returnRequestUpdate"), "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("production-")), "{ids:?}");
    assert!(sim.webhook("publishing-submitOrder").is_some());
    assert_eq!(
        sim.webhook("publishing-submitOrder").expect("preview")["secretKey"],
        sim.webhook("production-submitOrder").expect("production")["secretKey"],
        "a secret is shared by the webhooks of one name"
    );
    assert_eq!(c.get(&token, "/ccadmin/v1/webhooks/order-submit").await.0, 404);

    let (violet, c2, key2) = sim_with(SimOptions { violet_webhook_ids: true, ..SimOptions::default() }).await;
    let token2 = c2.token(&key2).await;
    assert_eq!(c2.get(&token2, "/ccadmin/v1/webhooks/order-submit").await.0, 200);
    assert!(violet.webhook("production-submitOrder").is_some());
}

/// A PUT replaces the whole webhook (fields left out are reset), and plain-http targets are refused
/// with an OCC error body unless the option allows them.
#[tokio::test]
async fn a_webhook_put_replaces_the_whole_webhook_and_refuses_plain_http() {
    let (sim, c, key) = sim_with(SimOptions::default()).await;
    let token = c.token(&key).await;
    let path = "/ccadmin/v1/webhooks/production-submitOrder";
    let full = json!({"urls": ["https://oms.example/a"], "headers": {"X-Tenant": "t1"},
                      "basicAuthentication": {"oms": "pw"}, "maxNumberOfResendAttempts": 2});
    assert_eq!(c.put(&token, path, full).await.0, 200);
    assert_eq!(c.put(&token, path, json!({"urls": ["https://oms.example/a", "https://b.example/"]})).await.0, 200);
    let webhook = sim.webhook("production-submitOrder").expect("webhook");
    assert_eq!(webhook["headers"], json!({}), "headers not sent are reset");
    assert_eq!(webhook["basicAuthentication"], Value::Null);
    assert_eq!(webhook["maxNumberOfResendAttempts"], 5);

    let (status, refused) = c.put(&token, path, json!({"urls": ["http://plain.example/hook"]})).await;
    assert_eq!(status, 400);
    assert_eq!(refused["status"], "400");
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("HTTPS")), "{refused}");
    assert_eq!(sim.webhook("production-submitOrder").expect("webhook")["urls"].as_array().map(Vec::len), Some(2));

    let (_, c2, key2) = sim_with(SimOptions { allow_http_callbacks: true, ..SimOptions::default() }).await;
    let token2 = c2.token(&key2).await;
    assert_eq!(c2.put(&token2, path, json!({"urls": ["http://127.0.0.1:9/hook"]})).await.0, 200);
}

/// A delivery that fails every attempt becomes a failed message; `resend` sends it to the failed
/// URLs only, and a delivered message is gone.
#[tokio::test]
async fn failed_deliveries_are_kept_and_resent_to_the_failed_urls_only() {
    let hits = Arc::new(Mutex::new(Vec::<String>::new()));
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (h, u) = (hits.clone(), up.clone());
    let server = HttpServer::new(move || {
        let (h, u) = (h.clone(), u.clone());
        App::new().route(
            "/{name}",
            web::post().to(move |name: web::Path<String>| {
                let (h, u) = (h.clone(), u.clone());
                async move {
                    h.lock().expect("lock").push(name.into_inner());
                    if u.load(std::sync::atomic::Ordering::SeqCst) {
                        HttpResponse::Ok().finish()
                    } else {
                        HttpResponse::ServiceUnavailable().finish()
                    }
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let options =
        SimOptions { webhook_attempts: 3, webhook_retry_delay: Duration::from_millis(5), ..SimOptions::default() };
    let (sim, c, key) = sim_with(options).await;
    let token = c.token(&key).await;
    sim.set_webhook_urls("production-submitOrder", vec![format!("http://127.0.0.1:{port}/down")]);
    sim.deliver_webhook("production-submitOrder", br#"{"order":{"id":"o1"}}"#).await;
    assert_eq!(hits.lock().expect("lock").len(), 3, "three attempts");
    let (status, failed) = c.get(&token, "/ccadmin/v1/webhookFailedMessages").await;
    assert_eq!(status, 200);
    let message = &failed["items"][0];
    assert_eq!(message["messageType"], "submitOrder");
    assert_eq!(message["remainingTargetUrls"], json!([format!("http://127.0.0.1:{port}/down")]));
    let id = message["id"].as_str().expect("id").to_owned();
    let (status, _) = c.get(&token, "/ccadmin/v1/webhookFailedMessages?q=messageType%20%3D%20%22submitOrder%22").await;
    assert_eq!(status, 200);
    assert_eq!(c.get(&token, "/ccadmin/v1/webhookFailedMessages?q=garbage").await.0, 400);

    assert_eq!(
        c.put(&token, &format!("/ccadmin/v1/webhookFailedMessages/{id}"), json!({"resend": false})).await.0,
        400
    );
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = c.put(&token, &format!("/ccadmin/v1/webhookFailedMessages/{id}"), json!({"resend": true})).await;
    assert_eq!(status, 200);
    assert_eq!(hits.lock().expect("lock").len(), 4);
    assert!(sim.failed_messages().is_empty(), "delivered: no longer kept");
    assert_eq!(c.put(&token, &format!("/ccadmin/v1/webhookFailedMessages/{id}"), json!({"resend": true})).await.0, 404);
    handle.stop(true).await;
}

/// A multi-site store answers per `x-ccsite`: the default site (or no header) with the whole catalog,
/// another site with its subset, its stock location and its shipping rates; prices of every site's
/// price list group in each document; unknown and disabled sites refused.
#[tokio::test]
async fn a_multi_site_store_answers_per_site() {
    let (sim, c, key) =
        sim_with(SimOptions { products: 20, sites: storelink_occ_sim::SimSite::three(), ..SimOptions::default() })
            .await;
    let token = c.token(&key).await;
    let on = |site: Option<&'static str>, path: &'static str| {
        let (c, token) = (&c, &token);
        async move {
            let mut request = c.http.get(format!("{}{path}", c.base)).bearer_auth(token);
            if let Some(site) = site {
                request = request.header("x-ccsite", site);
            }
            let response = request.send().await.expect("get");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, whole) = on(None, "/ccadmin/v1/products?limit=250").await;
    let (_, us) = on(Some("siteUS"), "/ccadmin/v1/products?limit=250").await;
    let (_, eu) = on(Some("siteEU"), "/ccadmin/v1/products?limit=250").await;
    assert_eq!((whole["totalResults"].as_u64(), us["totalResults"].as_u64()), (Some(20), Some(20)));
    assert_eq!(eu["totalResults"], 18, "prod000010 and prod000020 are on the default site only");
    let first = &eu["items"][0];
    assert_eq!(first["listPrice"], whole["items"][0]["listPrice"], "the plain price stays the default group's");
    let (us_price, eu_price) =
        (first["listPrices"]["defaultPriceGroup"].as_f64(), first["listPrices"]["euPriceGroup"].as_f64());
    assert_eq!(eu_price, us_price.map(|p| (p * 0.9 * 100.0).round() / 100.0));
    assert_eq!(on(Some("siteEU"), "/ccadmin/v1/products/prod000010").await.0, 404);
    assert_eq!(on(Some("siteUS"), "/ccadmin/v1/products/prod000010").await.0, 200);
    assert!(sim.remove_from_site("prod000001", "siteEU"));
    assert_eq!(on(Some("siteEU"), "/ccadmin/v1/products/prod000001").await.0, 404);
    assert_eq!(on(None, "/ccadmin/v1/products/prod000001").await.0, 200, "still in the store");
    let (_, stock) = on(Some("siteEU"), "/ccadmin/v1/inventories?limit=1").await;
    assert_eq!(stock["items"][0]["childSKUs"][0]["locationId"], "siteEU-warehouse");
    let (_, stock) = on(None, "/ccadmin/v1/inventories?limit=1").await;
    assert!(stock["items"][0]["childSKUs"][0]["locationId"].is_null());
    let (_, us_ship) = on(None, "/ccadmin/v1/shippingMethods?enabledOnly=false").await;
    let (_, eu_ship) = on(Some("siteEU"), "/ccadmin/v1/shippingMethods?enabledOnly=false").await;
    assert_ne!(us_ship["items"][1]["ranges"], eu_ship["items"][1]["ranges"], "each site's own rates");
    assert_eq!(on(Some("siteXX"), "/ccadmin/v1/products").await.0, 400);
    assert_eq!(on(Some("siteUK"), "/ccadmin/v1/products").await.0, 400, "disabled");
}
