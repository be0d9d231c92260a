//! `spawn_app()`: the real server on 127.0.0.1:0 against a fresh database and a fresh OCC
//! simulator, with the worker loops running, as each integration test's starting point.
#![allow(dead_code)]

use std::net::TcpListener;
use std::time::{Duration, Instant};
use storelink::config::{Config, RawConfig};
use storelink::server::{self, Services};
use storelink_core::PartnerId;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_tenants::{NewPartner, PartnerCredentials, partners};
use storelink_testkit::{TestDb, test_db};
use storelink_vault::MasterKeys;
use tokio_util::sync::CancellationToken;

pub const REDIRECT_URI: &str = "https://partner.example/storelink/callback";

pub struct AppOptions {
    pub allow_insecure: bool,
    pub per_client_per_minute: u32,
    pub per_store_per_minute: u32,
    /// After this long a slot left `pending` (outcome never recorded) is taken by the retry loop.
    pub slot_pending_stale_secs: f64,
    pub sim: SimOptions,
    /// Connectors besides OCC's (a test-only platform).
    pub connectors: Vec<std::sync::Arc<dyn storelink_connector::Connector>>,
    /// How often stores are asked to resend failed webhook deliveries.
    pub webhook_resend_secs: f64,
    /// `STORELINK_WEBHOOK_IDS` (slot -> webhook id overrides).
    pub webhook_ids: String,
    /// The database to serve (default: a fresh one on the test server); `tests/replicas.rs` brings
    /// one on a primary cluster of its own.
    pub db: Option<TestDb>,
    /// `STORELINK_READ_DATABASE_URL` and `STORELINK_READ_MAX_LAG`.
    pub read_database_url: Option<String>,
    pub read_max_lag: String,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            allow_insecure: true,
            per_client_per_minute: 1000,
            per_store_per_minute: 1000,
            slot_pending_stale_secs: 120.0,
            // Callbacks go to the app over plain-http loopback, which OCC (and the simulator by
            // default) refuses.
            sim: SimOptions { allow_http_callbacks: true, ..SimOptions::default() },
            connectors: Vec::new(),
            webhook_resend_secs: 600.0,
            webhook_ids: String::new(),
            db: None,
            read_database_url: None,
            read_max_lag: "5s".into(),
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub sim: OccSim,
    pub key: String,
    pub partner: PartnerCredentials,
    pub http: reqwest::Client,
    pub services: Services,
    handle: actix_web::dev::ServerHandle,
    shutdown: CancellationToken,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(opts: AppOptions) -> TestApp {
    // As the binary: trace contexts propagate through the `tracing-opentelemetry` layer (no export);
    // a test that installed its own subscriber keeps it.
    let _ = storelink::telemetry::init(storelink::config::LogFormat::Text, storelink::telemetry::Verbosity::Warn);
    let db = match opts.db {
        Some(db) => db,
        None => test_db().await,
    };
    let sim = OccSim::spawn(opts.sim).await.expect("start simulator");
    let key = sim.add_key(Permissions::all());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let raw = RawConfig {
        listen: addr.to_string(),
        public_url: format!("http://{addr}"),
        allow_insecure_store_urls: opts.allow_insecure,
        connect_per_client_per_minute: opts.per_client_per_minute,
        connect_per_store_per_minute: opts.per_store_per_minute,
        slot_retry_base_secs: 0.05,
        slot_retry_cap_secs: 0.2,
        slot_retry_poll_secs: 0.05,
        slot_pending_stale_secs: opts.slot_pending_stale_secs,
        webhook_resend_secs: opts.webhook_resend_secs,
        webhook_ids: opts.webhook_ids,
        webhook_retry_schedule: "100ms,200ms,300ms,400ms,500ms,500ms,500ms".into(),
        read_database_url: opts.read_database_url,
        read_max_lag: opts.read_max_lag,
        ..RawConfig::default()
    };
    let config = Config::validate(raw).expect("config");
    let keys = MasterKeys::generate("test");
    let services = Services::with_connectors(config, db.pool.clone(), keys, opts.connectors).expect("services");
    let (handle, shutdown) = start(&services, listener).await;
    let uris = vec![REDIRECT_URI.to_owned()];
    let partner = partners::create(&db.pool, NewPartner { name: "Acme Marketplace", redirect_uris: &uris })
        .await
        .expect("partner");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { base: format!("http://{addr}"), db, sim, key, partner, http, services, handle, shutdown }
}

/// The web server and the workers of `services`, on `listener`.
async fn start(services: &Services, listener: TcpListener) -> (actix_web::dev::ServerHandle, CancellationToken) {
    let server = server::http_server(services, listener, false).expect("server");
    let handle = server.handle();
    tokio::spawn(server);
    let shutdown = CancellationToken::new();
    tokio::spawn(server::run_workers(services.clone(), shutdown.clone()));
    (handle, shutdown)
}

/// The form as a browser holds it after `GET /connect`: its CSRF cookie and token.
pub struct FormSession {
    pub cookie: String,
    pub token: String,
}

/// The query of the test partner's connect link.
pub fn link_query(partner: PartnerId) -> Vec<(&'static str, String)> {
    vec![
        ("partner_id", partner.to_string()),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("state", "xyz-123".to_owned()),
    ]
}

/// `GET /connect` on the server at `base`, as the partner's link opens it.
pub async fn open_form_at(http: &reqwest::Client, base: &str, partner: PartnerId) -> FormSession {
    let response = http.get(format!("{base}/connect")).query(&link_query(partner)).send().await.expect("GET /connect");
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("CSRF cookie")
        .to_owned();
    let body = response.text().await.expect("body");
    let token = storelink_testkit::extract_csrf_token(&body).expect("csrf token in form");
    FormSession { cookie, token }
}

/// `POST /connect` on the server at `base` with the form's fields (overriding the link's) and extra
/// request headers.
pub async fn post_connect_at(
    http: &reqwest::Client,
    base: &str,
    partner: PartnerId,
    session: &FormSession,
    fields: &[(&str, String)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, String)> = link_query(partner);
    form.push(("csrf_token", session.token.clone()));
    for (k, v) in fields {
        form.retain(|(existing, _)| existing != k);
        form.push((k, v.clone()));
    }
    let mut request = http.post(format!("{base}/connect")).header("cookie", &session.cookie).form(&form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST /connect")
}

impl TestApp {
    pub fn link_query(&self) -> Vec<(&'static str, String)> {
        link_query(self.partner.partner_id)
    }

    pub async fn open_form(&self) -> FormSession {
        open_form_at(&self.http, &self.base, self.partner.partner_id).await
    }

    pub async fn post_connect(&self, session: &FormSession, fields: &[(&str, String)]) -> reqwest::Response {
        post_connect_at(&self.http, &self.base, self.partner.partner_id, session, fields, &[]).await
    }

    /// The whole flow with the simulator's store and the given key.
    pub async fn connect_with(&self, store_url: &str, key: &str) -> reqwest::Response {
        let session = self.open_form().await;
        self.post_connect(&session, &[("store_url", store_url.to_owned()), ("app_key", key.to_owned())]).await
    }

    pub async fn connect(&self) -> reqwest::Response {
        self.connect_with(&self.sim.base_url(), &self.key).await
    }

    /// Stop the server and the workers abruptly (no graceful drain), then start new ones on a new
    /// port against the same database, as a process restart would.
    pub async fn restart(&mut self) {
        self.shutdown.cancel();
        self.handle.stop(false).await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = self.services.config.clone();
        config.http.listen = addr;
        config.http.public_url = format!("http://{addr}").parse().expect("url");
        let services = Services::new(config, self.db.pool.clone(), self.services.keys.clone()).expect("services");
        let (handle, shutdown) = start(&services, listener).await;
        self.base = format!("http://{addr}");
        self.services = services;
        self.handle = handle;
        self.shutdown = shutdown;
    }

    /// Stop the background workers (sync, slot retries, deliveries), leaving the web server running.
    pub fn stop_workers(&self) {
        self.shutdown.cancel();
    }

    /// A partner API bearer token for the test partner.
    pub async fn bearer(&self) -> String {
        use secrecy::ExposeSecret;
        let response = self
            .http
            .post(format!("{}/v1/oauth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.partner.client_id.as_str()),
                ("client_secret", self.partner.client_secret.expose_secret()),
            ])
            .send()
            .await
            .expect("token");
        let body: serde_json::Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// A synced SKU with at least two in stock (the first by id).
    pub async fn sku_in_stock(&self) -> String {
        sqlx::query_scalar("SELECT sku_id FROM inventory WHERE stock_level >= 2 ORDER BY sku_id LIMIT 1")
            .fetch_one(&self.db.pool)
            .await
            .expect("a SKU in stock")
    }

    /// Wait until the merchant's initial syncs of every kind finished.
    pub async fn wait_synced(&self) {
        let pool = self.db.pool.clone();
        let done = wait_for(Duration::from_secs(30), || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL")
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0)
                    >= 4
            }
        })
        .await;
        assert!(done, "initial syncs finished");
    }

    /// Connect a SAP store (`store_url`, sealed `credentials`) for the test partner through the
    /// onboarding pipeline (login, validation, checks, save, webhooks, first syncs), as the connect
    /// form does with the SAP fields.
    pub async fn connect_sap(
        &self,
        store_url: &str,
        credentials: secrecy::SecretString,
    ) -> storelink_onboarding::Connected {
        let s = &self.services;
        let pipeline = storelink_onboarding::Pipeline {
            pool: s.pool.clone(),
            connectors: s.connectors.clone(),
            default_platform: "occ".into(),
            vault: s.vault.clone(),
            registrar: s.registrar.clone(),
            tokens: s.tokens.clone(),
            policy: s.policy,
        };
        let connector = pipeline.connector(Some("sap")).expect("the SAP connector").clone();
        let store = pipeline.vet_store(store_url).await.expect("store URL");
        pipeline.connect(self.partner.partner_id, &connector, store, credentials).await.expect("connect")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.stop(true).await;
        self.sim.stop().await;
    }
}

/// Where the merchant goes back to the partner: a 303's Location, or the connect summary page's
/// continue target (its `Link: <...>; rel="next"` header).
pub fn continue_url(response: &reqwest::Response) -> String {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(location) = header("location") {
        return location.to_owned();
    }
    let link = header("link").expect("a Location or Link header");
    let target = link.strip_prefix('<').and_then(|l| l.split_once('>')).map(|(t, _)| t).expect("Link <target>");
    assert!(link.contains("rel=\"next\""), "{link}");
    target.to_owned()
}

/// The `merchant_id` from the continue target (`continue_url`).
pub fn merchant_id_from(response: &reqwest::Response) -> String {
    let url = url::Url::parse(&continue_url(response)).expect("absolute continue URL");
    url.query_pairs().find(|(k, _)| k == "merchant_id").map(|(_, v)| v.into_owned()).expect("merchant_id")
}

/// Polls `check` until it holds or `timeout` passes (no fixed sleeps in tests).
pub async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check().await
}

/// `SELECT count(*)`-style query answering one number.
pub async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// Polls a counting query until it answers `expected` (or `timeout` passes).
pub async fn wait_for_count(pool: &sqlx::PgPool, sql: &str, expected: i64, timeout: Duration) -> bool {
    wait_for(timeout, || async { sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap_or(-1) == expected })
        .await
}

/// The OCC webhook signature (`X-Oracle-CC-WebHook-Signature-SHA512`) of `body` under a base64 secret.
pub fn sign_sha512(secret_b64: &str, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD.decode(secret_b64).expect("b64");
    let mut mac = <hmac::Hmac<sha2::Sha512> as Mac>::new_from_slice(&key).expect("key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `POST /v1/merchants/{merchant}/orders` with an Idempotency-Key: status, body and `Retry-After`.
pub async fn place_order(
    app: &TestApp,
    bearer: &str,
    merchant: &str,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value, Option<String>) {
    let response = app
        .http
        .post(format!("{}/v1/merchants/{merchant}/orders", app.base))
        .bearer_auth(bearer)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, response.json().await.unwrap_or(serde_json::Value::Null), retry_after)
}

/// The simulator's webhook discovery maps the order-submit slot to (the non-PCI Order Submit).
pub const ORDER_SUBMIT_HOOK: &str = "production-submitOrderForNonPCITargets";
/// The simulator's webhook discovery maps the return-request-update slot to.
pub const RETURN_UPDATE_HOOK: &str = "production-returnRequestUpdateForNonPCITargets";
