//! What a simulated store looks like, and what an application key may do.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub products: usize,
    pub skus_per_product: usize,
    pub shipping_methods: usize,
    pub orders: usize,
    pub token_ttl: Duration,
    /// Added before every non-admin response.
    pub latency: Duration,
    pub seed: u64,
    /// Serve the Violet notes' webhook ids (`order-submit`, `order-update`, `shipment-create`,
    /// `shipment-update`) besides two real ones, as the simulator did before it served OCC's real set
    /// (`production-submitOrder`, ... and their `publishing-` twins, the default).
    pub violet_webhook_ids: bool,
    /// Accept plain-http callback URLs in a webhook PUT. OCC refuses them (its targets must be HTTPS
    /// with a CA-issued certificate); tests over loopback turn this on explicitly.
    pub allow_http_callbacks: bool,
    /// Attempts per URL for each event the simulator delivers (OCC's default is 5, an hour apart);
    /// after the last failed one the event is kept as a failed webhook message.
    pub webhook_attempts: u32,
    /// Wait between two attempts of one delivery.
    pub webhook_retry_delay: Duration,
    /// The store's sites (`GET /ccadmin/v1/sites`, `x-ccsite`); the first is the default site. The
    /// default is one site, `siteUS`: a single-site store.
    pub sites: Vec<SimSite>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            products: 50,
            skus_per_product: 2,
            shipping_methods: 3,
            orders: 10,
            token_ttl: Duration::from_secs(300),
            latency: Duration::ZERO,
            seed: 42,
            violet_webhook_ids: false,
            allow_http_callbacks: false,
            webhook_attempts: 2,
            webhook_retry_delay: Duration::from_millis(20),
            sites: vec![SimSite::us()],
        }
    }
}

/// One site of the simulated store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimSite {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// `productionURL`, without a scheme as OCC lists it.
    pub production_url: String,
    /// The default price list group's id, and its currency.
    pub price_list_group: String,
    pub currency: String,
}

impl SimSite {
    /// The default site of a single-site store.
    pub fn us() -> Self {
        Self::new("siteUS", "US Store", "defaultPriceGroup", "USD")
    }

    pub fn new(id: &str, name: &str, price_list_group: &str, currency: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            enabled: true,
            production_url: format!("{}.store.example", id.to_ascii_lowercase()),
            price_list_group: price_list_group.to_owned(),
            currency: currency.to_owned(),
        }
    }

    /// A store with three sites: `siteUS` (default, USD), `siteEU` (EUR) and `siteUK` (GBP, disabled).
    pub fn three() -> Vec<Self> {
        vec![
            Self::us(),
            Self::new("siteEU", "EU Store", "euPriceGroup", "EUR"),
            Self { enabled: false, ..Self::new("siteUK", "UK Store", "ukPriceGroup", "GBP") },
        ]
    }
}

/// The OCC resources an application key may read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Permissions {
    pub products: bool,
    pub skus: bool,
    pub inventories: bool,
    pub orders: bool,
    pub shipping_methods: bool,
    pub webhooks: bool,
}

impl Permissions {
    pub fn all() -> Self {
        Self { products: true, skus: true, inventories: true, orders: true, shipping_methods: true, webhooks: true }
    }

    pub fn none() -> Self {
        Self {
            products: false,
            skus: false,
            inventories: false,
            orders: false,
            shipping_methods: false,
            webhooks: false,
        }
    }
}

impl Default for Permissions {
    fn default() -> Self {
        Self::all()
    }
}
