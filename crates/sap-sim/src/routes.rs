//! HTTP handling: one dispatcher records the call, applies latency and faults, then routes to the
//! OAuth token endpoint or to an integration object's OData service (`/odata2webservices/<IO>/...`):
//! `$metadata`, lists and point reads of the root item, order creation, and the WebhookService.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use rand::Rng;
use serde_json::{Value, json};

use crate::odata::{self, Query};
use crate::schema::{self, IntegrationObject, Item};
use crate::state::{Call, Inner, ListCache, State, Token};
use crate::store::{self, Change};
use crate::webhooks::{self, WEBHOOK_SERVICE};
use crate::{FaultKind, GROUP_ADMIN, GROUP_STORELINK};

const SERVICE_ROOT: &str = "/odata2webservices/";
pub const TOKEN_PATH: &str = "/authorizationserver/oauth/token";

pub(crate) async fn dispatch(req: HttpRequest, body: Bytes, state: web::Data<Arc<State>>) -> HttpResponse {
    let path = req.path().to_owned();
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
            // The token request's form carries the client secret: never logged.
            body: if path == TOKEN_PATH {
                "<not logged>".to_owned()
            } else {
                String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned()
            },
            auth: auth_kind(&req),
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
        None => handle(&req, &body, &state),
        Some(FaultKind::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            handle(&req, &body, &state)
        }
        Some(FaultKind::Status(status)) => error(status, "internal_server_error", "Injected fault"),
        Some(FaultKind::RateLimited { retry_after_secs }) => {
            let mut response = error(429, "too_many_requests", "Too many requests (injected)");
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            response
        }
        Some(FaultKind::Drop) => return dropped(),
        Some(FaultKind::HugeBody { bytes }) => huge_body(bytes),
    };
    let status = response.status().as_u16();
    if let Some(call) = state.lock().calls.iter_mut().rev().find(|c| c.seq == seq) {
        call.status = status;
    }
    response
}

fn auth_kind(req: &HttpRequest) -> String {
    match authorization(req) {
        Some(Credentials::Basic(user, _)) => format!("basic:{user}"),
        Some(Credentials::Bearer(_)) => "bearer".to_owned(),
        None => "none".to_owned(),
    }
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

fn dropped() -> HttpResponse {
    let failing = futures::stream::once(async {
        Err::<Bytes, actix_web::Error>(actix_web::error::ErrorInternalServerError("dropped"))
    });
    HttpResponse::Ok().streaming(failing)
}

fn huge_body(bytes: u64) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let mut first = b"{\"d\":{\"results\":[\"".to_vec();
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

/// SAP's OData error body: `{"error":{"code":..,"message":{"lang":"en","value":..}}}`.
pub(crate) fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status_code)
        .content_type("application/json;charset=UTF-8")
        .json(json!({"error": {"code": code, "message": {"lang": "en", "value": message}}}))
}

/// Spring Security OAuth's error body, as the token endpoint and a refused bearer token answer.
fn oauth_error(status: u16, code: &str, description: &str) -> HttpResponse {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
    HttpResponse::build(status_code).json(json!({"error": code, "error_description": description}))
}

enum Credentials {
    Basic(String, String),
    Bearer(String),
}

fn authorization(req: &HttpRequest) -> Option<Credentials> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, value) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some(Credentials::Basic(user.to_owned(), password.to_owned()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Credentials::Bearer(value.trim().to_owned()))
    } else {
        None
    }
}

fn handle(req: &HttpRequest, body: &Bytes, state: &Arc<State>) -> HttpResponse {
    let path = req.path();
    if path == TOKEN_PATH {
        return if req.method() == actix_web::http::Method::POST {
            token(req, body, state)
        } else {
            oauth_error(405, "method_not_allowed", "Request method not supported")
        };
    }
    let Some(rest) = path.strip_prefix(SERVICE_ROOT) else {
        return error(404, "not_found", "No such resource");
    };
    let segments: Vec<String> = rest.trim_end_matches('/').split('/').map(percent_decode).collect();
    let Some(object) = segments.first().and_then(|code| state.object(code)) else {
        // Authentication comes first on SAP too, but an unknown object is 404 either way.
        return match authenticate(req, state, None) {
            Err(refused) => *refused,
            Ok(_) => error(404, "not_found", &format!("Integration object '{}' not found", segments[0])),
        };
    };
    if let Err(refused) = authenticate(req, state, Some(object)) {
        return *refused;
    }
    let service = format!("{}{SERVICE_ROOT}{}", base(req), object.code);
    let method = req.method().as_str();
    match (method, segments.get(1).map(String::as_str), segments.len()) {
        ("GET", None, 1) => {
            let sets: Vec<String> = object.items.iter().map(Item::entity_set).collect();
            HttpResponse::Ok().json(json!({"d": {"EntitySets": sets}}))
        }
        ("GET", Some("$metadata"), 2) => {
            HttpResponse::Ok().content_type("application/xml").body(crate::edmx::render(object))
        }
        (_, Some(resource), 2) => {
            let (set, key) = split_key(resource);
            let Some(item) = object.item_by_set(set) else {
                return error(404, "not_found", &format!("Entity set '{set}' not found"));
            };
            if !item.root {
                return error(404, "not_found", &format!("Entity set '{set}' is not served by the simulator"));
            }
            match (method, key) {
                ("GET", None) => list(req, state, object, item, &service),
                ("GET", Some(key)) => point_read(req, state, object, item, &service, &key),
                ("POST", None) => create(body, state, object, item, &service),
                ("DELETE", Some(key)) if object.code == WEBHOOK_SERVICE => delete(state, object, item, &key),
                _ => error(405, "method_not_allowed", "Method not allowed on this resource"),
            }
        }
        _ => error(404, "not_found", "No such resource"),
    }
}

fn base(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// `Products('Online%7Cx%7CP1')` -> (`Products`, `Online|x|P1`); the segment is already decoded.
fn split_key(resource: &str) -> (&str, Option<String>) {
    match resource.split_once("('") {
        Some((set, rest)) => (set, rest.strip_suffix("')").map(|k| k.replace("''", "'"))),
        None => (resource, None),
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller's uid, or the 401/403 to answer. Storelink's objects take the authentication type of
/// their inbound channel configuration and need `storelinkgroup` (or `integrationadmingroup`); the
/// WebhookService takes either type and needs `integrationadmingroup`.
fn authenticate(
    req: &HttpRequest,
    state: &State,
    object: Option<&IntegrationObject>,
) -> Result<String, Box<HttpResponse>> {
    let webhook_service = object.is_some_and(|o| o.code == WEBHOOK_SERVICE);
    let inner = state.lock();
    let (allow_basic, allow_oauth) =
        if webhook_service { (true, true) } else { (inner.inbound_auth.basic(), inner.inbound_auth.oauth()) };
    let uid = match authorization(req) {
        None => return Err(Box::new(unauthorized("Full authentication is required to access this resource"))),
        Some(Credentials::Basic(user, password)) => {
            let ok = inner.users.get(&user).is_some_and(|u| u.password == password);
            if !allow_basic || !ok {
                return Err(Box::new(unauthorized("Bad credentials")));
            }
            user
        }
        Some(Credentials::Bearer(token)) => match inner.tokens.get(&token) {
            Some(t) if allow_oauth && t.expires > std::time::Instant::now() => t.user.clone(),
            Some(_) if allow_oauth => {
                return Err(Box::new(oauth_error(401, "invalid_token", "Access token expired")));
            }
            _ => return Err(Box::new(oauth_error(401, "invalid_token", "Invalid access token"))),
        },
    };
    let groups = inner.users.get(&uid).map(|u| u.groups.clone()).unwrap_or_default();
    let admin = groups.iter().any(|g| g == GROUP_ADMIN);
    let allowed = admin || (!webhook_service && groups.iter().any(|g| g == GROUP_STORELINK));
    if object.is_some() && !allowed {
        return Err(Box::new(error(403, "forbidden", "Access is denied")));
    }
    Ok(uid)
}

fn unauthorized(message: &str) -> HttpResponse {
    let mut response = error(401, "unauthorized", message);
    response.headers_mut().insert(
        actix_web::http::header::WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Basic realm=\"hybris\""),
    );
    response
}

/// `POST /authorizationserver/oauth/token`, `grant_type=client_credentials`, the client in the form
/// or in a Basic header.
fn token(req: &HttpRequest, body: &Bytes, state: &State) -> HttpResponse {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (id, secret) = match authorization(req) {
        Some(Credentials::Basic(id, secret)) => (id, secret),
        _ => {
            (form.get("client_id").cloned().unwrap_or_default(), form.get("client_secret").cloned().unwrap_or_default())
        }
    };
    let mut inner = state.lock();
    let user = match inner.clients.get(&id) {
        Some(client) if client.secret == secret => client.user.clone(),
        _ => return oauth_error(401, "invalid_client", "Bad client credentials"),
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => return oauth_error(400, "unsupported_grant_type", &format!("Unsupported grant type: {other}")),
        None => return oauth_error(400, "invalid_request", "Missing grant type"),
    }
    let token = uuid::Uuid::new_v4().to_string();
    let ttl = inner.token_ttl;
    inner.tokens.insert(token.clone(), Token { user, expires: std::time::Instant::now() + ttl });
    inner.issued += 1;
    HttpResponse::Ok()
        .json(json!({"access_token": token, "token_type": "bearer", "expires_in": ttl.as_secs(), "scope": "basic"}))
}

fn wants_json(req: &HttpRequest, query: &Query) -> bool {
    query.json
        || req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

fn parse_query(req: &HttpRequest, object: &IntegrationObject, item: &Item) -> Result<Query, Box<HttpResponse>> {
    let query =
        odata::parse(req.query_string(), item, object).map_err(|r| Box::new(error(400, "invalid_query", &r.0)))?;
    if !wants_json(req, &query) {
        return Err(Box::new(error(
            406,
            "not_acceptable",
            "The simulator answers JSON only: send Accept: application/json",
        )));
    }
    Ok(query)
}

fn roots(inner: &Inner, object: &IntegrationObject, item: &Item) -> Vec<Value> {
    if object.code == WEBHOOK_SERVICE {
        let list = if item.code == "WebhookConfiguration" { &inner.webhooks } else { &inner.destinations };
        return list.iter().map(hide_secrets).collect();
    }
    inner.store.roots(&object.code).to_vec()
}

/// Reads of a credential never return its secret.
fn hide_secrets(item: &Value) -> Value {
    let mut item = item.clone();
    for (holder, field) in [("credentialBasic", "password"), ("credentialConsumedOAuth", "clientSecret")] {
        if item[holder].is_object() {
            item[holder][field] = Value::Null;
        }
        if item["destination"][holder].is_object() {
            item["destination"][holder][field] = Value::Null;
        }
    }
    item
}

/// The positions of the items passing the query's filter, in its order (creation order, which is
/// often the order asked for, is kept without sorting).
fn select(all: &[Value], object: &IntegrationObject, item: &Item, query: &Query) -> Vec<usize> {
    let by_key = query.filter.iter().any(|c| c.path.len() == 1 && c.path[0] == "integrationKey");
    let mut selected: Vec<usize> = (0..all.len())
        .filter(|&i| {
            let key = if by_key { schema::integration_key(object, item, &all[i]) } else { String::new() };
            odata::matches(&all[i], &key, &query.filter)
        })
        .collect();
    let compare = |a: &usize, b: &usize| {
        for (path, descending) in &query.order_by {
            let (a, b) = (&all[*a][path[0].as_str()], &all[*b][path[0].as_str()]);
            let ordering = match (a, b) {
                (Value::Number(x), Value::Number(y)) => {
                    x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(std::cmp::Ordering::Equal)
                }
                (Value::String(x), Value::String(y)) => x.cmp(y),
                _ => a.to_string().cmp(&b.to_string()),
            };
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    };
    if !selected.is_sorted_by(|a, b| compare(a, b).is_le()) {
        selected.sort_by(compare);
    }
    selected
}

fn list(req: &HttpRequest, state: &State, object: &IntegrationObject, item: &Item, service: &str) -> HttpResponse {
    let query = match parse_query(req, object, item) {
        Ok(q) => q,
        Err(refused) => return *refused,
    };
    // The selection (filtered, sorted) is kept between pages while the store is unchanged (every
    // change ticks the clock), so a page of a large store costs the page, not a pass over the store
    // (the benches read 100,000 products through it); only the page is rendered.
    let mut inner = state.lock();
    let webhook_items = (object.code == WEBHOOK_SERVICE).then(|| roots(&inner, object, item));
    let signature = format!("{:?} {:?}", query.filter, query.order_by);
    let tick = inner.last_tick;
    let cached = match (&webhook_items, &inner.list_cache) {
        (None, Some(c)) if c.object == object.code && c.query == signature && c.tick == tick => Some(c.indices.clone()),
        _ => None,
    };
    let indices = match cached {
        Some(indices) => indices,
        None => {
            let all = webhook_items.as_deref().unwrap_or_else(|| inner.store.roots(&object.code));
            let indices = Arc::new(select(all, object, item, &query));
            if webhook_items.is_none() {
                let cache = ListCache { object: object.code.clone(), query: signature, tick, indices: indices.clone() };
                inner.list_cache = Some(cache);
            }
            indices
        }
    };
    let all = webhook_items.as_deref().unwrap_or_else(|| inner.store.roots(&object.code));
    let total = indices.len();
    // The page is written as JSON bytes straight from the store, under the lock (cheaper than copying
    // the page's items out to render them after).
    let expand: Vec<&[String]> = query.expand.iter().map(Vec::as_slice).collect();
    let mut body = Vec::with_capacity(query.top.min(total) * 4096 + 256);
    body.extend_from_slice(b"{\"d\":{\"results\":[");
    let mut shown = 0;
    for &i in indices.iter().skip(query.skip).take(query.top) {
        if shown > 0 {
            body.push(b',');
        }
        odata::render(&mut body, object, item, &all[i], service, &expand);
        shown += 1;
    }
    drop(inner);
    body.push(b']');
    if query.inline_count {
        body.extend_from_slice(b",\"__count\":");
        odata::write_str(&mut body, &total.to_string());
    }
    if query.skip + shown < total && shown > 0 {
        let mut params = query.passthrough.clone();
        params.push(("$skip".into(), (query.skip + shown).to_string()));
        params.push(("$top".into(), query.top.to_string()));
        let encoded = serde_urlencoded::to_string(&params).unwrap_or_default();
        body.extend_from_slice(b",\"__next\":");
        odata::write_str(&mut body, &format!("{service}/{}?{encoded}", item.entity_set()));
    }
    body.extend_from_slice(b"}}");
    HttpResponse::Ok().content_type("application/json").body(body)
}

fn point_read(
    req: &HttpRequest,
    state: &State,
    object: &IntegrationObject,
    item: &Item,
    service: &str,
    key: &str,
) -> HttpResponse {
    let query = match parse_query(req, object, item) {
        Ok(q) => q,
        Err(refused) => return *refused,
    };
    let found =
        roots(&state.lock(), object, item).into_iter().find(|e| schema::integration_key(object, item, e) == key);
    match found {
        Some(entity) => HttpResponse::Ok().content_type("application/json").body(odata::render_single(
            object,
            item,
            &entity,
            service,
            &query.expand,
        )),
        None => error(404, "not_found", &format!("{} with integration key [{key}] was not found", item.code)),
    }
}

/// POST: create, or update the item with the same integrationKey (SAP's upsert). Orders on
/// `StorelinkOrder` and the WebhookService's two roots; other objects are read-only here.
fn create(body: &Bytes, state: &Arc<State>, object: &IntegrationObject, item: &Item, service: &str) -> HttpResponse {
    if object.code != store::ORDER && object.code != WEBHOOK_SERVICE {
        return error(
            405,
            "method_not_allowed",
            "The simulator accepts POST on StorelinkOrder and WebhookService only",
        );
    }
    let Ok(json_body) = serde_json::from_slice::<Value>(body) else {
        return error(400, "invalid_json", "The payload is not valid JSON");
    };
    let mut entity = match store::from_odata(object, item, &json_body) {
        Ok(e) => e,
        Err(message) => return error(400, "invalid_property", &message),
    };
    let mut inner = state.lock();
    if object.code == WEBHOOK_SERVICE {
        let checked = if item.code == "ConsumedDestination" {
            webhooks::check_destination(&entity)
        } else {
            webhooks::check_webhook(state, &inner, &mut entity)
        };
        if let Err(message) = checked {
            return error(400, "invalid_attribute_value", &message);
        }
        if item.code == "ConsumedDestination" && entity.get("active").is_none_or(Value::is_null) {
            entity["active"] = Value::from(true);
        }
        let key = schema::integration_key(object, item, &entity);
        let list = if item.code == "ConsumedDestination" { &mut inner.destinations } else { &mut inner.webhooks };
        match list.iter_mut().find(|e| schema::integration_key(object, item, e) == key) {
            Some(existing) => *existing = entity.clone(),
            None => list.push(entity.clone()),
        }
        let expand = all_navs(item);
        return HttpResponse::Created().content_type("application/json").body(odata::render_single(
            object,
            item,
            &hide_secrets(&entity),
            service,
            &expand,
        ));
    }
    if let Err(message) = complete_order(&inner, &mut entity) {
        return error(400, "missing_nav_property", &message);
    }
    let now = inner.tick();
    let key = schema::integration_key(object, item, &entity);
    let orders = &mut inner.store.orders;
    let change = match orders.iter_mut().find(|o| schema::integration_key(object, item, o) == key) {
        Some(existing) => {
            entity["creationtime"] = existing["creationtime"].clone();
            entity["modifiedtime"] = Value::from(now);
            *existing = entity.clone();
            Change::Updated
        }
        None => {
            entity["creationtime"] = Value::from(now);
            entity["modifiedtime"] = Value::from(now);
            orders.push(entity.clone());
            Change::Created
        }
    };
    drop(inner);
    let delivering = state.clone();
    let snapshot = entity.clone();
    tokio::spawn(async move { webhooks::deliver(&delivering, store::ORDER, change, &snapshot).await });
    let expand = vec![vec!["entries".to_owned()]];
    HttpResponse::Created()
        .content_type("application/json")
        .body(odata::render_single(object, item, &entity, service, &expand))
}

fn all_navs(item: &Item) -> Vec<Vec<String>> {
    item.attributes.iter().filter(|a| a.returns.is_some()).map(|a| vec![a.name.clone()]).collect()
}

/// An order needs a code, a currency, a user and lines naming existing products; the simulator fills
/// in the back-references, the date and the statuses a new order starts with.
fn complete_order(inner: &Inner, order: &mut Value) -> Result<(), String> {
    let code = order["code"].as_str().unwrap_or_default().to_owned();
    if code.is_empty() {
        return Err("Property 'code' is required for Order".into());
    }
    if order["currency"]["isocode"].as_str().is_none_or(str::is_empty) {
        return Err("Property 'currency' is required for Order".into());
    }
    if order["user"]["uid"].as_str().is_none_or(str::is_empty) {
        return Err("Property 'user' is required for Order".into());
    }
    let Some(entries) = order["entries"].as_array_mut().filter(|e| !e.is_empty()) else {
        return Err("An order needs at least one entry".into());
    };
    for (n, entry) in entries.iter_mut().enumerate() {
        let product = entry["product"]["code"].as_str().unwrap_or_default();
        if !inner.store.has_product(product) {
            return Err(format!("Product [{product}] was not found and cannot be created"));
        }
        if entry["quantity"].as_i64().is_none_or(|q| q <= 0) {
            return Err(format!("Entry {n} needs a positive quantity"));
        }
        entry["order"] = json!({"code": code});
        if entry["entryNumber"].is_null() {
            entry["entryNumber"] = Value::from(n as i64);
        }
    }
    for address in ["deliveryAddress", "paymentAddress"] {
        if order[address].is_object() {
            order[address]["owner"] = json!({"code": code});
        }
    }
    for (field, value) in [("status", "CREATED"), ("paymentStatus", "NOTPAID"), ("deliveryStatus", "NOTSHIPPED")] {
        if order[field].is_null() {
            order[field] = json!({"code": value});
        }
    }
    if order["date"].is_null() {
        order["date"] = Value::from(chrono::Utc::now().timestamp_millis());
    }
    Ok(())
}

/// DELETE on the WebhookService: a webhook configuration, or a destination no configuration uses.
fn delete(state: &State, object: &IntegrationObject, item: &Item, key: &str) -> HttpResponse {
    let mut inner = state.lock();
    if item.code == "ConsumedDestination" {
        let id = inner
            .destinations
            .iter()
            .find(|d| schema::integration_key(object, item, d) == key)
            .map(|d| d["id"].clone());
        let Some(id) = id else {
            return error(404, "not_found", &format!("ConsumedDestination with integration key [{key}] was not found"));
        };
        if inner.webhooks.iter().any(|w| w["destination"]["id"] == id) {
            return error(400, "invalid_attribute_value", "The destination is used by a webhook configuration");
        }
        inner.destinations.retain(|d| d["id"] != id);
        return HttpResponse::NoContent().finish();
    }
    let before = inner.webhooks.len();
    inner.webhooks.retain(|w| schema::integration_key(object, item, w) != key);
    if inner.webhooks.len() == before {
        return error(404, "not_found", &format!("WebhookConfiguration with integration key [{key}] was not found"));
    }
    HttpResponse::NoContent().finish()
}
