//! Orders into OCC. `POST /v1/merchants/{id}/orders` checks the items against the synced catalog,
//! inventory and shipping methods (422 naming the problem), then creates the order with the Agent API
//! (`POST /ccappagent/v1/orders`). The `Idempotency-Key` row is written before OCC is called, so a
//! retry with the same key answers with the same order and never creates a second one. When OCC
//! refuses for now (429) the row is removed (nothing was created): 503 `store_unavailable`. When the
//! create call got no answer the row is kept as `unknown` (503 `order_outcome_unknown`), and the
//! retry looks the order up by `externalOrderReference` before creating it. The key's states live
//! in `idempotency`; the handlers here are the business steps.
//! Cancelling sends the documented partial update `PUT /ccadmin/v1/orders/{id}` `{"state": "REMOVED"}`.
//! Admin API calls (cancel, lookup) take their session from the token cache; the create call logs in
//! to the Agent API, whose tokens the cache does not hold.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use storelink_core::MerchantId;
use storelink_occ::OccError;
use storelink_sync::read::{self, Sellable};
use storelink_token_cache::TokenError;
use url::Url;
use utoipa::ToSchema;

use crate::ApiError;
use crate::idempotency::{self, Claim};
use crate::routes::PartnerApi;

const MAX_ITEMS: usize = 100;
/// Order states that can still be cancelled.
const CANCELLABLE: [&str; 3] = ["SUBMITTED", "PENDING_PAYMENT", "PROCESSING"];
const CANCELLED_STATE: &str = "REMOVED";

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
    /// OCC address fields: firstName, lastName, address1, city, state, postalCode, country, ...
    #[schema(value_type = Object)]
    pub shipping_address: Value,
}

/// The created order (also returned, unchanged, to retries with the same Idempotency-Key).
#[derive(Serialize, ToSchema)]
pub(crate) struct PlacedOrder {
    order_id: String,
    state: Option<String>,
    partner_order_reference: String,
    total: Option<f64>,
    currency: Option<String>,
}

struct Store {
    url: Url,
    status: String,
}

async fn store(pool: &PgPool, merchant: MerchantId) -> Result<Store, ApiError> {
    let (url, status): (String, String) =
        sqlx::query_as("SELECT store_url, status FROM merchants WHERE merchant_id = $1")
            .bind(merchant)
            .fetch_one(pool)
            .await?;
    let url = Url::parse(&url).map_err(|_| ApiError::Unavailable)?;
    if status != "active" {
        return Err(ApiError::Conflict {
            code: "merchant_not_active",
            detail: format!("the merchant's connection is {status}; orders cannot be placed"),
        });
    }
    Ok(Store { url, status })
}

/// Place an order in the merchant's store.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/orders", tag = "orders",
    params(("merchant_id" = String, Path, format = Uuid),
           ("Idempotency-Key" = String, Header, description = "Unique per order attempt; retries with the same key return the same order")),
    request_body = NewOrder,
    responses((status = 201, body = PlacedOrder), (status = 400, body = crate::Problem),
              (status = 409, body = crate::Problem, description = "idempotency_key_reused, request_in_progress, merchant_not_active"),
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
    let merchant = api.own_merchant(partner, &path).await?;
    let key = idempotency::key_of(&req)?;
    let order: NewOrder = crate::routes::json_body(&body)?;
    validate_shape(&order)?;
    let (attempt, result) =
        match idempotency::claim(&api.pool, merchant, key, &order, &order.partner_order_reference).await? {
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
    match result {
        Ok(placed) => {
            attempt.complete(&api.pool, &placed.order_id, &placed).await?;
            Ok(HttpResponse::Created().json(placed))
        }
        Err(e @ ApiError::OutcomeUnknown { .. }) => {
            attempt.mark_unknown(&api.pool).await?;
            Err(e)
        }
        Err(e) => {
            attempt.release(&api.pool).await?;
            Err(e)
        }
    }
}

fn validate_shape(order: &NewOrder) -> Result<(), ApiError> {
    let bad = |m: &str| Err(ApiError::BadRequest(m.to_owned()));
    if order.items.is_empty() || order.items.len() > MAX_ITEMS {
        return bad("items must hold 1 to 100 lines");
    }
    if order.items.iter().any(|i| i.quantity < 1 || i.quantity > 10_000 || i.sku_id.trim().is_empty()) {
        return bad("each item needs a sku_id and a quantity from 1 to 10000");
    }
    if !order.shipping_address.is_object() {
        return bad("shipping_address must be an object");
    }
    if order.partner_order_reference.trim().is_empty() || order.partner_order_reference.len() > 200 {
        return bad("partner_order_reference must be 1 to 200 characters");
    }
    Ok(())
}

/// Check against synced data, then create in OCC and record the order locally.
async fn create(api: &PartnerApi, merchant: MerchantId, order: &NewOrder) -> Result<PlacedOrder, ApiError> {
    let store = store(&api.pool, merchant).await?;
    let products = check_synced(&api.pool, merchant, order).await?;
    let key = app_key(api, merchant).await?;
    let token = api.occ.agent_login(&store.url, &key).await.map_err(occ_error)?;
    let items: Vec<Value> = order
        .items
        .iter()
        .zip(&products)
        .map(|(i, product)| json!({"productId": product, "catRefId": i.sku_id, "quantity": i.quantity}))
        .collect();
    let body = json!({
        "op": "createOrder",
        "shoppingCart": {"items": items},
        "shippingMethod": {"value": order.shipping_method},
        "shippingAddress": order.shipping_address,
        "externalOrderReference": order.partner_order_reference,
    });
    let created = api.occ.create_order_agent(&store.url, &token.token, None, &body).await.map_err(|e| match e {
        // Sent, but no answer (timeout, dropped connection, 5xx, an answer past its size cap): OCC may
        // have created it.
        OccError::Transient { .. } | OccError::Decode { .. } | OccError::ResponseTooLarge { .. } => {
            tracing::warn!(%merchant, error = %e, "OCC did not confirm an order; its outcome is unknown");
            ApiError::outcome_unknown()
        }
        e => occ_error(e),
    })?;
    tracing::info!(%merchant, status = %store.status, "order placed in OCC");
    // The order exists in OCC now: if recording it fails, a retry must find it, not create another.
    record(api, merchant, order, &created).await.map_err(|_| ApiError::outcome_unknown())
}

/// The order an earlier attempt created for this partner reference although its answer was lost,
/// looked up by `externalOrderReference`. A failed lookup leaves the outcome unknown.
async fn find_placed(
    api: &PartnerApi,
    merchant: MerchantId,
    order: &NewOrder,
) -> Result<Option<PlacedOrder>, ApiError> {
    let reference = order.partner_order_reference.replace('\\', "\\\\").replace('"', "\\\"");
    let filter = format!("externalOrderReference eq \"{reference}\"");
    let filter = filter.as_str();
    let occ = &api.occ;
    let found = api
        .sessions
        .call(merchant, |session| async move {
            occ.get_json(&session.store, &session.token, "/ccadmin/v1/orders", &[("q", filter)]).await
        })
        .await
        .map_err(|e| {
            tracing::warn!(%merchant, error = %e, "looking up an unconfirmed order failed");
            ApiError::outcome_unknown()
        })?;
    // Only an exact match counts (a store that ignored the filter would list other orders); more
    // than one match leaves the outcome unknown rather than guessing.
    let items = found.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut matching = items
        .iter()
        .filter(|o| o.get("externalOrderReference").and_then(Value::as_str) == Some(&order.partner_order_reference));
    match (matching.next(), matching.next()) {
        (Some(created), None) => record(api, merchant, order, created).await.map(Some),
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::outcome_unknown()),
    }
}

/// Record an order OCC created locally (so `order.created` goes out) and describe it to the partner.
async fn record(
    api: &PartnerApi,
    merchant: MerchantId,
    order: &NewOrder,
    created: &Value,
) -> Result<PlacedOrder, ApiError> {
    let order_id = created.get("id").and_then(Value::as_str).ok_or(ApiError::Unavailable)?.to_owned();
    let mut conn = api.pool.acquire().await?;
    storelink_sync::upsert_order(&mut conn, merchant, created).await?;
    tracing::info!(%merchant, %order_id, "order recorded");
    Ok(PlacedOrder {
        order_id,
        state: created.get("state").and_then(Value::as_str).map(str::to_owned),
        partner_order_reference: order.partner_order_reference.clone(),
        total: created.pointer("/priceInfo/total").and_then(Value::as_f64),
        currency: created.pointer("/priceInfo/currencyCode").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Unknown SKUs, short stock and unknown or disabled shipping methods, from the synced copy.
/// Returns each item's product id (OCC wants it beside the SKU).
async fn check_synced(pool: &PgPool, merchant: MerchantId, order: &NewOrder) -> Result<Vec<String>, ApiError> {
    let method_ok = read::shipping_method_enabled(pool, merchant, &order.shipping_method).await?;
    if method_ok != Some(true) {
        return Err(ApiError::unprocessable(
            "invalid_shipping_method",
            format!("shipping method {:?} is not offered by this merchant", order.shipping_method),
        ));
    }
    let mut products = Vec::with_capacity(order.items.len());
    for item in &order.items {
        match read::sellable(pool, merchant, &item.sku_id).await? {
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

async fn app_key(api: &PartnerApi, merchant: MerchantId) -> Result<SecretString, ApiError> {
    match api.vault.open_string(merchant, storelink_core::OCC_APP_KEY_PURPOSE).await {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(ApiError::Conflict {
            code: "merchant_not_active",
            detail: "the merchant has no application key on file".into(),
        }),
        Err(e) => {
            tracing::error!(%merchant, error = %e, "opening the application key");
            Err(ApiError::Unavailable)
        }
    }
}

/// OCC's answer in the partner's terms. OCC's own 400s for SKUs, stock and shipping map to the same
/// 422 codes as the local checks (the synced copy can be a few minutes old).
fn occ_error(e: OccError) -> ApiError {
    match &e {
        OccError::Permanent { status: 400, code: Some(code), message } => {
            let code = match code.as_str() {
                "28111" => "unknown_sku",
                "28112" => "out_of_stock",
                "28130" => "invalid_shipping_method",
                _ => "order_rejected",
            };
            ApiError::unprocessable(code, format!("the store refused the order: {message}"))
        }
        OccError::Permanent { .. } | OccError::NotFound { .. } => {
            ApiError::unprocessable("order_rejected", format!("the store refused the order: {e}"))
        }
        OccError::KeyRejected { .. } | OccError::Forbidden { .. } | OccError::Unauthorized => credentials_refused(),
        OccError::RateLimited { retry_after } => {
            ApiError::StoreUnavailable { retry_after_secs: retry_after.map_or(30, |d| d.as_secs().max(1)) }
        }
        _ => {
            tracing::warn!(error = %e, "OCC unavailable for an order");
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
fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Occ(e) => occ_error(e),
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
        e @ (TokenError::BadStoreUrl | TokenError::Vault(_) | TokenError::Tenant(_) | TokenError::Database(_)) => {
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
    let merchant = api.own_merchant(partner, &merchant).await?;
    let order = read::order_by_id(&api.pool, merchant, &order_id).await?.ok_or(ApiError::NotFound)?;
    let state = order.platform_status.unwrap_or_default();
    if state == CANCELLED_STATE {
        return order_view(&api.pool, merchant, &order_id).await;
    }
    if !CANCELLABLE.contains(&state.as_str()) {
        return Err(ApiError::Conflict {
            code: "order_not_cancellable",
            detail: format!("the order is {state}; only {} orders can be cancelled", CANCELLABLE.join(", ")),
        });
    }
    let (occ, id, patch) = (&api.occ, order_id.as_str(), &json!({"state": CANCELLED_STATE}));
    let updated = api
        .sessions
        .call(merchant, |session| async move { occ.update_order(&session.store, &session.token, id, patch).await })
        .await
        .map_err(token_error)?;
    let mut conn = api.pool.acquire().await?;
    storelink_sync::upsert_order(&mut conn, merchant, &updated).await?;
    drop(conn);
    order_view(&api.pool, merchant, &order_id).await
}

async fn order_view(pool: &PgPool, merchant: MerchantId, order_id: &str) -> Result<HttpResponse, ApiError> {
    let order = read::order_by_id(pool, merchant, order_id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(order))
}
