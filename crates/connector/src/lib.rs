//! The seam between Storelink and a commerce platform. `Connector` is everything the platform-neutral
//! crates (token-cache, sync, registrar, inbound, onboarding, partner-api, ops) may ask of a store;
//! `Registry` picks the implementation by `merchants.platform`. Owns the trait, the neutral error and
//! the shapes crossing the seam; must not know any platform's URLs, field names or error codes, talk
//! to a store itself or touch the database.

mod error;
mod fields;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;
use storelink_core::{Slot, SyncKind};
use storelink_model::records::{Hashed, InventoryRow, OrderRow, ProductRow, ReturnRow, ShippingRow, SkuRow};
use storelink_model::status::OrderStatus;
use storelink_model::views::{Address, Capability};
use url::Url;

pub use error::{ConnectorError, OrderRefusal};
pub use fields::{CredentialsError, FieldValues, MAX_SECRET_LEN};
pub use registry::{Registry, UnknownPlatform};

/// What a call to a merchant's store needs: where, and a live session secret (opaque to Storelink).
#[derive(Clone, Debug)]
pub struct Session {
    /// The host the session was obtained from and its API calls go to (OCC: the admin host).
    pub store: Arc<Url>,
    /// The store's shopper-facing host, where a platform serves it apart (OCC: the storefront, which
    /// serves the agent API that places orders); the same URL as `store` where it does not.
    pub storefront: Arc<Url>,
    pub token: SecretString,
}

/// Where a store's storefront is, how it was found, and whether it answered (`Connector::storefront`).
#[derive(Clone, Debug)]
pub struct Storefront {
    pub url: Url,
    /// How it was found, for ops: e.g. `sites` (the store said), `host_pattern`, `admin_host`.
    pub source: &'static str,
    /// The probe's finding for the connect checks (`None`: nothing to probe).
    pub check: Option<Check>,
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

/// The connect check (`Connector::check`) whose warning means the merchant's store cannot take
/// orders through Storelink (SAP: it has no order integration object): that merchant's
/// `create_orders` is off, whatever its platform supports.
pub const ORDERS_CHECK: &str = "order_object";

impl Capabilities {
    /// One merchant's capabilities: its platform's, less what the warnings of its recorded connect
    /// checks (by name) withhold.
    pub fn given_warnings<S: AsRef<str>>(self, warnings: &[S]) -> Self {
        let withheld = |check: &str| warnings.iter().any(|w| w.as_ref() == check);
        Self { create_orders: self.create_orders && !withheld(ORDERS_CHECK), ..self }
    }

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
    /// The values to pick from, as `(value, label)` (radio buttons, the first chosen by default);
    /// empty: typed text.
    pub choices: &'static [(&'static str, &'static str)],
    /// Asked only while the choice field `.0` has the value `.1` (`None`: always).
    pub when: Option<(&'static str, &'static str)>,
}

impl FormField {
    /// Whether the field is asked for, given the form's values (a choice not sent is its first value).
    pub fn asked(&self, form: &[FormField], values: FieldValues<'_>) -> bool {
        let Some((choice, value)) = self.when else { return true };
        let chosen = values(choice).filter(|v| !v.is_empty());
        let default = form.iter().find(|f| f.name == choice).and_then(|f| f.choices.first()).map(|c| c.0);
        chosen.or(default) == Some(value)
    }
}

/// A file the merchant imports into the store once before connecting (SAP: the ImpEx that creates
/// the integration objects), served at `/connect/{platform}/{name}` and linked from the form.
#[derive(Clone, Copy, Debug)]
pub struct SetupFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// What to do with it and where, in the merchant's words.
    pub how: &'static str,
}

/// One page of a list: where it starts, how many items, since when (incremental runs), and for
/// which of the store's sites.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest<'a> {
    pub kind: SyncKind,
    /// The resumable cursor: items already read in this run. Offset-paged platforms send it as
    /// the offset, skip/top platforms as `$skip`.
    pub offset: u64,
    pub limit: u32,
    pub since: Option<DateTime<Utc>>,
    /// The site to read (catalog, inventory and shipping of a multi-site store); `None`: no site
    /// chosen, the store as a whole (its default site's view), as a single-site store is read.
    pub site: Option<SiteScope<'a>>,
}

/// A site a read is scoped to: its id and its default price list group (whose prices it sells at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteScope<'a> {
    pub id: &'a str,
    pub price_list_group: Option<&'a str>,
}

/// A page's records, in Storelink's model.
pub enum Records {
    Catalog(Vec<Hashed<ProductRow>>, Vec<Hashed<SkuRow>>),
    Inventory(Vec<Hashed<InventoryRow>>),
    Shipping(Vec<Hashed<ShippingRow>>),
    Orders(Vec<Hashed<OrderRow>>),
}

impl Records {
    /// Stamp every catalog, inventory and shipping row with the site it was read for (`''`: none);
    /// the site is part of their stored key. Orders carry their own site.
    pub fn on_site(&mut self, site: &str) {
        fn stamp<T>(rows: &mut [Hashed<T>], site: &str, field: fn(&mut T) -> &mut String) {
            for row in rows {
                let id = field(&mut row.row);
                if id != site {
                    site.clone_into(id);
                }
            }
        }
        match self {
            Records::Catalog(products, skus) => {
                stamp(products, site, |r| &mut r.site_id);
                stamp(skus, site, |r| &mut r.site_id);
            }
            Records::Inventory(rows) => stamp(rows, site, |r| &mut r.site_id),
            Records::Shipping(rows) => stamp(rows, site, |r| &mut r.site_id),
            Records::Orders(_) => {}
        }
    }
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

impl Page {
    /// Runs `read` (a list page's parsing and mapping) on a blocking thread. A page is megabytes of
    /// JSON, tens of milliseconds of CPU: off the async threads, the sync writes the page before
    /// meanwhile (its runner joins that write with this fetch in one task) and other merchants' calls
    /// go on. `what` names the page if `read` panics.
    pub async fn read_off_thread(
        what: &str,
        read: impl FnOnce() -> Result<Page, ConnectorError> + Send + 'static,
    ) -> Result<Page, ConnectorError> {
        tokio::task::spawn_blocking(read).await.map_err(|e| ConnectorError::BadReply {
            what: what.to_owned(),
            detail: format!("reading the page failed: {e}"),
        })?
    }
}

/// An order to place. Lines were checked against the synced catalog; each names its SKU's product.
#[derive(Clone, Debug)]
pub struct NewOrder<'a> {
    /// The partner's reference: the idempotency handle `find_order` looks up.
    pub reference: &'a str,
    pub lines: Vec<OrderLine<'a>>,
    pub shipping_method: &'a str,
    pub shipping_address: &'a Address,
    /// Who buys: a shopper profile of the store, or a guest.
    pub shopper: Shopper<'a>,
    /// The store's site to place the order on; `None`: the store's default site.
    pub site: Option<&'a str>,
}

/// The buyer of an order placed through Storelink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shopper<'a> {
    /// A shopper profile the store already holds (its id on the platform).
    Profile(&'a str),
    /// The profile holding this email, which the connector looks up or creates (named from the
    /// shipping address); a platform without profiles places a guest order with the email.
    Email(&'a str),
    /// No profile: the platform's guest (anonymous) checkout, with the buyer's email when known.
    Guest { email: Option<&'a str> },
}

#[derive(Clone, Copy, Debug)]
pub struct OrderLine<'a> {
    pub sku_id: &'a str,
    pub product_id: &'a str,
    pub quantity: i64,
}

/// A shipment a fulfilling partner reports for an order: which of the order's shipments (shipping
/// groups) left, and how to track it.
#[derive(Clone, Copy, Debug)]
pub struct ShipmentUpdate<'a> {
    /// The order's shipment (shipping group) that shipped; `None` when the order has only one.
    pub shipment_id: Option<&'a str>,
    pub tracking_number: &'a str,
    pub carrier: Option<&'a str>,
    pub shipped_at: DateTime<Utc>,
}

/// What one inbound delivery holds: orders (written oldest-first as listed) and return requests.
#[derive(Default)]
pub struct Delivery {
    pub orders: Vec<Hashed<OrderRow>>,
    pub returns: Vec<Hashed<ReturnRow>>,
}

/// A store's event subscription for one slot, as read before Storelink adds or removes its URL.
#[derive(Default)]
pub struct Subscription {
    /// The store's own id for it, recorded with the slot (empty: the connector's `subscription_id`).
    pub id: String,
    /// The callback URLs the subscription holds (other integrations' included).
    pub urls: Vec<String>,
    /// The signing secrets to seal for inbound verification, opaque to Storelink; `None` when the
    /// store holds none usable (the slot cannot be registered).
    pub secrets: Option<Vec<u8>>,
    /// Everything else the store returned, opaque to Storelink (it may hold other integrations'
    /// credentials: never logged), handed back to `Connector::write_back` with the new URLs.
    pub rest: Value,
}

/// What a merchant enters by hand in the store's back office when the store refused Storelink the
/// right to register a slot (`Connector::manual_setup`).
#[derive(Clone, Debug)]
pub struct ManualSetup {
    /// The values to enter, as (label, value); none is secret (ops pages show them).
    pub values: Vec<(String, String)>,
    /// The generated secret to enter, as (label, value): shown to the merchant once, on the connect
    /// summary, never on ops pages or in logs.
    pub secret: (String, SecretString),
}

/// One failed delivery the store kept and can send again (`Connector::failed_deliveries`).
#[derive(Clone, Debug)]
pub struct FailedDelivery {
    /// The store's id for it.
    pub id: String,
    /// The URLs it still has to reach.
    pub urls: Vec<String>,
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

/// A store's synchronous question "which items of these orders may be returned" (OCC's Return
/// Request Validation function webhook), read into neutral terms by the connector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnCheck {
    /// The store's name for the step asking (e.g. `Initiate_Return`), echoed in the answer.
    pub context: String,
    /// An exchange rather than a return: Storelink answers every item not eligible.
    pub exchange: bool,
    pub orders: Vec<ReturnCheckOrder>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnCheckOrder {
    pub order_id: String,
    pub items: Vec<ReturnCheckItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnCheckItem {
    pub line_id: String,
    pub sku_id: Option<String>,
    pub product_id: Option<String>,
    /// The store already holds the item not returnable (its own flag), with its reason.
    pub store_refusal: Option<String>,
}

/// Storelink's answer for one order of a `ReturnCheck`, in the same order: `None` = returnable,
/// `Some(reason)` = not, for the order as a whole and per item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnVerdict {
    pub order: Option<String>,
    pub items: Vec<Option<String>>,
}

/// How registering a store callback that takes a single URL ended (OCC's function webhooks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The callback calls our URL; its signing secrets, opaque to Storelink, to seal.
    Registered { secrets: Vec<u8> },
    /// Another integration's URL is set; it was left as it is.
    InUse,
}

/// A return a partner opens on an order: its lines (the order's line ids) and reason.
#[derive(Clone, Debug)]
pub struct NewReturn<'a> {
    pub order_id: &'a str,
    pub reason: &'a str,
    pub lines: Vec<ReturnLineChange<'a>>,
}

/// One line of a return a partner opens or changes; `None` fields keep what the store holds.
#[derive(Clone, Debug)]
pub struct ReturnLineChange<'a> {
    pub line_id: &'a str,
    pub quantity: Option<i64>,
    pub reason: Option<&'a str>,
    pub refund: Option<f64>,
}

/// A partner's change to a return: the reason for every line, changed lines, the refund total.
#[derive(Clone, Debug, Default)]
pub struct ReturnUpdate<'a> {
    pub reason: Option<&'a str>,
    pub lines: Vec<ReturnLineChange<'a>>,
    pub refund_total: Option<f64>,
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
    /// That price list group's currency (ISO 4217), when the store says.
    pub currency: Option<String>,
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

    /// The credentials to log in with and seal, from the connect form's fields (`form`), or which
    /// field is wrong and why. Default: the one secret field, whitespace removed.
    fn credentials(&self, values: FieldValues<'_>) -> Result<SecretString, CredentialsError> {
        fields::one_secret(self.form(), values)
    }

    /// Files the merchant imports into the store before connecting (none by default).
    fn setup_files(&self) -> &'static [SetupFile] {
        &[]
    }

    /// The vault purpose under which a merchant's credentials for this platform are sealed.
    fn credentials_purpose(&self) -> &'static str;

    /// The host to log in to for the address the merchant entered (a platform with separate admin
    /// and storefront hosts maps a storefront address to its admin host). Default: the address itself.
    fn admin_host(&self, entered: &Url) -> Url {
        entered.clone()
    }

    /// Find the store's storefront host (from the store's own answers: its `sites` as `sites` listed
    /// them, else its host name) and probe it, right after the test login. Default: the session's
    /// host, nothing probed.
    fn storefront<'a>(
        &'a self,
        session: &'a Session,
        _credentials: &'a SecretString,
        _sites: &'a [Site],
    ) -> BoxFuture<'a, Storefront> {
        let url = (*session.store).clone();
        Box::pin(async move { Storefront { url, source: "admin_host", check: None } })
    }

    /// Exchange the merchant's credentials for a session (the connect form's test login too).
    fn login<'a>(
        &'a self,
        store: &'a Url,
        credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<Login, ConnectorError>>;

    /// Confirm, right after the test login (connect and credential rotation), that the store is set up
    /// for Storelink: what it must have before a merchant can be saved (SAP: the integration objects
    /// and their attributes). An `Err` refuses the connect; `NotSetUp` carries the merchant's words
    /// for what to fix. Default: nothing to confirm.
    fn validate<'a>(
        &'a self,
        _session: &'a Session,
        _credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// The connect form's checks after the test login (shipping methods set up, permissions granted),
    /// concurrently, in about one round trip. Findings are warnings, never failures.
    fn check<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Vec<Check>>;

    /// One page of products, inventory, shipping methods or orders, mapped into the model.
    /// A multi-site store is read once per site (`PageRequest::site`).
    fn list<'a>(&'a self, session: &'a Session, page: PageRequest<'a>) -> BoxFuture<'a, Result<Page, ConnectorError>>;

    /// The point read confirming a deletion: the product (catalog) or its stock (inventory), as the
    /// records a page would hold, or `NotFound`; on `site` when the run reads one.
    fn read<'a>(
        &'a self,
        session: &'a Session,
        kind: SyncKind,
        product_id: &'a str,
        site: Option<SiteScope<'a>>,
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

    /// Set an order's status in the store for a partner that fulfils it (`processing` or
    /// `completed`); answers the order as it is now. Idempotent: an order already there is not
    /// written again.
    fn set_order_status<'a>(
        &'a self,
        _session: &'a Session,
        _order_id: &'a str,
        _status: OrderStatus,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        Box::pin(async { Err(ConnectorError::Unsupported("order status updates")) })
    }

    /// Record a shipment (tracking) on an order in the store; answers the order as it is now.
    /// Idempotent: a shipment already recorded with this tracking number is not written again.
    fn record_shipment<'a>(
        &'a self,
        _session: &'a Session,
        _order_id: &'a str,
        _shipment: ShipmentUpdate<'a>,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        Box::pin(async { Err(ConnectorError::Unsupported("shipment updates")) })
    }

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

    /// Every slot's subscription in one go (discovery: which of the store's subscriptions carries
    /// each slot's events). A slot the store offers nothing for is `Err(Unsupported(why))`. By default
    /// each slot is read with `read_subscription`, concurrently.
    fn subscriptions<'a>(
        &'a self,
        session: &'a Session,
        with_secrets: bool,
    ) -> BoxFuture<'a, Vec<(Slot, Result<Subscription, ConnectorError>)>> {
        Box::pin(futures::future::join_all(
            Slot::ALL
                .into_iter()
                .map(move |slot| async move { (slot, self.read_subscription(session, slot, with_secrets).await) }),
        ))
    }

    /// Write back a subscription read with `read_subscription` or `subscriptions`, with `urls` as
    /// its callback URLs and every other setting as read. By default `write_subscription`.
    fn write_back<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        read: &'a Subscription,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let _ = read;
        self.write_subscription(session, slot, urls)
    }

    /// The values a merchant enters by hand so the store calls `url` for `slot` with `secrets` (as
    /// `read_subscription` returned them), when the store refused the registration for lack of
    /// permission; `session` is the one the registration was refused on. `None` (the default): no
    /// manual path; the slot fails and is retried.
    fn manual_setup(&self, session: &Session, slot: Slot, url: &str, secrets: &[u8]) -> Option<ManualSetup> {
        let _ = (session, slot, url, secrets);
        None
    }

    /// Deliveries the store failed to make and kept for a resend (none by default).
    fn failed_deliveries<'a>(
        &'a self,
        session: &'a Session,
    ) -> BoxFuture<'a, Result<Vec<FailedDelivery>, ConnectorError>> {
        let _ = session;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Ask the store to send a failed delivery again (to the URLs it failed to reach).
    fn resend_delivery<'a>(&'a self, session: &'a Session, id: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let _ = (session, id);
        Box::pin(async { Err(ConnectorError::Unsupported("resending failed deliveries")) })
    }

    /// The store's sites, for the merchant to choose the ones to sell through at connect. The default
    /// (a platform without sites) lists none.
    fn sites<'a>(&'a self, _session: &'a Session) -> BoxFuture<'a, Result<Vec<Site>, ConnectorError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Check an inbound delivery's signature against the slot's sealed secrets.
    fn verify_delivery(&self, secrets: &[u8], headers: Headers<'_>, body: &[u8]) -> Result<(), VerifyError>;

    /// The delivery's own id from its (verified) headers, when the platform sends one: then it is the
    /// idempotency key. `None` (the default): the body decides (`storelink_inbound`).
    fn delivery_id(&self, headers: Headers<'_>) -> Option<String> {
        let _ = headers;
        None
    }

    /// The records a stored (verified) delivery to `slot` holds, in the model, or why it holds none
    /// usable (recorded on the delivery, never retried).
    fn delivery_records(&self, slot: &str, body: &Value) -> Result<Delivery, String>;

    /// Read a return validation call (a synchronous store webhook) into neutral terms, or why it
    /// cannot be used (answered 400).
    fn read_return_check(&self, body: &Value) -> Result<ReturnCheck, String> {
        let _ = body;
        Err("this platform sends no return validation calls".into())
    }

    /// The answer to a return validation call, in the store's shape; `verdicts` follow
    /// `read_return_check`'s orders.
    fn answer_return_check(&self, body: &Value, check: &ReturnCheck, verdicts: &[ReturnVerdict]) -> Value {
        let _ = (body, check, verdicts);
        Value::Null
    }

    /// Point the store's single-URL callback `name` (e.g. `RETURN_VALIDATION_CALLBACK`) at `url`,
    /// unless another integration's URL is set there.
    fn register_callback<'a>(
        &'a self,
        session: &'a Session,
        name: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<CallbackOutcome, ConnectorError>> {
        let _ = (session, name, url);
        Box::pin(async { Err(ConnectorError::Unsupported("store callbacks")) })
    }

    /// Open a return request on an order. Not retried inside: not idempotent.
    fn create_return<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
        request: &'a NewReturn<'a>,
    ) -> BoxFuture<'a, Result<Hashed<ReturnRow>, ConnectorError>> {
        let _ = (session, credentials, request);
        Box::pin(async { Err(ConnectorError::Unsupported("creating returns")) })
    }

    /// Change a return request (reason, lines, refund); answers it as it is now.
    fn update_return<'a>(
        &'a self,
        session: &'a Session,
        return_id: &'a str,
        update: &'a ReturnUpdate<'a>,
    ) -> BoxFuture<'a, Result<Hashed<ReturnRow>, ConnectorError>> {
        let _ = (session, return_id, update);
        Box::pin(async { Err(ConnectorError::Unsupported("updating returns")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warned_orders_check_withholds_creating_orders_only() {
        let all = Capabilities { create_orders: true, webhooks: true, incremental: true };
        let none: [&str; 0] = [];
        assert_eq!(all.given_warnings(&none), all);
        assert_eq!(all.given_warnings(&["shipping_methods", "permission:orders"]), all);
        let withheld = all.given_warnings(&[ORDERS_CHECK]);
        assert_eq!(withheld, Capabilities { create_orders: false, ..all });
        assert_eq!(withheld.listed(), vec![Capability::Webhooks, Capability::IncrementalFilters]);
    }
}
