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
        }
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
