//! `/ops` routes. Every page needs a session; every POST needs the session's CSRF token; actions need
//! the admin role (a viewer gets 403). Actions run through `storelink_ops::Ops`, audited with the
//! user's name and client address.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, DurationRound, Timelike, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use sqlx::PgPool;
use std::collections::HashMap;
use storelink_core::{Lsn, MerchantId, ReadPools};
use storelink_ops::{Actor, Ops, OpsAction, OpsError};
use storelink_tenants::MerchantStatus;
use storelink_tenants::health::{self, Filter, Sort};

use crate::auth::{Guard, MAX_USERNAME, client_address};
use crate::pages::{Chart, Line, LoginPage, MessagePage, Section, StatusLink, TenantPage, TenantRow, TenantsPage};
use crate::users::{self, Role, User};

const PAGE: i64 = 50;

/// The WAL position of the operator's last action, so the pages after it read a standby only once it
/// has replayed the action (read-your-writes across web processes).
const READ_AFTER_COOKIE: &str = "sl_ops_read_after";

#[derive(Clone)]
pub struct Console {
    /// The primary: sessions, actions, and the page an action answers with.
    pub pool: PgPool,
    /// The tenants list and the tenant page (standbys when configured).
    reads: ReadPools,
    pub ops: Ops,
    guard: Guard,
}

impl Console {
    /// `csrf_key` should derive from the master keys so every web process accepts every form.
    pub fn new(pool: PgPool, ops: Ops, csrf_key: [u8; 32], secure_cookies: bool, logins_per_minute: u32) -> Self {
        let reads = ReadPools::primary_only(pool.clone());
        Self { pool, reads, ops, guard: Guard::new(csrf_key, secure_cookies, logins_per_minute) }
    }

    /// Reads the tenants list and tenant pages from `reads` (the primary's standbys).
    pub fn with_reads(mut self, reads: ReadPools) -> Self {
        self.reads = reads;
        self
    }

    /// The position this operator's pages must see (`READ_AFTER_COOKIE`; unreadable: the primary's).
    fn read_after(req: &HttpRequest) -> Option<Lsn> {
        req.cookie(READ_AFTER_COOKIE).map(|c| c.value().parse().unwrap_or(Lsn(u64::MAX)))
    }

    /// The cookie an action answers with, lasting as long as a standby in use may lag behind.
    async fn read_after_cookie(&self) -> Option<Cookie<'static>> {
        let lsn = match self.reads.write_position().await {
            Ok(lsn) => lsn?,
            Err(e) => {
                tracing::warn!(error = %e, "reading the WAL position after an ops action");
                Lsn(u64::MAX)
            }
        };
        let window = self.reads.settings().max_lag * 2 + std::time::Duration::from_secs(5);
        let seconds = i64::try_from(window.as_secs()).unwrap_or(60);
        Some(
            Cookie::build(READ_AFTER_COOKIE, lsn.to_string())
                .path("/ops")
                .http_only(true)
                .secure(self.guard.secure)
                .same_site(SameSite::Strict)
                .max_age(actix_web::cookie::time::Duration::seconds(seconds))
                .finish(),
        )
    }

    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::scope("/ops")
                .app_data(web::Data::new(self))
                .route("", web::get().to(tenants))
                .route("/login", web::get().to(login_form))
                .route("/login", web::post().to(login))
                .route("/logout", web::post().to(logout))
                .route("/tenants/{merchant_id}", web::get().to(tenant))
                .route("/tenants/{merchant_id}/{action}", web::post().to(act)),
        );
    }

    /// The signed-in user and the session token, or a redirect to the login page.
    async fn user(&self, req: &HttpRequest) -> Result<(User, String), HttpResponse> {
        let to_login = || HttpResponse::SeeOther().insert_header((LOCATION, "/ops/login")).finish();
        let token = Guard::session_token(req).ok_or_else(to_login)?;
        match users::session_user(&self.pool, &token).await {
            Ok(Some(user)) => Ok((user, token)),
            Ok(None) => Err(to_login()),
            Err(e) => Err(internal(&e.to_string())),
        }
    }
}

fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => internal(&e.to_string()),
    }
}

fn message(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    render(status, &MessagePage { title: title.to_owned(), message: text.to_owned() })
}

fn internal(error: &str) -> HttpResponse {
    tracing::error!(%error, "ops console");
    HttpResponse::InternalServerError().body("internal error")
}

async fn login_form() -> HttpResponse {
    render(StatusCode::OK, &LoginPage { error: None, username: String::new() })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(console: web::Data<Console>, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let form = form.into_inner();
    let client = client_address(&req);
    let again = |status, error: &str| {
        render(status, &LoginPage { error: Some(error.to_owned()), username: form.username.clone() })
    };
    let limited = || {
        tracing::warn!(%client, "ops login rate-limited");
        again(StatusCode::TOO_MANY_REQUESTS, "Too many sign-in attempts. Wait a minute and try again.")
    };
    if !console.guard.client_allowed(&client) {
        return limited();
    }
    if form.username.len() > MAX_USERNAME {
        let page = LoginPage { error: Some("That user name is too long.".to_owned()), username: String::new() };
        return render(StatusCode::BAD_REQUEST, &page);
    }
    if !console.guard.pair_allowed(&client, &form.username) {
        return limited();
    }
    let password = SecretString::from(form.password.clone());
    let user = match users::verify(&console.pool, &form.username, &password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::warn!(%client, username = %form.username, "ops login refused");
            return again(StatusCode::UNAUTHORIZED, "That user name and password do not match.");
        }
        Err(e) => return internal(&e.to_string()),
    };
    match users::open_session(&console.pool, user.user_id).await {
        Ok(token) => {
            HttpResponse::SeeOther().cookie(console.guard.cookie(token)).insert_header((LOCATION, "/ops")).finish()
        }
        Err(e) => internal(&e.to_string()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: Option<String>,
}

async fn logout(console: web::Data<Console>, req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    let (_, token) = match console.user(&req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !console.guard.csrf_ok(&token, form.csrf_token.as_deref()) {
        return message(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    if let Err(e) = users::close_session(&console.pool, &token).await {
        return internal(&e.to_string());
    }
    let mut gone = console.guard.cookie(String::new());
    gone.make_removal();
    HttpResponse::SeeOther().cookie(gone).insert_header((LOCATION, "/ops/login")).finish()
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    after: Option<String>,
}

/// The list's filter from the `status` query value ("warning" is the old name of needs_attention).
fn filter_of(status: &str) -> (Filter, &'static str) {
    match status {
        "needs_attention" | "warning" => (Filter::NeedsAttention, "needs_attention"),
        "active" => (Filter::Status(MerchantStatus::Active), "active"),
        "credentials_invalid" => (Filter::Status(MerchantStatus::CredentialsInvalid), "credentials_invalid"),
        "paused" => (Filter::Status(MerchantStatus::Paused), "paused"),
        "revoked" => (Filter::Status(MerchantStatus::Revoked), "revoked"),
        _ => (Filter::Any, ""),
    }
}

fn status_label(status: MerchantStatus) -> &'static str {
    match status {
        MerchantStatus::Active => "active",
        MerchantStatus::CredentialsInvalid => "credentials invalid",
        MerchantStatus::Paused => "paused",
        MerchantStatus::Revoked => "revoked",
    }
}

/// "45 s", "12 min", "3 h 5 min", "2 d 4 h".
fn duration_text(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A lag under two hours (the longest default cadence is one) is fine; under a day, a warning.
fn lag_class(d: chrono::Duration) -> &'static str {
    match d.num_seconds() {
        ..7200 => "ok",
        7200..86_400 => "warn",
        _ => "bad",
    }
}

fn plural(n: i32, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

fn row_of(h: health::Health, now: DateTime<Utc>) -> TenantRow {
    let mut reasons = Vec::new();
    if h.status == MerchantStatus::CredentialsInvalid {
        reasons.push("credentials invalid".to_owned());
    }
    if h.failed_slots > 0 {
        reasons.push(plural(h.failed_slots, "failed slot", "failed slots"));
    }
    if h.overdue_slot(now) {
        reasons.push("slot pending past its deadline".to_owned());
    }
    if h.failed_syncs > 0 {
        reasons.push(plural(h.failed_syncs, "failed sync", "failed syncs"));
    }
    if h.dead_jobs > 0 {
        reasons.push(plural(h.dead_jobs, "dead letter", "dead letters"));
    }
    if h.failed_checks > 0 {
        reasons.push(plural(h.failed_checks, "failed check", "failed checks"));
    }
    let lag = h.lag(now);
    TenantRow {
        merchant_id: h.merchant_id.to_string(),
        store_url: h.store_url,
        partner: h.partner_name,
        status: h.status.as_str(),
        status_label: status_label(h.status),
        score: h.score,
        reasons,
        lag: lag.map(duration_text).unwrap_or_default(),
        lag_class: lag.map_or("ok", lag_class),
    }
}

fn list_href(q: &str, status: &str, sort: &str, after: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("q", q), ("status", status), ("sort", if sort == "attention" { "" } else { sort })] {
        if !value.is_empty() {
            query.append_pair(key, value);
        }
    }
    if let Some(after) = after {
        query.append_pair("after", after);
    }
    let query = query.finish();
    if query.is_empty() { "/ops".to_owned() } else { format!("/ops?{query}") }
}

/// The list: one index range of `merchant_health` (O(page)) and the cheap counts. The pool is the
/// caller's choice (a replica may serve it).
async fn list(pool: &PgPool, q: &health::ListQuery<'_>) -> Result<(Vec<health::Health>, health::Counts), String> {
    let rows = health::list(pool, q).await.map_err(|e| e.to_string())?;
    let counts = health::counts(pool).await.map_err(|e| e.to_string())?;
    Ok((rows, counts))
}

async fn tenants(console: web::Data<Console>, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    let (user, token) = match console.user(&req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let search: String = q.q.clone().unwrap_or_default().trim().chars().take(300).collect();
    let (filter, status) = filter_of(q.status.as_deref().unwrap_or_default());
    let by_id = search.parse::<MerchantId>().ok();
    let prefix = if by_id.is_some() { String::new() } else { health::host_prefix(&search) };
    let sort = if q.sort.as_deref() == Some("store") || !prefix.is_empty() { Sort::Store } else { Sort::Attention };
    let sort_name = if sort == Sort::Store { "store" } else { "attention" };
    let query = health::ListQuery {
        filter,
        sort,
        host_prefix: &prefix,
        after: q.after.as_deref().and_then(health::Cursor::decode),
        limit: PAGE + 1,
    };
    // From a standby when configured, unless the operator's own last action is not replayed there.
    let read_after = Console::read_after(&req);
    let listed = console
        .reads
        .run(
            read_after,
            |_| true,
            async |pool| match by_id {
                Some(id) => {
                    let found = health::get(pool, id).await.map_err(|e| e.to_string())?;
                    let counts = health::counts(pool).await.map_err(|e| e.to_string())?;
                    Ok((found.into_iter().collect::<Vec<_>>(), counts))
                }
                None => list(pool, &query).await,
            },
        )
        .await;
    let (mut rows, counts) = match listed.0 {
        Ok(found) => found,
        Err(e) => return internal(&e),
    };
    // One row more than a page was read: it says whether a next page exists (no empty last page).
    let more = rows.len() as i64 > PAGE;
    rows.truncate(usize::try_from(PAGE).unwrap_or(50));
    let next = more
        .then(|| rows.last().map(|r| r.cursor(sort).encode()))
        .flatten()
        .map(|after| list_href(&search, status, sort_name, Some(&after)));
    let first = q.after.is_some().then(|| list_href(&search, status, sort_name, None));
    let now = Utc::now();
    let matching = search.is_empty().then(|| {
        let n = match filter {
            Filter::Any => counts.total(),
            Filter::Status(s) => counts.of(s),
            Filter::NeedsAttention => counts.needs_attention,
        };
        format!("{n} tenant(s) match")
    });
    let link = |id: &'static str, label: &'static str, value: &'static str, n: i64| StatusLink {
        id,
        label,
        count: n.to_string(),
        href: list_href("", value, sort_name, None),
        current: status == value,
    };
    let links = vec![
        link("count-all", "All", "", counts.total()),
        link("count-needs_attention", "Needs attention", "needs_attention", counts.needs_attention),
        link("count-active", "Active", "active", counts.active),
        link("count-credentials_invalid", "Credentials invalid", "credentials_invalid", counts.credentials_invalid),
        link("count-paused", "Paused", "paused", counts.paused),
        link("count-revoked", "Revoked", "revoked", counts.revoked),
    ];
    render(
        StatusCode::OK,
        &TenantsPage {
            user: user.username,
            csrf: console.guard.csrf_token(&token),
            q: search,
            status: status.to_owned(),
            sort: sort_name,
            links,
            matching,
            rows: rows.into_iter().map(|h| row_of(h, now)).collect(),
            next,
            first,
        },
    )
}

/// The last 24 hours in hourly buckets: sync runs that succeeded, inbound deliveries, and failures
/// (failed or dead jobs and deliveries with an error), each read through the crate owning the table.
async fn charts(pool: &PgPool, merchant: MerchantId) -> Result<Vec<Chart>, String> {
    let jobs = storelink_jobs::last_day(pool, merchant).await.map_err(|e| e.to_string())?;
    let inbound = storelink_inbound::last_day(pool, merchant).await.map_err(|e| e.to_string())?;
    let now = Utc::now();
    // 24 buckets ending with the current hour.
    let first = now.duration_trunc(chrono::Duration::hours(1)).unwrap_or(now) - chrono::Duration::hours(23);
    let bucket = |at: DateTime<Utc>| usize::try_from((at - first).num_hours()).ok().filter(|i| *i < 24);
    let sync_kinds = storelink_sync::kinds();
    let (mut syncs, mut deliveries, mut failures) = ([0i64; 24], [0i64; 24], [0i64; 24]);
    for hour in jobs {
        if let Some(i) = bucket(hour.hour) {
            if sync_kinds.contains(&hour.kind) {
                syncs[i] += hour.succeeded;
            }
            failures[i] += hour.failed;
        }
    }
    for hour in inbound {
        if let Some(i) = bucket(hour.hour) {
            deliveries[i] += hour.received;
            failures[i] += hour.failed;
        }
    }
    let first_hour = first.hour();
    Ok(vec![
        Chart::hourly("syncs", "Syncs", "ok", &syncs, first_hour),
        Chart::hourly("inbound", "Inbound deliveries", "info", &deliveries, first_hour),
        Chart::hourly("failures", "Failures", "bad", &failures, first_hour),
    ])
}

/// A section of the tenant page: a title, column headers and rows of text cells.
fn section(title: &'static str, headers: &[&'static str], rows: impl IntoIterator<Item = Vec<String>>) -> Section {
    let lines = rows.into_iter().map(|cells| Line { cells }).collect();
    Section { title, headers: headers.to_vec(), lines }
}

/// A time as the page shows it (UTC), or nothing.
fn when(at: Option<DateTime<Utc>>, format: &str) -> String {
    at.map(|t| t.format(format).to_string()).unwrap_or_default()
}

const MINUTE: &str = "%Y-%m-%d %H:%M";
const SECOND: &str = "%Y-%m-%d %H:%M:%S";

/// The tenant page's sections, each read through the crate that owns its table.
async fn sections(pool: &PgPool, merchant: MerchantId) -> Result<Vec<Section>, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let checks = storelink_tenants::checks::list(pool, merchant).await.map_err(|e| text(&e))?;
    let slots = storelink_registrar::list_slots(pool, merchant).await.map_err(|e| text(&e))?;
    let token = storelink_token_cache::status(pool, merchant).await.map_err(|e| text(&e))?;
    let syncs = storelink_sync::status(pool, Some(merchant)).await.map_err(|e| text(&e))?;
    let inbound = storelink_inbound::recent(pool, merchant, 20).await.map_err(|e| text(&e))?;
    let deliveries = storelink_partner_webhooks::merchant_deliveries(pool, merchant, 20).await.map_err(|e| text(&e))?;
    let audit = storelink_ops::recent(pool, Some(merchant), 50).await.map_err(|e| text(&e))?;
    let or_empty = |value: Option<String>| value.unwrap_or_default();
    Ok(vec![
        section(
            "Connection checklist",
            &["Check", "OK", "Detail", "When"],
            checks.into_iter().map(|(c, at)| vec![c.name, c.ok.to_string(), c.detail, when(Some(at), MINUTE)]),
        ),
        section(
            "Webhook slots",
            &["Slot", "Status", "Attempts", "Last error"],
            slots.into_iter().map(|s| {
                vec![s.slot.to_string(), s.status.as_str().to_owned(), s.attempts.to_string(), or_empty(s.last_error)]
            }),
        ),
        section(
            "OCC token",
            &["Valid until", "Logins", "Last login"],
            token.map(|t| vec![when(t.expires_at, SECOND), t.logins.to_string(), when(t.last_login_at, SECOND)]),
        ),
        section(
            "Syncs",
            &["Kind", "State", "Items", "Total", "Last success", "Last error"],
            syncs.into_iter().map(|s| {
                let total = s.items_total.map(|n| n.to_string());
                vec![
                    s.kind,
                    s.state,
                    s.items_done.to_string(),
                    or_empty(total),
                    when(s.last_success_at, MINUTE),
                    or_empty(s.last_error),
                ]
            }),
        ),
        section(
            "Recent inbound webhooks",
            &["Received", "Slot", "Processed", "Error"],
            inbound.into_iter().map(|d| {
                vec![
                    when(Some(d.received_at), SECOND),
                    d.slot,
                    when(d.processed_at, "%H:%M:%S"),
                    or_empty(d.last_error),
                ]
            }),
        ),
        section(
            "Recent partner deliveries",
            &["Event", "State", "Attempts", "Last status", "Last error"],
            deliveries.into_iter().map(|d| {
                let status = d.last_status.map(|s| s.to_string());
                vec![d.event_type, d.state, d.attempts.to_string(), or_empty(status), or_empty(d.last_error)]
            }),
        ),
        section(
            "Audit trail",
            &["When", "Who", "From", "Action", "Outcome", "Detail"],
            audit
                .into_iter()
                .map(|a| vec![when(Some(a.at), SECOND), a.actor, a.source, a.action, a.outcome, a.detail.to_string()]),
        ),
    ])
}

async fn tenant_page(
    console: &Console,
    pool: &PgPool,
    user: &User,
    token: &str,
    merchant: MerchantId,
    notice: Option<String>,
) -> HttpResponse {
    let found = match storelink_tenants::merchants::get(pool, merchant).await {
        Ok(Some(m)) => m,
        Ok(None) => return message(StatusCode::NOT_FOUND, "Not found", "There is no such tenant."),
        Err(e) => return internal(&e.to_string()),
    };
    let sections = match sections(pool, merchant).await {
        Ok(sections) => sections,
        Err(e) => return internal(&e),
    };
    let charts = match charts(&console.pool, merchant).await {
        Ok(charts) => charts,
        Err(e) => return internal(&e),
    };
    let health = match health::get(&console.pool, merchant).await {
        Ok(found) => found.map(|h| row_of(h, Utc::now())),
        Err(e) => return internal(&e.to_string()),
    };
    render(
        StatusCode::OK,
        &TenantPage {
            user: user.username.clone(),
            admin: user.role == Role::Admin,
            csrf: console.guard.csrf_token(token),
            merchant_id: merchant.to_string(),
            store_url: found.store_url,
            status: found.status.as_str().to_owned(),
            notice,
            health,
            charts,
            sections,
            buttons: OpsAction::ALL
                .into_iter()
                .filter(|a| !matches!(a, OpsAction::RotateKey | OpsAction::Revoke | OpsAction::SetStoreHosts))
                .collect(),
            credential_fields: console.ops.connectors.get(&found.platform).map(|c| c.form()).unwrap_or_default(),
        },
    )
}

async fn tenant(console: web::Data<Console>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (user, token) = match console.user(&req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(merchant) = path.parse::<MerchantId>() else {
        return message(StatusCode::NOT_FOUND, "Not found", "There is no such tenant.");
    };
    let (pool, source, _) = console.reads.choose(Console::read_after(&req));
    let page = tenant_page(&console, pool, &user, &token, merchant, None).await;
    if source.is_replica() && page.status() == StatusCode::INTERNAL_SERVER_ERROR {
        // The standby failed the page: the primary answers.
        return tenant_page(&console, &console.pool, &user, &token, merchant, None).await;
    }
    page
}

#[derive(Deserialize)]
struct ActionForm {
    csrf_token: Option<String>,
    new_key: Option<String>,
    admin_host: Option<String>,
    storefront_host: Option<String>,
    clear_hosts: Option<String>,
    purge: Option<String>,
    confirm: Option<String>,
    /// The platform's credential fields for rotate_key (`Connector::form`), by name.
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

async fn act(
    console: web::Data<Console>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    let (user, token) = match console.user(&req).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !console.guard.csrf_ok(&token, form.csrf_token.as_deref()) {
        return message(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is no longer valid. Reload the page and try again.",
        );
    }
    if user.role != Role::Admin {
        return message(StatusCode::FORBIDDEN, "Not allowed", "Your role (viewer) can look but not act. Ask an admin.");
    }
    let (merchant, action) = path.into_inner();
    let Ok(merchant) = merchant.parse::<MerchantId>() else {
        return message(StatusCode::NOT_FOUND, "Not found", "There is no such tenant.");
    };
    let Some(action) = OpsAction::parse(&action) else {
        return message(StatusCode::NOT_FOUND, "Not found", "There is no such action.");
    };
    let actor = Actor { name: user.username.clone(), source: client_address(&req) };
    let ops = &console.ops;
    let form = form.into_inner();
    let result: Result<String, OpsError> = match action {
        OpsAction::Pause => ops.pause(&actor, merchant).await.map(|n| format!("Paused ({n} jobs held).")),
        OpsAction::Resume => ops.resume(&actor, merchant).await.map(|n| format!("Resumed ({n} jobs released).")),
        OpsAction::RetrySlots => ops
            .retry_slots(&actor, merchant)
            .await
            .map(|n| format!("{n} of {} webhook slots registered.", storelink_core::Slot::ALL.len())),
        OpsAction::ResyncCatalog | OpsAction::ResyncInventory | OpsAction::ResyncShipping | OpsAction::ResyncOrders => {
            let Some(kind) = action.sync_kind() else {
                return internal("a resync action without a kind");
            };
            ops.resync(&actor, merchant, kind).await.map(|_| format!("A full {} sync is queued.", kind.as_str()))
        }
        OpsAction::RotateKey => {
            let mut fields = form.fields;
            // A platform whose credential is one secret field takes it as `new_key`.
            if let (Some(key), Ok(form_fields)) = (form.new_key, ops.credential_fields(merchant).await)
                && let Some(secret) = form_fields.iter().find(|f| f.secret)
            {
                fields.insert(secret.name.to_owned(), key);
            }
            ops.rotate_fields(&actor, merchant, &fields)
                .await
                .map(|r| format!("Key rotated; {} webhook slots registered with it.", r.slots_registered))
        }
        OpsAction::SetStoreHosts => {
            let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
            let (admin, storefront) = (given(&form.admin_host), given(&form.storefront_host));
            ops.set_store_hosts(&actor, merchant, admin.as_deref(), storefront.as_deref(), form.clear_hosts.is_some())
                .await
                .map(|h| format!("Store hosts set: admin {}, storefront {}.", h.admin, h.storefront))
        }
        OpsAction::Revoke => {
            let store =
                storelink_tenants::merchants::get(&console.pool, merchant).await.ok().flatten().map(|m| m.store_url);
            let confirmed = store.as_deref().is_some_and(|s| Some(s) == form.confirm.as_deref().map(str::trim));
            if !confirmed {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Not confirmed",
                    "Type the tenant's store URL exactly to confirm revocation.",
                );
            }
            ops.revoke(&actor, merchant, form.purge.is_some()).await.map(|r| {
                format!("Revoked. Webhooks removed from {} slot(s); secrets destroyed.", r.slots_unregistered.len())
            })
        }
    };
    let mut page = match result {
        Ok(notice) => tenant_page(&console, &console.pool, &user, &token, merchant, Some(notice)).await,
        Err(OpsError::NotFound) => message(StatusCode::NOT_FOUND, "Not found", "There is no such tenant."),
        Err(
            e @ (OpsError::KeyRejected(_) | OpsError::StoreUnavailable(_) | OpsError::Revoked | OpsError::Invalid(_)),
        ) => {
            let mut page = tenant_page(&console, &console.pool, &user, &token, merchant, Some(e.to_string())).await;
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            page
        }
        Err(e) => internal(&e.to_string()),
    };
    if let Some(cookie) = console.read_after_cookie().await {
        let _ = page.add_cookie(&cookie);
    }
    page
}
