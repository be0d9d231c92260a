//! Orders into the merchant's store, through its connector. `POST /v1/merchants/{id}/orders` checks
//! the items against the synced catalog, inventory and shipping methods (422 naming the problem),
//! then places the order (`Connector::create_order`). The `Idempotency-Key` row is written before the
//! store is called, so a retry with the same key answers with the same order and never creates a
//! second one. When the store refuses for now (rate limited) the row is removed (nothing was
//! created): 503 `store_unavailable`. When the create call got no answer the row is kept as
//! `unknown` (503 `order_outcome_unknown`), and the retry looks the order up by the partner's
//! reference (`Connector::find_order`) before creating it. The key's states live in `idempotency`;
//! the handlers here are the business steps. Every call takes its session from the token cache;
//! the store's refusals arrive as `ConnectorError`s, mapped here to the partner's problem codes.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use storelink_connector::{ConnectorError, NewOrder as StoreOrder, ORDERS_CHECK, OrderLine, OrderRefusal, Shopper};
use storelink_core::MerchantId;
use storelink_model::records::{Hashed, OrderRow};
use storelink_model::status::OrderStatus;
use storelink_model::views::{Address, OrderTotals};
use storelink_sync::read::{self, Sellable};
use storelink_tenants::MerchantStatus;
use storelink_token_cache::TokenError;
use utoipa::ToSchema;

use crate::ApiError;
use crate::idempotency::{self, Claim, Scope};
use crate::routes::PartnerApi;

const MAX_ITEMS: usize = 100;
/// Order statuses that can still be cancelled (the store may still refuse: `order_refused`).
const CANCELLABLE: [OrderStatus; 3] = [OrderStatus::Pending, OrderStatus::Submitted, OrderStatus::Processing];

#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct OrderItem {
    pub sku_id: String,
    pub quantity: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct NewOrder {
    /// The partner's own order id, kept on the OCC order as `externalOrderReference`.
    pub partner_order_reference: String,
    pub items: Vec<OrderItem>,
    /// A `method_id` from `/shipping-methods`.
    pub shipping_method: String,
    /// Where to ship: `first_name`, `last_name`, `line1`, `city` and `country` are required.
    pub shipping_address: Address,
    /// The buyer's shopper profile id in the merchant's store. Without it, the order is placed for
    /// the store's profile holding `shopper_email` (looked up, or created from the shipping
    /// address's names), else as a guest checkout (OCC: `isAnonymousCheckout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopper_profile_id: Option<String>,
    /// The buyer's email (ignored with `shopper_profile_id`: the profile holds it). Names the
    /// profile the order is placed for, unless `guest_checkout`; a guest order keeps it on the
    /// shipping address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopper_email: Option<String>,
    /// `true`: a guest checkout even with `shopper_email` (no profile is looked up or created in
    /// the merchant's store). Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest_checkout: bool,
    /// The store's site to sell through (its id); default: the store's default site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// The created order (also returned, unchanged, to retries with the same Idempotency-Key).
#[derive(Serialize, ToSchema)]
pub(crate) struct PlacedOrder {
    order_id: String,
    status: OrderStatus,
    /// The platform's own name of the order's state.
    platform_status: Option<String>,
    partner_order_reference: String,
    totals: OrderTotals,
    currency: Option<String>,
}

/// Orders are placed for active merchants only.
async fn check_active(pool: &PgPool, merchant: MerchantId) -> Result<(), ApiError> {
    let status = storelink_tenants::merchants::get(pool, merchant).await?.ok_or(ApiError::NotFound)?.status;
    if status != MerchantStatus::Active {
        return Err(ApiError::Conflict {
            code: "merchant_not_active",
            detail: format!("the merchant's connection is {}; orders cannot be placed", status.as_str()),
        });
    }
    Ok(())
}

/// Orders are placed only where the merchant's store takes them (`merchant.capabilities`: a SAP
/// store without the order integration object does not): 409 `not_supported_by_platform` otherwise,
/// with the connect check's words of what the merchant can do about it.
async fn check_takes_orders(api: &PartnerApi, merchant: MerchantId) -> Result<(), ApiError> {
    let platform = storelink_tenants::merchants::get(&api.pool, merchant).await?.ok_or(ApiError::NotFound)?.platform;
    let warnings: Vec<_> =
        storelink_tenants::checks::list(&api.pool, merchant).await?.into_iter().filter(|(c, _)| !c.ok).collect();
    let names: Vec<String> = warnings.iter().map(|(c, _)| c.name.clone()).collect();
    if crate::catalog::capabilities(api, &platform, &names).is_some_and(|c| c.create_orders) {
        return Ok(());
    }
    let why = warnings.into_iter().find(|(c, _)| c.name == ORDERS_CHECK).map(|(c, _)| c.detail);
    Err(ApiError::Conflict {
        code: "not_supported_by_platform",
        detail: why.unwrap_or_else(|| format!("the merchant's {platform} store cannot take orders through Storelink")),
    })
}

/// Place an order in the merchant's store.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/orders", tag = "orders",
    params(("merchant_id" = String, Path, format = Uuid),
           ("Idempotency-Key" = String, Header, description = "Unique per order attempt; retries with the same key return the same order")),
    request_body = NewOrder,
    responses((status = 201, body = PlacedOrder), (status = 400, body = crate::Problem),
              (status = 409, body = crate::Problem, description = "idempotency_key_reused, request_in_progress, merchant_not_active, not_supported_by_platform (`merchant.capabilities` lacks create_orders)"),
              (status = 422, body = crate::Problem, description = "unknown_sku, out_of_stock, invalid_shipping_method, order_rejected"),
              (status = 503, body = crate::Problem, description = "store_unavailable (nothing was created) or order_outcome_unknown (retry with the same Idempotency-Key to learn the outcome), with Retry-After")),
    security(("bearer" = [])))]
pub(crate) async fn place_order(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let merchant = api.own_merchant(&api.pool, partner, &path).await?;
    let key = idempotency::key_of(&req)?;
    let order: NewOrder = crate::routes::json_body(&body)?;
    validate_shape(&order)?;
    check_takes_orders(&api, merchant).await?;
    let (attempt, result) =
        match idempotency::claim(&api.pool, merchant, Scope::Order, key, &order, &order.partner_order_reference).await?
        {
            Claim::Replay(done) => {
                return Ok(HttpResponse::Created().insert_header(("Idempotent-Replayed", "true")).json(done));
            }
            Claim::New(attempt) => (attempt, create(&api, merchant, &order).await),
            // Whatever stops the lookup, the order may still exist: the key stays unknown.
            Claim::Reconcile(attempt) => match find_placed(&api, merchant, &order).await {
                Ok(Some(placed)) => (attempt, Ok(placed)),
                Ok(None) => (attempt, create(&api, merchant, &order).await),
                Err(_) => (attempt, Err(ApiError::outcome_unknown())),
            },
        };
    let placed = attempt.settle(&api.pool, result, |placed| &placed.order_id).await?;
    Ok(HttpResponse::Created().json(placed))
}

fn validate_shape(order: &NewOrder) -> Result<(), ApiError> {
    let bad = |m: &str| Err(ApiError::BadRequest(m.to_owned()));
    if order.items.is_empty() || order.items.len() > MAX_ITEMS {
        return bad("items must hold 1 to 100 lines");
    }
    if order.items.iter().any(|i| i.quantity < 1 || i.quantity > 10_000 || i.sku_id.trim().is_empty()) {
        return bad("each item needs a sku_id and a quantity from 1 to 10000");
    }
    let a = &order.shipping_address;
    let required = [
        ("first_name", &a.first_name),
        ("last_name", &a.last_name),
        ("line1", &a.line1),
        ("city", &a.city),
        ("country", &a.country),
    ];
    if let Some((field, _)) = required.iter().find(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty())) {
        return bad(&format!("shipping_address.{field} is required"));
    }
    if order.partner_order_reference.trim().is_empty() || order.partner_order_reference.len() > 200 {
        return bad("partner_order_reference must be 1 to 200 characters");
    }
    let filled = |v: &Option<String>| v.as_deref().is_none_or(|v| !v.trim().is_empty() && v.len() <= 200);
    if !filled(&order.shopper_profile_id) || !filled(&order.site) {
        return bad("shopper_profile_id and site, when given, must be 1 to 200 characters");
    }
    if order.shopper_email.as_deref().is_some_and(|e| !e.contains('@') || e.len() > 254) {
        return bad("shopper_email must be an email address");
    }
    Ok(())
}

/// Check against synced data, then place in the store and record the order locally.
async fn create(api: &PartnerApi, merchant: MerchantId, order: &NewOrder) -> Result<PlacedOrder, ApiError> {
    check_active(&api.pool, merchant).await?;
    let products = check_synced(&api.pool, merchant, order).await?;
    let key = api.sessions.credentials(merchant).await.map_err(token_error)?;
    let lines = order
        .items
        .iter()
        .zip(&products)
        .map(|(i, product)| OrderLine { sku_id: &i.sku_id, product_id: product, quantity: i.quantity })
        .collect();
    let placing = StoreOrder {
        reference: &order.partner_order_reference,
        lines,
        shipping_method: &order.shipping_method,
        shipping_address: &order.shipping_address,
        shopper: match (order.shopper_profile_id.as_deref(), order.shopper_email.as_deref()) {
            (Some(profile), _) => Shopper::Profile(profile),
            (None, Some(email)) if !order.guest_checkout => Shopper::Email(email),
            (None, email) => Shopper::Guest { email },
        },
        site: order.site.as_deref(),
    };
    let (key, placing) = (&key, &placing);
    let created = api
        .sessions
        .call(merchant, |s| async move { s.connector.create_order(&s, key, placing).await })
        .await
        .map_err(|e| match e {
            // Sent, but no answer (timeout, dropped connection, 5xx, an answer past its size cap): the
            // store may have created it.
            TokenError::Platform(e) if e.outcome_unknown() => {
                tracing::warn!(%merchant, error = %e, "the store did not confirm an order; its outcome is unknown");
                ApiError::outcome_unknown()
            }
            e => token_error(e),
        })?;
    tracing::info!(%merchant, "order placed in the store");
    // The order exists in the store now: if recording it fails, a retry must find it, not create another.
    record(api, merchant, order, &created).await.map_err(|_| ApiError::outcome_unknown())
}

/// The order an earlier attempt created for this partner reference although its answer was lost.
/// A failed lookup (or more than one match) leaves the outcome unknown.
async fn find_placed(
    api: &PartnerApi,
    merchant: MerchantId,
    order: &NewOrder,
) -> Result<Option<PlacedOrder>, ApiError> {
    let reference = order.partner_order_reference.as_str();
    let found =
        api.sessions.call(merchant, |s| async move { s.connector.find_order(&s, reference).await }).await.map_err(
            |e| {
                tracing::warn!(%merchant, error = %e, "looking up an unconfirmed order failed");
                ApiError::outcome_unknown()
            },
        )?;
    match found {
        Some(created) => record(api, merchant, order, &created).await.map(Some),
        None => Ok(None),
    }
}

/// Record an order the store created locally (so `order.created` goes out) and describe it to the partner.
async fn record(
    api: &PartnerApi,
    merchant: MerchantId,
    order: &NewOrder,
    created: &Hashed<OrderRow>,
) -> Result<PlacedOrder, ApiError> {
    let row = &created.row;
    let mut conn = api.pool.acquire().await?;
    storelink_sync::upsert_order_record(&mut conn, merchant, created).await?;
    tracing::info!(%merchant, order_id = %row.order_id, "order recorded");
    Ok(PlacedOrder {
        order_id: row.order_id.clone(),
        status: row.status,
        platform_status: row.state.clone(),
        partner_order_reference: order.partner_order_reference.clone(),
        totals: row.totals.clone(),
        currency: row.currency.clone(),
    })
}

/// Unknown SKUs, short stock and unknown or disabled shipping methods, from the synced copy.
/// Returns each item's product id (OCC wants it beside the SKU).
async fn check_synced(pool: &PgPool, merchant: MerchantId, order: &NewOrder) -> Result<Vec<String>, ApiError> {
    let method_ok =
        read::shipping_method_enabled(pool, merchant, &order.shipping_method, order.site.as_deref()).await?;
    if method_ok != Some(true) {
        return Err(ApiError::unprocessable(
            "invalid_shipping_method",
            format!("shipping method {:?} is not offered by this merchant", order.shipping_method),
        ));
    }
    let mut products = Vec::with_capacity(order.items.len());
    for item in &order.items {
        match read::sellable(pool, merchant, &item.sku_id, order.site.as_deref()).await? {
            None | Some(Sellable { active: false, .. }) => {
                return Err(ApiError::unprocessable(
                    "unknown_sku",
                    format!("SKU {:?} is not sold by this merchant", item.sku_id),
                ));
            }
            Some(Sellable { stock: Some(stock), .. }) if stock < item.quantity => {
                return Err(ApiError::unprocessable(
                    "out_of_stock",
                    format!("SKU {:?} has {stock} in stock, {} ordered", item.sku_id, item.quantity),
                ));
            }
            Some(Sellable { product_id, .. }) => products.push(product_id),
        }
    }
    Ok(products)
}

/// The store's answer in the partner's terms. The store's own refusals for SKUs, stock and shipping
/// map to the same 422 codes as the local checks (the synced copy can be a few minutes old).
fn platform_error(e: ConnectorError) -> ApiError {
    match &e {
        ConnectorError::OrderRefused { reason, message } => {
            let code = match reason {
                OrderRefusal::UnknownSku => "unknown_sku",
                OrderRefusal::OutOfStock => "out_of_stock",
                OrderRefusal::InvalidShippingMethod => "invalid_shipping_method",
                OrderRefusal::Other => "order_rejected",
            };
            ApiError::unprocessable(code, format!("the store refused the order: {message}"))
        }
        ConnectorError::Refused { .. } | ConnectorError::NotFound { .. } | ConnectorError::Unsupported(_) => {
            ApiError::unprocessable("order_rejected", format!("the store refused the order: {e}"))
        }
        ConnectorError::CredentialsRefused { .. }
        | ConnectorError::PermissionMissing { .. }
        | ConnectorError::SessionExpired => credentials_refused(),
        ConnectorError::RateLimited { retry_after } => {
            ApiError::StoreUnavailable { retry_after_secs: retry_after.map_or(30, |d| d.as_secs().max(1)) }
        }
        _ => {
            tracing::warn!(error = %e, "the store is unavailable for an order");
            ApiError::StoreUnavailable { retry_after_secs: 30 }
        }
    }
}

fn credentials_refused() -> ApiError {
    ApiError::Conflict {
        code: "merchant_credentials_invalid",
        detail: "the merchant's store refused Storelink's credentials; the merchant must reconnect".into(),
    }
}

/// Why no session for the merchant's store could be had (or OCC's answer to the call), for the partner.
pub(crate) fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Platform(e) => platform_error(e),
        // The cache has marked the merchant credentials_invalid.
        TokenError::CredentialsInvalid => credentials_refused(),
        TokenError::NotActive(status) => ApiError::Conflict {
            code: "merchant_not_active",
            detail: format!("the merchant's connection is {}; its orders cannot be changed", status.as_str()),
        },
        TokenError::NoKey => ApiError::Conflict {
            code: "merchant_not_active",
            detail: "the merchant has no application key on file".into(),
        },
        TokenError::MerchantNotFound => ApiError::NotFound,
        e @ (TokenError::BadStoreUrl
        | TokenError::UnknownPlatform(_)
        | TokenError::Vault(_)
        | TokenError::Tenant(_)
        | TokenError::Database(_)) => {
            tracing::error!(error = %e, "no session for the merchant's store");
            ApiError::Unavailable
        }
    }
}

/// Cancel an order in the merchant's store.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/orders/{order_id}/cancel", tag = "orders",
    params(("merchant_id" = String, Path, format = Uuid), ("order_id" = String, Path)),
    responses((status = 200, body = storelink_model::views::Order, description = "The order, now cancelled"),
              (status = 404, body = crate::Problem),
              (status = 409, body = crate::Problem, description = "order_not_cancellable"),
              (status = 503, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn cancel_order(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let (merchant, order_id) = path.into_inner();
    let merchant = api.own_merchant(&api.pool, partner, &merchant).await?;
    let order = read::order_by_id(&api.pool, merchant, &order_id).await?.ok_or(ApiError::NotFound)?;
    if order.status == OrderStatus::Cancelled {
        return order_view(&api.pool, merchant, &order_id).await;
    }
    if !CANCELLABLE.contains(&order.status) {
        let cancellable: Vec<&str> = CANCELLABLE.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::Conflict {
            code: "order_not_cancellable",
            detail: format!(
                "the order is {}; only {} orders can be cancelled",
                order.status.as_str(),
                cancellable.join(", ")
            ),
        });
    }
    let id = order_id.as_str();
    let updated = api
        .sessions
        .call(merchant, |s| async move { s.connector.cancel_order(&s, id).await })
        .await
        .map_err(token_error)?;
    let mut conn = api.pool.acquire().await?;
    storelink_sync::upsert_order_record(&mut conn, merchant, &updated).await?;
    drop(conn);
    order_view(&api.pool, merchant, &order_id).await
}

async fn order_view(pool: &PgPool, merchant: MerchantId, order_id: &str) -> Result<HttpResponse, ApiError> {
    let order = read::order_by_id(pool, merchant, order_id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(order))
}
