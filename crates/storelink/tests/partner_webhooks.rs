//! Partner webhooks end to end: OCC order webhooks -> outbox -> signed deliveries to a partner
//! endpoint on loopback. Verified with the independent `standardwebhooks` crate. The endpoint is down
//! for a while (deliveries retried, then succeed, in order), secrets rotate with an overlap, 410 Gone
//! disables the endpoint, the log shows every attempt and a replay sends the event again.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::{ORDER_SUBMIT_HOOK, merchant_id_from, spawn_app, wait_for};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("../../../fixtures/occ/order-submit.json");

/// What the receiver got: headers, raw body, and the status it answered.
type Received = (HeaderMap, Vec<u8>, u16);

/// A partner's webhook receiver: answers with `status`, records what it got.
#[derive(Clone)]
struct Receiver {
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> (Self, String, actix_web::dev::ServerHandle) {
        let receiver = Receiver { status: Arc::new(AtomicU16::new(503)), got: Arc::default() };
        let shared = receiver.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hooks/storelink", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || {
            let r = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let r = r.clone();
                async move {
                    let mut headers = HeaderMap::new();
                    for (name, value) in req.headers() {
                        headers.insert(
                            HeaderName::from_bytes(name.as_str().as_bytes()).expect("name"),
                            HeaderValue::from_bytes(value.as_bytes()).expect("value"),
                        );
                    }
                    let status = r.status.load(Ordering::SeqCst);
                    r.got.lock().expect("lock").push((headers, body.to_vec(), status));
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        (receiver, url, handle)
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    fn delivered(&self) -> Vec<(HeaderMap, Value)> {
        self.received()
            .into_iter()
            .filter(|(_, _, status)| *status == 200)
            .map(|(h, b, _)| (h, serde_json::from_slice(&b).expect("json body")))
            .collect()
    }
}

async fn api(
    app: &common::TestApp,
    bearer: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base)).bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    standardwebhooks::Webhook::new(secret).expect("secret").verify(body, headers).is_ok()
}

#[tokio::test]
async fn deliveries_are_signed_retried_in_order_and_logged() {
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let (receiver, url, receiver_handle) = Receiver::start().await;

    // Registration: the SSRF guard and event names are checked.
    let (status, problem) = api(
        &app,
        &bearer,
        reqwest::Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": "ftp://example.com/x", "events": ["order.created"]})),
    )
    .await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_endpoint")));
    let (status, problem) = api(
        &app,
        &bearer,
        reqwest::Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": url, "events": ["order.exploded"]})),
    )
    .await;
    assert_eq!((status, problem["code"].as_str()), (422, Some("invalid_endpoint")));
    let events = json!(["order.created", "order.updated", "shipment.created", "shipment.updated", "return.updated"]);
    let (status, created) = api(
        &app,
        &bearer,
        reqwest::Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": url, "events": events})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let endpoint = created["endpoint_id"].as_str().expect("id").to_owned();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, listed) =
        api(&app, &bearer, reqwest::Method::GET, &format!("/v1/webhooks/endpoints/{endpoint}"), None).await;
    assert!(listed.get("secret").is_none(), "the secret is shown only once");

    // The fixture order 5 times, then an update that ships it: order.created, order.updated, shipment.created.
    for _ in 0..5 {
        app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, FIXTURE.as_bytes()).await;
    }
    let mut shipped: Value = serde_json::from_str(FIXTURE).expect("fixture");
    shipped["order"]["lastModifiedTime"] = json!(1_800_000_000_000_i64);
    shipped["order"]["shippingGroups"][0]["trackingNumber"] = json!("1Z999");
    app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, shipped.to_string().as_bytes()).await;

    // The endpoint is down: attempts are retried on the schedule.
    let rec = receiver.clone();
    assert!(
        wait_for(Duration::from_secs(20), || {
            let r = rec.clone();
            async move { r.received().len() >= 3 }
        })
        .await
    );
    assert!(receiver.received().iter().all(|(h, b, _)| h.get("webhook-id").is_some() && !b.is_empty()));
    receiver.set(200);
    let rec = receiver.clone();
    assert!(
        wait_for(Duration::from_secs(20), || {
            let r = rec.clone();
            async move { r.delivered().len() >= 3 }
        })
        .await
    );
    let delivered = receiver.delivered();
    let types: Vec<&str> = delivered.iter().map(|(_, b)| b["type"].as_str().expect("type")).collect();
    assert_eq!(types, vec!["order.created", "order.updated", "shipment.created"], "in order, once each");
    assert_eq!(delivered[0].1["data"]["order_id"], "o20005");
    assert_eq!(delivered[0].1["data"]["merchant_id"], merchant.as_str());
    assert_eq!(delivered[2].1["data"]["shipment_id"], "sg20005");
    for (headers, raw, status) in receiver.received() {
        if status == 200 {
            assert!(verify(&secret, &headers, &raw), "signature verifies with standardwebhooks");
            let mut tampered = raw.clone();
            tampered.push(b' ');
            assert!(!verify(&secret, &headers, &tampered), "a changed body does not verify");
        }
    }

    // The log shows the failed attempts and the success.
    let (status, log) =
        api(&app, &bearer, reqwest::Method::GET, &format!("/v1/webhooks/endpoints/{endpoint}/deliveries"), None).await;
    assert_eq!(status, 200);
    let first = log["items"].as_array().expect("items").last().expect("oldest").clone();
    assert_eq!(first["state"], "delivered");
    assert!(first["attempts"].as_i64().is_some_and(|n| n >= 2), "{first}");
    assert_eq!(first["attempt_log"][0]["status"], 503);

    // Rotation: during the overlap both secrets sign; replay sends the event again.
    let (status, rotated) =
        api(&app, &bearer, reqwest::Method::POST, &format!("/v1/webhooks/endpoints/{endpoint}/rotate-secret"), None)
            .await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    let delivery = first["delivery_id"].as_i64().expect("delivery id");
    let (status, _) = api(
        &app,
        &bearer,
        reqwest::Method::POST,
        &format!("/v1/webhooks/endpoints/{endpoint}/deliveries/{delivery}/replay"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let rec = receiver.clone();
    assert!(
        wait_for(Duration::from_secs(20), || {
            let r = rec.clone();
            async move { r.delivered().len() >= 4 }
        })
        .await
    );
    let (headers, raw, _) = receiver.received().into_iter().last().expect("replayed");
    assert_eq!(headers.get("webhook-signature").expect("sig").to_str().expect("ascii").split(' ').count(), 2);
    assert!(verify(&secret, &headers, &raw) && verify(&new_secret, &headers, &raw), "both secrets verify");
    assert_eq!(headers.get("webhook-id"), delivered[0].0.get("webhook-id"), "a replay keeps the message id");

    // 410 Gone disables the endpoint; re-enabling resumes it.
    receiver.set(410);
    let mut update = shipped.clone();
    update["order"]["lastModifiedTime"] = json!(1_800_000_100_000_i64);
    update["order"]["state"] = json!("PROCESSING");
    app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, update.to_string().as_bytes()).await;
    let (bearer2, path) = (bearer.clone(), format!("/v1/webhooks/endpoints/{endpoint}"));
    assert!(
        wait_for(Duration::from_secs(20), || {
            let (app, b, p) = (&app, bearer2.clone(), path.clone());
            async move { api(app, &b, reqwest::Method::GET, &p, None).await.1["enabled"] == false }
        })
        .await,
        "disabled after 410"
    );
    let (_, disabled) = api(&app, &bearer, reqwest::Method::GET, &path, None).await;
    assert!(disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("410")));

    receiver_handle.stop(false).await;
    app.stop().await;
}

#[tokio::test]
async fn a_failure_streak_disables_the_endpoint_and_nothing_is_lost() {
    let app = spawn_app().await;
    merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let (receiver, url, receiver_handle) = Receiver::start().await;
    let (_, created) = api(
        &app,
        &bearer,
        reqwest::Method::POST,
        "/v1/webhooks/endpoints",
        Some(json!({"url": url, "events": ["order.created"]})),
    )
    .await;
    let endpoint = created["endpoint_id"].as_str().expect("id").to_owned();
    for n in 0..3 {
        let mut order: Value = serde_json::from_str(FIXTURE).expect("fixture");
        order["order"]["id"] = json!(format!("o-streak-{n}"));
        app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, order.to_string().as_bytes()).await;
    }
    // The schedule has 7 retries; the 8th consecutive failure disables the endpoint.
    let path = format!("/v1/webhooks/endpoints/{endpoint}");
    assert!(
        wait_for(Duration::from_secs(30), || {
            let (app, b, p) = (&app, bearer.clone(), path.clone());
            async move { api(app, &b, reqwest::Method::GET, &p, None).await.1["enabled"] == false }
        })
        .await
    );
    let (_, disabled) = api(&app, &bearer, reqwest::Method::GET, &path, None).await;
    assert!(disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("consecutive")), "{disabled}");
    let attempts = receiver.received().len();
    assert_eq!(attempts, 8, "one whole schedule, then stopped");
    // An order arriving while the endpoint is disabled is kept for it, not sent.
    let mut order: Value = serde_json::from_str(FIXTURE).expect("fixture");
    order["order"]["id"] = json!("o-streak-3");
    app.sim.deliver_webhook(ORDER_SUBMIT_HOOK, order.to_string().as_bytes()).await;
    let held = "SELECT count(*) FROM partner_deliveries d JOIN partner_events e USING (merchant_id, event_id)
                     WHERE e.data->>'order_id' = 'o-streak-3' AND d.state = 'pending'";
    assert!(
        common::wait_for_count(&app.db.pool, held, 1, Duration::from_secs(20)).await,
        "the event is held for the disabled endpoint"
    );
    assert_eq!(receiver.received().len(), 8, "nothing is sent to a disabled endpoint");
    // The partner fixes its endpoint and re-enables it: the rest arrives, in order.
    receiver.set(200);
    let (status, _) = api(&app, &bearer, reqwest::Method::PATCH, &path, Some(json!({"enabled": true}))).await;
    assert_eq!(status, 200);
    let rec = receiver.clone();
    assert!(
        wait_for(Duration::from_secs(20), || {
            let r = rec.clone();
            async move { r.delivered().len() >= 3 }
        })
        .await
    );
    let ids: Vec<String> =
        receiver.delivered().iter().map(|(_, b)| b["data"]["order_id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(
        ids,
        vec!["o-streak-1", "o-streak-2", "o-streak-3"],
        "the first delivery failed for good; later ones, including the one held while disabled, follow in order"
    );
    receiver_handle.stop(false).await;
    app.stop().await;
}
