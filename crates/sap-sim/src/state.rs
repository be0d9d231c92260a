//! The simulator's mutable state behind one lock (never held across an await): users, OAuth clients
//! and tokens, the store's data, the WebhookService's items, deliveries, faults and the call log.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::schema::{self, IntegrationObject};
use crate::store::{Change, Store};
use crate::{Fault, InboundAuth, SimOptions};

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
    /// `basic:<uid>`, `bearer` or `none`: how the caller authenticated (never the secret).
    pub auth: String,
    pub at_ms: u64,
}

/// One webhook call the simulator made (or refused to make).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The webhook configuration's integrationKey.
    pub webhook: String,
    pub url: String,
    pub integration_object: String,
    pub change: Change,
    pub integration_key: String,
    /// The `ce-type` header sent.
    pub event_type: String,
    pub body: Value,
    /// The receiver's status, or why no status came.
    pub result: Result<u16, String>,
}

pub(crate) struct User {
    pub password: String,
    pub groups: Vec<String>,
}

pub(crate) struct OAuthClient {
    pub secret: String,
    pub user: String,
}

pub(crate) struct Token {
    pub user: String,
    pub expires: Instant,
}

pub(crate) struct Inner {
    pub users: HashMap<String, User>,
    pub clients: HashMap<String, OAuthClient>,
    pub tokens: HashMap<String, Token>,
    pub issued: usize,
    pub store: Store,
    /// WebhookService roots, nested form, creation order.
    pub destinations: Vec<Value>,
    pub webhooks: Vec<Value>,
    pub deliveries: Vec<Delivery>,
    pub faults: Vec<(u64, Fault, u32)>,
    pub next_fault: u64,
    pub calls: Vec<Call>,
    pub latency: Duration,
    pub token_ttl: Duration,
    pub inbound_auth: InboundAuth,
    pub allow_remote_destinations: bool,
    pub region: String,
    pub instance_id: String,
    pub last_tick: i64,
    /// The last list's selection, valid while `last_tick` is unchanged.
    pub list_cache: Option<ListCache>,
    /// Products added by `SapSim::add_product`, so a new code never repeats a deleted one.
    pub added_products: usize,
    pub rng: rand::rngs::StdRng,
}

impl Inner {
    /// Now in epoch milliseconds, strictly after every earlier tick (so each change has its own
    /// `modifiedtime` and a `gt` filter on the last one seen never repeats it).
    pub fn tick(&mut self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis().max(self.last_tick + 1);
        self.last_tick = now;
        now
    }
}

pub(crate) struct State {
    pub inner: Mutex<Inner>,
    /// The integration objects this store has: the schema less `SimOptions`' hidden objects and attributes.
    pub objects: Vec<IntegrationObject>,
    pub started: Instant,
    pub http: reqwest::Client,
}

impl State {
    pub fn new(options: &SimOptions) -> Self {
        use rand::SeedableRng;
        let now = chrono::Utc::now().timestamp_millis();
        let store = Store::seed(
            options.products,
            options.variants_per_product,
            options.delivery_modes,
            options.orders,
            options.seed,
            now,
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let objects = schema::objects()
            .iter()
            .filter(|o| !options.hidden_objects.contains(&o.code))
            .cloned()
            .map(|mut o| {
                for item in &mut o.items {
                    let prefix = format!("{}:{}:", o.code, item.code);
                    item.attributes.retain(|a| !options.hidden_attributes.contains(&format!("{prefix}{}", a.name)));
                }
                o
            })
            .collect();
        Self {
            objects,
            inner: Mutex::new(Inner {
                users: HashMap::new(),
                clients: HashMap::new(),
                tokens: HashMap::new(),
                issued: 0,
                store,
                destinations: Vec::new(),
                webhooks: Vec::new(),
                deliveries: Vec::new(),
                faults: Vec::new(),
                next_fault: 0,
                calls: Vec::new(),
                latency: options.latency,
                token_ttl: options.token_ttl,
                inbound_auth: options.inbound_auth,
                allow_remote_destinations: options.allow_remote_destinations,
                region: options.region.clone(),
                instance_id: options.instance_id.clone(),
                last_tick: now,
                list_cache: None,
                added_products: 0,
                rng: rand::rngs::StdRng::seed_from_u64(options.seed),
            }),
            started: Instant::now(),
            http,
        }
    }

    pub fn object(&self, code: &str) -> Option<&IntegrationObject> {
        self.objects.iter().find(|o| o.code == code)
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A list's selection (positions in the object's roots) for one filter and order, at one tick.
pub struct ListCache {
    pub object: String,
    pub query: String,
    pub tick: i64,
    pub indices: std::sync::Arc<Vec<usize>>,
}
