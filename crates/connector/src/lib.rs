//! The seam between Storelink and a commerce platform. `Connector` is everything the platform-neutral
//! crates (token-cache, sync, registrar, inbound, onboarding, partner-api, ops) may ask of a store;
//! `Registry` picks the implementation by `merchants.platform`. Owns the trait, the neutral error and
//! the shapes crossing the seam; must not know any platform's URLs, field names or error codes, talk
//! to a store itself or touch the database.

mod error;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;
use storelink_core::{Slot, SyncKind};
use storelink_model::records::{Hashed, InventoryRow, OrderRow, ProductRow, ReturnRow, ShippingRow, SkuRow};
use storelink_model::views::{Address, Capability};
use url::Url;

pub use error::{ConnectorError, OrderRefusal};
pub use registry::{Registry, UnknownPlatform};

/// What a call to a merchant's store needs: where, and a live session secret (opaque to Storelink).
#[derive(Clone, Debug)]
pub struct Session {
    pub store: Arc<Url>,
    pub token: SecretString,
}

/// What a login returns: the session secret and how long it lives. The token cache caches it.
pub struct Login {
    pub token: SecretString,
    pub expires_in: Duration,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("token", &"[redacted]").field("expires_in", &self.expires_in).finish()
    }
}

/// What a platform can do; callers check before asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Orders can be placed and cancelled through Storelink.
    pub create_orders: bool,
    /// The store pushes events to Storelink's webhook slots.
    pub webhooks: bool,
    /// Lists accept a "modified since" filter, so runs after the first can be incremental.
    pub incremental: bool,
}

impl Capabilities {
    /// As the model publishes them to partners.
    pub fn listed(&self) -> Vec<Capability> {
        [
            (self.create_orders, Capability::CreateOrders),
            (self.webhooks, Capability::Webhooks),
            (self.incremental, Capability::IncrementalFilters),
        ]
        .into_iter()
        .filter_map(|(on, capability)| on.then_some(capability))
        .collect()
    }
}

/// One field of the onboarding form, besides the store URL every platform asks for.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct FormField {
    /// The form's input name.
    pub name: &'static str,
    pub label: &'static str,
    /// Help text shown under the field.
    pub help: &'static str,
    /// The field is a credential: never echoed, logged or stored outside the vault.
    pub secret: bool,
}

/// One page of a list: where it starts, how many items, and since when (incremental runs).
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub kind: SyncKind,
    /// The resumable cursor: items already read in this run. Offset-paged platforms send it as
    /// the offset, skip/top platforms as `$skip`.
    pub offset: u64,
    pub limit: u32,
    pub since: Option<DateTime<Utc>>,
}

/// A page's records, in Storelink's model.
pub enum Records {
    Catalog(Vec<Hashed<ProductRow>>, Vec<Hashed<SkuRow>>),
    Inventory(Vec<Hashed<InventoryRow>>),
    Shipping(Vec<Hashed<ShippingRow>>),
    Orders(Vec<Hashed<OrderRow>>),
}

pub struct Page {
    pub records: Records,
    /// Source items on the page (the cursor advances by this much).
    pub items: u64,
    /// Items the store says the whole list holds, when it says.
    pub total: Option<u64>,
    /// No page follows.
    pub last: bool,
}

/// An order to place. Lines were checked against the synced catalog; each names its SKU's product.
#[derive(Clone, Debug)]
pub struct NewOrder<'a> {
    /// The partner's reference: the idempotency handle `find_order` looks up.
    pub reference: &'a str,
    pub lines: Vec<OrderLine<'a>>,
    pub shipping_method: &'a str,
    pub shipping_address: &'a Address,
}

#[derive(Clone, Copy, Debug)]
pub struct OrderLine<'a> {
    pub sku_id: &'a str,
    pub product_id: &'a str,
    pub quantity: i64,
}

/// What one inbound delivery holds: orders (written oldest-first as listed) and return requests.
#[derive(Default)]
pub struct Delivery {
    pub orders: Vec<Hashed<OrderRow>>,
    pub returns: Vec<Hashed<ReturnRow>>,
}

/// A store's event subscription for one slot, as read before Storelink adds or removes its URL.
pub struct Subscription {
    /// The callback URLs the subscription holds (other integrations' included).
    pub urls: Vec<String>,
    /// The signing secrets to seal for inbound verification, opaque to Storelink; `None` when the
    /// store holds none usable (the slot cannot be registered).
    pub secrets: Option<Vec<u8>>,
}

/// One finding of the connect form's checks (`Connector::check`): ok, or a warning in words a
/// merchant understands. `name` is stable, e.g. `shipping_methods` or `permission:orders`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn ok(name: impl Into<String>) -> Self {
        Self { name: name.into(), ok: true, detail: String::new() }
    }

    pub fn warning(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { name: name.into(), ok: false, detail: detail.into() }
    }
}

/// One of the store's sites (storefronts sharing the store's data with their own catalog subset, price
/// group and currency). Stores without sites list none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// The site calls without a site choice go to.
    pub default: bool,
    pub enabled: bool,
    /// The site's storefront address as the store gives it (often without a scheme).
    pub production_url: Option<String>,
    /// The site's default price list group (its currency's prices).
    pub price_list_group: Option<String>,
}

/// Why an inbound delivery was not accepted as the store's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no signature header")]
    Missing,
    #[error("the signature is not well formed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("no usable secret is stored for this slot (none, empty or too short)")]
    NoSecret,
}

/// Header lookup for `verify_delivery`: a header's value by (case-insensitive) name.
pub type Headers<'a> = &'a dyn Fn(&str) -> Option<&'a str>;

/// One commerce platform. Methods that talk to the store take the merchant's `Session`, which the
/// token cache obtains with `login` and renews; a `SessionExpired` answer makes it log in again.
pub trait Connector: Send + Sync + 'static {
    /// The `merchants.platform` value this connector serves, also the inbound path's `{platform}`.
    fn platform(&self) -> &'static str;

    /// The platform's name as merchants know it, for the onboarding page ("Oracle Commerce Cloud").
    fn display_name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// The onboarding form's fields besides the store URL.
    fn form(&self) -> &'static [FormField];

    /// The vault purpose under which a merchant's credentials for this platform are sealed.
    fn credentials_purpose(&self) -> &'static str;

    /// Exchange the merchant's credentials for a session (the connect form's test login too).
    fn login<'a>(
        &'a self,
        store: &'a Url,
        credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<Login, ConnectorError>>;

    /// The connect form's checks after the test login (shipping methods set up, permissions granted),
    /// concurrently, in about one round trip. Findings are warnings, never failures.
    fn check<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Vec<Check>>;

    /// One page of products, inventory, shipping methods or orders, mapped into the model.
    fn list<'a>(&'a self, session: &'a Session, page: PageRequest) -> BoxFuture<'a, Result<Page, ConnectorError>>;

    /// The point read confirming a deletion: the product (catalog) or its stock (inventory), as the
    /// records a page would hold, or `NotFound`.
    fn read<'a>(
        &'a self,
        session: &'a Session,
        kind: SyncKind,
        product_id: &'a str,
    ) -> BoxFuture<'a, Result<Records, ConnectorError>>;

    /// Place an order. Never retried inside: an `outcome_unknown` error means it may exist.
    fn create_order<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
        order: &'a NewOrder<'a>,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>>;

    /// The order an earlier attempt placed under this partner reference, if exactly one exists
    /// (`Err` also when more than one matches: the outcome stays unknown).
    fn find_order<'a>(
        &'a self,
        session: &'a Session,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<Hashed<OrderRow>>, ConnectorError>>;

    /// Cancel an order; answers the order as it is now.
    fn cancel_order<'a>(
        &'a self,
        session: &'a Session,
        order_id: &'a str,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>>;

    /// The store's own name for a slot's subscription (recorded with the slot for operators).
    fn subscription_id(&self, slot: Slot) -> String;

    /// Read a slot's subscription (with its secrets when `with_secrets`).
    fn read_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        with_secrets: bool,
    ) -> BoxFuture<'a, Result<Subscription, ConnectorError>>;

    /// Replace the slot's callback URLs (the caller merged them into what `read_subscription` saw).
    fn write_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// The store's sites, for the merchant to choose the ones to sell through at connect. The default
    /// (a platform without sites) lists none.
    fn sites<'a>(&'a self, _session: &'a Session) -> BoxFuture<'a, Result<Vec<Site>, ConnectorError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Check an inbound delivery's signature against the slot's sealed secrets.
    fn verify_delivery(&self, secrets: &[u8], headers: Headers<'_>, body: &[u8]) -> Result<(), VerifyError>;

    /// The records a stored (verified) delivery to `slot` holds, in the model, or why it holds none
    /// usable (recorded on the delivery, never retried).
    fn delivery_records(&self, slot: &str, body: &Value) -> Result<Delivery, String>;
}
