//! `GET /connect` shows the form of the link's platform, or the platform choice when the link names
//! none (posted back with `choose`); `POST /connect` runs the pipeline and shows the summary page
//! (what was found, the store's sites to choose from, then back to the partner), or re-renders the
//! form with a specific message. `GET /connect/{platform}/{file}` serves the files the form links
//! (`Connector::setup_files`, e.g. SAP's ImpEx). `POST /connect/sites` saves the summary's site
//! selection and sends the merchant back to the partner with `303 See Other`.

use crate::csrf::{self, Csrf};
use crate::error::{ConnectError, Field, Platform};
use crate::limits::Limiters;
use crate::pages::{self, ChoosePage, ConnectPage, FieldView, Line, SetupLink, SummaryPage};
use crate::pipeline::Pipeline;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use storelink_connector::Connector;
use storelink_core::PartnerId;
use storelink_netguard::ClientIp;
use storelink_tenants::{Partner, partners};

/// An opaque `state` longer than this is not a partner's CSRF value but an attempt to bloat URLs.
const MAX_STATE_LEN: usize = 1024;

#[derive(Clone)]
pub struct Onboarding {
    pub pipeline: Pipeline,
    pub csrf: Csrf,
    pub limiters: Limiters,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::FormConfig::default().limit(64 * 1024).error_handler(|err, _req| {
        let response = pages::problem(
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            "The form was incomplete or not sent as a web form. Go back to the partner's site and start again.",
        );
        actix_web::error::InternalError::from_response(err, response).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _req| {
        let response = pages::problem(
            StatusCode::BAD_REQUEST,
            "This connection link is not valid",
            "The link you followed is malformed. Go back to the partner's site and start again.",
        );
        actix_web::error::InternalError::from_response(err, response).into()
    }))
    .service(web::resource("/connect").route(web::get().to(show)).route(web::post().to(submit)))
    .service(web::resource("/connect/sites").route(web::post().to(save_sites)))
    .route("/connect/{platform}/{file}", web::get().to(setup_file))
    .route("/static/connect-summary.js", web::get().to(summary_script));
}

/// Seconds before the summary page continues to the partner on its own.
const AUTO_CONTINUE_SECS: u32 = 5;

const SUMMARY_SCRIPT: &str = include_str!("../../../static/connect-summary.js");

async fn summary_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(SUMMARY_SCRIPT)
}

#[derive(Deserialize)]
struct LinkQuery {
    partner_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    /// The merchant's platform (`merchants.platform`); absent: the default one.
    platform: Option<String>,
}

#[derive(Deserialize)]
struct ConnectForm {
    partner_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    store_url: Option<String>,
    /// The connector's platform (`merchants.platform`); absent for the default one.
    platform: Option<String>,
    csrf_token: Option<String>,
    /// Sent by the platform choice: answer the chosen platform's form, connect nothing.
    choose: Option<String>,
    /// The connector's credential fields (`Connector::form`), by name.
    #[serde(flatten)]
    credentials: HashMap<String, String>,
}

/// The partner link's parts once checked: a known partner and one of its registered redirect URIs.
struct Link {
    partner: Partner,
    redirect_uri: String,
    state: String,
}

async fn show(ob: web::Data<Onboarding>, q: web::Query<LinkQuery>) -> HttpResponse {
    let q = q.into_inner();
    let link = match check_link(&ob, q.partner_id, q.redirect_uri, q.state).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    // Neither the link nor (yet) the form names a platform: the form asks, when there is a choice.
    let platform = q.platform.filter(|p| !p.is_empty());
    let connector = match platform.as_deref() {
        None if ob.pipeline.connectors.platforms().count() > 1 => None,
        named => match ob.pipeline.connector(named) {
            Ok(connector) => Some(connector),
            Err(_) => return invalid_link(&format!("It names a platform Storelink does not connect. {START_AGAIN}")),
        },
    };
    // Always a value of our own: adopting the browser's would let a cookie planted from a sibling
    // subdomain come back with a valid token (cookie tossing). A second tab's form replaces the
    // first's cookie, so only the latest form can be sent.
    let cookie_value = Csrf::new_cookie_value();
    let token = ob.csrf.token_for(&cookie_value);
    let mut response = match connector {
        Some(connector) => render_form(&link, &**connector, "", &token, &HashMap::new(), None),
        None => render_choice(&ob, &link, &token, None),
    };
    if let Err(e) = response.add_cookie(&csrf_cookie(&ob.csrf, cookie_value)) {
        tracing::error!(error = %e, "setting the CSRF cookie failed");
    }
    response
}

/// The platform choice (no JavaScript: a form posting the chosen platform back with `choose`).
fn render_choice(ob: &Onboarding, link: &Link, token: &str, error: Option<&str>) -> HttpResponse {
    let registry = &ob.pipeline.connectors;
    let platforms =
        registry.platforms().filter_map(|p| registry.get(p).ok()).map(|c| (c.platform(), c.display_name())).collect();
    let page = ChoosePage {
        partner_name: &link.partner.name,
        partner_id: &link.partner.partner_id.to_string(),
        redirect_uri: &link.redirect_uri,
        state: &link.state,
        csrf_token: token,
        platforms,
        error,
    };
    pages::html(if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, &page)
}

/// `GET /connect/{platform}/{file}`: a file the merchant imports into the store before connecting.
async fn setup_file(ob: web::Data<Onboarding>, path: web::Path<(String, String)>) -> HttpResponse {
    let (platform, name) = path.into_inner();
    let file = ob.pipeline.connectors.get(&platform).ok().and_then(|c| c.setup_files().iter().find(|f| f.name == name));
    match file {
        Some(file) => HttpResponse::Ok()
            .content_type(file.content_type)
            .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", file.name)))
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .body(file.body),
        None => pages::problem(StatusCode::NOT_FOUND, "Not found", "There is no such file."),
    }
}

async fn submit(ob: web::Data<Onboarding>, req: HttpRequest, form: web::Form<ConnectForm>) -> HttpResponse {
    let form = form.into_inner();
    let cookie = req.cookie(ob.csrf.cookie_name());
    let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if !csrf::same_origin_or_unknown(fetch_site)
        || !ob.csrf.verify(cookie.as_ref().map(|c| c.value()), form.csrf_token.as_deref())
    {
        return pages::problem(
            StatusCode::FORBIDDEN,
            "Your session expired",
            "For your security this form can only be sent from the page we showed you, with cookies enabled. \
             Go back to the partner's site and start again.",
        );
    }
    let link = match check_link(&ob, form.partner_id, form.redirect_uri, form.state).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    let token = form.csrf_token.unwrap_or_default();
    let store_input = form.store_url.unwrap_or_default();
    if form.choose.is_some() {
        return match form.platform.as_deref().filter(|p| !p.is_empty()).map(|p| ob.pipeline.connector(Some(p))) {
            Some(Ok(connector)) => render_form(&link, &**connector, "", &token, &HashMap::new(), None),
            _ => render_choice(&ob, &link, &token, Some("Choose the platform your store runs on.")),
        };
    }
    let connector = match ob.pipeline.connector(form.platform.as_deref()) {
        Ok(connector) => connector.clone(),
        Err(error) => match ob.pipeline.connector(None) {
            Ok(default) => return render_form(&link, &**default, &store_input, &token, &form.credentials, Some(error)),
            Err(_) => return invalid_link(&format!("It names a platform Storelink does not connect. {START_AGAIN}")),
        },
    };
    let values = |name: &str| form.credentials.get(name).map(String::as_str);

    let client = client_address(&req);
    if let Err(wait) = ob.limiters.check_client(&client) {
        return too_many(wait);
    }
    let result = async {
        let store = ob.pipeline.vet_store(&store_input).await?;
        ob.limiters.check_store(store.as_str(), &client).map_err(Limited)?;
        let key = connector
            .credentials(&values)
            .map_err(|e| ConnectError::from_credentials(Platform::of(connector.platform()), e))?;
        let store_text = store.as_str().to_owned();
        let outcome = ob.pipeline.connect(link.partner.partner_id, &connector, store, key).await;
        match &outcome {
            Ok(_) => ob.limiters.login_succeeded(&store_text, &client),
            Err(e) if e.is_failed_login() => ob.limiters.login_failed(&store_text, &client),
            Err(_) => {}
        }
        outcome.map_err(Failure::from)
    }
    .await;

    match result {
        Ok(connected) => {
            let cookie_value = cookie.as_ref().map(|c| c.value().to_owned()).unwrap_or_default();
            render_summary(&ob, &link, &*connector, &connected, &cookie_value)
        }
        Err(Failure::Limited(Limited(wait))) => too_many(wait),
        Err(Failure::Connect(error)) => {
            if let ConnectError::Internal(cause) = &error {
                tracing::error!(cause = %cause, "connect failed internally");
            } else {
                tracing::info!(code = error.code(), "connect refused");
            }
            render_form(&link, &*connector, &store_input, &token, &form.credentials, Some(error))
        }
    }
}

/// The summary page after a connect, with its continue target also in a `Link: <...>; rel="next"`
/// header for clients that do not read HTML.
fn render_summary(
    ob: &Onboarding,
    link: &Link,
    connector: &dyn Connector,
    connected: &crate::Connected,
    cookie_value: &str,
) -> HttpResponse {
    let merchant_id = connected.merchant_id.to_string();
    let Some(target) = return_url(link, &merchant_id, &connected.warnings()) else {
        return pages::problem(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again.");
    };
    let checks = connected
        .checks
        .iter()
        .map(|c| Line {
            id: c.name.replace(':', "-"),
            label: check_label(&c.name),
            ok: c.ok,
            detail: if c.ok { check_found(&c.name) } else { c.detail.clone() },
        })
        .collect();
    let slots = connected.slots.iter().map(slot_line).collect();
    let (sites, sites_error) = match &connected.sites {
        // One site only: nothing to choose.
        Ok(sites) if sites.len() <= 1 => (Vec::new(), None),
        Ok(sites) => (sites.clone(), None),
        Err(message) => (Vec::new(), Some(message.clone())),
    };
    let sites_token = ob.csrf.sites_token_for(cookie_value, &merchant_id);
    let page = SummaryPage {
        partner_name: &link.partner.name,
        platform_name: connector.display_name(),
        store_host: connected.store.host(),
        checks,
        slots,
        sites,
        sites_error,
        continue_url: target.as_str(),
        auto_seconds: AUTO_CONTINUE_SECS,
        merchant_id: &merchant_id,
        sites_token: &sites_token,
        partner_id: &link.partner.partner_id.to_string(),
        redirect_uri: &link.redirect_uri,
        state: &link.state,
    };
    let mut response = pages::html(StatusCode::OK, &page);
    if let Ok(value) = format!("<{}>; rel=\"next\"", target.as_str()).parse() {
        response.headers_mut().insert(actix_web::http::header::LINK, value);
    }
    response
}

/// The partner's redirect URI with the merchant, the partner's state and the warning codes.
fn return_url(link: &Link, merchant_id: &str, warnings: &[String]) -> Option<url::Url> {
    storelink_tenants::redirect::build_return_url(&link.redirect_uri, merchant_id, &link.state, warnings)
        .map_err(|e| tracing::error!(error = %e, "building the return URL failed"))
        .ok()
}

fn check_label(name: &str) -> String {
    match name.strip_prefix("permission:") {
        Some(resource) => format!("Access to {}", resource.replace('_', " ")),
        None if name == "shipping_methods" => "Shipping methods".to_owned(),
        None => name.replace('_', " "),
    }
}

fn check_found(name: &str) -> String {
    if name == "shipping_methods" { "Found".to_owned() } else { "Granted".to_owned() }
}

fn slot_line(outcome: &storelink_registrar::SlotOutcome) -> Line {
    use storelink_registrar::SlotStatus;
    let label = match outcome.slot.as_str() {
        "order-submit" => "New orders",
        "order-update" => "Order updates",
        "shipment-create" => "New shipments",
        "shipment-update" => "Shipment updates",
        other => other,
    };
    let why = outcome.error.clone().unwrap_or_default();
    let (ok, detail) = match outcome.status {
        SlotStatus::Registered => (true, "Registered".to_owned()),
        SlotStatus::Unsupported => (
            false,
            "Your store has no notification for this event; Storelink reads these changes on its regular sync instead."
                .to_owned(),
        ),
        SlotStatus::Pending => (false, "Not registered yet; Storelink retries in the background.".to_owned()),
        // The one place the generated secret is shown (the page is never cached).
        SlotStatus::Manual => {
            let secret = outcome.secret.as_ref().map(|(label, value)| {
                use secrecy::ExposeSecret;
                format!(" {label}: {} (shown only now: note it down).", value.expose_secret())
            });
            (false, format!("Not registered: {why}.{}", secret.unwrap_or_default()))
        }
        _ if why.is_empty() => (false, "Not registered; Storelink retries in the background.".to_owned()),
        _ => (false, format!("Not registered: {why}. Storelink retries in the background.")),
    };
    Line { id: outcome.slot.as_str().to_owned(), label: label.to_owned(), ok, detail }
}

/// `POST /connect/sites`: the summary's site selection, from the browser that connected the merchant
/// (its token is bound to the form cookie and the merchant). Saved, it continues to the partner.
async fn save_sites(ob: web::Data<Onboarding>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut chosen: Vec<String> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        if key == "site" {
            chosen.push(value.into_owned());
        } else {
            fields.insert(key.into_owned(), value.into_owned());
        }
    }
    let merchant_id = fields.get("merchant_id").cloned().unwrap_or_default();
    let cookie = req.cookie(ob.csrf.cookie_name());
    let fetch_site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let parsed: Option<storelink_core::MerchantId> = merchant_id.trim().parse().ok();
    if !csrf::same_origin_or_unknown(fetch_site)
        || !ob.csrf.verify_sites(
            cookie.as_ref().map(|c| c.value()),
            &merchant_id,
            fields.get("csrf_token").map(String::as_str),
        )
    {
        return pages::problem(
            StatusCode::FORBIDDEN,
            "Your session expired",
            "For your security the site selection can only be sent from the page we showed you after connecting, \
             with cookies enabled. Your store is connected; choose sites by connecting again from the partner's site.",
        );
    }
    let Some(merchant) = parsed else {
        return invalid_link(&format!("It does not name a connected store. {START_AGAIN}"));
    };
    let link = match check_link(&ob, fields.remove("partner_id"), fields.remove("redirect_uri"), fields.remove("state"))
        .await
    {
        Ok(link) => link,
        Err(page) => return page,
    };
    let pool = &ob.pipeline.pool;
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, %merchant, "saving the site selection failed");
        pages::problem(StatusCode::SERVICE_UNAVAILABLE, "Please try again", "We could not save your sites.")
    };
    match storelink_tenants::merchants::get(pool, merchant).await {
        Ok(Some(m)) if m.partner_id == link.partner.partner_id => {}
        Ok(_) => return invalid_link(&format!("It does not name a store connected to this partner. {START_AGAIN}")),
        Err(e) => return unavailable(&e),
    }
    match storelink_tenants::sites::select(pool, merchant, &chosen).await {
        Ok(Ok(false)) => {}
        // The synced catalog, stock and shipping rows follow the selected sites: a full run of every
        // kind reads the newly chosen sites and removes (and announces) the rows of the others.
        Ok(Ok(true)) => {
            if let Err(e) = resync(pool, merchant).await {
                return unavailable(&e);
            }
        }
        Ok(Err(refused)) => {
            let message = match refused {
                storelink_tenants::sites::SelectionError::Empty => {
                    "Choose at least one site to sell through. Use your browser's Back button to choose again."
                        .to_owned()
                }
                storelink_tenants::sites::SelectionError::UnknownSite(site) => format!(
                    "{site} is not an enabled site of your store. Use your browser's Back button to choose again."
                ),
            };
            return pages::problem(StatusCode::UNPROCESSABLE_ENTITY, "Your sites were not saved", &message);
        }
        Err(e) => return unavailable(&e),
    }
    let warnings = match storelink_tenants::checks::list(pool, merchant).await {
        Ok(checks) => checks.into_iter().filter(|(c, _)| !c.ok).map(|(c, _)| c.warning_code()).collect::<Vec<_>>(),
        Err(e) => return unavailable(&e),
    };
    tracing::info!(%merchant, sites = chosen.len(), "site selection saved");
    match return_url(&link, &merchant.to_string(), &warnings) {
        Some(url) => HttpResponse::SeeOther().insert_header(("Location", url.as_str())).finish(),
        None => pages::problem(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again."),
    }
}

/// Queue a full run of every sync kind for the merchant (its site selection changed).
async fn resync(pool: &sqlx::PgPool, merchant: storelink_core::MerchantId) -> Result<(), storelink_jobs::JobError> {
    let mut tx = pool.begin().await?;
    for kind in storelink_core::SyncKind::ALL {
        storelink_jobs::Queue::enqueue_in(&mut tx, merchant, kind.as_str(), storelink_jobs::Mode::Full).await?;
    }
    tx.commit().await?;
    tracing::info!(%merchant, "site selection changed; full sync queued");
    Ok(())
}

struct Limited(Duration);

enum Failure {
    Limited(Limited),
    Connect(ConnectError),
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        Failure::Connect(e)
    }
}

impl From<Limited> for Failure {
    fn from(l: Limited) -> Self {
        Failure::Limited(l)
    }
}

impl From<storelink_netguard::UrlError> for Failure {
    fn from(e: storelink_netguard::UrlError) -> Self {
        Failure::Connect(e.into())
    }
}

fn too_many(wait: Duration) -> HttpResponse {
    let seconds = wait.as_secs().max(1);
    let mut response = pages::problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("There were too many connection attempts. Wait {seconds} seconds, then try again."),
    );
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
    }
    response
}

/// The client address the web server resolved (`STORELINK_TRUSTED_PROXIES`), else the TCP peer.
fn client_address(req: &HttpRequest) -> String {
    ClientIp::describe(req.extensions().get::<ClientIp>(), req.peer_addr())
}

const START_AGAIN: &str = "Go back to the partner's site and start the connection again.";

fn invalid_link(message: &str) -> HttpResponse {
    pages::problem(StatusCode::BAD_REQUEST, "This connection link is not valid", message)
}

/// Checks the partner and redirect URI before anything else happens: a redirect URI that is not
/// on the partner's list gets an error page and never a redirect.
async fn check_link(
    ob: &Onboarding,
    partner_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
) -> Result<Link, HttpResponse> {
    let Some(partner_id) = partner_id.and_then(|p| p.trim().parse::<PartnerId>().ok()) else {
        return Err(invalid_link(&format!("It does not name a known partner. {START_AGAIN}")));
    };
    let partner = match partners::get(&ob.pipeline.pool, partner_id).await {
        Ok(Some(partner)) => partner,
        Ok(None) => return Err(invalid_link(&format!("It does not name a known partner. {START_AGAIN}"))),
        Err(e) => {
            tracing::error!(error = %e, "loading partner failed");
            return Err(pages::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "We could not load this page.",
            ));
        }
    };
    let redirect_uri = redirect_uri.unwrap_or_default();
    match partners::redirect_allowed(&ob.pipeline.pool, partner_id, &redirect_uri).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(invalid_link(&format!(
                "Its return address is not registered for {}. {START_AGAIN}",
                partner.name
            )));
        }
        Err(e) => {
            tracing::error!(error = %e, "checking redirect URI failed");
            return Err(pages::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "We could not load this page.",
            ));
        }
    }
    let state = state.unwrap_or_default();
    if state.len() > MAX_STATE_LEN {
        return Err(invalid_link(&format!("Its state parameter is too long. {START_AGAIN}")));
    }
    Ok(Link { partner, redirect_uri, state })
}

/// The form for `connector`'s platform, blank or re-rendered after a refusal: the Store URL and
/// fields that are not secret are kept, a secret is never echoed.
fn render_form(
    link: &Link,
    connector: &dyn Connector,
    store_url: &str,
    token: &str,
    values: &HashMap<String, String>,
    error: Option<ConnectError>,
) -> HttpResponse {
    let status = match &error {
        None => StatusCode::OK,
        Some(ConnectError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let field = error.as_ref().map(ConnectError::field);
    let message = error.map(|e| e.to_string());
    let for_field = |f: Field| if field == Some(f) { message.clone() } else { None };
    let form = connector.form();
    let value = |name: &str| values.get(name).map(String::as_str);
    // Refused credentials are shown on the secret field the merchant filled in.
    let secret = form.iter().find(|f| f.secret && f.asked(form, &value)).map(|f| f.name);
    let fields = form
        .iter()
        .map(|f| {
            let chosen = value(f.name).filter(|v| !v.is_empty()).or(f.choices.first().map(|c| c.0));
            let refused = if Some(f.name) == secret { for_field(Field::Secret) } else { None };
            FieldView {
                name: f.name,
                label: f.label,
                help: f.help,
                secret: f.secret,
                choices: f.choices.iter().map(|&(v, label)| (v, label, Some(v) == chosen)).collect(),
                when_class: f.when.map(|(choice, v)| format!("when-{choice}-{v}")).unwrap_or_default(),
                value: if f.secret { String::new() } else { value(f.name).unwrap_or_default().to_owned() },
                error: for_field(Field::Credential(f.name)).or(refused),
            }
        })
        .collect();
    let words = Platform::of(connector.platform());
    let setup_files = connector
        .setup_files()
        .iter()
        .map(|f| SetupLink { name: f.name, url: format!("/connect/{}/{}", connector.platform(), f.name), how: f.how })
        .collect();
    let page = ConnectPage {
        partner_name: &link.partner.name,
        partner_id: &link.partner.partner_id.to_string(),
        redirect_uri: &link.redirect_uri,
        state: &link.state,
        store_url,
        csrf_token: token,
        platform: connector.platform(),
        platform_name: connector.display_name(),
        store_url_label: words.store_url_label(),
        store_url_hint: words.store_url_hint(),
        setup_files,
        fields,
        store_error: for_field(Field::StoreUrl),
        form_error: for_field(Field::Form),
    };
    pages::html(status, &page)
}

/// Under https the cookie is `__Host-` prefixed: browsers then refuse it from any other host (no
/// `Domain`), so a sibling subdomain cannot plant one.
fn csrf_cookie(csrf: &Csrf, value: String) -> Cookie<'static> {
    Cookie::build(csrf.cookie_name(), value)
        .path(if csrf.secure_cookie { "/" } else { "/connect" })
        .http_only(true)
        .secure(csrf.secure_cookie)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::hours(2))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use storelink_registrar::{SlotOutcome, SlotStatus};

    #[test]
    fn a_manual_slot_shows_the_values_to_enter_and_its_password() {
        let outcome = SlotOutcome {
            slot: storelink_core::Slot::OrderSubmit,
            status: SlotStatus::Manual,
            error: Some("enter it by hand. Destination id: storelink-m-order-submit; username: storelink-u".into()),
            secret: Some(("password".into(), secrecy::SecretString::from("s3cret-generated".to_owned()))),
        };
        let line = slot_line(&outcome);
        assert!(!line.ok);
        assert!(line.detail.contains("storelink-m-order-submit") && line.detail.contains("password: s3cret-generated"));
        assert!(!format!("{outcome:?}").contains("s3cret"), "never in Debug output");
    }
}
