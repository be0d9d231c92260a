//! The Webhook Configuration Service's rules (what a consumed destination and a webhook
//! configuration must name) and the deliveries: a POST of the changed item to each matching
//! configuration's destination URL, with the destination's Basic credential and CloudEvents headers.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::odata;
use crate::schema;
use crate::state::{Delivery, Inner, State};
use crate::store::Change;

pub const WEBHOOK_SERVICE: &str = "WebhookService";
/// The destination target a webhook's consumed destination must belong to.
pub const WEBHOOK_TARGET: &str = "webhookServices";
pub const EVENT_PREFIX: &str = "de.hybris.platform.webhookservices.event.";
/// `ItemSavedEvent` (created or updated) is the default when a configuration names none.
pub const EVENT_TYPES: [&str; 4] = ["ItemSavedEvent", "ItemCreatedEvent", "ItemUpdatedEvent", "ItemDeletedEvent"];

fn event_matches(event_type: &str, change: Change) -> bool {
    match event_type.strip_prefix(EVENT_PREFIX).unwrap_or(event_type) {
        "ItemSavedEvent" => matches!(change, Change::Created | Change::Updated),
        "ItemCreatedEvent" => change == Change::Created,
        "ItemUpdatedEvent" => change == Change::Updated,
        "ItemDeletedEvent" => change == Change::Deleted,
        _ => false,
    }
}

/// Checks a POSTed consumed destination (nested form); the message of the 400 otherwise.
pub(crate) fn check_destination(item: &Value) -> Result<(), String> {
    let id = item["id"].as_str().unwrap_or_default();
    if id.is_empty() {
        return Err("Property 'id' is required for ConsumedDestination".into());
    }
    if item["destinationTarget"]["id"] != WEBHOOK_TARGET {
        return Err(format!("A webhook destination must belong to the destination target '{WEBHOOK_TARGET}'"));
    }
    let url = item["url"].as_str().unwrap_or_default();
    if url::Url::parse(url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
        return Err(format!("'{url}' is not a valid destination URL"));
    }
    Ok(())
}

/// Checks and completes a POSTed webhook configuration: a known event type (default
/// `ItemSavedEvent`), an existing integration object other than the service itself, an existing
/// destination.
pub(crate) fn check_webhook(state: &State, inner: &Inner, item: &mut Value) -> Result<(), String> {
    let event = item["eventType"].as_str().unwrap_or_default().to_owned();
    let event = if event.is_empty() { format!("{EVENT_PREFIX}ItemSavedEvent") } else { event };
    if !EVENT_TYPES.iter().any(|t| event == format!("{EVENT_PREFIX}{t}")) {
        return Err(format!("Event type '{event}' is not supported"));
    }
    item["eventType"] = Value::from(event);
    let io = item["integrationObject"]["code"].as_str().unwrap_or_default();
    if io == WEBHOOK_SERVICE || state.object(io).is_none() {
        return Err(format!("Integration object '{io}' does not exist"));
    }
    let service = state.object(WEBHOOK_SERVICE).ok_or("no WebhookService")?;
    let destination_item = service.item("ConsumedDestination").ok_or("no ConsumedDestination")?;
    let wanted = schema::integration_key(service, destination_item, &item["destination"]);
    let found = inner.destinations.iter().find(|d| schema::integration_key(service, destination_item, d) == wanted);
    match found {
        Some(destination) => {
            item["destination"] = destination.clone();
            Ok(())
        }
        None => Err(format!("ConsumedDestination '{wanted}' does not exist")),
    }
}

/// Calls every webhook configured for `io` and this change with the item's payload, now, once per
/// configuration (no retries: a failed delivery is only recorded, as in outbound monitoring).
pub(crate) async fn deliver(state: &Arc<State>, io: &str, change: Change, entity: &Value) -> Vec<Delivery> {
    let Some(object) = state.object(io) else { return Vec::new() };
    let Some(root) = object.root() else { return Vec::new() };
    let body = odata::payload(object, root, entity);
    let key = schema::integration_key(object, root, entity);
    let (targets, source, allow_remote) = {
        let inner = state.lock();
        let service = state.object(WEBHOOK_SERVICE);
        let webhook_item = service.and_then(|s| s.item("WebhookConfiguration"));
        let targets: Vec<(String, Value)> = inner
            .webhooks
            .iter()
            .filter(|w| w["integrationObject"]["code"] == io)
            .filter(|w| event_matches(w["eventType"].as_str().unwrap_or_default(), change))
            .map(|w| {
                let webhook_key = match (service, webhook_item) {
                    (Some(s), Some(i)) => schema::integration_key(s, i, w),
                    _ => String::new(),
                };
                // The destination as stored now (its URL and credential may have changed since).
                let id = &w["destination"]["id"];
                let destination = inner.destinations.iter().find(|d| &d["id"] == id).cloned().unwrap_or(Value::Null);
                (webhook_key, destination)
            })
            .collect();
        (targets, format!("/{}/sap.cx.commerce/{}", inner.region, inner.instance_id), inner.allow_remote_destinations)
    };
    let event_type = format!("sap.cx.commerce.{io}.{}.v1", change.as_str());
    let mut results = Vec::new();
    for (webhook, destination) in targets {
        let url = destination["url"].as_str().unwrap_or_default().to_owned();
        let result = if destination.is_null() || destination["active"] == false {
            Err("destination missing or inactive".to_owned())
        } else if !allow_remote && !is_loopback(&url) {
            Err("refused: the simulator delivers to loopback only".to_owned())
        } else {
            let mut request = state
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header("ce-specversion", "1.0")
                .header("ce-id", uuid::Uuid::new_v4().to_string())
                .header("ce-type", &event_type)
                .header("ce-source", &source)
                .header("ce-subject", &key)
                .header("ce-time", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .json(&body);
            let basic = &destination["credentialBasic"];
            let oauth = &destination["credentialConsumedOAuth"];
            let mut refused = None;
            if basic.is_object() {
                let pair = format!(
                    "{}:{}",
                    basic["username"].as_str().unwrap_or_default(),
                    basic["password"].as_str().unwrap_or_default()
                );
                request = request.header("authorization", format!("Basic {}", STANDARD.encode(pair)));
            } else if oauth.is_object() {
                match destination_token(state, oauth, allow_remote).await {
                    Ok(token) => request = request.bearer_auth(token),
                    Err(e) => refused = Some(e),
                }
            }
            match refused {
                Some(e) => Err(e),
                None => request.send().await.map(|r| r.status().as_u16()).map_err(|e| e.without_url().to_string()),
            }
        };
        results.push(Delivery {
            webhook,
            url,
            integration_object: io.to_owned(),
            change,
            integration_key: key.clone(),
            event_type: event_type.clone(),
            body: body.clone(),
            result,
        });
    }
    state.lock().deliveries.extend(results.iter().cloned());
    results
}

/// A token for an OAuth-protected destination: client credentials at the credential's `oAuthUrl`.
async fn destination_token(state: &State, credential: &Value, allow_remote: bool) -> Result<String, String> {
    let url = credential["oAuthUrl"].as_str().unwrap_or_default();
    if !allow_remote && !is_loopback(url) {
        return Err("refused: the simulator fetches tokens from loopback only".to_owned());
    }
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", credential["clientId"].as_str().unwrap_or_default()),
        ("client_secret", credential["clientSecret"].as_str().unwrap_or_default()),
    ];
    let response = state.http.post(url).form(&form).send().await.map_err(|e| e.without_url().to_string())?;
    if !response.status().is_success() {
        return Err(format!("token endpoint answered HTTP {}", response.status().as_u16()));
    }
    let body: Value = response.json().await.map_err(|e| e.without_url().to_string())?;
    body["access_token"].as_str().map(str::to_owned).ok_or_else(|| "no access_token in the token answer".to_owned())
}

fn is_loopback(url: &str) -> bool {
    url::Url::parse(url).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    })
}
