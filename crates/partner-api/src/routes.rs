//! The `/v1` route table. Every route is registered from `ROUTES`, which the OpenAPI document and the
//! tests read too, so a route cannot be served undocumented or documented unserved. Every query names
//! the calling partner, so another partner's merchant or endpoint is simply not found.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;
use sqlx::PgPool;
use storelink_core::{MerchantId, PartnerId, ReadPools};
use storelink_netguard::{ClientIp, Policy};
use storelink_partner_webhooks::Endpoints;
use storelink_token_cache::TokenCache;
use storelink_vault::Vault;
use utoipa::ToSchema;

use crate::consistency::{Sticky, after_write};
use crate::throttle::MAX_CLIENT_ID;
use crate::{ApiError, TokenIssuer, TokenThrottle, catalog, docs, fulfilment, orders, returns, webhooks};

pub(crate) const MAX_LIMIT: i64 = 250;

#[derive(Clone)]
pub struct PartnerApi {
    /// The primary: every write, and the reads that decide a write.
    pub pool: PgPool,
    /// The primary and its standbys for the read routes (`consistency`).
    pub reads: ReadPools,
    /// Each partner's last write in this process, for reads without `Storelink-Read-After`.
    pub sticky: Sticky,
    pub tokens: TokenIssuer,
    pub endpoints: Endpoints,
    /// How long a rotated-out webhook secret keeps signing.
    pub secret_overlap: Duration,
    /// Sessions for the merchant's store, with its connector: placing, cancelling and looking up orders.
    pub sessions: TokenCache,
    pub vault: Vault,
    pub policy: Policy,
    /// Limits and the concurrency bound in front of the token endpoint's argon2 check.
    pub token_throttle: TokenThrottle,
}

/// One served route: method, path (below the server root) and how to build its handler.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    build: fn() -> actix_web::Route,
}

macro_rules! route {
    ($method:ident, $path:literal, $handler:path) => {
        RouteSpec { method: Method::$method, path: $path, build: || web::route().method(Method::$method).to($handler) }
    };
}

/// Every `/v1` route. Paths use OpenAPI `{param}` syntax, which actix shares.
pub fn routes() -> Vec<RouteSpec> {
    vec![
        route!(POST, "/v1/oauth/token", token),
        route!(GET, "/v1/openapi.json", docs::openapi_json),
        route!(GET, "/v1/docs", docs::docs_page),
        route!(GET, "/v1/merchants", catalog::list_merchants),
        route!(GET, "/v1/merchants/{merchant_id}", catalog::get_merchant),
        route!(GET, "/v1/merchants/{merchant_id}/products", catalog::list_products),
        route!(GET, "/v1/merchants/{merchant_id}/skus", catalog::list_skus),
        route!(GET, "/v1/merchants/{merchant_id}/inventory", catalog::list_inventory),
        route!(GET, "/v1/merchants/{merchant_id}/shipping-methods", catalog::list_shipping_methods),
        route!(GET, "/v1/merchants/{merchant_id}/orders", catalog::list_orders),
        route!(POST, "/v1/merchants/{merchant_id}/orders", orders::place_order),
        route!(GET, "/v1/merchants/{merchant_id}/orders/{order_id}", catalog::get_order),
        route!(POST, "/v1/merchants/{merchant_id}/orders/{order_id}/cancel", orders::cancel_order),
        route!(PUT, "/v1/merchants/{merchant_id}/orders/{order_id}/status", fulfilment::set_status),
        route!(POST, "/v1/merchants/{merchant_id}/orders/{order_id}/shipments", fulfilment::add_shipment),
        route!(GET, "/v1/merchants/{merchant_id}/shipments", catalog::list_shipments),
        route!(GET, "/v1/merchants/{merchant_id}/returns", catalog::list_returns),
        route!(POST, "/v1/merchants/{merchant_id}/returns", returns::create_return),
        route!(PATCH, "/v1/merchants/{merchant_id}/returns/{return_id}", returns::update_return),
        route!(GET, "/v1/merchants/{merchant_id}/return-policy", returns::get_merchant_policy),
        route!(PUT, "/v1/merchants/{merchant_id}/return-policy", returns::set_merchant_policy),
        route!(GET, "/v1/return-policy", returns::get_partner_policy),
        route!(PUT, "/v1/return-policy", returns::set_partner_policy),
        route!(GET, "/v1/webhooks/event-types", webhooks::event_types),
        route!(GET, "/v1/webhooks/endpoints", webhooks::list_endpoints),
        route!(POST, "/v1/webhooks/endpoints", webhooks::create_endpoint),
        route!(GET, "/v1/webhooks/endpoints/{endpoint_id}", webhooks::get_endpoint),
        route!(PATCH, "/v1/webhooks/endpoints/{endpoint_id}", webhooks::update_endpoint),
        route!(DELETE, "/v1/webhooks/endpoints/{endpoint_id}", webhooks::delete_endpoint),
        route!(POST, "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", webhooks::rotate_secret),
        route!(GET, "/v1/webhooks/endpoints/{endpoint_id}/deliveries", webhooks::list_deliveries),
        route!(POST, "/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/replay", webhooks::replay_delivery),
    ]
}

/// Routes anyone may call (no bearer token).
pub const PUBLIC_ROUTES: [&str; 3] = ["/v1/oauth/token", "/v1/openapi.json", "/v1/docs"];

impl PartnerApi {
    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self)).app_data(web::PayloadConfig::new(256 * 1024));
        for spec in routes() {
            let route = (spec.build)();
            // Writes answer the position a read must see to include them (read-your-writes).
            if spec.method == Method::GET || PUBLIC_ROUTES.contains(&spec.path) {
                cfg.route(spec.path, route);
            } else {
                cfg.route(spec.path, route.wrap(actix_web::middleware::from_fn(after_write)));
            }
        }
    }

    pub(crate) fn partner(&self, req: &HttpRequest) -> Result<PartnerId, ApiError> {
        let header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
        let token = header.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized)?;
        let partner = self.tokens.verify(token.trim())?;
        // For `consistency::after_write`: whose write this was.
        req.extensions_mut().insert(partner);
        Ok(partner)
    }

    /// The merchant, if it belongs to `partner` (looked up on `pool`: the primary for a write, the
    /// read's pool for a read).
    pub(crate) async fn own_merchant(
        &self,
        pool: &PgPool,
        partner: PartnerId,
        id: &str,
    ) -> Result<MerchantId, ApiError> {
        let id: MerchantId = id.parse().map_err(|_| ApiError::NotFound)?;
        match storelink_tenants::merchants::belongs_to(pool, id, partner).await? {
            true => Ok(id),
            false => Err(ApiError::NotFound),
        }
    }
}

/// A JSON request body, parsed after authentication (so an anonymous caller learns nothing from
/// validation errors).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// `client_credentials`
    grant_type: String,
    client_id: String,
    client_secret: String,
}

/// OAuth 2.0 client credentials (RFC 6749 section 4.4): a JWT valid 15 minutes, errors in the OAuth shape.
#[utoipa::path(post, path = "/v1/oauth/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{access_token, token_type: Bearer, expires_in}`"),
              (status = 400, description = "`{error: unsupported_grant_type}`"),
              (status = 401, description = "`{error: invalid_client}`"),
              (status = 429, description = "Too many token requests from this address or for this client id; \
                                             retry after `Retry-After` seconds", body = crate::Problem)))]
pub(crate) async fn token(api: web::Data<PartnerApi>, req: HttpRequest, form: web::Form<TokenRequest>) -> HttpResponse {
    let oauth_error = |status: actix_web::http::StatusCode, error: &str| {
        HttpResponse::build(status).json(serde_json::json!({"error": error}))
    };
    let form = form.into_inner();
    if form.grant_type != "client_credentials" {
        return oauth_error(actix_web::http::StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if form.client_id.len() > MAX_CLIENT_ID {
        return oauth_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let address = ClientIp::describe(req.extensions().get::<ClientIp>(), req.peer_addr());
    if let Err(limited) = api.token_throttle.admit(&address, &form.client_id) {
        tracing::info!(%address, "token request rate-limited");
        return HttpResponse::from_error(limited);
    }
    let verified = match storelink_tenants::partners::secret_hash(&api.pool, &form.client_id).await {
        Ok(Some((partner, hash))) => {
            let secret = SecretString::from(form.client_secret);
            let matches = move |memory: &mut _| storelink_tenants::partners::secret_matches_in(&hash, &secret, memory);
            match api.token_throttle.hash(matches).await {
                Ok(ok) => Ok(ok.then_some(partner)),
                Err(busy) => {
                    tracing::info!(%address, "token request refused: no hashing thread free");
                    return HttpResponse::from_error(busy);
                }
            }
        }
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let partner = match verified {
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
