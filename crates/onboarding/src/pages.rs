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
    pub store_error: Option<String>,
    pub key_error: Option<String>,
    pub form_error: Option<String>,
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
