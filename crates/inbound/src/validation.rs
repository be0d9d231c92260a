//! `POST /webhooks/{platform}/{merchant_id}/return-request-validation`: the store's synchronous
//! question which items of an order may be returned (OCC's Return Request Validation function
//! webhook), answered at once from Storelink's own synced orders and the partner's return policy
//! (`storelink_tenants::return_policy`), never by calling the store. Verified like the event
//! webhooks, with the secret sealed for this webhook; nothing is stored.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use storelink_connector::{ReturnCheck, ReturnVerdict};
use storelink_core::{MerchantId, RETURN_VALIDATION_CALLBACK, WEBHOOK_SECRET_PURPOSE_PREFIX};
use storelink_tenants::{MerchantStatus, ReturnPolicy, merchants, return_policy};

use crate::routes::{Inbound, problem, unavailable};

/// The path's last segment, and the name its signing secret is sealed under (after the prefix).
pub const RETURN_VALIDATION: &str = RETURN_VALIDATION_CALLBACK;

/// The vault purpose of the validation webhook's signing secrets.
pub fn secret_purpose() -> String {
    format!("{WEBHOOK_SECRET_PURPOSE_PREFIX}{RETURN_VALIDATION}")
}

/// Everything Storelink reads to answer must come back within this, far inside the store's wait;
/// past it the store gets a 503 rather than a late answer.
const BUDGET: Duration = Duration::from_secs(2);

/// Why an order is not returnable once its window has passed.
fn window_passed(days: i32) -> String {
    format!("The return window of {days} days has passed for this order.")
}

/// Why a listed item is not returnable.
pub const ITEM_EXCLUDED: &str = "This item cannot be returned.";

pub(crate) async fn answer(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    inbound: web::Data<Inbound>,
) -> HttpResponse {
    let (platform, merchant) = path.into_inner();
    let not_found = || problem(StatusCode::NOT_FOUND, "unknown_webhook", "No such webhook endpoint");
    let (Ok(connector), Ok(merchant)) = (inbound.connectors.get(&platform), merchant.parse::<MerchantId>()) else {
        return not_found();
    };
    let looked_up = tokio::time::timeout(BUDGET, async {
        let row = merchants::get(&inbound.pool, merchant).await.map_err(|e| e.to_string())?;
        let secrets = match &row {
            Some(m) if m.status != MerchantStatus::Revoked && m.platform == platform => {
                inbound.vault.open(merchant, &secret_purpose()).await.map_err(|e| e.to_string())?
            }
            _ => None,
        };
        Ok::<_, String>((row, secrets))
    })
    .await;
    let (row, secrets) = match looked_up {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return unavailable(&e),
        Err(_) => return unavailable("the return validation lookup ran past its budget"),
    };
    match &row {
        None => return not_found(),
        Some(m) if m.platform != platform => return not_found(),
        Some(m) if m.status == MerchantStatus::Revoked => {
            return problem(StatusCode::GONE, "merchant_revoked", "This merchant's connection was revoked");
        }
        Some(_) => {}
    }
    let secrets = secrets.map(|s| s.to_vec()).unwrap_or_default();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = connector.verify_delivery(&secrets, &header, &body) {
        tracing::warn!(%merchant, reason = %e, "return validation call refused");
        return problem(StatusCode::UNAUTHORIZED, "bad_signature", "The webhook signature is missing or wrong");
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "malformed_json", "The body is not valid JSON");
    };
    let check = match connector.read_return_check(&value) {
        Ok(check) => check,
        Err(reason) => {
            tracing::warn!(%merchant, %reason, "return validation call not usable");
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_payload",
                &format!("Not a return validation call: {reason}"),
            );
        }
    };
    let verdicts = match tokio::time::timeout(BUDGET, decide(&inbound.pool, merchant, &check, Utc::now())).await {
        Ok(Ok(verdicts)) => verdicts,
        Ok(Err(e)) => return unavailable(&e.to_string()),
        Err(_) => return unavailable("the return validation lookup ran past its budget"),
    };
    metrics::counter!("storelink_return_validations_total").increment(1);
    HttpResponse::Ok().json(connector.answer_return_check(&value, &check, &verdicts))
}

/// The verdicts for `check` under the merchant's policy, from the synced orders: an order is past
/// its window `window_days` after its last shipment's ship date (else its submission); an order
/// Storelink has not synced gets no window (the store only offers fulfilled orders for return), its
/// items still the policy's list. Items the store already refuses stay refused; exchanges are not
/// supported.
pub async fn decide(
    pool: &sqlx::PgPool,
    merchant: MerchantId,
    check: &ReturnCheck,
    now: DateTime<Utc>,
) -> Result<Vec<ReturnVerdict>, storelink_tenants::TenantError> {
    let policy = return_policy::effective(pool, merchant).await?;
    let ids: Vec<&str> = check.orders.iter().map(|o| o.order_id.as_str()).collect();
    let dates: Vec<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT o.order_id, COALESCE(
             (SELECT max(s.ship_date) FROM shipments s WHERE s.merchant_id = o.merchant_id AND s.order_id = o.order_id),
             o.submitted_at)
         FROM orders o WHERE o.merchant_id = $1 AND o.order_id = ANY($2)",
    )
    .bind(merchant)
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(check.orders.iter().map(|order| verdict(&policy, check.exchange, order, &dates, now)).collect())
}

fn verdict(
    policy: &ReturnPolicy,
    exchange: bool,
    order: &storelink_connector::ReturnCheckOrder,
    dates: &[(String, Option<DateTime<Utc>>)],
    now: DateTime<Utc>,
) -> ReturnVerdict {
    let from = dates.iter().find(|(id, _)| *id == order.order_id).and_then(|(_, at)| *at);
    let passed = from.is_some_and(|at| now > at + chrono::Duration::days(i64::from(policy.window_days)));
    let items = order
        .items
        .iter()
        .map(|item| {
            if exchange {
                Some(EXCHANGE_UNSUPPORTED.to_owned())
            } else if let Some(reason) = &item.store_refusal {
                Some(reason.clone())
            } else if policy.excludes(item.sku_id.as_deref(), item.product_id.as_deref()) {
                Some(ITEM_EXCLUDED.to_owned())
            } else {
                None
            }
        })
        .collect();
    ReturnVerdict { order: passed.then(|| window_passed(policy.window_days)), items }
}

/// Why an exchange item is answered not eligible.
pub const EXCHANGE_UNSUPPORTED: &str =
    "Exchanges are not supported through this integration; request a return instead.";

#[cfg(test)]
mod tests {
    use super::*;
    use storelink_connector::{ReturnCheckItem, ReturnCheckOrder};

    #[test]
    fn the_window_runs_from_the_last_date_and_listed_items_are_refused() {
        let policy = ReturnPolicy { window_days: 10, nonreturnable: vec!["sku-x".into()], source: "partner" };
        let item = |sku: &str| ReturnCheckItem { line_id: "ci".into(), sku_id: Some(sku.into()), ..Default::default() };
        let order = ReturnCheckOrder { order_id: "o1".into(), items: vec![item("sku-x"), item("sku-y")] };
        let now = Utc::now();
        let recent = vec![("o1".to_owned(), Some(now - chrono::Duration::days(3)))];
        let v = verdict(&policy, false, &order, &recent, now);
        assert_eq!(v.order, None);
        assert_eq!(v.items, vec![Some(ITEM_EXCLUDED.to_owned()), None]);
        let old = vec![("o1".to_owned(), Some(now - chrono::Duration::days(11)))];
        assert!(verdict(&policy, false, &order, &old, now).order.is_some());
        assert_eq!(verdict(&policy, false, &order, &[], now).order, None, "an unknown order gets no window");
        assert!(verdict(&policy, true, &order, &recent, now).items.iter().all(Option::is_some));
    }
}
