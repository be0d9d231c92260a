//! Starting, driving and stopping a simulator; the handle tests, the demo and `storelink sap-sim` use.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use serde_json::{Value, json};

use crate::routes::dispatch;
use crate::schema;
use crate::state::{Call, Delivery, OAuthClient, State, User};
use crate::store::{self, Change};
use crate::webhooks;
use crate::{Fault, SimOptions};

#[derive(Clone)]
pub struct SapSim {
    state: Arc<State>,
    addr: SocketAddr,
    handle: Arc<Mutex<Option<ServerHandle>>>,
}

impl SapSim {
    /// A simulator on 127.0.0.1 with a free port.
    pub async fn spawn(options: SimOptions) -> std::io::Result<Self> {
        Self::bind(options, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn bind(options: SimOptions, addr: SocketAddr) -> std::io::Result<Self> {
        let state = Arc::new(State::new(&options));
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(dispatch)))
            .workers(2)
            .disable_signals()
            .shutdown_timeout(1)
            .listen(listener)?
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { state, addr, handle: Arc::new(Mutex::new(Some(handle))) })
    }

    /// The API host (`{base_url}/odata2webservices/...`, `{base_url}/authorizationserver/oauth/token`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A user (Basic authentication, or the user an OAuth client acts as) in these groups, e.g.
    /// `[GROUP_STORELINK]` as the ImpEx creates it, `[GROUP_ADMIN]` to register webhooks too.
    pub fn add_user(&self, uid: &str, password: &str, groups: &[&str]) {
        let groups = groups.iter().map(|g| (*g).to_owned()).collect();
        self.state.lock().users.insert(uid.to_owned(), User { password: password.to_owned(), groups });
    }

    pub fn remove_user(&self, uid: &str) {
        self.state.lock().users.remove(uid);
    }

    /// An OAuth client (client credentials) acting as `uid`.
    pub fn add_oauth_client(&self, client_id: &str, secret: &str, uid: &str) {
        let client = OAuthClient { secret: secret.to_owned(), user: uid.to_owned() };
        self.state.lock().clients.insert(client_id.to_owned(), client);
    }

    pub fn remove_oauth_client(&self, client_id: &str) {
        self.state.lock().clients.remove(client_id);
    }

    pub fn expire_tokens(&self) {
        let past = std::time::Instant::now() - Duration::from_millis(1);
        self.state.lock().tokens.values_mut().for_each(|t| t.expires = past);
    }

    pub fn issued_tokens(&self) -> usize {
        self.state.lock().issued
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        self.state.lock().token_ttl = ttl;
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    pub fn inject(&self, fault: Fault) -> u64 {
        let mut inner = self.state.lock();
        let id = inner.next_fault;
        inner.next_fault += 1;
        inner.faults.push((id, fault, 0));
        id
    }

    pub fn remove_fault(&self, id: u64) {
        self.state.lock().faults.retain(|(f, _, _)| *f != id);
    }

    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.state.lock().calls.clear();
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.state.lock().calls.iter().filter(|c| c.method.eq_ignore_ascii_case(method) && c.path == path).count()
    }

    /// Every webhook call made so far (oldest first), including those made for POSTed orders.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().deliveries.clone()
    }

    /// The WebhookService's configurations and destinations as stored (credentials included).
    pub fn webhook_configurations(&self) -> Vec<Value> {
        self.state.lock().webhooks.clone()
    }

    pub fn consumed_destinations(&self) -> Vec<Value> {
        self.state.lock().destinations.clone()
    }

    /// The integrationKey of every item of an object's root, in listing order.
    pub fn keys(&self, integration_object: &str) -> Vec<String> {
        let Some(object) = self.state.object(integration_object) else { return Vec::new() };
        self.state.lock().store.roots(integration_object).iter().map(|e| store::key_of(object, e)).collect()
    }

    /// A root item as a webhook would carry it.
    pub fn item(&self, integration_object: &str, key: &str) -> Option<Value> {
        let object = self.state.object(integration_object)?;
        let root = object.root()?;
        let inner = self.state.lock();
        let entity = inner.store.roots(integration_object).iter().find(|e| store::key_of(object, e) == key)?;
        Some(crate::odata::payload(object, root, entity))
    }

    /// Applies `change` to the root item of `integration_object` with this code (`code` for products,
    /// delivery modes and orders, `productCode` for stock), stamps `modifiedtime`, then calls the
    /// matching webhooks and answers what they answered. `None`: no such item.
    async fn change(
        &self,
        integration_object: &str,
        code: &str,
        apply: impl FnOnce(&mut Value, i64) -> bool,
    ) -> Option<Vec<Delivery>> {
        let field = if integration_object == store::STOCK { "productCode" } else { "code" };
        let (change, snapshot) = {
            let mut inner = self.state.lock();
            let now = inner.tick();
            let roots = inner.store.roots_mut(integration_object)?;
            let index = roots.iter().position(|e| e[field] == code)?;
            let delete = !apply(&mut roots[index], now);
            if delete {
                (Change::Deleted, roots.remove(index))
            } else {
                roots[index]["modifiedtime"] = Value::from(now);
                (Change::Updated, roots[index].clone())
            }
        };
        Some(webhooks::deliver(&self.state, integration_object, change, &snapshot).await)
    }

    /// Renames product `code` (a merchant edit).
    pub async fn update_product(&self, code: &str) -> Option<Vec<Delivery>> {
        self.change(store::PRODUCT, code, |p, now| {
            p["name"] = Value::from(format!("{} (edited {now})", p["code"].as_str().unwrap_or_default()));
            true
        })
        .await
    }

    pub async fn delete_product(&self, code: &str) -> Option<Vec<Delivery>> {
        self.change(store::PRODUCT, code, |_, _| false).await
    }

    /// A new product with one variant; its code and the deliveries.
    pub async fn add_product(&self) -> (String, Vec<Delivery>) {
        let entity = {
            let mut inner = self.state.lock();
            let now = inner.tick();
            let n = inner.store.products.len() + 1 + inner.added_products;
            inner.added_products += 1;
            let entity = store::product(n, 1, 42.0, now);
            inner.store.products.push(entity.clone());
            entity
        };
        let code = entity["code"].as_str().unwrap_or_default().to_owned();
        (code, webhooks::deliver(&self.state, store::PRODUCT, Change::Created, &entity).await)
    }

    /// Sets the available quantity of the stock level of `product_code` (a variant or a product).
    pub async fn set_stock(&self, product_code: &str, available: i64) -> Option<Vec<Delivery>> {
        self.change(store::STOCK, product_code, |s, _| {
            s["available"] = Value::from(available);
            true
        })
        .await
    }

    /// Moves order `code` to `status` (an OrderStatus code, e.g. `COMPLETED`, `CANCELLED`).
    pub async fn set_order_status(&self, code: &str, status: &str) -> Option<Vec<Delivery>> {
        self.change(store::ORDER, code, |o, _| {
            o["status"] = json!({"code": status});
            true
        })
        .await
    }

    /// A new order placed in the storefront; its code and the deliveries.
    pub async fn add_order(&self) -> (String, Vec<Delivery>) {
        let entity = {
            let mut inner = self.state.lock();
            let now = inner.tick();
            let n = inner.store.orders.len() + 100;
            let entity = store::order(n, &inner.store.products, now);
            inner.store.orders.push(entity.clone());
            entity
        };
        let code = entity["code"].as_str().unwrap_or_default().to_owned();
        (code, webhooks::deliver(&self.state, store::ORDER, Change::Created, &entity).await)
    }

    /// The schema's entity set path of an object's root, e.g. `/odata2webservices/StorelinkProduct/Products`.
    pub fn root_path(integration_object: &str) -> Option<String> {
        let object = schema::object(integration_object)?;
        Some(format!("/odata2webservices/{}/{}", object.code, object.root()?.entity_set()))
    }

    /// Stop serving (idempotent).
    pub async fn stop(&self) {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            handle.stop(true).await;
        }
    }
}
