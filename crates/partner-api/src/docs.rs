//! The OpenAPI 3.1 document (utoipa, from the handlers' annotations and the model's types) at
//! `/v1/openapi.json`, with a top-level `webhooks` section typing each partner event, and a
//! browsable, server-rendered reference of it at `/v1/docs` (askama, no JavaScript, no CDN).

use actix_web::HttpResponse;
use askama::Template;
use serde_json::{Value, json};
use storelink_model::events::{self, EVENT_TYPES};
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::{catalog, fulfilment, orders, returns, routes, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(title = "Storelink Partner API", version = "1",
         description = "Each connected merchant's catalog, inventory, shipping methods, orders, shipments and returns; \
                        orders into the merchant's store; signed webhooks. Authenticate with `POST /v1/oauth/token` \
                        (client credentials) and send `Authorization: Bearer <token>`. Lists page with opaque \
                        `cursor`s (`limit` up to 250) and filter with `updated_since`. Errors are RFC 9457 \
                        problem+json with a stable `code`. Reads may be served by a read replica a few seconds \
                        behind (`Storelink-Read-Source: replica`); every write answers `Storelink-Read-After`: \
                        send it back on later reads to be sure to see that write from any server."),
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
        catalog::get_order,
        catalog::list_shipments,
        catalog::list_returns,
        orders::place_order,
        orders::cancel_order,
        fulfilment::set_status,
        fulfilment::add_shipment,
        returns::create_return,
        returns::update_return,
        returns::get_merchant_policy,
        returns::set_merchant_policy,
        returns::get_partner_policy,
        returns::set_partner_policy,
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
    components(schemas(crate::Problem, events::MerchantConnected, events::MerchantDisconnected,
        events::ProductChanged, events::InventoryChanged, events::OrderChanged, events::ShipmentChanged,
        events::ReturnChanged, events::SyncCompleted)),
    modifiers(&BearerAuth, &NullNotMissing, &Webhooks),
    tags((name = "auth"), (name = "merchants"), (name = "catalog"), (name = "orders"), (name = "fulfilment"), (name = "returns"), (name = "webhooks"))
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

/// The model's rule: a field a platform lacks is `null`, never missing. Every property of every
/// response schema is therefore required (an `Option` field is nullable, not optional). Request
/// bodies keep their optional fields.
struct NullNotMissing;

/// Schemas partners send, whose optional fields may be left out.
const REQUEST_SCHEMAS: [&str; 8] = [
    "NewOrder",
    "OrderItem",
    "NewEndpoint",
    "EndpointPatch",
    "ReturnPolicyBody",
    "NewReturnBody",
    "ReturnPatch",
    "ReturnLineBody",
];

fn require_all(schema: &mut RefOr<Schema>) {
    match schema {
        RefOr::T(Schema::Object(object)) => {
            object.required = object.properties.keys().cloned().collect();
            for property in object.properties.values_mut() {
                require_all(property);
            }
        }
        RefOr::T(Schema::Array(array)) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut array.items {
                require_all(items);
            }
        }
        _ => {}
    }
}

impl utoipa::Modify for NullNotMissing {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            for (name, schema) in components.schemas.iter_mut() {
                if !REQUEST_SCHEMAS.contains(&name.as_str()) {
                    require_all(schema);
                }
            }
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        for content in response.content.values_mut() {
                            content.schema.iter_mut().for_each(require_all);
                        }
                    }
                }
            }
        }
    }
}

/// The top-level `webhooks` section (OpenAPI 3.1): each event type is a `POST` to the partner's
/// endpoint whose body is the delivery envelope with that type's `data` schema. utoipa has no
/// `webhooks` field, so it is added beside the document's extensions.
struct Webhooks;

/// The delivery envelope of one event type (as partner-webhooks sends it).
fn envelope(event_type: &str, data: &str) -> Value {
    json!({
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "const": event_type},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"$ref": format!("#/components/schemas/{data}")}
        }
    })
}

pub(crate) fn webhooks() -> Value {
    let items = EVENT_TYPES.iter().map(|(event_type, data)| {
        let operation = json!({
            "post": {
                "operationId": format!("on_{}", event_type.replace('.', "_")),
                "summary": format!("`{event_type}` delivered to your endpoint"),
                "description": "Signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). \
                                Answer 2xx to acknowledge; anything else is retried.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": envelope(event_type, data)}}},
                "responses": {"2XX": {"description": "Delivered"}}
            }
        });
        ((*event_type).to_owned(), operation)
    });
    Value::Object(items.collect())
}

impl utoipa::Modify for Webhooks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let extensions = Extensions::from_iter([("webhooks", webhooks())]);
        openapi.extensions.get_or_insert_with(Extensions::default).merge(extensions);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
    }

    #[test]
    fn every_event_type_has_a_typed_webhook() {
        let doc = document();
        let webhooks = doc["webhooks"].as_object().expect("a top-level webhooks section");
        let mut documented: Vec<&str> = webhooks.keys().map(String::as_str).collect();
        let mut subscribable = storelink_partner_webhooks::EVENT_TYPES.to_vec();
        documented.sort();
        subscribable.sort();
        assert_eq!(documented, subscribable);
        for (event_type, data) in EVENT_TYPES {
            let body = &webhooks[event_type]["post"]["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(body["properties"]["type"]["const"], event_type);
            assert!(doc["components"]["schemas"][data]["properties"].is_object(), "{data} is a schema");
        }
    }

    #[test]
    fn resources_are_typed_and_nullable_fields_are_required() {
        let doc = document();
        let text = doc.to_string();
        assert!(!text.contains("RowPage"));
        let order = &doc["components"]["schemas"]["Order"];
        assert_eq!(order["properties"]["lines"]["items"]["$ref"], "#/components/schemas/OrderLine");
        let required: Vec<&str> =
            order["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
        assert!(required.contains(&"site_id") && required.contains(&"billing_address"), "null, never missing");
        assert!(doc["components"]["schemas"]["OrderStatus"]["enum"].is_array());
        let patch = &doc["components"]["schemas"]["EndpointPatch"];
        assert!(patch["required"].as_array().is_none_or(Vec::is_empty), "requests keep their optional fields");
        let page = &doc["paths"]["/v1/merchants/{merchant_id}/orders"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert_eq!(page["$ref"], "#/components/schemas/OrderPage");
        assert_eq!(doc["components"]["schemas"]["OrderPage"]["required"], json!(["items", "next_cursor"]));
    }
}
