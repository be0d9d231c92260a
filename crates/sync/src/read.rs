//! Reads of the synced tables for partners: every query partner-api makes on sync's tables, each a
//! page of typed views in `updated_at` order with a keyset cursor. The stored columns are the model's
//! own shapes (connectors normalized them on the way in), so nothing here knows a platform.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::types::Json;
use storelink_core::MerchantId;
use storelink_model::status::{OrderStatus, PaymentStatus, ReturnStatus, ShipmentStatus};
use storelink_model::views::{
    Address, Image, InventoryLevel, ItemLine, Order, OrderLine, OrderTotals, Price, Product, Return, ReturnLine,
    Shipment, ShippingMethod, ShippingRate, Variant,
};

/// Where a page starts: after the row with this sort key (`updated_at`, then the key columns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key(pub DateTime<Utc>, pub String, pub String);

/// What to read: `limit` rows changed at or after `updated_since`, after `after`.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub limit: i64,
    pub after: Option<Key>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Only rows of this site (the store's site id): catalog, stock and shipping rows by the site they
    /// were synced for, orders by their own site, shipments and returns by their order's. Rows synced
    /// without a site (a single-site store) are store-wide and pass the filter.
    pub site: Option<String>,
}

/// A page of views and the key of its last row when the page is full (there may be more).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Key>,
}

/// A synced table's listing: its name and key columns after `updated_at` (single-key tables use `''`).
struct Listing {
    table: &'static str,
    keys: (&'static str, &'static str),
    /// The row's site, for `Window::site`.
    site: Site,
}

/// Where a listed row's site comes from.
enum Site {
    /// A `site_id` key: `''` (synced without a site) is store-wide and passes any filter.
    Key,
    /// An expression over `t` (an order's site, or a shipment's or return's order's).
    Of(&'static str),
}

/// The site of a shipment's or return's order.
const ORDER_SITE: &str =
    "(SELECT o.site_id FROM orders o WHERE o.merchant_id = t.merchant_id AND o.order_id = t.order_id)";

impl Listing {
    /// The statement reading `select` (columns of `t`) a page at a time. Parameters: $1 merchant,
    /// $2 updated_since, $3-$5 the key to start after, $6 limit, $7 site. Served by each table's
    /// `(merchant_id, updated_at, key)` index.
    fn sql(&self, select: &str) -> String {
        let (k1, k2) = self.keys;
        let site = match self.site {
            Site::Key => "($7::text IS NULL OR t.site_id = $7 OR t.site_id = '')".to_owned(),
            Site::Of(column) => format!("($7::text IS NULL OR {column} = $7)"),
        };
        format!(
            "SELECT {select}, t.updated_at AS key_at, {k1}::text COLLATE \"C\" AS key1, {k2}::text COLLATE \"C\" AS key2
             FROM {table} t
             WHERE t.merchant_id = $1
               AND ($2::timestamptz IS NULL OR t.updated_at >= $2)
               AND ($3::timestamptz IS NULL OR (t.updated_at, {k1}::text COLLATE \"C\", {k2}::text COLLATE \"C\") > ($3, $4, $5))
               AND {site}
             ORDER BY t.updated_at, key1, key2
             LIMIT $6",
            table = self.table,
        )
    }
}

/// A row's sort key, read beside its columns.
#[derive(sqlx::FromRow)]
struct Keyed<T> {
    #[sqlx(flatten)]
    row: T,
    key_at: DateTime<Utc>,
    key1: String,
    key2: String,
}

async fn page<R, V>(
    pool: &PgPool,
    listing: &Listing,
    select: &str,
    merchant: MerchantId,
    window: &Window,
    view: impl Fn(R) -> V,
) -> Result<Page<V>, sqlx::Error>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let (at, k1, k2) = match &window.after {
        Some(Key(at, k1, k2)) => (Some(*at), Some(k1.as_str()), Some(k2.as_str())),
        None => (None, None, None),
    };
    let rows: Vec<Keyed<R>> = sqlx::query_as(&listing.sql(select))
        .bind(merchant)
        .bind(window.updated_since)
        .bind(at)
        .bind(k1)
        .bind(k2)
        .bind(window.limit)
        .bind(window.site.as_deref())
        .fetch_all(pool)
        .await?;
    let full = rows.len() as i64 == window.limit;
    let next = rows.last().filter(|_| full).map(|r| Key(r.key_at, r.key1.clone(), r.key2.clone()));
    Ok(Page { items: rows.into_iter().map(|r| view(r.row)).collect(), next })
}

fn price(amount: Option<String>, currency: Option<&str>) -> Option<Price> {
    amount.map(|amount| Price { amount, currency: currency.map(str::to_owned) })
}

const PRODUCTS: Listing = Listing { table: "products", keys: ("t.product_id", "t.site_id"), site: Site::Key };

/// A row's site as partners see it: null for rows synced without one.
fn site(site_id: String) -> Option<String> {
    Some(site_id).filter(|s| !s.is_empty())
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    product_id: String,
    site_id: String,
    display_name: Option<String>,
    description: Option<String>,
    brand: Option<String>,
    active: bool,
    list_price: Option<String>,
    sale_price: Option<String>,
    image_url: Option<String>,
    route: Option<String>,
    category_ids: Vec<String>,
    updated_at: DateTime<Utc>,
    /// The currency of the row's site (null for rows synced without a site).
    currency: Option<String>,
    variants: Json<Vec<VariantRow>>,
}

/// A row's site currency: its site's price list group's, as the store listed it (`merchant_sites`).
const SITE_CURRENCY: &str =
    "(SELECT ms.currency FROM merchant_sites ms WHERE ms.merchant_id = t.merchant_id AND ms.site_id = t.site_id)";

#[derive(Deserialize)]
struct VariantRow {
    sku_id: String,
    product_id: String,
    #[serde(default)]
    site_id: String,
    display_name: Option<String>,
    active: bool,
    list_price: Option<String>,
    sale_price: Option<String>,
    attributes: serde_json::Map<String, serde_json::Value>,
    updated_at: DateTime<Utc>,
}

/// Products with their variants.
pub async fn products(pool: &PgPool, merchant: MerchantId, window: &Window) -> Result<Page<Product>, sqlx::Error> {
    let select = "t.product_id, t.site_id, t.display_name, t.description, t.brand, t.active,
        t.list_price::text AS list_price, t.sale_price::text AS sale_price, t.image_url, t.route, t.category_ids,
        t.updated_at, {SITE_CURRENCY} AS currency,
        COALESCE((SELECT jsonb_agg(jsonb_build_object('sku_id', s.sku_id, 'product_id', s.product_id,
            'site_id', s.site_id, 'display_name', s.display_name, 'active', s.active, 'list_price', s.list_price::text,
            'sale_price', s.sale_price::text, 'attributes', s.attributes, 'updated_at', s.updated_at) ORDER BY s.sku_id)
          FROM skus s WHERE s.merchant_id = t.merchant_id AND s.product_id = t.product_id AND s.site_id = t.site_id),
          '[]') AS variants"
        .replace("{SITE_CURRENCY}", SITE_CURRENCY);
    page(pool, &PRODUCTS, &select, merchant, window, |r: ProductRow| {
        let currency = r.currency.as_deref();
        let variants: Vec<Variant> = r.variants.0.into_iter().map(|v| variant(v, currency)).collect();
        let mut options: Vec<String> = variants.iter().flat_map(|v| v.options.keys().cloned()).collect();
        options.sort();
        options.dedup();
        Product {
            product_id: r.product_id,
            site: site(r.site_id),
            display_name: r.display_name,
            description: r.description,
            brand: r.brand,
            active: r.active,
            list_price: price(r.list_price, currency),
            sale_price: price(r.sale_price, currency),
            images: r.image_url.into_iter().map(|url| Image { url }).collect(),
            route: r.route,
            category_ids: r.category_ids,
            options,
            variants,
            updated_at: r.updated_at,
        }
    })
    .await
}

/// A variant's stored attributes are its options (text values); other values are kept as attributes.
/// Its prices are in `currency` (its site's).
fn variant(r: VariantRow, currency: Option<&str>) -> Variant {
    let (mut options, mut attributes) = (BTreeMap::new(), BTreeMap::new());
    for (name, value) in r.attributes {
        match value {
            serde_json::Value::String(s) => options.insert(name, s),
            other => attributes.insert(name, other.to_string()),
        };
    }
    Variant {
        variant_id: r.sku_id,
        product_id: r.product_id,
        site: site(r.site_id),
        display_name: r.display_name,
        active: r.active,
        list_price: price(r.list_price, currency),
        sale_price: price(r.sale_price, currency),
        options,
        attributes,
        updated_at: r.updated_at,
    }
}

const SKUS: Listing = Listing { table: "skus", keys: ("t.sku_id", "t.site_id"), site: Site::Key };

#[derive(sqlx::FromRow)]
struct SkuRow {
    variant: Json<VariantRow>,
    currency: Option<String>,
}

/// Variants (SKUs) on their own.
pub async fn variants(pool: &PgPool, merchant: MerchantId, window: &Window) -> Result<Page<Variant>, sqlx::Error> {
    let select = "jsonb_build_object('sku_id', t.sku_id, 'product_id', t.product_id, 'site_id', t.site_id,
        'display_name', t.display_name,
        'active', t.active, 'list_price', t.list_price::text, 'sale_price', t.sale_price::text,
        'attributes', t.attributes, 'updated_at', t.updated_at) AS variant, {SITE_CURRENCY} AS currency"
        .replace("{SITE_CURRENCY}", SITE_CURRENCY);
    page(pool, &SKUS, &select, merchant, window, |r: SkuRow| variant(r.variant.0, r.currency.as_deref())).await
}

/// The second key joins location and site (a unit separator apart: neither holds one).
const INVENTORY: Listing =
    Listing { table: "inventory", keys: ("t.sku_id", "(t.location_id || chr(31) || t.site_id)"), site: Site::Key };

#[derive(sqlx::FromRow)]
struct InventoryRow {
    sku_id: String,
    product_id: String,
    site_id: String,
    location_id: String,
    stock_level: i64,
    availability: Option<String>,
    updated_at: DateTime<Utc>,
}

/// Stock per variant and location.
pub async fn inventory(
    pool: &PgPool,
    merchant: MerchantId,
    window: &Window,
) -> Result<Page<InventoryLevel>, sqlx::Error> {
    let select = "t.sku_id, t.product_id, t.site_id, t.location_id, t.stock_level, t.availability, t.updated_at";
    page(pool, &INVENTORY, select, merchant, window, |r: InventoryRow| InventoryLevel {
        variant_id: r.sku_id,
        product_id: r.product_id,
        site: site(r.site_id),
        location_id: Some(r.location_id).filter(|l| !l.is_empty()),
        quantity: r.stock_level,
        availability: r.availability,
        updated_at: r.updated_at,
    })
    .await
}

const SHIPPING_METHODS: Listing =
    Listing { table: "shipping_methods", keys: ("t.method_id", "t.site_id"), site: Site::Key };

#[derive(sqlx::FromRow)]
struct ShippingRow {
    method_id: String,
    site_id: String,
    display_name: Option<String>,
    enabled: bool,
    calculator: Option<String>,
    rates: Json<Vec<ShippingRate>>,
    updated_at: DateTime<Utc>,
}

/// Shipping methods with their rates.
pub async fn shipping_methods(
    pool: &PgPool,
    merchant: MerchantId,
    window: &Window,
) -> Result<Page<ShippingMethod>, sqlx::Error> {
    let select = "t.method_id, t.site_id, t.display_name, t.enabled, t.calculator, t.rates, t.updated_at";
    page(pool, &SHIPPING_METHODS, select, merchant, window, |r: ShippingRow| ShippingMethod {
        method_id: r.method_id,
        site: site(r.site_id),
        display_name: r.display_name,
        enabled: r.enabled,
        calculator: r.calculator,
        rates: r.rates.0,
        updated_at: r.updated_at,
    })
    .await
}

const ORDERS: Listing = Listing { table: "orders", keys: ("t.order_id", "''"), site: Site::Of("t.site_id") };

const ORDER_COLUMNS: &str = "t.order_id, t.site_id, t.status, t.state, t.payment_status, t.currency, t.lines,
    t.billing_address, t.shipping_address, t.totals, t.submitted_at, t.updated_at";

#[derive(sqlx::FromRow)]
struct OrderRow {
    order_id: String,
    site_id: Option<String>,
    status: String,
    state: Option<String>,
    payment_status: String,
    currency: Option<String>,
    lines: Json<Vec<OrderLine>>,
    billing_address: Option<Json<Address>>,
    shipping_address: Option<Json<Address>>,
    totals: Json<OrderTotals>,
    submitted_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

fn order(r: OrderRow) -> Order {
    Order {
        order_id: r.order_id,
        site_id: r.site_id,
        status: OrderStatus::parse(&r.status),
        platform_status: r.state,
        payment_status: PaymentStatus::parse(&r.payment_status),
        currency: r.currency,
        lines: r.lines.0,
        billing_address: r.billing_address.map(|a| a.0),
        shipping_address: r.shipping_address.map(|a| a.0),
        totals: r.totals.0,
        submitted_at: r.submitted_at,
        updated_at: r.updated_at,
    }
}

/// Orders with their lines.
pub async fn orders(pool: &PgPool, merchant: MerchantId, window: &Window) -> Result<Page<Order>, sqlx::Error> {
    page(pool, &ORDERS, ORDER_COLUMNS, merchant, window, order).await
}

/// One order, if stored.
pub async fn order_by_id(pool: &PgPool, merchant: MerchantId, order_id: &str) -> Result<Option<Order>, sqlx::Error> {
    let row: Option<OrderRow> =
        sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders t WHERE t.merchant_id = $1 AND t.order_id = $2"))
            .bind(merchant)
            .bind(order_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(order))
}

const SHIPMENTS: Listing = Listing { table: "shipments", keys: ("t.shipment_id", "''"), site: Site::Of(ORDER_SITE) };

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    shipment_id: String,
    order_id: String,
    order_site: Option<String>,
    status: String,
    state: Option<String>,
    shipping_method: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    ship_date: Option<DateTime<Utc>>,
    address: Option<Json<Address>>,
    lines: Json<Vec<ItemLine>>,
    updated_at: DateTime<Utc>,
}

/// Shipments with their lines.
pub async fn shipments(pool: &PgPool, merchant: MerchantId, window: &Window) -> Result<Page<Shipment>, sqlx::Error> {
    let select = format!(
        "t.shipment_id, t.order_id, {ORDER_SITE} AS order_site, t.status, t.state, t.shipping_method, t.carrier,
         t.tracking_number, t.ship_date, t.address, t.lines, t.updated_at"
    );
    page(pool, &SHIPMENTS, &select, merchant, window, |r: ShipmentRow| Shipment {
        shipment_id: r.shipment_id,
        order_id: r.order_id,
        site: r.order_site,
        status: ShipmentStatus::parse(&r.status),
        platform_status: r.state,
        shipping_method: r.shipping_method,
        carrier: r.carrier,
        tracking_number: r.tracking_number,
        shipped_at: r.ship_date,
        address: r.address.map(|a| a.0),
        lines: r.lines.0,
        updated_at: r.updated_at,
    })
    .await
}

const RETURNS: Listing = Listing { table: "returns", keys: ("t.return_id", "''"), site: Site::Of(ORDER_SITE) };

#[derive(sqlx::FromRow)]
struct ReturnRow {
    return_id: String,
    order_id: Option<String>,
    order_site: Option<String>,
    status: String,
    state: Option<String>,
    reason: Option<String>,
    authorization_number: Option<String>,
    tracking_number: Option<String>,
    return_label: Option<String>,
    refund_total: Option<String>,
    currency: Option<String>,
    lines: Json<Vec<ReturnLine>>,
    updated_at: DateTime<Utc>,
}

const RETURN_COLUMNS: &str = "t.return_id, t.order_id,
    (SELECT o.site_id FROM orders o WHERE o.merchant_id = t.merchant_id AND o.order_id = t.order_id) AS order_site,
    t.status, t.state, t.reason, t.authorization_number,
    t.tracking_number, t.return_label, t.refund_total::text AS refund_total, t.currency, t.lines, t.updated_at";

fn return_view(r: ReturnRow) -> Return {
    Return {
        return_id: r.return_id,
        order_id: r.order_id,
        site: r.order_site,
        status: ReturnStatus::parse(&r.status),
        platform_status: r.state,
        reason: r.reason,
        authorization_number: r.authorization_number,
        tracking_number: r.tracking_number,
        return_label: r.return_label,
        refund: price(r.refund_total, r.currency.as_deref()),
        lines: r.lines.0,
        updated_at: r.updated_at,
    }
}

/// Return requests with their lines.
pub async fn returns(pool: &PgPool, merchant: MerchantId, window: &Window) -> Result<Page<Return>, sqlx::Error> {
    page(pool, &RETURNS, RETURN_COLUMNS, merchant, window, return_view).await
}

/// One return request, if stored.
pub async fn return_by_id(pool: &PgPool, merchant: MerchantId, return_id: &str) -> Result<Option<Return>, sqlx::Error> {
    let row: Option<ReturnRow> = sqlx::query_as(&format!(
        "SELECT {RETURN_COLUMNS} FROM returns t WHERE t.merchant_id = $1 AND t.return_id = $2"
    ))
    .bind(merchant)
    .bind(return_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(return_view))
}

/// The newest return request on `order_id` first stored at or after `since` (the store reported it by
/// webhook or answer): what a return whose creation went unconfirmed became.
pub async fn return_opened_since(
    pool: &PgPool,
    merchant: MerchantId,
    order_id: &str,
    since: DateTime<Utc>,
) -> Result<Option<Return>, sqlx::Error> {
    let row: Option<ReturnRow> = sqlx::query_as(&format!(
        "SELECT {RETURN_COLUMNS} FROM returns t WHERE t.merchant_id = $1 AND t.order_id = $2 AND t.created_at >= $3
         ORDER BY t.created_at DESC LIMIT 1"
    ))
    .bind(merchant)
    .bind(order_id)
    .bind(since)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(return_view))
}

/// When each merchant's catalog and orders last synced successfully (absent: never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastSyncs {
    pub catalog: Option<DateTime<Utc>>,
    pub orders: Option<DateTime<Utc>>,
}

/// The last successful syncs of these merchants.
pub async fn last_syncs(
    pool: &PgPool,
    merchants: &[MerchantId],
) -> Result<std::collections::HashMap<MerchantId, LastSyncs>, sqlx::Error> {
    type Row = (MerchantId, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT merchant_id, max(last_success_at) FILTER (WHERE kind = 'catalog'),
                max(last_success_at) FILTER (WHERE kind = 'orders')
         FROM sync_state WHERE merchant_id = ANY($1) GROUP BY merchant_id",
    )
    .bind(merchants)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(m, catalog, orders)| (m, LastSyncs { catalog, orders })).collect())
}

/// Whether the merchant offers this shipping method (None: not synced).
/// On `site` when the order names one (its rows, or store-wide ones); else on any site.
pub async fn shipping_method_enabled(
    pool: &PgPool,
    merchant: MerchantId,
    method_id: &str,
    site: Option<&str>,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT enabled FROM shipping_methods WHERE merchant_id = $1 AND method_id = $2
             AND ($3::text IS NULL OR site_id IN ($3, ''))
         ORDER BY enabled DESC, site_id LIMIT 1",
    )
    .bind(merchant)
    .bind(method_id)
    .bind(site)
    .fetch_optional(pool)
    .await
}

/// A variant as an order sees it: its product, whether it is sold, and its stock over all locations
/// (None: no stock row).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Sellable {
    pub product_id: String,
    pub active: bool,
    pub stock: Option<i64>,
}

/// The variant's product, whether it is sold and its stock (None: not synced), on `site` when the
/// order names one (its rows, or store-wide ones), else on the first site that has the variant.
pub async fn sellable(
    pool: &PgPool,
    merchant: MerchantId,
    sku_id: &str,
    site: Option<&str>,
) -> Result<Option<Sellable>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.product_id, s.active,
                (SELECT sum(i.stock_level)::bigint FROM inventory i
                 WHERE i.merchant_id = s.merchant_id AND i.sku_id = s.sku_id AND i.site_id = s.site_id) AS stock
         FROM skus s WHERE s.merchant_id = $1 AND s.sku_id = $2 AND ($3::text IS NULL OR s.site_id IN ($3, ''))
         ORDER BY s.site_id LIMIT 1",
    )
    .bind(merchant)
    .bind(sku_id)
    .bind(site)
    .fetch_optional(pool)
    .await
}
