//! The onboarding pages (askama templates in the workspace's `templates/`, auto-escaped).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

#[derive(Template)]
#[template(path = "connect.html")]
pub struct ConnectPage<'a> {
    pub partner_name: &'a str,
    pub partner_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub store_url: &'a str,
    pub csrf_token: &'a str,
    /// The platform the form connects (`merchants.platform`) and its name for merchants.
    pub platform: &'a str,
    pub platform_name: &'a str,
    /// The store URL field's label and hint, in the platform's words.
    pub store_url_label: &'a str,
    pub store_url_hint: &'a str,
    /// Files to import into the store first (`Connector::setup_files`), with where they are served.
    pub setup_files: Vec<SetupLink>,
    /// The connector's credential fields (`Connector::form`), each with its error, if any.
    pub fields: Vec<FieldView>,
    pub store_error: Option<String>,
    pub form_error: Option<String>,
}

impl ConnectPage<'_> {
    /// Whether a credential field has an error (the summary at the top lists it).
    pub fn field_error(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }
}

/// A setup file's link on the form and what to do with it.
pub struct SetupLink {
    pub name: &'static str,
    pub url: String,
    pub how: &'static str,
}

/// One credential field of the form, as the connector describes it. Secrets are never echoed.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub secret: bool,
    /// Radio buttons `(value, label, checked)`; empty: a text input.
    pub choices: Vec<(&'static str, &'static str, bool)>,
    /// A class naming the choice this field belongs to (`when-<field>-<value>`; the stylesheet hides
    /// it while another value is checked), or empty.
    pub when_class: String,
    /// What the merchant typed, shown again after a refusal; always empty for a secret.
    pub value: String,
    pub error: Option<String>,
}

/// The platform choice, when neither the partner's link nor the form names one. Sent to
/// `POST /connect` with `choose`, which answers the chosen platform's form.
#[derive(Template)]
#[template(path = "connect_choose.html")]
pub struct ChoosePage<'a> {
    pub partner_name: &'a str,
    pub partner_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub csrf_token: &'a str,
    /// `(platform, name for merchants)`.
    pub platforms: Vec<(&'static str, &'static str)>,
    pub error: Option<&'a str>,
}

/// The page after a successful connect: what Storelink found, the store's sites to choose from, and
/// the way back to the partner (automatic after `auto_seconds`). Holds no secret.
#[derive(Template)]
#[template(path = "connect_summary.html")]
pub struct SummaryPage<'a> {
    pub partner_name: &'a str,
    pub platform_name: &'a str,
    pub store_host: &'a str,
    pub checks: Vec<Line>,
    pub slots: Vec<Line>,
    pub sites: Vec<storelink_tenants::sites::MerchantSite>,
    pub sites_error: Option<String>,
    /// The partner's redirect with `merchant_id`, `state` and `warnings`.
    pub continue_url: &'a str,
    pub auto_seconds: u32,
    /// The site form: the merchant, its CSRF token (bound to the merchant) and the partner link.
    pub merchant_id: &'a str,
    pub sites_token: &'a str,
    pub partner_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
}

/// One line of the summary: a stable id for the element, what it is, and what was found.
pub struct Line {
    pub id: String,
    pub label: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "problem.html")]
pub struct ProblemPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub status: u16,
}

/// Renders a page; a template error is logged and answered with a plain 500.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError().body("internal error")
        }
    }
}

pub fn problem(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    html(status, &ProblemPage { title, message, status: status.as_u16() })
}
