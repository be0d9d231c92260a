//! Read routes: merchants and each merchant's synced data (products with variants, variants,
//! inventory, shipping methods, orders, shipments, returns) as the model's typed views, in
//! `updated_at` order with keyset cursors. Sync's tables are read through `storelink_sync::read`, on
//! the pool `PartnerApi::read` picks (a read replica when one is usable and has the partner's writes).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::HashMap;
use storelink_connector::Capabilities;
use storelink_core::MerchantId;
use storelink_model::status::MerchantStatus;
use storelink_model::views::{
    InventoryLevel, Merchant, Order, Product, Return, Shipment, ShippingMethod, Variant, WebhookSlot, WebhookSlotStatus,
};
use storelink_sync::read::{self, Key, Window};
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
    /// Only items of this site of the store (its site id, e.g. `siteUS`): products, variants, stock and
    /// shipping methods by the site they were synced for (a store synced without sites has store-wide
    /// rows, which every site filter keeps), orders by their site, shipments and returns by their
    /// order's.
    site: Option<String>,
}

impl Paging {
    pub(crate) fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(50) {
            n @ 1..=MAX_LIMIT => Ok(n),
            _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }

    fn window(&self) -> Result<Window, ApiError> {
        let after: Option<Key> = self.cursor.as_deref().map(cursor::decode).transpose()?;
        let site = self.site.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(Window { limit: self.limit()?, after, updated_since: self.updated_since, site })
    }
}

/// A merchant row as stored, before its platform's capabilities are added.
#[derive(sqlx::FromRow)]
struct MerchantRow {
    merchant_id: MerchantId,
    store_url: String,
    platform: String,
    status: String,
    connected_at: DateTime<Utc>,
    slots_registered: i64,
    slots_failed: i64,
    /// The names of its connect checks that warned.
    warnings: Vec<String>,
}

/// What the merchant's store supports: its platform's capabilities as its connector declares them,
/// less what its connect checks' warnings withhold (`None` for a platform this deployment does not
/// serve).
pub(crate) fn capabilities(api: &PartnerApi, platform: &str, warnings: &[String]) -> Option<Capabilities> {
    api.sessions.connectors().get(platform).ok().map(|c| c.capabilities().given_warnings(warnings))
}

const MERCHANT_VIEW: &str = "SELECT m.merchant_id, m.store_url, m.platform, m.status, m.connected_at,
        (SELECT count(*) FROM webhook_slots w WHERE w.merchant_id = m.merchant_id AND w.status = 'registered') AS slots_registered,
        (SELECT count(*) FROM webhook_slots w WHERE w.merchant_id = m.merchant_id
            AND (w.status = 'failed' OR (w.status = 'pending' AND w.next_attempt_at <= now()))) AS slots_failed,
        ARRAY(SELECT c.check_name FROM merchant_checks c WHERE c.merchant_id = m.merchant_id AND NOT c.ok) AS warnings
     FROM merchants m";

/// The merchants' views: their rows, their platforms' capabilities and their last syncs (sync's).
async fn merchants(api: &PartnerApi, pool: &PgPool, rows: Vec<MerchantRow>) -> Result<Vec<Merchant>, ApiError> {
    let ids: Vec<MerchantId> = rows.iter().map(|m| m.merchant_id).collect();
    let syncs = read::last_syncs(pool, &ids).await?;
    let mut slots: HashMap<MerchantId, Vec<WebhookSlot>> = HashMap::new();
    for (merchant, record) in storelink_registrar::list_slots_for(pool, &ids).await? {
        slots.entry(merchant).or_default().push(webhook_slot(record));
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let last = syncs.get(&m.merchant_id).copied().unwrap_or_default();
            Merchant {
                merchant_id: m.merchant_id.to_string(),
                store_url: m.store_url,
                capabilities: capabilities(api, &m.platform, &m.warnings).map(|c| c.listed()).unwrap_or_default(),
                platform: m.platform,
                status: MerchantStatus::parse(&m.status),
                connected_at: m.connected_at,
                slots_registered: m.slots_registered,
                slots_failed: m.slots_failed,
                webhook_slots: slots.remove(&m.merchant_id).unwrap_or_default(),
                last_catalog_sync_at: last.catalog,
                last_orders_sync_at: last.orders,
            }
        })
        .collect())
}

/// A slot as partners see it: its status, and for any slot not registered the recorded reason
/// (for an unsupported slot, the sync that covers it and how fresh that keeps it).
fn webhook_slot(record: storelink_registrar::SlotRecord) -> WebhookSlot {
    use storelink_registrar::SlotStatus as S;
    let status = match record.status {
        // Waiting for the merchant to enter it by hand: pending, with the values in its detail.
        S::Pending | S::Manual => WebhookSlotStatus::Pending,
        S::Registered => WebhookSlotStatus::Registered,
        S::Failed => WebhookSlotStatus::Failed,
        S::Unsupported => WebhookSlotStatus::Unsupported,
        S::Unregistered => WebhookSlotStatus::Unregistered,
    };
    let detail = (status != WebhookSlotStatus::Registered).then_some(record.last_error).flatten();
    WebhookSlot { slot: record.slot.as_str().to_owned(), status, detail }
}

/// One concrete page type per resource, so the document refers to the resource's schema (a generic
/// page would inline it).
macro_rules! page_types {
    ($($page:ident => $view:ty),+ $(,)?) => {$(
        #[doc = concat!("A page of `", stringify!($view), "` and the cursor of the next page (null on the last page).")]
        #[derive(Serialize, ToSchema)]
        pub(crate) struct $page {
            items: Vec<$view>,
            next_cursor: Option<String>,
        }
    )+};
}

page_types!(
    MerchantPage => Merchant,
    ProductPage => Product,
    VariantPage => Variant,
    InventoryPage => InventoryLevel,
    ShippingMethodPage => ShippingMethod,
    OrderPage => Order,
    ShipmentPage => Shipment,
    ReturnPage => Return,
);

/// The calling partner's merchants.
#[utoipa::path(get, path = "/v1/merchants", tag = "merchants", params(Paging),
    responses((status = 200, body = MerchantPage), (status = 401, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_merchants(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    q: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let limit = q.limit()?;
    let after: Option<MerchantId> = q.cursor.as_deref().map(cursor::decode).transpose()?;
    api.read(&req, partner, async |pool| {
        let rows = sqlx::query_as::<_, MerchantRow>(&format!(
            "{MERCHANT_VIEW} WHERE m.partner_id = $1 AND ($2::uuid IS NULL OR m.merchant_id > $2)
             ORDER BY m.merchant_id LIMIT $3"
        ))
        .bind(partner)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        let next_cursor =
            (rows.len() as i64 == limit).then(|| rows.last().map(|m| cursor::encode(&m.merchant_id))).flatten();
        let items = merchants(&api, pool, rows).await?;
        Ok(HttpResponse::Ok().json(MerchantPage { items, next_cursor }))
    })
    .await
}

/// One merchant with its connection health (slots, last syncs, status).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}", tag = "merchants",
    params(("merchant_id" = String, Path, format = Uuid)),
    responses((status = 200, body = Merchant), (status = 404, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_merchant(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    api.read(&req, partner, async |pool| {
        let merchant = api.own_merchant(pool, partner, &path).await?;
        let row = sqlx::query_as::<_, MerchantRow>(&format!("{MERCHANT_VIEW} WHERE m.merchant_id = $1"))
            .bind(merchant)
            .fetch_one(pool)
            .await?;
        let mut views = merchants(&api, pool, vec![row]).await?;
        Ok(HttpResponse::Ok().json(views.pop()))
    })
    .await
}

macro_rules! listing_route {
    ($name:ident, $read:path, $page:ident, $path:literal, $tag:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(get, path = $path, tag = $tag,
                                    params(("merchant_id" = String, Path, format = Uuid), Paging),
                                    responses((status = 200, body = $page), (status = 400, body = crate::Problem),
                                              (status = 404, body = crate::Problem)),
                                    security(("bearer" = [])))]
        pub(crate) async fn $name(
            api: web::Data<PartnerApi>,
            req: HttpRequest,
            path: web::Path<String>,
            q: web::Query<Paging>,
        ) -> Result<HttpResponse, ApiError> {
            let partner = api.partner(&req)?;
            let window = q.window()?;
            api.read(&req, partner, async |pool| {
                let merchant = api.own_merchant(pool, partner, &path).await?;
                let page = $read(pool, merchant, &window).await?;
                let next_cursor = page.next.as_ref().map(cursor::encode);
                Ok(HttpResponse::Ok().json($page { items: page.items, next_cursor }))
            })
            .await
        }
    };
}

listing_route!(
    list_products,
    read::products,
    ProductPage,
    "/v1/merchants/{merchant_id}/products",
    "catalog",
    "Products, each with its variants, in `updated_at` order (keyset on `(updated_at, product_id)`)."
);
listing_route!(
    list_skus,
    read::variants,
    VariantPage,
    "/v1/merchants/{merchant_id}/skus",
    "catalog",
    "Variants (SKUs) on their own, in `updated_at` order."
);
listing_route!(
    list_inventory,
    read::inventory,
    InventoryPage,
    "/v1/merchants/{merchant_id}/inventory",
    "catalog",
    "Stock per variant and location (null: the default stock)."
);
listing_route!(
    list_shipping_methods,
    read::shipping_methods,
    ShippingMethodPage,
    "/v1/merchants/{merchant_id}/shipping-methods",
    "catalog",
    "Shipping methods with their rates."
);
listing_route!(
    list_orders,
    read::orders,
    OrderPage,
    "/v1/merchants/{merchant_id}/orders",
    "orders",
    "Orders with their lines, addresses, totals and statuses, in `updated_at` order."
);
listing_route!(
    list_shipments,
    read::shipments,
    ShipmentPage,
    "/v1/merchants/{merchant_id}/shipments",
    "orders",
    "Shipments (shipped shipping groups) with carrier, tracking and lines."
);
listing_route!(
    list_returns,
    read::returns,
    ReturnPage,
    "/v1/merchants/{merchant_id}/returns",
    "orders",
    "Return requests with status, lines, reason and refund."
);

/// One order with its lines.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/orders/{order_id}", tag = "orders",
    params(("merchant_id" = String, Path, format = Uuid), ("order_id" = String, Path)),
    responses((status = 200, body = Order), (status = 404, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_order(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let (merchant, order_id) = path.into_inner();
    api.read(&req, partner, async |pool| {
        let merchant = api.own_merchant(pool, partner, &merchant).await?;
        let order = read::order_by_id(pool, merchant, &order_id).await?.ok_or(ApiError::NotFound)?;
        Ok(HttpResponse::Ok().json(order))
    })
    .await
}
