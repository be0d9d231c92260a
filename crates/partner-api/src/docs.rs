//! The OpenAPI 3.1 document (utoipa, from the handlers' annotations) at `/v1/openapi.json`, and a
//! browsable, server-rendered reference of it at `/v1/docs` (askama, no JavaScript, no CDN).

use actix_web::HttpResponse;
use askama::Template;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::{catalog, orders, routes, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(title = "Storelink Partner API", version = "1",
         description = "Each connected merchant's catalog, inventory, shipping methods, orders, shipments and returns; \
                        orders into the merchant's store; signed webhooks. Authenticate with `POST /v1/oauth/token` \
                        (client credentials) and send `Authorization: Bearer <token>`. Lists page with opaque \
                        `cursor`s (`limit` up to 250) and filter with `updated_since`. Errors are RFC 9457 \
                        problem+json with a stable `code`."),
    paths(
        routes::token,
        openapi_json,
        docs_page,
        catalog::list_merchants,
        catalog::get_merchant,
        catalog::list_products,
        catalog::list_skus,
        catalog::list_inventory,
        catalog::list_shipping_methods,
        catalog::list_orders,
        catalog::list_shipments,
        catalog::list_returns,
        orders::place_order,
        orders::cancel_order,
        webhooks::event_types,
        webhooks::list_endpoints,
        webhooks::create_endpoint,
        webhooks::get_endpoint,
        webhooks::update_endpoint,
        webhooks::delete_endpoint,
        webhooks::rotate_secret,
        webhooks::list_deliveries,
        webhooks::replay_delivery,
    ),
    components(schemas(crate::Problem)),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "merchants"), (name = "catalog"), (name = "orders"), (name = "webhooks"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "auth", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

struct Operation {
    method: String,
    path: String,
    anchor: String,
    summary: String,
    description: String,
    params: Vec<(String, String, bool)>,
    responses: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    title: String,
    description: String,
    operations: Vec<Operation>,
}

/// This reference as a page.
#[utoipa::path(get, path = "/v1/docs", tag = "auth", responses((status = 200, description = "HTML")))]
pub(crate) async fn docs_page() -> HttpResponse {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let name = format!("{} ({})", p["name"].as_str().unwrap_or(""), p["in"].as_str().unwrap_or(""));
                    (name, p["description"].as_str().unwrap_or("").to_owned(), p["required"] == true)
                })
                .collect();
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| (status.clone(), r["description"].as_str().unwrap_or("").to_owned()))
                .collect();
            operations.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
                summary: op["summary"].as_str().unwrap_or("").to_owned(),
                description: op["description"].as_str().unwrap_or("").to_owned(),
                params,
                responses,
            });
        }
    }
    let page = DocsPage {
        title: doc["info"]["title"].as_str().unwrap_or("API").to_owned(),
        description: doc["info"]["description"].as_str().unwrap_or("").to_owned(),
        operations,
    };
    match page.render() {
        Ok(body) => HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering the API docs");
            HttpResponse::InternalServerError().finish()
        }
    }
}
