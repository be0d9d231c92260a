//! Starting, driving and stopping a simulator; the handle tests and the demo use.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::routes::dispatch;
use crate::state::{Call, KeyInfo, State};
use crate::{Fault, Permissions, SimOptions};

#[derive(Clone)]
pub struct OccSim {
    state: Arc<State>,
    addr: SocketAddr,
    handle: Arc<Mutex<Option<ServerHandle>>>,
    /// A fleet member's own Store URL (`crate::OccFleet`); `None`: the listener's address.
    url: Option<String>,
}

impl OccSim {
    /// A simulator on 127.0.0.1 with a free port.
    pub async fn spawn(options: SimOptions) -> std::io::Result<Self> {
        Self::bind(options, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Binds the admin origin at `addr` and the storefront origin (agent API) on a free port of the
    /// same address: OCC serves them on two hosts, and each refuses the other's paths.
    pub async fn bind(options: SimOptions, addr: SocketAddr) -> std::io::Result<Self> {
        let state = Arc::new(State::new(&options));
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let storefront = TcpListener::bind(SocketAddr::new(addr.ip(), 0))?;
        let _ = state.storefront.set(storefront.local_addr()?);
        let handle = serve(web::Data::new(state.clone()), dispatch, listener, storefront)?;
        Ok(Self { state, addr, handle: Arc::new(Mutex::new(Some(handle))), url: None })
    }

    /// One store of a fleet: the fleet serves it, so stopping this handle stops nothing.
    pub(crate) fn member(state: Arc<State>, addr: SocketAddr, url: String) -> Self {
        Self { state, addr, handle: Arc::new(Mutex::new(None)), url: Some(url) }
    }

    pub fn base_url(&self) -> String {
        self.url.clone().unwrap_or_else(|| format!("http://{}", self.addr))
    }

    /// The storefront origin (`/ccappagent`, `/ccstore`), as the default site's `productionURL` names it.
    pub fn storefront_url(&self) -> String {
        self.state.storefront.get().map(|a| format!("http://{a}")).unwrap_or_else(|| self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn add_key(&self, permissions: Permissions) -> String {
        self.state.lock().new_key(permissions)
    }

    pub fn add_named_key(&self, key: &str, permissions: Permissions) {
        self.state.lock().keys.insert(key.to_owned(), KeyInfo { permissions, revoked: false });
    }

    /// The merchant deleted the integration: logins and tokens of this key are refused from now on.
    pub fn revoke_key(&self, key: &str) {
        if let Some(info) = self.state.lock().keys.get_mut(key) {
            info.revoked = true;
        }
    }

    pub fn expire_tokens(&self) {
        let past = std::time::Instant::now() - Duration::from_millis(1);
        self.state.lock().tokens.values_mut().for_each(|t| t.expires = past);
    }

    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.lock().issued.clone()
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    pub fn set_token_ttl(&self, ttl: Duration) {
        self.state.lock().token_ttl = ttl;
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

    /// The webhook as stored, secrets included.
    pub fn webhook(&self, id: &str) -> Option<Value> {
        self.state.lock().webhook(id).map(|w| w.view(true))
    }

    /// Replace the webhook's signing secrets as stored (and returned with `includeSecretKeys`), e.g.
    /// `""` for a store whose webhook has no secret. Deliveries are then signed with these.
    pub fn set_webhook_secrets(&self, id: &str, secret: &str, secret512: &str) {
        if let Some(w) = self.state.lock().webhook_mut(id) {
            w.secret = secret.to_owned();
            w.secret512 = secret512.to_owned();
        }
    }

    /// Set fields of the webhook as another integration would have (headers, basicAuthentication,
    /// resend settings, urls, ...).
    pub fn set_webhook_fields(&self, id: &str, fields: Value) {
        if let (Some(w), Value::Object(fields)) = (self.state.lock().webhook_mut(id), fields) {
            for (key, value) in fields {
                w.doc[key.as_str()] = value;
            }
        }
    }

    pub fn set_webhook_urls(&self, id: &str, urls: Vec<String>) {
        if let Some(w) = self.state.lock().webhook_mut(id) {
            w.doc["urls"] = Value::from(urls);
        }
    }

    pub fn add_product(&self) -> String {
        let mut inner = self.state.lock();
        let now = inner.tick();
        inner.catalog.add(now)
    }

    pub fn update_product(&self, id: &str) -> bool {
        let mut inner = self.state.lock();
        let now = inner.tick();
        inner.catalog.update(id, now)
    }

    pub fn delete_product(&self, id: &str) -> bool {
        self.state.lock().catalog.delete(id)
    }

    /// Take a product off one site of a multi-site store (not the default site, which lists the whole
    /// catalog): that site's lists leave it out and its point reads answer 404; other sites keep it.
    pub fn remove_from_site(&self, id: &str, site_id: &str) -> bool {
        let mut inner = self.state.lock();
        let Some(position) = inner.sites.iter().position(|s| s.id == site_id) else { return false };
        let now = inner.tick();
        inner.catalog.remove_from_site(id, position, now)
    }

    /// Churn mode: a store that changes while a full run pages through it. Before each product or
    /// inventory page after the first, the store deletes its first product (already read by the
    /// caller, so offset paging then skips a live one) and adds a new product.
    pub fn set_churn(&self, on: bool) {
        self.state.lock().churn = on;
    }

    /// A store whose lists end early: from `offset` on, pages are empty although `totalResults`
    /// still counts every item (`None` restores whole lists).
    pub fn set_truncate_after(&self, offset: Option<usize>) {
        self.state.lock().truncate_after = offset;
    }

    /// Products churn mode (deleted, added) so far.
    pub fn churned(&self) -> (Vec<String>, Vec<String>) {
        let inner = self.state.lock();
        (inner.churned_deleted.clone(), inner.churned_added.clone())
    }

    pub fn set_stock(&self, sku_id: &str, level: i64) -> bool {
        let mut inner = self.state.lock();
        let now = inner.tick();
        inner.catalog.set_stock(sku_id, level, now)
    }

    /// Current product ids in listing order.
    pub fn product_ids(&self) -> Vec<String> {
        let inner = self.state.lock();
        let selection = inner.catalog.select(None, false);
        let (indices, _) = inner.catalog.page(&selection, 0, usize::MAX);
        indices.into_iter().map(Catalog::product_id).collect()
    }

    pub fn product(&self, id: &str) -> Option<Value> {
        let inner = self.state.lock();
        Catalog::index_of(id).filter(|i| inner.catalog.exists(*i)).map(|i| inner.catalog.product(i))
    }

    pub fn order(&self, id: &str) -> Option<Value> {
        self.state.lock().orders.iter().find(|o| o["id"] == id).cloned()
    }

    /// The shopper profile holding this email (any case), as the store holds it.
    pub fn profile_by_email(&self, email: &str) -> Option<Value> {
        let inner = self.state.lock();
        inner.profiles.iter().find(|p| p["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email))).cloned()
    }

    /// Every return request id in the store, oldest first.
    pub fn return_ids(&self) -> Vec<String> {
        self.state.lock().returns.iter().filter_map(|r| r["requestId"].as_str().map(str::to_owned)).collect()
    }

    /// A return request as the store holds it.
    pub fn return_request(&self, id: &str) -> Option<Value> {
        self.state.lock().returns.iter().find(|r| r["requestId"] == id).cloned()
    }

    /// Every order id in the store, oldest first.
    pub fn order_ids(&self) -> Vec<String> {
        self.state.lock().orders.iter().filter_map(|o| o["id"].as_str().map(str::to_owned)).collect()
    }

    pub fn add_order(&self) -> String {
        let mut inner = self.state.lock();
        let now = inner.tick();
        let n = inner.orders.len();
        let products = inner.catalog.len();
        let order = crate::catalog::seed_order(n as u64 ^ 0x5eed, n, &inner.catalog, products, now);
        let id = order["id"].as_str().unwrap_or_default().to_owned();
        inner.orders.push(order);
        id
    }

    /// Split off a second shipping group on order `id` (a store shipping an order in two parts); its
    /// id, or `None` when there is no such order.
    pub fn add_shipping_group(&self, id: &str) -> Option<String> {
        let mut inner = self.state.lock();
        let now = inner.tick();
        let order = inner.orders.iter_mut().find(|o| o["id"] == id)?;
        let groups = order["shippingGroups"].as_array_mut()?;
        let group_id = format!("sg{id}-{}", groups.len() + 1);
        let mut group = groups.first().cloned().unwrap_or_else(|| serde_json::json!({}));
        group["shippingGroupId"] = serde_json::json!(group_id);
        group["trackingNumber"] = Value::Null;
        group["state"] = serde_json::json!("INITIAL");
        groups.push(group);
        order["lastModifiedTime"] = serde_json::json!(now.timestamp_millis());
        order["lastModifiedDate"] = serde_json::json!(crate::catalog::iso(now));
        Some(group_id)
    }

    /// A function webhook with its secrets.
    pub fn function_webhook(&self, id: &str) -> Option<Value> {
        self.state.lock().function_webhooks.iter().find(|(w, _)| w == id).map(|(_, w)| w.view(true))
    }

    /// Set a function webhook's URL, as another integration (or the merchant) would.
    pub fn set_function_webhook_url(&self, id: &str, url: Option<&str>) {
        if let Some((_, w)) = self.state.lock().function_webhooks.iter_mut().find(|(w, _)| w == id) {
            w.doc["url"] = url.map_or(Value::Null, Value::from);
        }
    }

    /// Call function webhook `id` with `body`, signed as OCC signs its webhooks; its status and JSON.
    pub async fn call_function_webhook(&self, id: &str, body: &[u8]) -> Option<(u16, Value)> {
        let (url, secret, secret512) = {
            let inner = self.state.lock();
            let (_, w) = inner.function_webhooks.iter().find(|(w, _)| w == id)?;
            (w.doc["url"].as_str()?.to_owned(), w.secret.clone(), w.secret512.clone())
        };
        let response = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("X-Oracle-CC-WebHook-Signature", crate::deliver::sign::<hmac::Hmac<sha1::Sha1>>(&secret, body))
            .header(
                "X-Oracle-CC-WebHook-Signature-SHA512",
                crate::deliver::sign::<hmac::Hmac<sha2::Sha512>>(&secret512, body),
            )
            .body(body.to_vec())
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// POST `body` to every URL registered on webhook `id`, signed as OCC signs (see `deliver`),
    /// `webhook_attempts` times per URL; URLs that failed them all are kept as a failed message.
    pub async fn deliver_webhook(&self, id: &str, body: &[u8]) -> Vec<(String, Result<u16, String>)> {
        crate::deliver::deliver(&self.state, id, body).await
    }

    /// The ids of the failed webhook messages kept now, oldest first.
    pub fn failed_messages(&self) -> Vec<String> {
        self.state.lock().failed.iter().map(|m| m.id.clone()).collect()
    }

    /// The webhook ids the store serves, in its listing order.
    pub fn webhook_ids(&self) -> Vec<String> {
        self.state.lock().webhooks.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Stop serving (idempotent).
    pub async fn stop(&self) {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            handle.stop(true).await;
        }
    }
}

/// Serves every request with `handler` (its app data `data`) on the admin and storefront listeners,
/// in the background; the handle stops it (signals are left to the process).
pub(crate) fn serve<T, F, Args>(
    data: web::Data<T>,
    handler: F,
    admin: TcpListener,
    storefront: TcpListener,
) -> std::io::Result<ServerHandle>
where
    T: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Send + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handler.clone())))
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(admin)?
        .listen(storefront)?
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}
