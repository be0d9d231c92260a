//! `/v1` routes: `POST /v1/oauth/token`, `GET /v1/merchants[/{id}]`, and per merchant `products`,
//! `skus`, `inventory`, `shipping-methods`, `orders`.
//! Every query names the calling partner, so another partner's merchant is simply not found.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use storelink_core::{MerchantId, PartnerId};

use crate::{ApiError, TokenIssuer, cursor};

const MAX_LIMIT: i64 = 250;

#[derive(Clone)]
pub struct PartnerApi {
    pub pool: PgPool,
    pub tokens: TokenIssuer,
}

impl PartnerApi {
    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::scope("/v1")
                .app_data(web::Data::new(self))
                .route("/oauth/token", web::post().to(token))
                .route("/merchants", web::get().to(list_merchants))
                .route("/merchants/{merchant_id}", web::get().to(get_merchant))
                .route("/merchants/{merchant_id}/products", web::get().to(list_products))
                .configure(|cfg| {
                    for resource in Listing::ALL {
                        cfg.route(
                            &format!("/merchants/{{merchant_id}}/{}", resource.path),
                            web::get().to(move |api, req, path, q| list_rows(api, req, path, q, resource)),
                        );
                    }
                }),
        );
    }

    /// Every merchant-scoped GET route below `/v1/merchants/{merchant_id}` (tests walk this list, so a
    /// new route cannot skip the tenant-isolation check).
    pub fn merchant_routes() -> Vec<String> {
        let mut routes = vec![String::new(), "/products".to_owned()];
        routes.extend(Listing::ALL.iter().map(|l| format!("/{}", l.path)));
        routes
    }

    fn partner(&self, req: &HttpRequest) -> Result<PartnerId, ApiError> {
        let header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
        let token = header.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized)?;
        self.tokens.verify(token.trim())
    }

    /// The merchant, if it belongs to `partner`.
    async fn own_merchant(&self, partner: PartnerId, id: &str) -> Result<MerchantId, ApiError> {
        let id: MerchantId = id.parse().map_err(|_| ApiError::NotFound)?;
        let found: Option<MerchantId> =
            sqlx::query_scalar("SELECT merchant_id FROM merchants WHERE merchant_id = $1 AND partner_id = $2")
                .bind(id)
                .bind(partner)
                .fetch_optional(&self.pool)
                .await?;
        found.ok_or(ApiError::NotFound)
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

/// OAuth 2.0 client credentials (RFC 6749 section 4.4); errors in the OAuth shape.
async fn token(api: web::Data<PartnerApi>, form: web::Form<TokenRequest>) -> HttpResponse {
    let oauth_error = |status: actix_web::http::StatusCode, error: &str| {
        HttpResponse::build(status).json(serde_json::json!({"error": error}))
    };
    let form = form.into_inner();
    if form.grant_type != "client_credentials" {
        return oauth_error(actix_web::http::StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let secret = SecretString::from(form.client_secret);
    let partner = match storelink_tenants::partners::verify_secret(&api.pool, &form.client_id, &secret).await {
        Ok(Some(partner)) => partner,
        Ok(None) => return oauth_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_client"),
        Err(e) => {
            tracing::error!(error = %e, "token endpoint");
            return oauth_error(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        }
    };
    match api.tokens.issue(partner) {
        Ok(token) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({
            "access_token": token, "token_type": "Bearer", "expires_in": api.tokens.lifetime_secs()
        })),
        Err(e) => HttpResponse::from_error(e),
    }
}

#[derive(Deserialize)]
struct Paging {
    limit: Option<i64>,
    cursor: Option<String>,
    updated_since: Option<DateTime<Utc>>,
}

impl Paging {
    fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(50) {
            n @ 1..=MAX_LIMIT => Ok(n),
            _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }
}

#[derive(Serialize, sqlx::FromRow)]
struct MerchantView {
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
        (SELECT count(*) FROM webhook_slots w WHERE w.merchant_id = m.merchant_id AND w.status = 'failed') AS slots_failed,
        (SELECT last_success_at FROM sync_state s WHERE s.merchant_id = m.merchant_id AND s.kind = 'catalog') AS last_catalog_sync_at,
        (SELECT last_success_at FROM sync_state s WHERE s.merchant_id = m.merchant_id AND s.kind = 'orders') AS last_orders_sync_at
     FROM merchants m";

fn page<T: Serialize>(items: Vec<T>, limit: i64, next: impl Fn(&T) -> String) -> HttpResponse {
    let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(&next)).flatten();
    HttpResponse::Ok().json(serde_json::json!({ "items": items, "next_cursor": next_cursor }))
}

async fn list_merchants(
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

async fn get_merchant(
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

#[derive(Serialize, sqlx::FromRow)]
struct ProductView {
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
    skus: serde_json::Value,
}

/// Products in `updated_at` order (keyset on `(updated_at, product_id)`, served by the
/// `products_updated_idx` index), each with its SKUs.
async fn list_products(
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
    path: &'static str,
    table: &'static str,
    /// Key columns after `updated_at`; single-key tables use `''` for the second.
    keys: (&'static str, &'static str),
}

impl Listing {
    const ALL: [Listing; 4] = [
        Listing { path: "skus", table: "skus", keys: ("t.sku_id", "''") },
        Listing { path: "inventory", table: "inventory", keys: ("t.sku_id", "t.location_id") },
        Listing { path: "shipping-methods", table: "shipping_methods", keys: ("t.method_id", "''") },
        Listing { path: "orders", table: "orders", keys: ("t.order_id", "''") },
    ];
}

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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "next_cursor": next })))
}
