//! The partner webhook events: each type's name and typed `data`, and the envelope every delivery
//! carries (`{type, timestamp, data}`). Events name what changed; the partner reads the resource.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The delivered body of every event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub data: T,
}

/// `merchant.connected`: a store was connected (or reconnected).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MerchantConnected {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub store_url: String,
}

/// `merchant.credentials_invalid` and `merchant.revoked`: the connection stopped working or was ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MerchantDisconnected {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub reason: Option<String>,
}

/// `product.created`, `product.updated`, `product.deleted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductChanged {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub product_id: String,
    /// The store's site the changed row belongs to (null: a row without a site, e.g. a single-site
    /// store's).
    pub site: Option<String>,
}

/// `inventory.updated`: the stock of a variant (`sku_id`) at a location (null: the default stock).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InventoryChanged {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub sku_id: String,
    pub location_id: Option<String>,
    /// The store's site the changed row belongs to (null: a row without a site, e.g. a single-site
    /// store's).
    pub site: Option<String>,
}

/// `order.created`, `order.updated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderChanged {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub order_id: String,
    /// The store's site the changed row belongs to (null: a row without a site, e.g. a single-site
    /// store's).
    pub site: Option<String>,
}

/// `shipment.created`, `shipment.updated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShipmentChanged {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub shipment_id: String,
}

/// `return.updated`: a return request was created or changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReturnChanged {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub return_id: String,
}

/// What a sync run covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncRunKind {
    Catalog,
    Inventory,
    ShippingMethods,
    Orders,
}

/// How a sync run read the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncRunMode {
    /// The first run of a kind: everything, announced by this event only (no per-row events).
    Baseline,
    /// Everything, with deletions swept.
    Full,
    /// Only what changed since the last run.
    Incremental,
}

/// `sync.completed`: a sync run of one kind finished; the data it wrote is readable now. The first
/// (baseline) catalog sync's event says a new merchant's catalog is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncCompleted {
    #[schema(format = Uuid)]
    pub merchant_id: String,
    pub kind: SyncRunKind,
    pub mode: SyncRunMode,
    /// Rows created, updated and deleted by the run.
    pub created: i64,
    pub updated: i64,
    pub deleted: i64,
}

/// Every event type, with the schema name of its `data`.
pub const EVENT_TYPES: [(&str, &str); 13] = [
    ("merchant.connected", "MerchantConnected"),
    ("merchant.credentials_invalid", "MerchantDisconnected"),
    ("merchant.revoked", "MerchantDisconnected"),
    ("product.created", "ProductChanged"),
    ("product.updated", "ProductChanged"),
    ("product.deleted", "ProductChanged"),
    ("inventory.updated", "InventoryChanged"),
    ("order.created", "OrderChanged"),
    ("order.updated", "OrderChanged"),
    ("shipment.created", "ShipmentChanged"),
    ("shipment.updated", "ShipmentChanged"),
    ("return.updated", "ReturnChanged"),
    ("sync.completed", "SyncCompleted"),
];
