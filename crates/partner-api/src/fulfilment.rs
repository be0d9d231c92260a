//! Partners that fulfil orders report back: `PUT .../orders/{order_id}/status` (processing or
//! completed) and `POST .../orders/{order_id}/shipments` (tracking). Both go to the merchant's store
//! through its connector, which reads the order fresh and writes only what changed, so a repeat
//! (same Idempotency-Key or same content) changes nothing. The store's answer is recorded like any
//! other version of the order (newest wins), so when the same change comes back by sync or webhook
//! it is already there: no conflict and no second partner event.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storelink_connector::{ConnectorError, ShipmentUpdate};
use storelink_core::MerchantId;
use storelink_model::records::{Hashed, OrderRow};
use storelink_model::status::OrderStatus;
use storelink_sync::read;
use storelink_token_cache::TokenError;
use utoipa::ToSchema;

use crate::ApiError;
use crate::orders::token_error;
use crate::routes::PartnerApi;

/// The statuses a fulfilling partner may set.
#[derive(Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FulfilmentStatus {
    /// The partner has started fulfilling the order.
    Processing,
    /// Everything is shipped; nothing is left to do.
    Completed,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct StatusUpdate {
    pub status: FulfilmentStatus,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct NewShipment {
    /// The order's shipment (a `shipment_id` from `/shipments`; on OCC a shipping group id). May be
    /// left out when the order ships as one.
    #[serde(default)]
    pub shipment_id: Option<String>,
    pub tracking_number: String,
    /// The carrier's name (e.g. `UPS`). OCC has no documented carrier field, so it is not written
    /// to an OCC store.
    #[serde(default)]
    pub carrier: Option<String>,
    /// When it left; default: now.
    #[serde(default)]
    pub shipped_at: Option<DateTime<Utc>>,
}

/// Set an order's fulfilment status in the merchant's store.
#[utoipa::path(put, path = "/v1/merchants/{merchant_id}/orders/{order_id}/status", tag = "fulfilment",
    params(("merchant_id" = String, Path, format = Uuid), ("order_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Optional: the update is idempotent by content")),
    request_body = StatusUpdate,
    responses((status = 200, body = storelink_model::views::Order, description = "The order as the store now holds it"),
              (status = 404, body = crate::Problem),
              (status = 409, body = crate::Problem, description = "order_not_open, merchant_not_active, merchant_credentials_invalid"),
              (status = 422, body = crate::Problem, description = "fulfilment_refused, unsupported"),
              (status = 503, body = crate::Problem, description = "store_unavailable: retry, nothing changes twice")),
    security(("bearer" = [])))]
pub(crate) async fn set_status(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (merchant, order_id) = open_order(&api, &req, path.into_inner()).await?;
    let update: StatusUpdate = crate::routes::json_body(&body)?;
    let status = match update.status {
        FulfilmentStatus::Processing => OrderStatus::Processing,
        FulfilmentStatus::Completed => OrderStatus::Completed,
    };
    let id = order_id.as_str();
    let updated = api
        .sessions
        .call(merchant, |s| async move { s.connector.set_order_status(&s, id, status).await })
        .await
        .map_err(fulfilment_error)?;
    record(&api, merchant, &order_id, &updated).await
}

/// Record a shipment (tracking) on an order in the merchant's store.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/orders/{order_id}/shipments", tag = "fulfilment",
    params(("merchant_id" = String, Path, format = Uuid), ("order_id" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Optional: the shipment is idempotent by content")),
    request_body = NewShipment,
    responses((status = 200, body = storelink_model::views::Order, description = "The order as the store now holds it, with the shipment"),
              (status = 400, body = crate::Problem),
              (status = 404, body = crate::Problem),
              (status = 409, body = crate::Problem, description = "order_not_open, merchant_not_active, merchant_credentials_invalid"),
              (status = 422, body = crate::Problem, description = "unknown_shipment, fulfilment_refused, unsupported"),
              (status = 503, body = crate::Problem, description = "store_unavailable: retry, nothing changes twice")),
    security(("bearer" = [])))]
pub(crate) async fn add_shipment(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (merchant, order_id) = open_order(&api, &req, path.into_inner()).await?;
    let shipment: NewShipment = crate::routes::json_body(&body)?;
    let tracking = shipment.tracking_number.trim();
    if tracking.is_empty() || tracking.len() > 100 {
        return Err(ApiError::BadRequest("tracking_number must be 1 to 100 characters".into()));
    }
    let update = ShipmentUpdate {
        shipment_id: shipment.shipment_id.as_deref(),
        tracking_number: tracking,
        carrier: shipment.carrier.as_deref(),
        shipped_at: shipment.shipped_at.unwrap_or_else(Utc::now),
    };
    let id = order_id.as_str();
    let updated = api
        .sessions
        .call(merchant, |s| async move { s.connector.record_shipment(&s, id, update).await })
        .await
        .map_err(fulfilment_error)?;
    record(&api, merchant, &order_id, &updated).await
}

/// The partner's merchant and an order Storelink knows that is neither cancelled nor unknown.
async fn open_order(
    api: &PartnerApi,
    req: &HttpRequest,
    (merchant, order_id): (String, String),
) -> Result<(MerchantId, String), ApiError> {
    let partner = api.partner(req)?;
    let merchant = api.own_merchant(&api.pool, partner, &merchant).await?;
    let order = read::order_by_id(&api.pool, merchant, &order_id).await?.ok_or(ApiError::NotFound)?;
    if order.status == OrderStatus::Cancelled {
        return Err(ApiError::Conflict { code: "order_not_open", detail: "the order is cancelled".into() });
    }
    Ok((merchant, order_id))
}

/// Record the store's answer (events go out only if it changed) and show the order.
async fn record(
    api: &PartnerApi,
    merchant: MerchantId,
    order_id: &str,
    updated: &Hashed<OrderRow>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = api.pool.acquire().await?;
    storelink_sync::upsert_order_record(&mut conn, merchant, updated).await?;
    drop(conn);
    let order = read::order_by_id(&api.pool, merchant, order_id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(order))
}

fn fulfilment_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Platform(ConnectorError::NotFound { what }) if what.starts_with("shipment") => {
            ApiError::unprocessable("unknown_shipment", format!("the order has no {what}"))
        }
        TokenError::Platform(ConnectorError::NotFound { .. }) => ApiError::NotFound,
        TokenError::Platform(ConnectorError::Unsupported(what)) => {
            ApiError::unprocessable("unsupported", format!("the merchant's platform does not support {what}"))
        }
        TokenError::Platform(ConnectorError::Refused { message } | ConnectorError::OrderRefused { message, .. }) => {
            ApiError::unprocessable("fulfilment_refused", format!("the store refused the update: {message}"))
        }
        TokenError::Platform(e) if e.is_retryable() || e.outcome_unknown() => {
            tracing::warn!(error = %e, "the store is unavailable for a fulfilment update");
            ApiError::StoreUnavailable { retry_after_secs: 30 }
        }
        e => token_error(e),
    }
}
