//! "Loopback", a made-up commerce platform, and its connector: the proof that a platform plugs in
//! through `storelink_connector::Connector` alone. The store is a small HTTP server on 127.0.0.1
//! with its own API (an `X-Api-Key` login, `skip`/`top` paging, `{"value": [...], "count": n}` pages,
//! webhooks signed with a hex HMAC-SHA256 in `X-Loopback-Signature`); nothing in it is OCC's.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures::FutureExt;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use storelink_connector::{
    Capabilities, Check, Connector, ConnectorError, Delivery, FormField, Headers, Login, NewOrder, Page, PageRequest,
    Records, Session, SiteScope, Subscription, VerifyError,
};
use storelink_core::{Slot, SyncKind};
use storelink_model::records::{Hashed, InventoryRow, OrderRow, ProductRow, ShippingRow, SkuRow, hashed};
use url::Url;

pub const PLATFORM: &str = "loopback";
const SIGNATURE: &str = "X-Loopback-Signature";

/// The store's state: its items (`id`, `name`, `price`, `stock`), API key, and webhook subscriptions.
struct State {
    key: String,
    items: Vec<Value>,
    hooks: HashMap<String, Vec<String>>,
    secret: Vec<u8>,
}

#[derive(Clone)]
pub struct LoopbackStore {
    state: Arc<Mutex<State>>,
    pub base: String,
    pub key: String,
}

impl LoopbackStore {
    pub async fn spawn(items: usize) -> Self {
        let key = format!("loopback-key-{}", uuid::Uuid::new_v4());
        let items = (1..=items)
            .map(|i| json!({"id": format!("lb-{i:03}"), "name": format!("Item {i}"), "price": i as f64 + 0.5, "stock": i}))
            .collect();
        let state = State { key: key.clone(), items, hooks: HashMap::new(), secret: vec![7u8; 32] };
        let state = Arc::new(Mutex::new(state));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind store");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let data = web::Data::new(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .route("/api/login", web::post().to(login))
                .route("/api/items", web::get().to(items_page))
                .route("/api/items/{id}", web::get().to(item))
                .route("/api/carriers", web::get().to(carriers))
                .route("/api/hooks/{slot}", web::get().to(get_hook))
                .route("/api/hooks/{slot}", web::put().to(put_hook))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self { state, base, key }
    }

    pub fn hook_urls(&self, slot: &str) -> Vec<String> {
        self.lock().hooks.get(slot).cloned().unwrap_or_default()
    }

    /// Sign `body` as the store signs its deliveries.
    pub fn sign(&self, body: &[u8]) -> String {
        sign(&self.lock().secret, body)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("hmac key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn locked(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every call but the login carries `Authorization: Session <key>-session`.
fn authorized(state: &Shared, req: &HttpRequest) -> bool {
    let expected = format!("Session {}-session", locked(state).key);
    req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

async fn login(state: Shared, req: HttpRequest) -> HttpResponse {
    let key = locked(&state).key.clone();
    match req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(k) if k == key => HttpResponse::Ok().json(json!({"session": format!("{key}-session"), "ttl": 600})),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

#[derive(serde::Deserialize)]
struct Paging {
    skip: usize,
    top: usize,
}

async fn items_page(state: Shared, req: HttpRequest, q: web::Query<Paging>) -> HttpResponse {
    if !authorized(&state, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    let items = locked(&state).items.clone();
    let value: Vec<Value> = items.iter().skip(q.skip).take(q.top.max(1)).cloned().collect();
    HttpResponse::Ok().json(json!({"value": value, "count": items.len()}))
}

async fn item(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    match locked(&state).items.iter().find(|i| i["id"] == json!(*id)) {
        Some(item) => HttpResponse::Ok().json(item),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn carriers(state: Shared, req: HttpRequest) -> HttpResponse {
    if !authorized(&state, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!({"value": [{"code": "post", "label": "Loopback Post"}], "count": 1}))
}

async fn get_hook(state: Shared, req: HttpRequest, slot: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    let state = locked(&state);
    let urls = state.hooks.get(slot.as_str()).cloned().unwrap_or_default();
    HttpResponse::Ok().json(json!({"urls": urls, "secret": hex::encode(&state.secret)}))
}

async fn put_hook(state: Shared, req: HttpRequest, slot: web::Path<String>, body: web::Json<Value>) -> HttpResponse {
    if !authorized(&state, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    let urls = body["urls"].as_array().map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect());
    locked(&state).hooks.insert(slot.into_inner(), urls.unwrap_or_default());
    HttpResponse::Ok().finish()
}

/// The connector: Loopback's API in Storelink's terms.
pub struct LoopbackConnector {
    http: reqwest::Client,
}

impl LoopbackConnector {
    pub fn new() -> Self {
        Self { http: reqwest::Client::new() }
    }

    async fn get(&self, session: &Session, path: &str) -> Result<Value, ConnectorError> {
        let url = session.store.join(path).map_err(|e| ConnectorError::Refused { message: e.to_string() })?;
        let auth = format!("Session {}", session.token.expose_secret());
        let reply = self.http.get(url).header("authorization", auth).send().await.map_err(transient)?;
        read(reply, path).await
    }

    async fn list_page(&self, session: &Session, page: PageRequest<'_>) -> Result<Page, ConnectorError> {
        let (skip, top) = (page.offset, page.limit.max(1));
        let path = match page.kind {
            SyncKind::Shipping => "/api/carriers".to_owned(),
            SyncKind::Orders => {
                return Ok(Page { records: Records::Orders(Vec::new()), items: 0, total: Some(0), last: true });
            }
            _ => format!("/api/items?skip={skip}&top={top}"),
        };
        let reply = self.get(session, &path).await?;
        let value = reply["value"].as_array().cloned().unwrap_or_default();
        let total = reply["count"].as_u64();
        let items = value.len() as u64;
        let last = items == 0 || total.is_some_and(|t| skip + items >= t);
        Ok(Page { records: records(page.kind, &value), items, total, last })
    }
}

fn transient(e: reqwest::Error) -> ConnectorError {
    ConnectorError::Transient { detail: e.without_url().to_string() }
}

async fn read(reply: reqwest::Response, what: &str) -> Result<Value, ConnectorError> {
    match reply.status().as_u16() {
        200..=299 => {
            let bytes = reply.bytes().await.map_err(transient)?;
            Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        }
        401 => Err(ConnectorError::SessionExpired),
        404 => Err(ConnectorError::NotFound { what: what.to_owned() }),
        status => Err(ConnectorError::Transient { detail: format!("HTTP {status} from {what}") }),
    }
}

/// Loopback items in the model: one product with one SKU each, its stock at one location.
fn records(kind: SyncKind, items: &[Value]) -> Records {
    let text = |v: &Value, k: &str| v[k].as_str().map(str::to_owned);
    let id = |v: &Value| text(v, "id").unwrap_or_default();
    match kind {
        SyncKind::Catalog => Records::Catalog(
            items
                .iter()
                .map(|v| {
                    hashed(ProductRow {
                        product_id: id(v),
                        display_name: text(v, "name"),
                        description: None,
                        brand: None,
                        active: true,
                        list_price: v["price"].as_f64(),
                        sale_price: None,
                        image_url: None,
                        route: None,
                        category_ids: Vec::new(),
                        source_modified_at: None,
                        site_id: String::new(),
                    })
                })
                .collect(),
            items
                .iter()
                .map(|v| {
                    hashed(SkuRow {
                        sku_id: id(v),
                        product_id: id(v),
                        display_name: text(v, "name"),
                        active: true,
                        list_price: v["price"].as_f64(),
                        sale_price: None,
                        attributes: json!({}),
                        site_id: String::new(),
                    })
                })
                .collect(),
        ),
        SyncKind::Inventory => Records::Inventory(
            items
                .iter()
                .map(|v| {
                    hashed(InventoryRow {
                        sku_id: id(v),
                        location_id: "main".into(),
                        product_id: id(v),
                        stock_level: v["stock"].as_i64().unwrap_or_default(),
                        availability: None,
                        site_id: String::new(),
                    })
                })
                .collect(),
        ),
        SyncKind::Shipping => Records::Shipping(
            items
                .iter()
                .map(|v| {
                    hashed(ShippingRow {
                        method_id: text(v, "code").unwrap_or_default(),
                        display_name: text(v, "label"),
                        enabled: true,
                        calculator: None,
                        rates: Vec::new(),
                        site_id: String::new(),
                    })
                })
                .collect(),
        ),
        SyncKind::Orders => Records::Orders(Vec::new()),
    }
}

const FORM: &[FormField] = &[FormField {
    name: "api_key",
    label: "API key",
    help: "Loopback admin > API keys",
    secret: true,
    choices: &[],
    when: None,
}];

impl Connector for LoopbackConnector {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn display_name(&self) -> &'static str {
        "Loopback Commerce"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { create_orders: false, webhooks: true, incremental: false }
    }

    fn form(&self) -> &'static [FormField] {
        FORM
    }

    fn credentials_purpose(&self) -> &'static str {
        "loopback-api-key"
    }

    fn login<'a>(
        &'a self,
        store: &'a Url,
        credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<Login, ConnectorError>> {
        async move {
            let url = store.join("/api/login").map_err(|e| ConnectorError::Refused { message: e.to_string() })?;
            let reply = self.http.post(url).header("x-api-key", credentials.expose_secret()).send().await;
            let reply = reply.map_err(transient)?;
            if reply.status() == reqwest::StatusCode::UNAUTHORIZED {
                return Err(ConnectorError::CredentialsRefused { status: 401 });
            }
            let body = read(reply, "/api/login").await?;
            let token = body["session"]
                .as_str()
                .ok_or_else(|| ConnectorError::BadReply { what: "/api/login".into(), detail: "no session".into() })?;
            let ttl = Duration::from_secs(body["ttl"].as_u64().unwrap_or(60));
            Ok(Login { token: SecretString::from(token.to_owned()), expires_in: ttl })
        }
        .boxed()
    }

    fn check<'a>(&'a self, _: &'a Session) -> BoxFuture<'a, Vec<Check>> {
        async { Vec::new() }.boxed()
    }

    fn list<'a>(&'a self, session: &'a Session, page: PageRequest<'a>) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        self.list_page(session, page).boxed()
    }

    fn read<'a>(
        &'a self,
        session: &'a Session,
        kind: SyncKind,
        product_id: &'a str,
        _site: Option<SiteScope<'a>>,
    ) -> BoxFuture<'a, Result<Records, ConnectorError>> {
        async move {
            let item = self.get(session, &format!("/api/items/{product_id}")).await?;
            Ok(records(kind, std::slice::from_ref(&item)))
        }
        .boxed()
    }

    fn create_order<'a>(
        &'a self,
        _: &'a Session,
        _: &'a SecretString,
        _: &'a NewOrder<'a>,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        async { Err(ConnectorError::Unsupported("placing orders")) }.boxed()
    }

    fn find_order<'a>(
        &'a self,
        _: &'a Session,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<Hashed<OrderRow>>, ConnectorError>> {
        async { Ok(None) }.boxed()
    }

    fn cancel_order<'a>(
        &'a self,
        _: &'a Session,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        async { Err(ConnectorError::Unsupported("cancelling orders")) }.boxed()
    }

    fn subscription_id(&self, slot: Slot) -> String {
        slot.to_string()
    }

    fn read_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        _with_secrets: bool,
    ) -> BoxFuture<'a, Result<Subscription, ConnectorError>> {
        async move {
            let hook = self.get(session, &format!("/api/hooks/{slot}")).await?;
            let urls =
                hook["urls"].as_array().map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect());
            let secrets = hook["secret"].as_str().filter(|s| s.len() >= 32).map(|s| s.as_bytes().to_vec());
            Ok(Subscription { urls: urls.unwrap_or_default(), secrets, ..Subscription::default() })
        }
        .boxed()
    }

    fn write_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move {
            let path = format!("/api/hooks/{slot}");
            let url = session.store.join(&path).map_err(|e| ConnectorError::Refused { message: e.to_string() })?;
            let auth = format!("Session {}", session.token.expose_secret());
            let reply = self.http.put(url).header("authorization", auth).json(&json!({"urls": urls})).send().await;
            read(reply.map_err(transient)?, &path).await.map(drop)
        }
        .boxed()
    }

    fn verify_delivery(&self, secrets: &[u8], headers: Headers<'_>, body: &[u8]) -> Result<(), VerifyError> {
        let secret =
            std::str::from_utf8(secrets).ok().and_then(|s| hex::decode(s).ok()).ok_or(VerifyError::NoSecret)?;
        let signature = headers(SIGNATURE).ok_or(VerifyError::Missing)?;
        let signature = hex::decode(signature.trim()).map_err(|_| VerifyError::Malformed)?;
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&secret).map_err(|_| VerifyError::NoSecret)?;
        mac.update(body);
        mac.verify_slice(&signature).map_err(|_| VerifyError::Mismatch)
    }

    /// Loopback's order events carry `{"order": {"id": ...}}`; its orders are not synced, so a
    /// delivery holds no records Storelink keeps.
    fn delivery_records(&self, slot: &str, body: &Value) -> Result<Delivery, String> {
        match body.pointer("/order/id") {
            Some(_) => Ok(Delivery::default()),
            None => Err(format!("no order in the {slot} payload")),
        }
    }
}
