//! The simulator's mutable state behind one lock (never held across an await): keys, tokens,
//! catalog, orders, webhooks and their failed messages, faults, and the call log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Value, json};

use crate::catalog::{self, Catalog};
use crate::{Fault, Permissions, SimOptions, SimSite};

/// One request the simulator received.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Call {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Status sent; 0 when the connection was dropped.
    pub status: u16,
    /// Request body (lossy UTF-8, at most 4 KiB).
    pub body: String,
    /// The W3C `traceparent` header, when the caller sent one.
    #[serde(default)]
    pub traceparent: Option<String>,
    /// The `x-ccsite` header, when the caller sent one.
    #[serde(default)]
    pub site: Option<String>,
    pub at_ms: u64,
}

pub(crate) struct KeyInfo {
    pub permissions: Permissions,
    pub revoked: bool,
}

pub(crate) struct TokenInfo {
    pub key: String,
    pub expires: Instant,
}

pub(crate) struct Webhook {
    pub doc: Value,
    pub secret: String,
    pub secret512: String,
}

pub(crate) struct Inner {
    pub keys: HashMap<String, KeyInfo>,
    pub tokens: HashMap<String, TokenInfo>,
    pub issued: Vec<String>,
    pub catalog: Catalog,
    pub orders: Vec<Value>,
    /// Return requests (`crate::returns`).
    pub returns: Vec<Value>,
    /// Shopper profiles (`crate::profiles`).
    pub profiles: Vec<Value>,
    pub shipping: Vec<Value>,
    pub webhooks: Vec<(String, Webhook)>,
    /// Events not delivered to some URL after their attempts, oldest first.
    pub failed: Vec<FailedMessage>,
    pub next_failed: u64,
    pub allow_http_callbacks: bool,
    pub webhook_attempts: u32,
    pub webhook_retry_delay: Duration,
    /// Function webhooks (`crate::functions`).
    pub function_webhooks: Vec<(String, Webhook)>,
    pub faults: Vec<(u64, Fault, u32)>,
    pub next_fault: u64,
    pub calls: Vec<Call>,
    pub latency: Duration,
    pub token_ttl: Duration,
    pub last_tick: DateTime<Utc>,
    pub rng: rand::rngs::StdRng,
    /// Churn mode (`OccSim::set_churn`) and what it changed.
    pub churn: bool,
    /// Lists answer no items from this offset on, with their usual totals (`OccSim::set_truncate_after`).
    pub truncate_after: Option<usize>,
    pub churned_deleted: Vec<String>,
    pub churned_added: Vec<String>,
    /// The store's sites; the first is the default site.
    pub sites: Vec<SimSite>,
}

pub(crate) struct State {
    pub inner: Mutex<Inner>,
    pub started: Instant,
    /// The storefront origin's address (the admin API is on the other listener), set once bound.
    pub storefront: std::sync::OnceLock<std::net::SocketAddr>,
}

/// OCC's event webhooks as the simulator serves them: `<serverType>-<name>` for the production and
/// the preview (`publishing`) server [C: reference section 4]. The non-PCI ("without payment details")
/// names are assumptions [A: docs/occ.md "Webhook slots"].
pub(crate) const WEBHOOK_NAMES: [&str; 5] = [
    "submitOrder",
    "submitOrderForNonPCITargets",
    "returnRequestUpdate",
    "returnRequestUpdateForNonPCITargets",
    "publishEvent",
];

/// The ids of the Violet notes, served only with `SimOptions::violet_webhook_ids`.
pub(crate) const VIOLET_WEBHOOK_IDS: [&str; 6] = [
    "order-submit",
    "order-update",
    "shipment-create",
    "shipment-update",
    "production-submitOrder",
    "production-returnRequestUpdate",
];

/// A webhook's settable fields and the values OCC gives them when a PUT leaves them out (a PUT
/// replaces the whole webhook in the simulator: docs/occ.md "Webhook slots").
pub(crate) fn webhook_defaults() -> Value {
    json!({"urls": [], "headers": {}, "basicAuthentication": null, "maxNumberOfResendAttempts": 5,
           "resendDelaySeconds": 3600, "applyResendDelayToFirstAttempt": true, "includeChangesOnly": false,
           "subEntityTruncationSize": null, "urlApplicationSuppressionList": []})
}

/// One event that could not be delivered to some of its URLs after its attempts
/// (`GET /ccadmin/v1/webhookFailedMessages`).
#[derive(Clone, Debug)]
pub(crate) struct FailedMessage {
    pub id: String,
    pub webhook_id: String,
    pub body: Vec<u8>,
    pub remaining: Vec<String>,
    pub last_error: String,
    pub saved: DateTime<Utc>,
}

impl FailedMessage {
    pub fn view(&self, webhook: Option<&Webhook>) -> Value {
        let doc = webhook.map(|w| &w.doc);
        json!({"id": self.id, "messageType": doc.map(|d| d["name"].clone()).unwrap_or(Value::Null),
               "serverType": doc.map(|d| d["serverType"].clone()).unwrap_or(Value::Null),
               "lastErrorMessage": self.last_error, "savedTime": catalog::iso(self.saved), "resend": false,
               "remainingTargetUrls": self.remaining})
    }
}

fn webhook_set(options: &SimOptions, rng: &mut rand::rngs::StdRng) -> Vec<(String, Webhook)> {
    let ids: Vec<String> = if options.violet_webhook_ids {
        VIOLET_WEBHOOK_IDS.iter().map(|id| (*id).to_owned()).collect()
    } else {
        ["production", "publishing"]
            .iter()
            .flat_map(|server| WEBHOOK_NAMES.iter().map(move |name| format!("{server}-{name}")))
            .collect()
    };
    // Secrets are shared by the webhooks of one name (production and preview alike) [C S12].
    let mut secrets: HashMap<String, (String, String)> = HashMap::new();
    ids.into_iter()
        .map(|id| {
            let (server, name) = id
                .split_once('-')
                .filter(|(s, _)| matches!(*s, "production" | "publishing"))
                .map_or(("production", id.as_str()), |(s, n)| (s, n));
            let (secret, secret512) =
                secrets.entry(name.to_owned()).or_insert_with(|| (random_b64(rng, 32), random_b64(rng, 64))).clone();
            let mut doc = json!({"id": id, "name": name, "serverType": server,
                "displayName": format!("atg.service.webhook.Resources->webHookDisplayName_{name}")});
            merge(&mut doc, webhook_defaults());
            (id.clone(), Webhook { doc, secret, secret512 })
        })
        .collect()
}

fn merge(doc: &mut Value, fields: Value) {
    if let (Some(doc), Value::Object(fields)) = (doc.as_object_mut(), fields) {
        doc.extend(fields);
    }
}

impl State {
    pub fn new(options: &SimOptions) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
        let sites = if options.sites.is_empty() { vec![SimSite::us()] } else { options.sites.clone() };
        // Each site's price list group prices the catalog 10% below the one before it.
        let groups =
            sites.iter().enumerate().map(|(n, s)| (s.price_list_group.clone(), 1.0 - 0.1 * n as f64)).collect();
        let catalog = Catalog::new(options.seed, options.products, options.skus_per_product, groups);
        // A multi-site store's seed orders take turns over its enabled sites.
        let enabled: Vec<&str> = options.sites.iter().filter(|s| s.enabled).map(|s| s.id.as_str()).collect();
        let orders = (0..options.orders)
            .map(|n| {
                let mut order = catalog::seed_order(options.seed, n, &catalog, options.products, catalog::base_time());
                if enabled.len() > 1 {
                    order["siteId"] = json!(enabled[n % enabled.len()]);
                }
                order
            })
            .collect();
        let webhooks = webhook_set(options, &mut rng);
        let function_webhooks = crate::functions::FUNCTION_WEBHOOK_IDS
            .iter()
            .map(|id| {
                let hook =
                    Webhook::function(crate::functions::blank(id), random_b64(&mut rng, 32), random_b64(&mut rng, 64));
                ((*id).to_owned(), hook)
            })
            .collect();
        let inner = Inner {
            keys: HashMap::new(),
            tokens: HashMap::new(),
            issued: Vec::new(),
            catalog,
            orders,
            returns: Vec::new(),
            profiles: crate::profiles::seed(),
            shipping: catalog::shipping_methods(options.shipping_methods),
            webhooks,
            failed: Vec::new(),
            next_failed: 1,
            allow_http_callbacks: options.allow_http_callbacks,
            webhook_attempts: options.webhook_attempts.max(1),
            webhook_retry_delay: options.webhook_retry_delay,
            function_webhooks,
            faults: Vec::new(),
            next_fault: 1,
            calls: Vec::new(),
            latency: options.latency,
            token_ttl: options.token_ttl,
            last_tick: catalog::base_time(),
            rng,
            churn: false,
            truncate_after: None,
            churned_deleted: Vec::new(),
            churned_added: Vec::new(),
            sites,
        };
        Self { inner: Mutex::new(inner), started: Instant::now(), storefront: std::sync::OnceLock::new() }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn random_b64(rng: &mut impl RngCore, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// A JWT-shaped random string (header.payload.signature), like OCC keys and tokens.
pub(crate) fn jwt_like(rng: &mut impl RngCore, payload: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut sig = vec![0u8; 96];
    rng.fill_bytes(&mut sig);
    format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode(sig))
}

impl Inner {
    /// A strictly increasing "now" for modification times.
    pub fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.last_tick + chrono::Duration::milliseconds(1));
        self.last_tick = now;
        now
    }

    pub fn new_key(&mut self, permissions: Permissions) -> String {
        let nonce: u64 = self.rng.r#gen();
        let key = jwt_like(&mut self.rng, &json!({"sub": "sim-app", "iss": "occ-sim", "jti": nonce}));
        self.keys.insert(key.clone(), KeyInfo { permissions, revoked: false });
        key
    }

    pub fn webhook_mut(&mut self, id: &str) -> Option<&mut Webhook> {
        self.webhooks.iter_mut().find(|(w, _)| w == id).map(|(_, w)| w)
    }

    pub fn webhook(&self, id: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|(w, _)| w == id).map(|(_, w)| w)
    }
}

impl Webhook {
    pub fn view(&self, with_secrets: bool) -> Value {
        let mut doc = self.doc.clone();
        doc["secretKey"] = if with_secrets { json!(self.secret) } else { Value::Null };
        doc["secretKeySHA512"] = if with_secrets { json!(self.secret512) } else { Value::Null };
        doc
    }
}
