//! The resources partners read: typed, platform-neutral views, each an OpenAPI 3.1 schema. A field a
//! platform does not have is `null`, never missing (docs/MODEL.md). Amounts are decimal strings.
//! The nested parts (addresses, lines, totals, rates) are also what records store, so a view is built
//! from a record without any platform knowledge.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::status::{MerchantStatus, OrderStatus, PaymentStatus, ReturnStatus, ShipmentStatus};

/// A decimal amount as a string (e.g. `"12.50"`): exact, unlike a JSON number.
pub type Decimal = String;

/// What a merchant's platform supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Orders can be placed and cancelled through Storelink.
    CreateOrders,
    /// The platform pushes changes (webhooks), so data is fresh between syncs.
    Webhooks,
    /// Syncs can ask for only what changed since the last run.
    IncrementalFilters,
}

/// A connected merchant and its connection health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Merchant {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub store_url: String,
    /// The commerce platform, e.g. `occ`.
    pub platform: String,
    pub capabilities: Vec<Capability>,
    pub status: MerchantStatus,
    pub connected_at: DateTime<Utc>,
    pub slots_registered: i64,
    pub slots_failed: i64,
    /// Each event slot and how its events reach Storelink: a `registered` webhook, or for an
    /// `unsupported` one (the store has no such webhook) the sync that covers it, in `detail`.
    pub webhook_slots: Vec<WebhookSlot>,
    pub last_catalog_sync_at: Option<DateTime<Utc>>,
    pub last_orders_sync_at: Option<DateTime<Utc>>,
}

/// One event slot of a merchant (`order-submit`, `order-update`, `shipment-create`,
/// `shipment-update`, `return-request-update`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSlot {
    pub slot: String,
    pub status: WebhookSlotStatus,
    /// Why a slot is not registered and how its events arrive instead (e.g. "covered by the orders
    /// sync every 5 minutes"); null for a registered slot.
    pub detail: Option<String>,
}

/// How a slot's events reach Storelink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookSlotStatus {
    /// Registration is under way or will be retried.
    Pending,
    /// The store calls Storelink for these events.
    Registered,
    /// Registration failed; it is retried, and the sync covers the events meanwhile.
    Failed,
    /// The store has no webhook for these events: the sync covers them (`detail` says how often).
    Unsupported,
    /// Removed (the merchant was revoked).
    Unregistered,
}

/// An amount of money.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Price {
    /// Decimal string.
    pub amount: Decimal,
    /// ISO 4217 code; null where the platform does not say (catalog prices of a one-currency store).
    pub currency: Option<String>,
}

/// An image, by absolute URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    pub url: String,
}

/// A product, with its variants (SKUs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub product_id: String,
    /// The store's site this product is read for, with its prices and variants (null: a store synced
    /// without sites, i.e. with one site or none).
    pub site: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub brand: Option<String>,
    pub active: bool,
    pub list_price: Option<Price>,
    pub sale_price: Option<Price>,
    pub images: Vec<Image>,
    /// The store's path for the product page.
    pub route: Option<String>,
    pub category_ids: Vec<String>,
    /// Names of the options a variant is chosen by (e.g. `color`, `size`).
    pub options: Vec<String>,
    pub variants: Vec<Variant>,
    pub updated_at: DateTime<Utc>,
}

/// A variant (SKU): one buyable item of a product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variant {
    pub variant_id: String,
    pub product_id: String,
    /// The store's site this variant is read for, with its prices (null: a store synced without sites).
    pub site: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub list_price: Option<Price>,
    pub sale_price: Option<Price>,
    /// Option name -> this variant's value (e.g. `{"color": "red"}`).
    pub options: BTreeMap<String, String>,
    /// Other attributes the platform gives the variant.
    pub attributes: BTreeMap<String, String>,
    pub updated_at: DateTime<Utc>,
}

/// Stock of one variant at one location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InventoryLevel {
    pub variant_id: String,
    pub product_id: String,
    /// The store's site this stock is read for (null: a store synced without sites).
    pub site: Option<String>,
    /// Null for the store's default stock.
    pub location_id: Option<String>,
    pub quantity: i64,
    /// The platform's availability message, if any.
    pub availability: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// One rate of a shipping method: the price for orders whose amount is within the range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShippingRate {
    /// Lower bound of the order amount (decimal), null if none.
    pub min_order_amount: Option<Decimal>,
    /// Upper bound of the order amount (decimal), null if none.
    pub max_order_amount: Option<Decimal>,
    pub price: Price,
}

/// A shipping method and its rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShippingMethod {
    pub method_id: String,
    /// The store's site this method is read for, with its rates (null: a store synced without sites).
    pub site: Option<String>,
    pub display_name: Option<String>,
    pub enabled: bool,
    /// How the platform computes the price (e.g. `priceRange`).
    pub calculator: Option<String>,
    pub rates: Vec<ShippingRate>,
    pub updated_at: DateTime<Utc>,
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    /// State, province or region.
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    /// The platform's id of the line.
    pub line_id: String,
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
    pub name: Option<String>,
    pub quantity: i64,
    /// Decimal unit price before discounts.
    pub unit_price: Option<Decimal>,
    /// Decimal discount on the line.
    pub discount: Option<Decimal>,
    /// Decimal tax on the line.
    pub tax: Option<Decimal>,
    /// Decimal line total.
    pub total: Option<Decimal>,
}

/// An order's totals, decimal strings in the order's currency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderTotals {
    pub subtotal: Option<Decimal>,
    pub discount: Option<Decimal>,
    pub shipping: Option<Decimal>,
    pub tax: Option<Decimal>,
    pub total: Option<Decimal>,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    /// The platform's order id.
    pub order_id: String,
    /// The platform's site (storefront) id, if it has sites.
    pub site_id: Option<String>,
    pub status: OrderStatus,
    /// The platform's own state name, as sent.
    pub platform_status: Option<String>,
    pub payment_status: PaymentStatus,
    pub currency: Option<String>,
    pub lines: Vec<OrderLine>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub totals: OrderTotals,
    pub submitted_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A line of a shipment or a return: which order line, how many.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemLine {
    /// The order line's id.
    pub line_id: Option<String>,
    pub variant_id: Option<String>,
    pub quantity: i64,
}

/// A line of a return: which order line, how many, why, where it stands and what it refunds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReturnLine {
    /// The order line's id.
    pub line_id: Option<String>,
    pub variant_id: Option<String>,
    pub quantity: i64,
    /// The platform's reason code for this line (e.g. `defective`).
    #[serde(default)]
    pub reason: Option<String>,
    /// The platform's own name of the line's state (e.g. `AWAITING_RETURN`).
    #[serde(default)]
    pub platform_status: Option<String>,
    /// Decimal string: what this line refunds.
    #[serde(default)]
    pub refund_amount: Option<Decimal>,
}

/// A shipment of (part of) an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub shipment_id: String,
    pub order_id: String,
    /// The site of the shipment's order (null: the order has no site, or is not stored).
    pub site: Option<String>,
    pub status: ShipmentStatus,
    pub platform_status: Option<String>,
    pub shipping_method: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub address: Option<Address>,
    pub lines: Vec<ItemLine>,
    pub updated_at: DateTime<Utc>,
}

/// A return request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Return {
    pub return_id: String,
    pub order_id: Option<String>,
    /// The site of the return's order (null: the order has no site, or is not stored).
    pub site: Option<String>,
    pub status: ReturnStatus,
    pub platform_status: Option<String>,
    pub reason: Option<String>,
    pub authorization_number: Option<String>,
    pub tracking_number: Option<String>,
    pub return_label: Option<String>,
    /// Total refunded or to be refunded; null until known.
    pub refund: Option<Price>,
    pub lines: Vec<ReturnLine>,
    pub updated_at: DateTime<Utc>,
}
