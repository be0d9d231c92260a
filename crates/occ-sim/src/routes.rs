//! HTTP handling: one dispatcher records the call, applies latency and faults, then routes by method
//! and path to the OCC-like handlers (or the `/__sim/` admin routes, which are not logged).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use rand::Rng;
use serde_json::{Value, json};

use crate::catalog::{Catalog, iso};
use crate::rql;
use crate::scim::{self, Filter};
use crate::state::{Call, Inner, State, TokenInfo, jwt_like};
use crate::{Fault, FaultKind, Permissions};

const MAX_LIMIT: usize = 250;

pub(crate) async fn dispatch(req: HttpRequest, body: Bytes, state: web::Data<Arc<State>>) -> HttpResponse {
    let path = req.path().to_owned();
    if let Some(admin_path) = path.strip_prefix("/__sim/") {
        return admin(&req, admin_path, &body, &state);
    }
    let method = req.method().as_str().to_owned();
    let (seq, latency, fault) = {
        let mut inner = state.lock();
        let seq = inner.calls.len() as u64 + 1;
        let call = Call {
            seq,
            method: method.clone(),
            path: path.clone(),
            query: req.query_string().to_owned(),
            status: 0,
            body: String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned(),
            traceparent: req.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned),
            site: site_header(&req),
            at_ms: state.started.elapsed().as_millis() as u64,
        };
        inner.calls.push(call);
        let fault = pick_fault(&mut inner, &method, &path);
        (seq, inner.latency, fault)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match fault {
        None if is_resend(&req) => resend_failed(&req, &body, &state).await,
        Some(FaultKind::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            handle(&req, &body, &state)
        }
        Some(FaultKind::Status(status)) => error(status, "injected", "Injected fault"),
        Some(FaultKind::Html(status)) => html(status),
        Some(FaultKind::TooLargeAbove(max)) => {
            let asked = query(&req).get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(MAX_LIMIT);
            if asked > max {
                // Oracle's notification text for 60012 (reference section 0, S11).
                error(403, "60012", "request denied due to performance constraints")
            } else {
                handle(&req, &body, &state)
            }
        }
        Some(FaultKind::RateLimited { retry_after_secs }) => {
            let mut response = error(429, "injected", "Too many requests (injected)");
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            response
        }
        Some(FaultKind::Drop) => return dropped(),
        Some(FaultKind::HugeBody { bytes }) => huge_body(bytes),
        Some(FaultKind::ApplyThenDrop) => {
            let _ = handle(&req, &body, &state);
            return dropped();
        }
        None => handle(&req, &body, &state),
    };
    let status = response.status().as_u16();
    if let Some(call) = state.lock().calls.iter_mut().rev().find(|c| c.seq == seq) {
        call.status = status;
    }
    response
}

fn pick_fault(inner: &mut Inner, method: &str, path: &str) -> Option<FaultKind> {
    let Inner { faults, rng, .. } = inner;
    for (_, fault, fired) in faults.iter_mut() {
        if !fault.matches(method, path) || fault.times.is_some_and(|n| *fired >= n) {
            continue;
        }
        if fault.probability < 1.0 && !rng.gen_bool(fault.probability) {
            continue;
        }
        *fired += 1;
        return Some(fault.kind.clone());
    }
    None
}

/// A response whose body fails at once: actix closes the connection without a complete message.
fn dropped() -> HttpResponse {
    let failing = futures::stream::once(async {
        Err::<Bytes, actix_web::Error>(actix_web::error::ErrorInternalServerError("dropped"))
    });
    HttpResponse::Ok().streaming(failing)
}

/// `{"access_token":"aaaa…` (valid JSON never comes): `bytes` bytes in 64 KiB chunks, all sharing
/// one buffer.
fn huge_body(bytes: u64) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let mut first = b"{\"access_token\":\"".to_vec();
    first.resize(CHUNK, b'a');
    let first = Bytes::from(first);
    let filler = Bytes::from(vec![b'a'; CHUNK]);
    let chunks = (0..bytes.div_ceil(CHUNK as u64)).map(move |n| {
        let left = (bytes - n * CHUNK as u64).min(CHUNK as u64) as usize;
        let chunk = if n == 0 { first.clone() } else { filler.clone() };
        Ok::<Bytes, actix_web::Error>(chunk.slice(..left))
    });
    HttpResponse::Ok().content_type("application/json").streaming(futures::stream::iter(chunks))
}

/// A web server's own page, not OCC's JSON.
pub(crate) fn html(status: u16) -> HttpResponse {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status_code).content_type("text/html; charset=utf-8").body(format!(
        "<!DOCTYPE html><html><head><title>{status}</title></head><body><h1>Page not found</h1></body></html>"
    ))
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status_code).json(json!({"errorCode": code, "message": message, "status": status.to_string()}))
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default()
}

fn handle(req: &HttpRequest, body: &Bytes, state: &State) -> HttpResponse {
    let method = req.method().as_str();
    let path = req.path().trim_end_matches('/');
    // Two origins, as OCC has two hosts: the storefront serves the agent API (and `/ccstore`), the
    // admin host the Admin API; each answers the other's paths with 404 (docs/occ.md, item 4).
    let on_storefront = state.storefront.get() == Some(&req.app_config().local_addr());
    if on_storefront && path.starts_with("/ccadmin/") {
        return html(404);
    }
    if !on_storefront && path.starts_with("/ccappagent/") {
        return error(404, "404", "No such resource");
    }
    if method == "POST" && (path == "/ccadmin/v1/login" || path == "/ccappagent/v1/login") {
        return login(req, body, state);
    }
    if method == "POST" && path == "/ccappagent/v1/orders" {
        return match authorize(req, state) {
            None => error(401, "000002", "The access token is missing, invalid or expired"),
            Some(permissions) if !permissions.orders => {
                error(403, "40300", "The application key lacks access to orders")
            }
            Some(_) => create_order(req, body, state),
        };
    }
    if method == "POST" && path == "/ccappagent/v1/returnRequests" {
        return match authorize(req, state) {
            None => error(401, "000002", "The access token is missing, invalid or expired"),
            Some(permissions) if !permissions.orders => {
                error(403, "40300", "The application key lacks access to orders")
            }
            Some(_) => crate::returns::create(body, state),
        };
    }
    let Some(rest) = path.strip_prefix("/ccadmin/v1/") else {
        return error(404, "404", "No such resource");
    };
    let Some(permissions) = authorize(req, state) else {
        return error(401, "000002", "The access token is missing, invalid or expired");
    };
    if let Some(refused) = check_site(req, state) {
        return refused;
    }
    let site = site_position(req, state);
    let segments: Vec<&str> = rest.split('/').collect();
    let need = |allowed: bool, what: &str| {
        (!allowed).then(|| error(403, "40300", &format!("The application key lacks access to {what}")))
    };
    let q = query(req);
    match (method, segments.as_slice()) {
        ("POST", ["verify"]) => HttpResponse::Ok().json(json!({"success": true})),
        ("GET", ["products"]) => {
            need(permissions.products, "products").unwrap_or_else(|| list(state, &q, Kind::Products, site))
        }
        ("GET", ["products", id]) => {
            need(permissions.products, "products").unwrap_or_else(|| point_read(state, id, Kind::Products, site))
        }
        ("GET", ["inventories", id]) => need(permissions.inventories, "inventories")
            .unwrap_or_else(|| point_read(state, id, Kind::Inventories, site)),
        ("GET", ["skus"]) => need(permissions.skus, "skus").unwrap_or_else(|| list(state, &q, Kind::Skus, site)),
        ("GET", ["inventories"]) => {
            need(permissions.inventories, "inventories").unwrap_or_else(|| list(state, &q, Kind::Inventories, site))
        }
        ("GET", ["orders"]) => {
            need(permissions.orders, "orders").unwrap_or_else(|| list(state, &q, Kind::Orders, None))
        }
        ("GET", ["orders", id]) => need(permissions.orders, "orders").unwrap_or_else(|| get_order(state, id)),
        ("PUT", ["orders", id]) => {
            need(permissions.orders, "orders").unwrap_or_else(|| put_order(req, body, state, id))
        }
        // Shopper profiles: a key with access to orders may manage the shoppers it orders for [A].
        ("GET", ["profiles"]) => {
            need(permissions.orders, "profiles").unwrap_or_else(|| crate::profiles::list(state, &q))
        }
        ("POST", ["profiles"]) => {
            need(permissions.orders, "profiles").unwrap_or_else(|| crate::profiles::create(body, state))
        }
        ("GET", ["returnRequests", id]) => {
            need(permissions.orders, "orders").unwrap_or_else(|| crate::returns::get(state, id))
        }
        ("PUT", ["returnRequests", id]) => {
            need(permissions.orders, "orders").unwrap_or_else(|| crate::returns::update(body, state, id))
        }
        ("GET", ["shippingMethods"]) => {
            need(permissions.shipping_methods, "shipping methods").unwrap_or_else(|| shipping(state, &q, site))
        }
        ("GET", ["sites"]) => list_sites(state),
        ("GET", ["webhooks"]) => need(permissions.webhooks, "webhooks").unwrap_or_else(|| list_webhooks(state, &q)),
        ("GET", ["webhooks", id]) => {
            need(permissions.webhooks, "webhooks").unwrap_or_else(|| get_webhook(state, &q, id))
        }
        ("PUT", ["webhooks", id]) => {
            need(permissions.webhooks, "webhooks").unwrap_or_else(|| put_webhook(body, state, id))
        }
        ("GET", ["functionWebhooks", id]) => {
            need(permissions.webhooks, "webhooks").unwrap_or_else(|| crate::functions::get(state, &q, id))
        }
        ("PUT", ["functionWebhooks", id]) => {
            need(permissions.webhooks, "webhooks").unwrap_or_else(|| crate::functions::put(body, state, id))
        }
        ("POST", ["webhooks", id]) => {
            need(permissions.webhooks, "webhooks").unwrap_or_else(|| reset_secret(body, state, id))
        }
        ("GET", ["webhookFailedMessages"]) => {
            need(permissions.webhooks, "webhooks").unwrap_or_else(|| list_failed(state, &q))
        }
        _ => error(404, "404", "No such resource"),
    }
}

fn site_header(req: &HttpRequest) -> Option<String> {
    req.headers().get("x-ccsite").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// An `x-ccsite` naming no site of the store, or a disabled one, is refused (400) rather than
/// silently answered for the default site: the stricter reading ([A] in docs/occ.md).
fn check_site(req: &HttpRequest, state: &State) -> Option<HttpResponse> {
    let site = site_header(req)?;
    let inner = state.lock();
    match inner.sites.iter().find(|s| s.id == site) {
        Some(known) if known.enabled => None,
        Some(_) => Some(error(400, "20200", &format!("Site {site} is disabled"))),
        None => Some(error(400, "20201", &format!("No site with id {site}"))),
    }
}

/// The site an `x-ccsite` header (already checked) picks: its position in the store's sites and its id.
/// `None`: no header, or the default site, which answers as the instance does (the whole catalog at
/// the default price list group's prices).
fn site_position(req: &HttpRequest, state: &State) -> Option<(usize, String)> {
    let site = site_header(req)?;
    let position = state.lock().sites.iter().position(|s| s.id == site)?;
    (position > 0).then_some((position, site))
}

/// A site's inventory location id: the default site stocks from the default location (`null`),
/// every other site from its own [A].
fn location(site: &Option<(usize, String)>) -> Option<String> {
    site.as_ref().map(|(_, id)| format!("{id}-warehouse"))
}

/// `GET /ccadmin/v1/sites`: every site, the first one the default (occ-admin-api.md section 6). The
/// default site's `productionURL` is the simulator's storefront origin, without the scheme, as OCC
/// documents it.
fn list_sites(state: &State) -> HttpResponse {
    let storefront = state.storefront.get().map(|a| a.to_string());
    let inner = state.lock();
    let items: Vec<Value> = inner
        .sites
        .iter()
        .enumerate()
        .map(|(n, site)| {
            let group = json!({"id": site.price_list_group, "currency": {"currencyCode": site.currency}});
            json!({
                "id": site.id, "name": site.name, "defaultSite": n == 0, "enabled": site.enabled,
                "productionURL": if n == 0 { storefront.clone().unwrap_or_else(|| site.production_url.clone()) } else { site.production_url.clone() },
                "defaultPriceListGroup": group,
                "priceListGroupList": [group], "repositoryId": site.id,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({"items": items, "totalResults": items.len()}))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

fn login(req: &HttpRequest, body: &Bytes, state: &State) -> HttpResponse {
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return error(400, "200100", "Content-Type must be application/x-www-form-urlencoded");
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return error(400, "200101", "grant_type must be client_credentials");
    }
    let mut inner = state.lock();
    let key = bearer(req).filter(|k| inner.keys.get(k).is_some_and(|info| !info.revoked));
    let Some(key) = key else {
        return error(401, "20060", "The application key is not valid");
    };
    let ttl = inner.token_ttl;
    let nonce: u64 = inner.rng.r#gen();
    let token = jwt_like(&mut inner.rng, &json!({"sub": "sim-app", "exp_in": ttl.as_secs(), "jti": nonce}));
    inner.tokens.insert(token.clone(), TokenInfo { key, expires: Instant::now() + ttl });
    inner.issued.push(token.clone());
    HttpResponse::Ok().json(json!({
        "access_token": token, "token_type": "bearer", "expires_in": ttl.as_secs(),
        "links": [{"rel": "self", "href": req.path()}]
    }))
}

/// The permissions of a valid, unexpired token whose key is not revoked.
fn authorize(req: &HttpRequest, state: &State) -> Option<Permissions> {
    let inner = state.lock();
    let info = inner.tokens.get(&bearer(req)?)?;
    if Instant::now() >= info.expires {
        return None;
    }
    inner.keys.get(&info.key).filter(|k| !k.revoked).map(|k| k.permissions)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Products,
    Skus,
    Inventories,
    Orders,
}

fn list(state: &State, q: &HashMap<String, String>, kind: Kind, site: Option<(usize, String)>) -> HttpResponse {
    let number = |name: &str, default: usize| match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| format!("{name} must be a non-negative integer")),
    };
    let (offset, limit) = match (number("offset", 0), number("limit", MAX_LIMIT)) {
        (Ok(o), Ok(l)) => (o, l.min(MAX_LIMIT)),
        (Err(e), _) | (_, Err(e)) => return error(400, "200102", &e),
    };
    let query = match Query::parse(q, kind) {
        Ok(query) => query,
        Err(message) => return error(400, "200103", &format!("Invalid query: {message}")),
    };
    let filter = match &query {
        Some(Query::Scim(filter)) => Some(filter),
        _ => None,
    };
    let sort = match Sort::parse(q.get("sort").map(String::as_str)) {
        Ok(sort) => sort,
        Err(message) => return error(400, "200107", &message),
    };
    let sort_modified = sort == Sort::Modified;
    let mut inner = state.lock();
    if inner.churn && offset > 0 && matches!(kind, Kind::Products | Kind::Inventories) {
        churn(&mut inner);
    }
    let (items, total) = match kind {
        Kind::Orders => list_orders(&inner.orders, query.as_ref(), sort, offset, limit),
        Kind::Skus => list_skus(&inner.catalog, filter, offset, limit),
        Kind::Products | Kind::Inventories => {
            let mut selection = inner.catalog.select(filter, sort_modified);
            if let Some((position, _)) = &site {
                selection = inner.catalog.on_site_only(selection, *position);
            }
            if sort == Sort::IdDesc {
                selection = inner.catalog.reversed(selection);
            }
            let (indices, total) = inner.catalog.page(&selection, offset, limit);
            let location = location(&site);
            let render = |i: usize| match kind {
                Kind::Products => inner.catalog.product(i),
                _ => inner.catalog.inventory(i, location.as_deref()),
            };
            (indices.into_iter().map(render).collect(), total)
        }
    };
    let items = if inner.truncate_after.is_some_and(|at| offset >= at) { Vec::new() } else { items };
    HttpResponse::Ok()
        .json(json!({"items": items, "totalResults": total, "total": total, "offset": offset, "limit": limit}))
}

/// A list's `q`. Orders read it as RQL unless `queryFormat=SCIM` is sent (getOrders: "defaults to
/// RQL. To use SCIM use the queryFormat parameter"); other lists read SCIM.
enum Query {
    Scim(Filter),
    Rql(rql::Expr),
}

impl Query {
    fn parse(q: &HashMap<String, String>, kind: Kind) -> Result<Option<Self>, String> {
        let format = q.get("queryFormat").map(String::as_str);
        let scim = match (kind, format) {
            (Kind::Orders, Some("SCIM")) => true,
            (Kind::Orders, Some(other)) => return Err(format!("unsupported queryFormat {other:?}")),
            (Kind::Orders, None) => false,
            _ => true,
        };
        let Some(text) = q.get("q") else { return Ok(None) };
        if scim {
            scim::parse(text).map(|f| Some(Query::Scim(f)))
        } else {
            rql::parse(text)
                .map(|e| Some(Query::Rql(e)))
                .map_err(|e| format!("{e} (q is read as RQL; SCIM needs queryFormat=SCIM)"))
        }
    }

    fn matches(&self, item: &Value) -> bool {
        match self {
            Query::Scim(filter) => filter.matches(item),
            Query::Rql(expr) => expr.matches(item),
        }
    }
}

/// The `sort` parameter (`field[:asc|:desc]`): ids and modification times are what a sync sorts on.
/// Unsorted lists come in the store's own order, which here happens to be id order (real OCC makes
/// no promise about it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    Unsorted,
    IdAsc,
    IdDesc,
    Modified,
}

impl Sort {
    fn parse(sort: Option<&str>) -> Result<Self, String> {
        let Some(sort) = sort else { return Ok(Sort::Unsorted) };
        let (field, direction) = sort.split_once(':').unwrap_or((sort, "asc"));
        match (field.trim(), direction.trim()) {
            ("id", "asc") => Ok(Sort::IdAsc),
            ("id", "desc") => Ok(Sort::IdDesc),
            ("lastModifiedDate" | "lastModifiedTime", "asc") => Ok(Sort::Modified),
            _ => Err(format!("Invalid sort: {sort}")),
        }
    }
}

/// Churn mode: before each list page after the first, the store deletes its first product (one the
/// caller has already read, so every later item moves one place up and one is skipped by offset
/// paging) and adds a new one (at the end).
fn churn(inner: &mut Inner) {
    let now = inner.tick();
    let selection = inner.catalog.select(None, false);
    let (first, _) = inner.catalog.page(&selection, 0, 1);
    if let Some(id) = first.into_iter().next().map(Catalog::product_id) {
        inner.catalog.delete(&id);
        inner.churned_deleted.push(id);
    }
    let added = inner.catalog.add(now);
    inner.churned_added.push(added);
}

/// `GET /ccadmin/v1/products/{id}` and `GET /ccadmin/v1/inventories/{id}?type=product`.
/// On a site other than the default one, a product off that site is not found.
fn point_read(state: &State, id: &str, kind: Kind, site: Option<(usize, String)>) -> HttpResponse {
    let inner = state.lock();
    let position = site.as_ref().map_or(0, |(p, _)| *p);
    match Catalog::index_of(id).filter(|i| inner.catalog.exists(*i) && inner.catalog.on_site(*i, position)) {
        Some(index) if kind == Kind::Products => HttpResponse::Ok().json(inner.catalog.product(index)),
        Some(index) => HttpResponse::Ok().json(inner.catalog.inventory(index, location(&site).as_deref())),
        None => error(404, "20031", &format!("Product {id} not found")),
    }
}

fn list_skus(catalog: &Catalog, filter: Option<&Filter>, offset: usize, limit: usize) -> (Vec<Value>, usize) {
    let per = catalog.skus_per();
    let selection = catalog.select(None, false);
    if let Some(filter) = filter {
        let (indices, _) = catalog.page(&selection, 0, usize::MAX);
        let matched: Vec<Value> =
            indices.into_iter().flat_map(|i| catalog.skus_of(i)).filter(|s| filter.matches(s)).collect();
        let total = matched.len();
        return (matched.into_iter().skip(offset).take(limit).collect(), total);
    }
    let total = catalog.len() * per;
    let first_product = offset / per;
    let (indices, _) = catalog.page(&selection, first_product, limit / per + 2);
    let items = indices.into_iter().flat_map(|i| catalog.skus_of(i)).skip(offset % per).take(limit).collect();
    (items, total)
}

fn list_orders(
    orders: &[Value],
    filter: Option<&Query>,
    sort: Sort,
    offset: usize,
    limit: usize,
) -> (Vec<Value>, usize) {
    let mut matched: Vec<&Value> = orders.iter().filter(|o| filter.is_none_or(|f| f.matches(o))).collect();
    match sort {
        Sort::Modified => matched.sort_by_key(|o| o["lastModifiedTime"].as_i64().unwrap_or(0)),
        Sort::IdAsc | Sort::IdDesc => {
            matched.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            if sort == Sort::IdDesc {
                matched.reverse();
            }
        }
        Sort::Unsorted => {}
    }
    let total = matched.len();
    (matched.into_iter().skip(offset).take(limit).cloned().collect(), total)
}

fn get_order(state: &State, id: &str) -> HttpResponse {
    match state.lock().orders.iter().find(|o| o["id"] == id) {
        Some(order) => HttpResponse::Ok().json(order),
        None => error(404, "28001", &format!("Order {id} not found")),
    }
}

/// The store's default site: orders created without `x-ccsite` land there (createOrder: "If the
/// header information is not provided order is created on default site").
pub(crate) const DEFAULT_SITE: &str = "siteUS";

/// Payment types an agent createOrder may carry without card data: the documented pay-later type
/// (`{"type": "invoice", "PONumber": ...}`, createOrder's example). Card and gift card types need
/// card data Storelink never handles, so the simulator refuses everything else.
const PAYMENT_TYPES: [&str; 1] = ["invoice"];

/// `POST /ccappagent/v1/orders` with `{"op": "createOrder", "profileId" | "isAnonymousCheckout": true,
/// "shoppingCart": {"items": [...]}, "shippingMethod": {"value": ...}, "shippingAddress": {...},
/// "payments": [{"type": "invoice", ...}]}` and an optional `x-ccsite` header: checks the shopper,
/// the payments, the site, SKUs, stock and the shipping method, takes the stock and records a
/// SUBMITTED order on the site. Error codes other than 22000 are the simulator's own (docs/occ.md).
fn create_order(req: &HttpRequest, body: &Bytes, state: &State) -> HttpResponse {
    let Ok(order) = serde_json::from_slice::<Value>(body) else {
        return error(400, "200104", "The body must be a JSON object");
    };
    if order["op"] != "createOrder" {
        return error(400, "28100", "op must be createOrder");
    }
    let Some(items) = order["shoppingCart"]["items"].as_array().filter(|i| !i.is_empty()) else {
        return error(400, "28101", "The shopping cart has no items");
    };
    let profile = order["profileId"].as_str();
    let anonymous = order["isAnonymousCheckout"] == true;
    match (profile, anonymous) {
        (Some(_), true) => return error(400, "28102", "Send either profileId or isAnonymousCheckout, not both"),
        (None, false) => return error(400, "28102", "A profileId or isAnonymousCheckout: true is required"),
        (Some(id), false) if !crate::profiles::exists(state, id) => {
            return error(400, "22000", &format!("No profile found with profile id {id}"));
        }
        _ => {}
    }
    let payments = order["payments"].as_array().filter(|p| !p.is_empty());
    let Some(payments) = payments else {
        return error(400, "28103", "payments are required");
    };
    if let Some(bad) = payments.iter().find(|p| !p["type"].as_str().is_some_and(|t| PAYMENT_TYPES.contains(&t))) {
        return error(400, "28104", &format!("Unsupported payment type {}", bad["type"]));
    }
    let site = req.headers().get("x-ccsite").map(|v| v.to_str().unwrap_or_default().to_owned());
    let site = site.unwrap_or_else(|| DEFAULT_SITE.to_owned());
    if site != DEFAULT_SITE {
        return error(400, "28105", &format!("Site {site} does not exist"));
    }
    let mut inner = state.lock();
    let method = order["shippingMethod"]["value"].as_str().unwrap_or_default().to_owned();
    if !inner.shipping.iter().any(|m| m["id"] == method.as_str() && m["enabled"] == true) {
        return error(400, "28130", &format!("Shipping method {method} is not valid for this order"));
    }
    let mut lines = Vec::new();
    for item in items {
        let sku = item["catRefId"].as_str().unwrap_or_default();
        let quantity = item["quantity"].as_i64().unwrap_or(0);
        let Some((index, j)) =
            Catalog::sku_index(sku).filter(|(i, j)| inner.catalog.exists(*i) && *j < inner.catalog.skus_per())
        else {
            return error(400, "28111", &format!("SKU {sku} does not exist"));
        };
        if quantity < 1 || inner.catalog.stock(index, j) < quantity {
            return error(400, "28112", &format!("SKU {sku} is out of stock for quantity {quantity}"));
        }
        lines.push((index, j, quantity));
    }
    let now = inner.tick();
    let id = format!("o{}", 10_001 + inner.orders.len());
    let commerce_items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(k, &(index, j, quantity))| {
            let price = inner.catalog.price(index, 0);
            json!({"id": format!("ci{id}{k}"), "productId": Catalog::product_id(index), "catalogRefId": Catalog::sku_id(index, j),
                   "quantity": quantity, "priceInfo": {"amount": price * quantity as f64, "listPrice": price, "currencyCode": "USD"}})
        })
        .collect();
    for &(index, j, quantity) in &lines {
        inner.catalog.reserve(index, j, quantity, now);
    }
    let subtotal: f64 = commerce_items.iter().filter_map(|i| i["priceInfo"]["amount"].as_f64()).sum();
    let created = json!({
        "id": id, "state": "SUBMITTED", "siteId": site, "submittedDate": iso(now),
        "lastModifiedDate": iso(now), "lastModifiedTime": now.timestamp_millis(),
        "priceInfo": {"amount": subtotal, "shipping": 0.0, "tax": 0.0, "total": subtotal, "currencyCode": "USD"},
        "commerceItems": commerce_items,
        "shippingGroups": [{"shippingGroupId": format!("sg{id}"), "shippingMethod": {"value": method},
            "shippingAddress": order["shippingAddress"].clone(), "trackingNumber": null, "state": "INITIAL"}],
        "paymentGroups": payments.iter().enumerate().map(|(k, p)| json!({"id": format!("pg{id}{k}"),
            "paymentMethod": p["type"], "PONumber": p["PONumber"], "state": "INITIAL", "amount": subtotal})).collect::<Vec<_>>(),
        "profileId": profile, "isAnonymous": anonymous,
        "externalOrderReference": order["externalOrderReference"].clone()
    });
    inner.orders.push(created.clone());
    HttpResponse::Created().json(created)
}

fn put_order(req: &HttpRequest, body: &Bytes, state: &State, id: &str) -> HttpResponse {
    let json_body = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return error(400, "200100", "Content-Type must be application/json");
    }
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "200104", "The body must be a JSON object");
    };
    if let Err(message) = check_order_patch(&patch) {
        return error(400, "200104", &message);
    }
    let mut inner = state.lock();
    let now = inner.tick();
    let Some(order) = inner.orders.iter_mut().find(|o| o["id"] == id) else {
        return error(404, "28001", &format!("Order {id} not found"));
    };
    for (key, value) in patch {
        match (key.as_str(), value) {
            ("id", _) => {}
            ("shippingGroups", Value::Array(sent)) => {
                let merged =
                    merge_list(order["shippingGroups"].as_array().map(Vec::as_slice).unwrap_or_default(), sent);
                order["shippingGroups"] = Value::Array(merged);
            }
            (key, value) => order[key] = value,
        }
    }
    order["lastModifiedTime"] = json!(now.timestamp_millis());
    order["lastModifiedDate"] = json!(iso(now));
    HttpResponse::Ok().json(order.clone())
}

/// Order states a PUT may set (the names docs/occ.md lists) and shipping group states (ATG's) [A].
const ORDER_STATES: [&str; 15] = [
    "INCOMPLETE",
    "SUBMITTED",
    "PROCESSING",
    "NO_PENDING_ACTION",
    "PENDING_PAYMENT",
    "PENDING_APPROVAL",
    "APPROVED",
    "FAILED_APPROVAL",
    "QUOTED",
    "PENDING_CUSTOMER_ACTION",
    "PENDING_MERCHANT_ACTION",
    "PENDING_REMOVE",
    "REMOVED",
    "FAILED",
    "PENDING_CUSTOMER_RETURN",
];
const GROUP_STATES: [&str; 8] = [
    "INITIAL",
    "PROCESSING",
    "PENDING_SHIPMENT",
    "NO_PENDING_ACTION",
    "PENDING_MERCHANT_ACTION",
    "PENDING_REMOVE",
    "REMOVED",
    "FAILED",
];

fn check_order_patch(patch: &serde_json::Map<String, Value>) -> Result<(), String> {
    if let Some(state) = patch.get("state").filter(|s| !s.as_str().is_some_and(|s| ORDER_STATES.contains(&s))) {
        return Err(format!("Invalid order state {state}"));
    }
    let Some(groups) = patch.get("shippingGroups") else { return Ok(()) };
    let groups = groups.as_array().ok_or("shippingGroups must be a list")?;
    for group in groups {
        let group = group.as_object().ok_or("each shipping group must be an object")?;
        let known = |s: &&Value| s.is_number() || s.as_str().is_some_and(|s| GROUP_STATES.contains(&s));
        if let Some(state) = group.get("state").filter(|s| !known(s)) {
            return Err(format!("Invalid shipping group state {state}"));
        }
    }
    Ok(())
}

/// OCC's PUT list rule (OMS integration guide): the list sent is the whole list. A member naming an
/// existing one (by `shippingGroupId` or `id`) updates it, one naming none is created, and an
/// existing member the request leaves out is removed.
fn merge_list(existing: &[Value], sent: Vec<Value>) -> Vec<Value> {
    let id =
        |v: &Value| ["shippingGroupId", "id"].iter().find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned));
    sent.into_iter()
        .map(|member| {
            let Some(current) =
                id(&member).and_then(|wanted| existing.iter().find(|e| id(e).as_deref() == Some(wanted.as_str())))
            else {
                return member;
            };
            let mut merged = current.clone();
            if let (Value::Object(target), Value::Object(fields)) = (&mut merged, member) {
                target.extend(fields);
            }
            merged
        })
        .collect()
}

/// A site other than the default one offers the same methods at its own rates (its price list group's
/// share of the default amounts, as its products), in the shape OCC's `useSiteHeader` reading gives [A].
fn shipping(state: &State, q: &HashMap<String, String>, site: Option<(usize, String)>) -> HttpResponse {
    let enabled_only = q.get("enabledOnly").is_none_or(|v| v != "false");
    let inner = state.lock();
    let factor = site.as_ref().map_or(1.0, |(position, _)| 1.0 - 0.1 * *position as f64);
    let items: Vec<Value> = inner
        .shipping
        .iter()
        .filter(|m| !enabled_only || m["enabled"] == true)
        .map(|m| {
            let mut method = m.clone();
            if let Some(ranges) = method["ranges"].as_array_mut().filter(|_| factor != 1.0) {
                for range in ranges {
                    let amount = range["amount"].as_f64().unwrap_or(0.0);
                    range["amount"] = json!((amount * factor * 100.0).round() / 100.0);
                }
            }
            method
        })
        .collect();
    HttpResponse::Ok().json(json!({"items": items}))
}

fn list_webhooks(state: &State, q: &HashMap<String, String>) -> HttpResponse {
    let secrets = q.get("includeSecretKeys").is_some_and(|v| v == "true");
    let server_type = q.get("serverType");
    let inner = state.lock();
    let items: Vec<Value> = inner
        .webhooks
        .iter()
        .map(|(_, w)| w.view(secrets))
        .filter(|w| server_type.is_none_or(|t| w["serverType"] == t.as_str()))
        .collect();
    HttpResponse::Ok().json(json!({"items": items}))
}

fn get_webhook(state: &State, q: &HashMap<String, String>, id: &str) -> HttpResponse {
    let secrets = q.get("includeSecretKeys").is_some_and(|v| v == "true");
    match state.lock().webhook(id) {
        Some(w) => HttpResponse::Ok().json(w.view(secrets)),
        None => error(404, "20011", &format!("Webhook {id} not found")),
    }
}

/// `PUT /ccadmin/v1/webhooks/{id}` replaces the webhook's settable fields: a field the body leaves
/// out is reset to its default (the stricter reading; docs/occ.md "Webhook slots"). Identity fields
/// and secrets are not settable here. Every URL must be https unless `allow_http_callbacks`.
fn put_webhook(body: &Bytes, state: &State, id: &str) -> HttpResponse {
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "200104", "The body must be a JSON object");
    };
    let urls = match patch.get("urls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
            list.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        Some(_) => return error(400, "200105", "urls must be an array of strings"),
    };
    let mut inner = state.lock();
    let allow_http = inner.allow_http_callbacks;
    if let Some(bad) = urls.iter().find(|u| !callback_allowed(u, allow_http)) {
        return error(400, "200108", &format!("Invalid URL {bad}: webhook target URLs must use HTTPS"));
    }
    let Some(webhook) = inner.webhook_mut(id) else {
        return error(404, "20011", &format!("Webhook {id} not found"));
    };
    let defaults = crate::state::webhook_defaults();
    if let Value::Object(defaults) = defaults {
        for (key, default) in defaults {
            let value = patch.get(&key).filter(|v| !v.is_null()).cloned().unwrap_or(default);
            webhook.doc[key.as_str()] = value;
        }
    }
    HttpResponse::Ok().json(webhook.view(false))
}

/// An absolute https URL (or http when allowed).
fn callback_allowed(url: &str, allow_http: bool) -> bool {
    match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => u.scheme() == "https" || (allow_http && u.scheme() == "http"),
        _ => false,
    }
}

/// `GET /ccadmin/v1/webhookFailedMessages[?q=RQL]`: the kept failed messages, oldest first. `q` is
/// read as RQL `field = "value"` terms joined by `AND` on `messageType`, `serverType` or `id`;
/// anything else is refused.
fn list_failed(state: &State, q: &HashMap<String, String>) -> HttpResponse {
    let terms = match q.get("q").map(|text| rql_terms(text)) {
        None => Vec::new(),
        Some(Ok(terms)) => terms,
        Some(Err(message)) => return error(400, "200103", &format!("Invalid query: {message}")),
    };
    let inner = state.lock();
    let items: Vec<Value> = inner
        .failed
        .iter()
        .map(|m| m.view(inner.webhook(&m.webhook_id)))
        .filter(|v| terms.iter().all(|(field, value)| v[field.as_str()].as_str() == Some(value.as_str())))
        .collect();
    HttpResponse::Ok().json(json!({"items": items, "total": items.len(), "totalResults": items.len()}))
}

/// `field = "value" AND ...` (RQL comparisons on the string fields a failed message has).
fn rql_terms(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(" AND ")
        .map(|term| {
            let (field, value) = term.split_once('=').ok_or_else(|| format!("cannot parse {term:?}"))?;
            let field = field.trim();
            let value = value.trim().strip_prefix('"').and_then(|v| v.strip_suffix('"'));
            match (field, value) {
                ("messageType" | "serverType" | "id", Some(value)) => Ok((field.to_owned(), value.to_owned())),
                _ => Err(format!("cannot parse {term:?}")),
            }
        })
        .collect()
}

fn is_resend(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::PUT
        && req
            .path()
            .trim_end_matches('/')
            .strip_prefix("/ccadmin/v1/webhookFailedMessages/")
            .is_some_and(|id| !id.contains('/'))
}

/// `PUT /ccadmin/v1/webhookFailedMessages/{id}` with `{"resend": true}`: sends the message again to
/// the URLs that failed, before answering (an assumption: OCC may resend later).
async fn resend_failed(req: &HttpRequest, body: &Bytes, state: &Arc<State>) -> HttpResponse {
    let Some(permissions) = authorize(req, state) else {
        return error(401, "000002", "The access token is missing, invalid or expired");
    };
    if !permissions.webhooks {
        return error(403, "40300", "The application key lacks access to webhooks");
    }
    let id = req.path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
    let resend = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["resend"].as_bool());
    if resend != Some(true) {
        return error(400, "200104", "The body must be {\"resend\": true}");
    }
    match crate::deliver::resend(state, &id).await {
        None => error(404, "20012", &format!("Failed message {id} not found")),
        Some(results) => {
            let delivered = results.iter().filter(|(_, r)| matches!(r, Ok(s) if (200..300).contains(s))).count();
            HttpResponse::Ok().json(json!({"id": id, "resend": true, "delivered": delivered, "targets": results.len()}))
        }
    }
}

fn reset_secret(body: &Bytes, state: &State, id: &str) -> HttpResponse {
    let op = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["op"].as_str().map(str::to_owned));
    if op.as_deref() != Some("resetSecretKey") {
        return error(400, "200106", "op must be resetSecretKey");
    }
    let mut inner = state.lock();
    let secret = crate::state::random_b64(&mut inner.rng, 32);
    let secret512 = crate::state::random_b64(&mut inner.rng, 64);
    let Some(webhook) = inner.webhook_mut(id) else {
        return error(404, "20011", &format!("Webhook {id} not found"));
    };
    webhook.secret = secret.clone();
    webhook.secret512 = secret512;
    HttpResponse::Ok().json(json!({"id": id, "secretKey": secret}))
}

fn admin(req: &HttpRequest, path: &str, body: &Bytes, state: &State) -> HttpResponse {
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut inner = state.lock();
    match (req.method().as_str(), path.trim_end_matches('/')) {
        ("POST", "keys") => {
            let permissions =
                serde_json::from_value(json_body["permissions"].clone()).unwrap_or_else(|_| Permissions::all());
            HttpResponse::Ok().json(json!({"key": inner.new_key(permissions)}))
        }
        ("POST", "keys/revoke") => match json_body["key"].as_str().and_then(|k| inner.keys.get_mut(k)) {
            Some(info) => {
                info.revoked = true;
                HttpResponse::Ok().json(json!({"revoked": true}))
            }
            None => error(404, "sim", "unknown key"),
        },
        ("POST", "tokens/expire") => {
            let past = Instant::now() - Duration::from_millis(1);
            inner.tokens.values_mut().for_each(|t| t.expires = past);
            HttpResponse::Ok().json(json!({"expired": inner.tokens.len()}))
        }
        ("GET", "calls") => HttpResponse::Ok().json(&inner.calls),
        ("DELETE", "calls") => {
            inner.calls.clear();
            HttpResponse::NoContent().finish()
        }
        ("POST", "faults") => match serde_json::from_value::<Fault>(json_body) {
            Ok(fault) => {
                let id = inner.next_fault;
                inner.next_fault += 1;
                inner.faults.push((id, fault, 0));
                HttpResponse::Ok().json(json!({"id": id}))
            }
            Err(e) => error(400, "sim", &format!("bad fault: {e}")),
        },
        ("DELETE", "faults") => {
            inner.faults.clear();
            HttpResponse::NoContent().finish()
        }
        ("POST", "latency") => {
            inner.latency = Duration::from_millis(json_body["ms"].as_u64().unwrap_or(0));
            HttpResponse::Ok().json(json!({"ms": inner.latency.as_millis() as u64}))
        }
        ("GET", p) if p.starts_with("webhooks/") => match inner.webhook(&p["webhooks/".len()..]) {
            Some(w) => HttpResponse::Ok().json(w.view(true)),
            None => error(404, "sim", "unknown webhook"),
        },
        _ => error(404, "sim", "unknown admin route"),
    }
}
