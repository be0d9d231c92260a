//! Function webhooks in the simulator (`/ccadmin/v1/functionWebhooks/{id}`): one `url` each (OCC's
//! function webhooks call exactly one URL), secrets only with `includeSecretKeys=true`. Stricter
//! reading: a PUT replaces the whole document (fields left out return to their empty values), and
//! `urls` (an event webhook's list) is refused.

use std::collections::HashMap;

use actix_web::HttpResponse;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::routes::error;
use crate::state::{State, Webhook};

/// The function webhooks the simulator serves [A: the id follows the event webhooks'
/// `production-<name>` pattern].
pub(crate) const FUNCTION_WEBHOOK_IDS: [&str; 1] = ["production-returnRequestValidation"];

pub(crate) fn blank(id: &str) -> Value {
    let name = id.strip_prefix("production-").unwrap_or(id);
    json!({"id": id, "name": name, "serverType": "production", "url": null, "headers": {},
           "basicAuthentication": null})
}

pub(crate) fn get(state: &State, q: &HashMap<String, String>, id: &str) -> HttpResponse {
    let secrets = q.get("includeSecretKeys").is_some_and(|v| v == "true");
    match state.lock().function_webhooks.iter().find(|(w, _)| w == id) {
        Some((_, w)) => HttpResponse::Ok().json(w.view(secrets)),
        None => error(404, "20011", &format!("Function webhook {id} not found")),
    }
}

pub(crate) fn put(body: &Bytes, state: &State, id: &str) -> HttpResponse {
    let Ok(Value::Object(sent)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "200104", "The body must be a JSON object");
    };
    if sent.contains_key("urls") {
        return error(400, "200105", "A function webhook takes one url, not urls");
    }
    if sent.get("url").is_some_and(|u| !u.is_string() && !u.is_null()) {
        return error(400, "200105", "url must be a string");
    }
    let mut inner = state.lock();
    let Some((_, webhook)) = inner.function_webhooks.iter_mut().find(|(w, _)| w == id) else {
        return error(404, "20011", &format!("Function webhook {id} not found"));
    };
    let mut doc = blank(id);
    for (key, value) in sent {
        if !matches!(key.as_str(), "id" | "name" | "serverType" | "secretKey" | "secretKeySHA512") {
            doc[key.as_str()] = value;
        }
    }
    webhook.doc = doc;
    HttpResponse::Ok().json(webhook.view(false))
}

impl Webhook {
    pub(crate) fn function(doc: Value, secret: String, secret512: String) -> Self {
        Self { doc, secret, secret512 }
    }
}
