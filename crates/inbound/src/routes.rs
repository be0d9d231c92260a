//! `POST /webhooks/{platform}/{merchant_id}/{slot}` (OCC stores hold `/webhooks/occ/...` URLs, which
//! this path serves unchanged): unknown platform, merchant or slot, or a merchant of another platform
//! -> 404, revoked merchant -> 410,
//! body over 1 MiB -> 413, bad or missing signature -> 401, malformed JSON -> 400, a NUL in the order
//! id -> 400 naming the field, a delivery Postgres refuses on its own -> 422; all with nothing stored.
//! A valid delivery is committed (once per dedupe key) before the 200; the first one to a slot the
//! merchant entered by hand (`manual`) registers that slot.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use sqlx::PgPool;
use storelink_connector::Registry;
use storelink_core::{MerchantId, Slot};
use storelink_jobs::Queue;
use storelink_vault::Vault;

use crate::batch::{Batcher, NotStored};
use crate::lookup::{Lookups, Target};
use crate::store;

/// Largest delivery accepted.
pub const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
pub struct Inbound {
    pub pool: PgPool,
    pub vault: Vault,
    /// The connectors that verify deliveries, by the path's `{platform}`.
    pub connectors: Registry,
    pub queue: Queue,
    pub lookups: Lookups,
    pub batcher: Batcher,
}

impl Inbound {
    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        // Before the event webhooks' resource, whose `{slot}` would match this path too.
        cfg.service(
            web::resource(format!("/webhooks/{{platform}}/{{merchant_id}}/{}", crate::validation::RETURN_VALIDATION))
                .app_data(web::Data::new(self.clone()))
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(web::post().to(crate::validation::answer)),
        );
        cfg.service(
            web::resource("/webhooks/{platform}/{merchant_id}/{slot}")
                .app_data(web::Data::new(self))
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(web::post().to(receive)),
        );
    }
}

pub(crate) fn problem(status: StatusCode, code: &str, title: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("application/problem+json").json(problem_body(status, code, title))
}

fn problem_body(status: StatusCode, code: &str, title: &str) -> serde_json::Value {
    serde_json::json!({"type": format!("https://storelink.dev/problems/{code}"), "title": title, "status": status.as_u16(), "code": code})
}

async fn receive(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
    inbound: web::Data<Inbound>,
) -> HttpResponse {
    let (platform, merchant, slot) = path.into_inner();
    let (Ok(connector), Ok(merchant), Ok(slot)) =
        (inbound.connectors.get(&platform), merchant.parse::<MerchantId>(), slot.parse::<Slot>())
    else {
        return problem(StatusCode::NOT_FOUND, "unknown_webhook", "No such webhook endpoint");
    };
    let active = match inbound.lookups.get(&inbound.pool, &inbound.vault, merchant, slot).await {
        Ok(Target::Active(active)) if active.platform == platform => active,
        Ok(Target::Active(_)) => {
            return problem(StatusCode::NOT_FOUND, "unknown_webhook", "No such webhook endpoint");
        }
        Ok(Target::Revoked) => {
            return problem(StatusCode::GONE, "merchant_revoked", "This merchant's connection was revoked");
        }
        Ok(Target::Unknown) => return problem(StatusCode::NOT_FOUND, "unknown_webhook", "No such webhook endpoint"),
        Err(e) => return unavailable(&e),
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let signed = connector.verify_delivery(&active.secrets, &header, &body);
    if let Err(e) = signed {
        tracing::warn!(%merchant, %slot, reason = %e, "inbound webhook refused");
        return problem(StatusCode::UNAUTHORIZED, "bad_signature", "The webhook signature is missing or wrong");
    }
    let delivery_id = connector.delivery_id(&header);
    let key = match store::dedupe_key(slot, &body, delivery_id.as_deref()) {
        Ok(key) => key,
        Err(store::BadBody::NotJson) => {
            return problem(StatusCode::BAD_REQUEST, "malformed_json", "The body is not valid JSON");
        }
        Err(store::BadBody::NotAnObject) => {
            return problem(StatusCode::BAD_REQUEST, "not_an_object", "The body is not a JSON object");
        }
        Err(store::BadBody::NulIn(field)) => {
            tracing::warn!(%merchant, %slot, field, "inbound webhook refused: NUL character in a key field");
            let title = format!("The field {field} contains a NUL character");
            let mut body = problem_body(StatusCode::BAD_REQUEST, "invalid_field", &title);
            body["field"] = field.into();
            return HttpResponse::BadRequest().content_type("application/problem+json").json(body);
        }
    };
    let stored = match inbound.batcher.insert(merchant, slot, key, body).await {
        Ok(stored) => stored,
        Err(NotStored::Unavailable(e)) => return unavailable(&e),
        Err(NotStored::Refused(e)) => {
            tracing::warn!(%merchant, %slot, error = %e, "inbound webhook refused by the database");
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "unstorable", "The delivery cannot be stored");
        }
    };
    tracing::debug!(%merchant, %slot, duplicate = !stored, "inbound webhook stored");
    if active.awaiting_delivery {
        confirm_manual(&inbound, merchant, slot).await;
    }
    let outcome = if stored { "stored" } else { "duplicate" };
    metrics::counter!("storelink_inbound_webhooks_total", "slot" => slot.as_str(), "outcome" => outcome).increment(1);
    HttpResponse::Ok().content_type("application/json").body(if stored {
        r#"{"status":"stored"}"#
    } else {
        r#"{"status":"duplicate"}"#
    })
}

/// The first authenticated delivery to a slot the merchant entered by hand registers it (after the
/// delivery is stored; a failure here is tried again with the next delivery).
async fn confirm_manual(inbound: &Inbound, merchant: MerchantId, slot: Slot) {
    match storelink_registrar::confirm_delivery(&inbound.pool, merchant, slot).await {
        Ok(true) => tracing::info!(%merchant, %slot, "manually entered webhook confirmed by its first delivery"),
        Ok(false) => {}
        Err(e) => tracing::warn!(%merchant, %slot, error = %e, "confirming a manually entered webhook failed"),
    }
}

/// The store cannot be reached: 503 so OCC retries later (its resend schedule).
pub(crate) fn unavailable(detail: &str) -> HttpResponse {
    tracing::error!(error = %detail, "inbound webhook not stored");
    let mut response =
        problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Temporarily unable to accept the webhook");
    response
        .headers_mut()
        .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("30"));
    response
}
