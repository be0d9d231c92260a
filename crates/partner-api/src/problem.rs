//! RFC 9457 problem details with stable machine-readable codes (`code`), documented in the OpenAPI
//! `Problem` schema. `detail` says what to fix; it never carries a secret.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but cannot be carried out (unknown SKU, out of stock, ...).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("temporarily unavailable")]
    Unavailable,
    /// Too many requests from this client address or for this client id; retry after the seconds.
    #[error("too many requests; retry after {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// The merchant's store did not answer; nothing was created. Retry after the given seconds.
    #[error("the merchant's store is unavailable; nothing was created, retry later")]
    StoreUnavailable { retry_after_secs: u64 },
    /// The store did not answer the order request, so it may or may not have created the order.
    /// A retry with the same Idempotency-Key looks the order up before creating anything.
    #[error("the merchant's store did not confirm the order; retry with the same Idempotency-Key to learn its outcome")]
    OutcomeUnknown { retry_after_secs: u64 },
    /// The same for a return request: a retry with the same Idempotency-Key looks for the return
    /// the store reported since, before opening one.
    #[error(
        "the merchant's store did not confirm the return request; retry with the same Idempotency-Key to learn its outcome"
    )]
    ReturnOutcomeUnknown { retry_after_secs: u64 },
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://storelink.dev/problems/{code}`
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// Stable code: unauthorized, not_found, bad_request, unknown_sku, out_of_stock,
    /// invalid_shipping_method, order_rejected, idempotency_key_reused, order_not_cancellable,
    /// invalid_endpoint, store_unavailable, order_outcome_unknown, unavailable, rate_limited,
    /// order_not_open, unknown_shipment, fulfilment_refused, unsupported.
    pub code: String,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unprocessable { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unavailable => "unavailable",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::StoreUnavailable { .. } => "store_unavailable",
            ApiError::OutcomeUnknown { .. } => "order_outcome_unknown",
            ApiError::ReturnOutcomeUnknown { .. } => "return_outcome_unknown",
        }
    }

    /// OCC may or may not have created the order; the partner retries with the same key.
    pub fn outcome_unknown() -> Self {
        ApiError::OutcomeUnknown { retry_after_secs: 30 }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable { code, detail: detail.into() }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "A valid bearer token is required",
            ApiError::NotFound => "Not found",
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Unprocessable { .. } => "The request cannot be carried out",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Unavailable => "Temporarily unavailable",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::StoreUnavailable { .. } => "The merchant's store is unavailable",
            ApiError::OutcomeUnknown { .. } => "The order's outcome is not known yet",
            ApiError::ReturnOutcomeUnknown { .. } => "The return request's outcome is not known yet",
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            ApiError::BadRequest(_)
            | ApiError::Unprocessable { .. }
            | ApiError::Conflict { .. }
            | ApiError::StoreUnavailable { .. }
            | ApiError::OutcomeUnknown { .. }
            | ApiError::ReturnOutcomeUnknown { .. }
            | ApiError::RateLimited { .. } => Some(self.to_string()),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "partner API database error");
        ApiError::Unavailable
    }
}

impl From<storelink_tenants::TenantError> for ApiError {
    fn from(e: storelink_tenants::TenantError) -> Self {
        tracing::error!(error = %e, "partner API tenant lookup failed");
        ApiError::Unavailable
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable
            | ApiError::StoreUnavailable { .. }
            | ApiError::OutcomeUnknown { .. }
            | ApiError::ReturnOutcomeUnknown { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::StoreUnavailable { retry_after_secs }
            | ApiError::OutcomeUnknown { retry_after_secs }
            | ApiError::ReturnOutcomeUnknown { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(Problem {
            problem_type: format!("https://storelink.dev/problems/{}", self.code()),
            title: self.title().to_owned(),
            status: status.as_u16(),
            code: self.code().to_owned(),
            detail: self.detail(),
        })
    }
}
