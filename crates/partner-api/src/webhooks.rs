//! Partner webhook endpoints: register, list, change, delete, rotate the signing secret, read the
//! delivery log and replay a delivery. The work is done by `storelink_partner_webhooks::Endpoints`.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use storelink_partner_webhooks::{Delivery, Endpoint, EndpointError, EndpointPatch, NewEndpoint};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ApiError;
use crate::routes::{MAX_LIMIT, PartnerApi};

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::NotFound => ApiError::NotFound,
            EndpointError::Url(_) | EndpointError::UnknownEvent(_) | EndpointError::NoEvents => {
                ApiError::unprocessable("invalid_endpoint", e.to_string())
            }
            EndpointError::TooMany => ApiError::Conflict { code: "too_many_endpoints", detail: e.to_string() },
            EndpointError::Database(e) => e.into(),
            EndpointError::Vault(e) => {
                tracing::error!(error = %e, "endpoint secret");
                ApiError::Unavailable
            }
        }
    }
}

fn endpoint_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// An endpoint with its signing secret, returned once when created or rotated.
#[derive(Serialize, ToSchema)]
pub(crate) struct EndpointWithSecret {
    #[serde(flatten)]
    endpoint: Endpoint,
    /// `whsec_...`: verify deliveries with it (Standard Webhooks). Shown only now.
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EndpointList {
    items: Vec<Endpoint>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RotatedSecret {
    /// The new `whsec_...` secret; the previous one keeps signing until `previous_valid_until`.
    secret: String,
    previous_valid_until: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryPage {
    items: Vec<Delivery>,
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryPaging {
    /// Items per page, 1 to 250 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The event types an endpoint can subscribe to.
#[utoipa::path(get, path = "/v1/webhooks/event-types", tag = "webhooks",
    responses((status = 200, description = "`{items: [event type]}`")), security(("bearer" = [])))]
pub(crate) async fn event_types(api: web::Data<PartnerApi>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    api.partner(&req)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": storelink_partner_webhooks::EVENT_TYPES })))
}

/// Register an endpoint. The URL must be https on a public host (the SSRF guard).
#[utoipa::path(post, path = "/v1/webhooks/endpoints", tag = "webhooks", request_body = NewEndpoint,
    responses((status = 201, body = EndpointWithSecret), (status = 422, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn create_endpoint(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let (endpoint, secret) = api.endpoints.create(partner, crate::routes::json_body(&body)?).await?;
    Ok(HttpResponse::Created().json(with_secret(endpoint, &secret)))
}

fn with_secret(endpoint: Endpoint, secret: &SecretString) -> EndpointWithSecret {
    EndpointWithSecret { endpoint, secret: secret.expose_secret().to_owned() }
}

#[utoipa::path(get, path = "/v1/webhooks/endpoints", tag = "webhooks",
    responses((status = 200, body = EndpointList)), security(("bearer" = [])))]
pub(crate) async fn list_endpoints(api: web::Data<PartnerApi>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    api.read(&req, partner, async |pool| {
        Ok(HttpResponse::Ok().json(EndpointList { items: api.endpoints.reading_from(pool).list(partner).await? }))
    })
    .await
}

#[utoipa::path(get, path = "/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, format = Uuid)),
    responses((status = 200, body = Endpoint), (status = 404, body = crate::Problem)), security(("bearer" = [])))]
pub(crate) async fn get_endpoint(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let id = endpoint_id(&path)?;
    api.read(&req, partner, async |pool| {
        Ok(HttpResponse::Ok().json(api.endpoints.reading_from(pool).get(partner, id).await?))
    })
    .await
}

/// Change the URL, events or description; `{"enabled": true}` re-enables a disabled endpoint and
/// resumes its pending deliveries, including events raised while it was disabled (kept, in order).
#[utoipa::path(patch, path = "/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, format = Uuid)), request_body = EndpointPatch,
    responses((status = 200, body = Endpoint), (status = 404, body = crate::Problem), (status = 422, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn update_endpoint(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let patch: EndpointPatch = crate::routes::json_body(&body)?;
    Ok(HttpResponse::Ok().json(api.endpoints.update(partner, endpoint_id(&path)?, patch).await?))
}

#[utoipa::path(delete, path = "/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 404, body = crate::Problem)), security(("bearer" = [])))]
pub(crate) async fn delete_endpoint(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    api.endpoints.delete(partner, endpoint_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret; deliveries carry signatures with both secrets until the overlap ends.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", tag = "webhooks",
    params(("endpoint_id" = String, Path, format = Uuid)),
    responses((status = 200, body = RotatedSecret), (status = 404, body = crate::Problem)), security(("bearer" = [])))]
pub(crate) async fn rotate_secret(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let secret = api.endpoints.rotate_secret(partner, endpoint_id(&path)?, api.secret_overlap).await?;
    let overlap = chrono::Duration::from_std(api.secret_overlap).unwrap_or_default();
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret: secret.expose_secret().to_owned(),
        previous_valid_until: chrono::Utc::now() + overlap,
    }))
}

/// The delivery log, newest first, each delivery with its attempts.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{endpoint_id}/deliveries", tag = "webhooks",
    params(("endpoint_id" = String, Path, format = Uuid), DeliveryPaging),
    responses((status = 200, body = DeliveryPage), (status = 404, body = crate::Problem)), security(("bearer" = [])))]
pub(crate) async fn list_deliveries(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<DeliveryPaging>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let limit = match q.limit.unwrap_or(50) {
        n @ 1..=MAX_LIMIT => n,
        _ => return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}"))),
    };
    let before: Option<i64> = q.cursor.as_deref().map(crate::cursor::decode).transpose()?;
    let id = endpoint_id(&path)?;
    api.read(&req, partner, async |pool| {
        let items = api.endpoints.reading_from(pool).deliveries(partner, id, before, limit).await?;
        let next_cursor = (items.len() as i64 == limit)
            .then(|| items.last().map(|d| crate::cursor::encode(&d.delivery_id)))
            .flatten();
        Ok(HttpResponse::Ok().json(DeliveryPage { items, next_cursor }))
    })
    .await
}

/// Send a delivery's event again (same `webhook-id`), after the merchant's other pending events.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("endpoint_id" = String, Path, format = Uuid), ("delivery_id" = i64, Path)),
    responses((status = 202, description = "`{delivery_id}` of the new delivery"), (status = 404, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn replay_delivery(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let (endpoint, delivery) = path.into_inner();
    let delivery: i64 = delivery.parse().map_err(|_| ApiError::NotFound)?;
    let new_id = api.endpoints.replay(partner, endpoint_id(&endpoint)?, delivery).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "delivery_id": new_id })))
}
