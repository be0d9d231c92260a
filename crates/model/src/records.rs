//! The records every connector produces and sync stores: Storelink's normalized rows, each with a
//! content hash of exactly what is stored. Platform-neutral: no platform's field names here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::status::{OrderStatus, PaymentStatus, ReturnStatus, ShipmentStatus};
use crate::views::{Address, ItemLine, OrderLine, OrderTotals, ReturnLine, ShippingRate};

/// First 16 bytes of SHA-256 over the row's JSON form (field order is fixed by the struct).
fn hash<T: Serialize>(row: &T) -> Vec<u8> {
    let bytes = serde_json::to_vec(row).unwrap_or_default();
    Sha256::digest(&bytes)[..16].to_vec()
}

/// A row with its content hash.
pub fn hashed<T: Serialize>(row: T) -> Hashed<T> {
    let hash = hash(&row);
    Hashed { row, hash }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProductRow {
    pub product_id: String,
    /// The store's site the row was read for (`x-ccsite`); `''`: no site sent. Part of the stored key,
    /// not of the content hash (a single-site store's hashes do not change). Set by the sync.
    #[serde(skip)]
    pub site_id: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub brand: Option<String>,
    pub active: bool,
    pub list_price: Option<f64>,
    pub sale_price: Option<f64>,
    /// Absolute URL.
    pub image_url: Option<String>,
    pub route: Option<String>,
    pub category_ids: Vec<String>,
    pub source_modified_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkuRow {
    pub sku_id: String,
    /// The store's site the row was read for (`x-ccsite`); `''`: no site sent. Part of the stored key,
    /// not of the content hash (a single-site store's hashes do not change). Set by the sync.
    #[serde(skip)]
    pub site_id: String,
    pub product_id: String,
    pub display_name: Option<String>,
    pub active: bool,
    pub list_price: Option<f64>,
    pub sale_price: Option<f64>,
    pub attributes: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InventoryRow {
    pub sku_id: String,
    /// The store's site the row was read for (`x-ccsite`); `''`: no site sent. Part of the stored key,
    /// not of the content hash (a single-site store's hashes do not change). Set by the sync.
    #[serde(skip)]
    pub site_id: String,
    pub location_id: String,
    pub product_id: String,
    pub stock_level: i64,
    pub availability: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShippingRow {
    pub method_id: String,
    /// The store's site the row was read for (`x-ccsite`); `''`: no site sent. Part of the stored key,
    /// not of the content hash (a single-site store's hashes do not change). Set by the sync.
    #[serde(skip)]
    pub site_id: String,
    pub display_name: Option<String>,
    pub enabled: bool,
    pub calculator: Option<String>,
    pub rates: Vec<ShippingRate>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderRow {
    pub order_id: String,
    /// The platform's state name, as sent.
    pub state: Option<String>,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub site_id: Option<String>,
    pub currency: Option<String>,
    pub total: Option<f64>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub source_modified_at: Option<DateTime<Utc>>,
    pub lines: Vec<OrderLine>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub totals: OrderTotals,
    /// The order's shipments, stored in their own table (each with its own hash), so not hashed here.
    #[serde(skip)]
    pub shipments: Vec<Hashed<ShipmentRow>>,
}

/// A normalized row and its content hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Hashed<T> {
    pub row: T,
    pub hash: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShipmentRow {
    pub shipment_id: String,
    pub order_id: String,
    pub state: Option<String>,
    pub status: ShipmentStatus,
    pub shipping_method: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub ship_date: Option<DateTime<Utc>>,
    pub address: Option<Address>,
    pub lines: Vec<ItemLine>,
    /// The order's modified time: shipments are written monotonically in it. Not hashed: only
    /// content changes announce.
    #[serde(skip)]
    pub source_modified_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReturnRow {
    pub return_id: String,
    pub order_id: Option<String>,
    pub state: Option<String>,
    pub status: ReturnStatus,
    pub reason: Option<String>,
    pub authorization_number: Option<String>,
    pub tracking_number: Option<String>,
    pub return_label: Option<String>,
    pub refund_total: Option<f64>,
    pub currency: Option<String>,
    pub lines: Vec<ReturnLine>,
}
