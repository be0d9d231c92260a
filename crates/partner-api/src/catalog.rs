//! Read routes: merchants and each merchant's synced data (products with SKUs, SKUs, inventory,
//! shipping methods, orders, shipments, returns), in `updated_at` order with keyset cursors.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storelink_core::MerchantId;
use utoipa::{IntoParams, ToSchema};

use crate::routes::{MAX_LIMIT, PartnerApi};
use crate::{ApiError, cursor};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Items per page, 1 to 250 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page; opaque.
    cursor: Option<String>,
    /// Only items changed at or after this time (RFC 3339).
    updated_since: Option<DateTime<Utc>>,
}

impl Paging {
    pub(crate) fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(50) {
            n @ 1..=MAX_LIMIT => Ok(n),
            _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }
}

/// A connected merchant and its connection health.
#[derive(Serialize, sqlx::FromRow, ToSchema)]
pub(crate) struct MerchantView {
    #[schema(value_type = String, format = Uuid)]
    merchant_id: MerchantId,
    store_url: String,
    platform: String,
    status: String,
    connected_at: DateTime<Utc>,
    slots_registered: i64,
    slots_failed: i64,
    last_catalog_sync_at: Option<DateTime<Utc>>,
    last_orders_sync_at: Option<DateTime<Utc>>,
}

const MERCHANT_VIEW: &str = "SELECT m.merchant_id, m.store_url, m.platform, m.status, m.connected_at,
        (SELECT count(*) FROM webhook_slots w WHERE w.merchant_id = m.merchant_id AND w.status = 'registered') AS slots_registered,
        (SELECT count(*) FROM webhook_slots w WHERE w.merchant_id = m.merchant_id
            AND (w.status = 'failed' OR (w.status = 'pending' AND w.next_attempt_at <= now()))) AS slots_failed,
        (SELECT last_success_at FROM sync_state s WHERE s.merchant_id = m.merchant_id AND s.kind = 'catalog') AS last_catalog_sync_at,
        (SELECT last_success_at FROM sync_state s WHERE s.merchant_id = m.merchant_id AND s.kind = 'orders') AS last_orders_sync_at
     FROM merchants m";

fn page<T: Serialize>(items: Vec<T>, limit: i64, next: impl Fn(&T) -> String) -> HttpResponse {
    let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(&next)).flatten();
    HttpResponse::Ok().json(Page { items, next_cursor })
}

/// The calling partner's merchants.
#[utoipa::path(get, path = "/v1/merchants", tag = "merchants", params(Paging),
    responses((status = 200, body = Page<MerchantView>), (status = 401, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_merchants(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    q: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let limit = q.limit()?;
    let after: Option<MerchantId> = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let rows = sqlx::query_as::<_, MerchantView>(&format!(
        "{MERCHANT_VIEW} WHERE m.partner_id = $1 AND ($2::uuid IS NULL OR m.merchant_id > $2)
         ORDER BY m.merchant_id LIMIT $3"
    ))
    .bind(partner)
    .bind(after)
    .bind(limit)
    .fetch_all(&api.pool)
    .await?;
    Ok(page(rows, limit, |m| cursor::encode(&m.merchant_id)))
}

/// One merchant with its connection health (slots, last syncs, status).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}", tag = "merchants",
    params(("merchant_id" = String, Path, format = Uuid)),
    responses((status = 200, body = MerchantView), (status = 404, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_merchant(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let merchant = api.own_merchant(partner, &path).await?;
    let row = sqlx::query_as::<_, MerchantView>(&format!("{MERCHANT_VIEW} WHERE m.merchant_id = $1"))
        .bind(merchant)
        .fetch_one(&api.pool)
        .await?;
    Ok(HttpResponse::Ok().json(row))
}

#[derive(Serialize, sqlx::FromRow, ToSchema)]
pub(crate) struct ProductView {
    product_id: String,
    display_name: Option<String>,
    description: Option<String>,
    brand: Option<String>,
    active: bool,
    list_price: Option<f64>,
    sale_price: Option<f64>,
    image_url: Option<String>,
    category_ids: Vec<String>,
    updated_at: DateTime<Utc>,
    /// `[{sku_id, display_name, active, list_price, sale_price, attributes}]`
    #[schema(value_type = Vec<Object>)]
    skus: serde_json::Value,
}

/// A page of items and the cursor of the next page (absent on the last page).
#[derive(Serialize, ToSchema)]
pub(crate) struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// Products in `updated_at` order (keyset on `(updated_at, product_id)`, served by the
/// `products_updated_idx` index), each with its SKUs.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/products", tag = "catalog",
    params(("merchant_id" = String, Path, format = Uuid), Paging),
    responses((status = 200, body = Page<ProductView>), (status = 404, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_products(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let merchant = api.own_merchant(partner, &path).await?;
    let limit = q.limit()?;
    let after: Option<(DateTime<Utc>, String)> = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let (after_time, after_id) = after.map_or((None, None), |(t, id)| (Some(t), Some(id)));
    let rows = sqlx::query_as::<_, ProductView>(
        "SELECT p.product_id, p.display_name, p.description, p.brand, p.active, p.list_price::float8 AS list_price,
                p.sale_price::float8 AS sale_price, p.image_url, p.category_ids, p.updated_at,
                COALESCE((SELECT jsonb_agg(jsonb_build_object('sku_id', s.sku_id, 'display_name', s.display_name,
                    'active', s.active, 'list_price', s.list_price, 'sale_price', s.sale_price, 'attributes', s.attributes)
                    ORDER BY s.sku_id)
                  FROM skus s WHERE s.merchant_id = p.merchant_id AND s.product_id = p.product_id), '[]') AS skus
         FROM products p
         WHERE p.merchant_id = $1
           AND ($2::timestamptz IS NULL OR p.updated_at >= $2)
           AND ($3::timestamptz IS NULL OR (p.updated_at, p.product_id) > ($3, $4::text COLLATE \"C\"))
         ORDER BY p.updated_at, p.product_id
         LIMIT $5",
    )
    .bind(merchant)
    .bind(q.updated_since)
    .bind(after_time)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&api.pool)
    .await?;
    Ok(page(rows, limit, |p| cursor::encode(&(p.updated_at, &p.product_id))))
}

/// A synced table served as-is (minus internal columns), in `updated_at` order.
#[derive(Clone, Copy)]
struct Listing {
    table: &'static str,
    /// Key columns after `updated_at`; single-key tables use `''` for the second.
    keys: (&'static str, &'static str),
}

const SKUS: Listing = Listing { table: "skus", keys: ("t.sku_id", "''") };
const INVENTORY: Listing = Listing { table: "inventory", keys: ("t.sku_id", "t.location_id") };
const SHIPPING_METHODS: Listing = Listing { table: "shipping_methods", keys: ("t.method_id", "''") };
const ORDERS: Listing = Listing { table: "orders", keys: ("t.order_id", "''") };
const SHIPMENTS: Listing = Listing { table: "shipments", keys: ("t.shipment_id", "''") };
const RETURNS: Listing = Listing { table: "returns", keys: ("t.return_id", "''") };

/// A page of rows of a synced table (fields as stored, see the resource's description).
#[derive(Serialize, ToSchema)]
pub(crate) struct RowPage {
    #[schema(value_type = Vec<Object>)]
    items: Vec<serde_json::Value>,
    next_cursor: Option<String>,
}

macro_rules! listing_route {
    ($name:ident, $listing:expr, $path:literal, $tag:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(get, path = $path, tag = $tag,
                                    params(("merchant_id" = String, Path, format = Uuid), Paging),
                                    responses((status = 200, body = RowPage), (status = 404, body = crate::Problem)),
                                    security(("bearer" = [])))]
        pub(crate) async fn $name(
            api: web::Data<PartnerApi>,
            req: HttpRequest,
            path: web::Path<String>,
            q: web::Query<Paging>,
        ) -> Result<HttpResponse, ApiError> {
            list_rows(api, req, path, q, $listing).await
        }
    };
}

listing_route!(
    list_skus,
    SKUS,
    "/v1/merchants/{merchant_id}/skus",
    "catalog",
    "SKUs: sku_id, product_id, display_name, active, list_price, sale_price, attributes, updated_at."
);
listing_route!(
    list_inventory,
    INVENTORY,
    "/v1/merchants/{merchant_id}/inventory",
    "catalog",
    "Stock per SKU and location: sku_id, location_id ('' = default), product_id, stock_level, availability."
);
listing_route!(
    list_shipping_methods,
    SHIPPING_METHODS,
    "/v1/merchants/{merchant_id}/shipping-methods",
    "catalog",
    "Shipping methods: method_id, display_name, enabled, calculator, ranges."
);
listing_route!(
    list_orders,
    ORDERS,
    "/v1/merchants/{merchant_id}/orders",
    "orders",
    "Orders: order_id, state, site_id, currency, total, submitted_at, items, shipping_groups."
);
listing_route!(
    list_shipments,
    SHIPMENTS,
    "/v1/merchants/{merchant_id}/shipments",
    "orders",
    "Shipments (shipped shipping groups): shipment_id, order_id, state, shipping_method, tracking_number, carrier, ship_date, address, items."
);
listing_route!(
    list_returns,
    RETURNS,
    "/v1/merchants/{merchant_id}/returns",
    "orders",
    "Return requests: return_id, order_id, state, authorization_number, tracking_number, return_label, refund_total, items."
);

#[derive(sqlx::FromRow)]
struct Row {
    item: serde_json::Value,
    updated_at: DateTime<Utc>,
    k1: String,
    k2: String,
}

async fn list_rows(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<Paging>,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let merchant = api.own_merchant(partner, &path).await?;
    let limit = q.limit()?;
    let after: Option<(DateTime<Utc>, String, String)> = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let (after_time, k1, k2) = after.map_or((None, None, None), |(t, a, b)| (Some(t), Some(a), Some(b)));
    let (key1, key2) = listing.keys;
    let rows = sqlx::query_as::<_, Row>(&format!(
        "SELECT to_jsonb(t) - 'merchant_id' - 'content_hash' - 'seen_generation' AS item, t.updated_at,
                {key1}::text COLLATE \"C\" AS k1, {key2}::text COLLATE \"C\" AS k2
         FROM {table} t
         WHERE t.merchant_id = $1
           AND ($2::timestamptz IS NULL OR t.updated_at >= $2)
           AND ($3::timestamptz IS NULL OR (t.updated_at, {key1}::text COLLATE \"C\", {key2}::text COLLATE \"C\") > ($3, $4, $5))
         ORDER BY t.updated_at, k1, k2
         LIMIT $6",
        table = listing.table,
    ))
    .bind(merchant)
    .bind(q.updated_since)
    .bind(after_time)
    .bind(k1)
    .bind(k2)
    .bind(limit)
    .fetch_all(&api.pool)
    .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| cursor::encode(&(r.updated_at, &r.k1, &r.k2))))
        .flatten();
    let items: Vec<serde_json::Value> = rows.into_iter().map(|r| r.item).collect();
    Ok(HttpResponse::Ok().json(RowPage { items, next_cursor: next }))
}
