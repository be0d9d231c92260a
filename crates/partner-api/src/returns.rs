//! Returns from the partner's side: the return policy that answers the store's return validation
//! calls (per partner, optionally per merchant), and return requests partners open and change in the
//! merchant's store through its connector (`Connector::create_return`, `update_return`). The stored
//! return is updated from the store's answer, which announces `return.updated`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use storelink_connector::{ConnectorError, NewReturn as StoreReturn, ReturnLineChange, ReturnUpdate};
use storelink_core::{MerchantId, PartnerId};
use storelink_sync::read;
use storelink_tenants::return_policy::{self, MAX_NONRETURNABLE, MAX_WINDOW_DAYS, ReturnPolicy};
use storelink_token_cache::TokenError;
use utoipa::ToSchema;

use crate::ApiError;
use crate::idempotency::{self, Claim, Scope};
use crate::orders::token_error;
use crate::routes::{PartnerApi, json_body};

const MAX_LINES: usize = 100;

/// What decides the answer to the store's return validation calls.
#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct ReturnPolicyBody {
    /// Days after the order's last shipment (else its submission) during which it can be returned.
    pub window_days: i32,
    /// SKU or product ids that can never be returned.
    #[serde(default)]
    pub nonreturnable: Vec<String>,
}

/// A policy as it applies: `source` is `merchant` (set for this merchant), `partner` (the partner's)
/// or `default` (none set: 30 days, nothing excluded).
#[derive(Serialize, ToSchema)]
pub(crate) struct ReturnPolicyView {
    pub window_days: i32,
    pub nonreturnable: Vec<String>,
    pub source: String,
}

impl From<ReturnPolicy> for ReturnPolicyView {
    fn from(p: ReturnPolicy) -> Self {
        Self { window_days: p.window_days, nonreturnable: p.nonreturnable, source: p.source.to_owned() }
    }
}

fn checked(body: &[u8]) -> Result<ReturnPolicyBody, ApiError> {
    let policy: ReturnPolicyBody = json_body(body)?;
    if !(0..=MAX_WINDOW_DAYS).contains(&policy.window_days) {
        return Err(ApiError::unprocessable(
            "invalid_return_policy",
            format!("window_days must be between 0 and {MAX_WINDOW_DAYS}"),
        ));
    }
    if policy.nonreturnable.len() > MAX_NONRETURNABLE
        || policy.nonreturnable.iter().any(|id| id.is_empty() || id.len() > 256)
    {
        return Err(ApiError::unprocessable(
            "invalid_return_policy",
            format!("nonreturnable holds at most {MAX_NONRETURNABLE} ids of 1 to 256 characters"),
        ));
    }
    Ok(policy)
}

/// The partner's return policy (for every merchant without one of its own).
#[utoipa::path(get, path = "/v1/return-policy", tag = "returns",
    responses((status = 200, body = ReturnPolicyView)), security(("bearer" = [])))]
pub(crate) async fn get_partner_policy(api: web::Data<PartnerApi>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    api.read(&req, partner, async |pool| {
        let policy = return_policy::get(pool, partner, None).await?.unwrap_or_else(ReturnPolicy::default_policy);
        Ok(HttpResponse::Ok().json(ReturnPolicyView::from(policy)))
    })
    .await
}

/// Set the partner's return policy.
#[utoipa::path(put, path = "/v1/return-policy", tag = "returns", request_body = ReturnPolicyBody,
    responses((status = 200, body = ReturnPolicyView), (status = 422, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn set_partner_policy(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    save_policy(&api, partner, None, &body).await
}

/// Checks and stores a policy, the partner's (`merchant` None) or one merchant's, and answers it.
async fn save_policy(
    api: &PartnerApi,
    partner: PartnerId,
    merchant: Option<MerchantId>,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let policy = checked(body)?;
    return_policy::set(&api.pool, partner, merchant, policy.window_days, &policy.nonreturnable).await?;
    let source = if merchant.is_some() { "merchant" } else { "partner" };
    let view = ReturnPolicyView {
        window_days: policy.window_days,
        nonreturnable: policy.nonreturnable,
        source: source.into(),
    };
    Ok(HttpResponse::Ok().json(view))
}

/// The return policy in force for one merchant.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/return-policy", tag = "returns",
    params(("merchant_id" = String, Path, format = Uuid)),
    responses((status = 200, body = ReturnPolicyView), (status = 404, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_merchant_policy(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    api.read(&req, partner, async |pool| {
        let merchant = api.own_merchant(pool, partner, &path).await?;
        let policy = return_policy::effective(pool, merchant).await?;
        Ok(HttpResponse::Ok().json(ReturnPolicyView::from(policy)))
    })
    .await
}

/// Set one merchant's own return policy (wins over the partner's).
#[utoipa::path(put, path = "/v1/merchants/{merchant_id}/return-policy", tag = "returns",
    request_body = ReturnPolicyBody, params(("merchant_id" = String, Path, format = Uuid)),
    responses((status = 200, body = ReturnPolicyView), (status = 404, body = crate::Problem),
              (status = 422, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn set_merchant_policy(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let merchant = api.own_merchant(&api.pool, partner, &path).await?;
    save_policy(&api, partner, Some(merchant), &body).await
}

/// One line of a return: the order line (`line_id` of the order's lines) and what to change.
#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct ReturnLineBody {
    pub line_id: String,
    pub quantity: Option<i64>,
    /// This line's reason, when it differs from the return's.
    pub reason: Option<String>,
    /// The amount refunded for this line.
    pub refund_amount: Option<f64>,
}

/// A return request to open on an order.
#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct NewReturnBody {
    pub order_id: String,
    /// The store's return reason code, e.g. `defective`, `didNotLike`, `incorrectSize`.
    pub reason: String,
    pub lines: Vec<ReturnLineBody>,
}

/// A change to a return request: fields left out keep what the store holds; lines not named are
/// kept unchanged.
#[derive(Deserialize, Serialize, ToSchema)]
pub(crate) struct ReturnPatch {
    pub reason: Option<String>,
    #[serde(default)]
    pub lines: Vec<ReturnLineBody>,
    /// The total to refund.
    pub refund_amount: Option<f64>,
}

/// A refund that is negative, NaN or infinite.
fn bad_amount(amount: f64) -> bool {
    !amount.is_finite() || amount < 0.0
}

fn line_changes(lines: &[ReturnLineBody]) -> Result<Vec<ReturnLineChange<'_>>, ApiError> {
    if lines.len() > MAX_LINES {
        return Err(ApiError::unprocessable("invalid_return", format!("at most {MAX_LINES} lines")));
    }
    lines
        .iter()
        .map(|l| {
            if l.line_id.is_empty() || l.quantity.is_some_and(|q| q < 1) || l.refund_amount.is_some_and(bad_amount) {
                return Err(ApiError::unprocessable(
                    "invalid_return",
                    format!("line {:?}: a line_id, a quantity of at least 1 and a refund of at least 0", l.line_id),
                ));
            }
            Ok(ReturnLineChange {
                line_id: &l.line_id,
                quantity: l.quantity,
                reason: l.reason.as_deref(),
                refund: l.refund_amount,
            })
        })
        .collect()
}

fn return_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Platform(
            e
            @ (ConnectorError::Refused { .. } | ConnectorError::NotFound { .. } | ConnectorError::OrderRefused { .. }),
        ) => ApiError::unprocessable("return_rejected", format!("the store refused the return: {e}")),
        TokenError::Platform(ConnectorError::Unsupported(what)) => {
            ApiError::unprocessable("not_supported", format!("this merchant's platform does not support {what}"))
        }
        e => token_error(e),
    }
}

/// Stores the store's answer and reads it back as the partner sees it.
async fn store(
    api: &PartnerApi,
    merchant: MerchantId,
    row: &storelink_model::records::Hashed<storelink_model::records::ReturnRow>,
) -> Result<storelink_model::views::Return, ApiError> {
    let mut conn = api.pool.acquire().await?;
    storelink_sync::upsert_return_record(&mut conn, merchant, row).await?;
    drop(conn);
    read::return_by_id(&api.pool, merchant, &row.row.return_id).await?.ok_or(ApiError::NotFound)
}

/// Open a return request on one of the merchant's orders, once per Idempotency-Key (as orders: the
/// key is claimed before the store is called; a retry replays the answer, and a retry after an
/// unconfirmed create first looks for the return the store reported since).
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/returns", tag = "returns", request_body = NewReturnBody,
    params(("merchant_id" = String, Path, format = Uuid),
           ("Idempotency-Key" = String, Header, description = "Unique per return attempt; retries with the same key return the same return request")),
    responses((status = 201, body = storelink_model::views::Return),
              (status = 400, body = crate::Problem, description = "no Idempotency-Key"),
              (status = 404, body = crate::Problem),
              (status = 409, body = crate::Problem, description = "idempotency_key_reused, request_in_progress"),
              (status = 422, body = crate::Problem, description = "invalid_return, return_rejected, not_supported"),
              (status = 503, body = crate::Problem, description = "store_unavailable (nothing was created) or return_outcome_unknown (retry with the same Idempotency-Key)")),
    security(("bearer" = [])))]
pub(crate) async fn create_return(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let merchant = api.own_merchant(&api.pool, partner, &path).await?;
    let key = idempotency::key_of(&req)?;
    let body: NewReturnBody = json_body(&body)?;
    if body.lines.is_empty() || body.reason.is_empty() {
        return Err(ApiError::unprocessable("invalid_return", "a return needs a reason and at least one line"));
    }
    let order = read::order_by_id(&api.pool, merchant, &body.order_id).await?;
    let order = order.ok_or_else(|| ApiError::unprocessable("unknown_order", "no such order of this merchant"))?;
    if let Some(unknown) = body.lines.iter().find(|l| !order.lines.iter().any(|o| o.line_id == l.line_id)) {
        return Err(ApiError::unprocessable(
            "invalid_return",
            format!("line {:?} is not a line of the order", unknown.line_id),
        ));
    }
    let request = StoreReturn { order_id: &body.order_id, reason: &body.reason, lines: line_changes(&body.lines)? };
    let (attempt, result) =
        match idempotency::claim(&api.pool, merchant, Scope::Return, key, &body, &body.order_id).await? {
            Claim::Replay(done) => {
                return Ok(HttpResponse::Created().insert_header(("Idempotent-Replayed", "true")).json(done));
            }
            Claim::New(attempt) => {
                let created = open_return(&api, merchant, &request).await;
                (attempt, created)
            }
            Claim::Reconcile(attempt) => {
                match read::return_opened_since(&api.pool, merchant, &body.order_id, attempt.since).await? {
                    Some(found) => (attempt, Ok(found)),
                    None => {
                        let created = open_return(&api, merchant, &request).await;
                        (attempt, created)
                    }
                }
            }
        };
    let opened = attempt.settle(&api.pool, result, |view| &view.return_id).await?;
    Ok(HttpResponse::Created().json(opened))
}

/// Opens the return in the store and stores the store's answer. A create sent without a readable
/// answer may have happened: `ReturnOutcomeUnknown`.
async fn open_return(
    api: &PartnerApi,
    merchant: MerchantId,
    request: &StoreReturn<'_>,
) -> Result<storelink_model::views::Return, ApiError> {
    let key = api.sessions.credentials(merchant).await.map_err(return_error)?;
    let key = &key;
    let created = api
        .sessions
        .call(merchant, |s| async move { s.connector.create_return(&s, key, request).await })
        .await
        .map_err(|e| match e {
            TokenError::Platform(e) if e.outcome_unknown() => {
                tracing::warn!(%merchant, error = %e, "the store did not confirm a return request; its outcome is unknown");
                ApiError::ReturnOutcomeUnknown { retry_after_secs: 30 }
            }
            e => return_error(e),
        })?;
    store(api, merchant, &created).await
}

/// Change a return request: reason, lines, refund amount.
#[utoipa::path(patch, path = "/v1/merchants/{merchant_id}/returns/{return_id}", tag = "returns",
    request_body = ReturnPatch,
    params(("merchant_id" = String, Path, format = Uuid), ("return_id" = String, Path)),
    responses((status = 200, body = storelink_model::views::Return),
              (status = 404, body = crate::Problem),
              (status = 422, body = crate::Problem, description = "invalid_return, return_rejected, not_supported"),
              (status = 503, body = crate::Problem)),
    security(("bearer" = [])))]
pub(crate) async fn update_return(
    api: web::Data<PartnerApi>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let partner = api.partner(&req)?;
    let (merchant, return_id) = path.into_inner();
    let merchant = api.own_merchant(&api.pool, partner, &merchant).await?;
    let patch: ReturnPatch = json_body(&body)?;
    if patch.refund_amount.is_some_and(bad_amount) || patch.reason.as_deref() == Some("") {
        return Err(ApiError::unprocessable("invalid_return", "refund_amount must be at least 0, reason not empty"));
    }
    read::return_by_id(&api.pool, merchant, &return_id).await?.ok_or(ApiError::NotFound)?;
    let update = ReturnUpdate {
        reason: patch.reason.as_deref(),
        lines: line_changes(&patch.lines)?,
        refund_total: patch.refund_amount,
    };
    let (update, id) = (&update, return_id.as_str());
    let updated = api
        .sessions
        .call(merchant, |s| async move { s.connector.update_return(&s, id, update).await })
        .await
        .map_err(return_error)?;
    Ok(HttpResponse::Ok().json(store(&api, merchant, &updated).await?))
}
