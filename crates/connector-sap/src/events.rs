//! Webhook registration through SAP's Webhook Configuration Service and inbound deliveries
//! (docs/sap.md, "Webhooks" and "For the connector > Webhook registration").
//!
//! A slot's "subscription" is the set of Storelink's consumed destinations for it (id
//! `storelink-<merchant>-<slot>`, one per Storelink merchant on the store) with their webhook
//! configuration; the merchant's other destinations and configurations are never read into it, so
//! they are never written or deleted. Storelink generates each destination's Basic credential: a read
//! with secrets mints a new one (SAP never reads a password back), and as no destination holds it
//! yet, the registrar writes it (both POSTs are upserts, so a retry is safe). Without
//! `integrationadmingroup` the store answers 403 and `manual_setup` gives the values to enter in
//! Backoffice. Deliveries are authenticated by that credential (there is no payload signature);
//! `ce-id` names them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use reqwest::Method;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use storelink_connector::{ConnectorError, Delivery, Headers, ManualSetup, Session, Subscription, VerifyError};
use storelink_core::Slot;
use subtle::ConstantTimeEq;
use url::Url;

use crate::client::{Body, Call, DOCUMENT_LIMIT, PAGE_LIMIT, SapClient};
use crate::credentials::Objects;
use crate::sync::{entity, service_url};

/// The service, an OData service under `/odata2webservices` like the integration objects.
const SERVICE: &str = "WebhookService";
/// The destination target every webhook destination belongs to [seed: Webhooks].
const TARGET: &str = "webhookServices";
const EVENT_PREFIX: &str = "de.hybris.platform.webhookservices.event.";
/// Every destination Storelink creates has an id starting so; nothing else is ever touched.
const PREFIX: &str = "storelink-";
/// A generated password has this many random bytes (43 characters); a shorter sealed one is unusable.
const PASSWORD_BYTES: usize = 32;
const MIN_PASSWORD: usize = 32;

/// The Basic credential Storelink generates for a slot's destination, sealed as the slot's secrets.
#[derive(Serialize, Deserialize)]
struct Credential {
    username: String,
    password: String,
}

impl Credential {
    fn generate() -> Self {
        let mut bytes = [0u8; PASSWORD_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        let mut name = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut name);
        Self {
            username: format!("storelink-{}", URL_SAFE_NO_PAD.encode(name).to_lowercase()),
            password: URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    fn open(secrets: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(secrets)
            .ok()
            .filter(|c| !c.username.is_empty() && c.password.len() >= MIN_PASSWORD)
    }
}

/// The integration object and event type a slot's webhook configuration names, or why SAP cannot
/// carry the slot's events; `order` is the merchant's order object (the session's).
fn slot_event(slot: Slot, order: &str) -> Result<(String, &'static str), ConnectorError> {
    let order = order.to_owned();
    match slot {
        Slot::OrderSubmit => Ok((order, "ItemCreatedEvent")),
        Slot::OrderUpdate => Ok((order, "ItemUpdatedEvent")),
        Slot::ShipmentCreate | Slot::ShipmentUpdate => Err(ConnectorError::Unsupported(
            "shipment events (Storelink's SAP integration objects carry no consignments; an order's delivery \
             status arrives with its order-update)",
        )),
        Slot::ReturnRequestUpdate => {
            Err(ConnectorError::Unsupported("return request events (Storelink's SAP integration objects map none)"))
        }
    }
}

pub fn subscription_id(slot: Slot) -> String {
    match slot_event(slot, &Objects::default().order) {
        Ok((object, event)) => format!("{object}/{event}"),
        Err(_) => format!("{PREFIX}{slot}"),
    }
}

/// The destination id for one of our callback URLs (`.../webhooks/sap/<merchant>/<slot>`).
fn destination_id(url: &str) -> String {
    let parsed = Url::parse(url).ok();
    let segments: Vec<&str> =
        parsed.as_ref().and_then(|u| u.path_segments()).map(Iterator::collect).unwrap_or_default();
    match segments.as_slice() {
        [.., merchant, slot] => format!("{PREFIX}{merchant}-{slot}"),
        _ => format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(url.as_bytes())),
    }
}

/// One of Storelink's destinations for a slot, as listed.
#[derive(Serialize, Deserialize)]
struct Ours {
    id: String,
    key: String,
    url: String,
}

/// What `read_subscription` hands `write_back`: our destinations as listed, and the credential minted
/// for the destinations to write (a read with secrets only).
#[derive(Serialize, Deserialize, Default)]
struct Read {
    ours: Vec<Ours>,
    credential: Option<Credential>,
}

async fn list(
    client: &SapClient,
    session: &Session,
    path: &str,
    filter: Option<&str>,
) -> Result<Vec<Value>, ConnectorError> {
    let mut query = vec![("$top", "1000")];
    if let Some(filter) = filter {
        query.push(("$filter", filter));
    }
    let url = service_url(&session.store, SERVICE, path, &query)?;
    let reply = client.send(Call::get(url, &crate::bound::open(session).authorization, PAGE_LIMIT)).await?;
    let mut value = reply.json(path)?;
    match value.pointer_mut("/d/results").map(Value::take) {
        Some(Value::Array(results)) => Ok(results),
        _ => Ok(Vec::new()),
    }
}

/// Storelink's destinations for `slot` (at most 1,000 destinations are read [A]).
async fn our_destinations(client: &SapClient, session: &Session, slot: Slot) -> Result<Vec<Ours>, ConnectorError> {
    let suffix = format!("-{slot}");
    let listed = list(client, session, "ConsumedDestinations", None).await?;
    Ok(listed
        .iter()
        .filter_map(|d| {
            let id = d["id"].as_str()?;
            (id.starts_with(PREFIX) && id.ends_with(&suffix)).then(|| Ours {
                id: id.to_owned(),
                key: d["integrationKey"].as_str().map_or_else(|| format!("{id}|{TARGET}"), str::to_owned),
                url: d["url"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

pub async fn read_subscription(
    client: &SapClient,
    session: &Session,
    slot: Slot,
    with_secrets: bool,
) -> Result<Subscription, ConnectorError> {
    slot_event(slot, "")?;
    let id = subscription_id(slot);
    if with_secrets {
        // A new credential, which no destination holds yet: nothing to read.
        let credential = Credential::generate();
        let secrets = serde_json::to_vec(&credential).ok();
        let rest = serde_json::to_value(Read { ours: Vec::new(), credential: Some(credential) }).unwrap_or_default();
        return Ok(Subscription { id, urls: Vec::new(), secrets, rest });
    }
    let ours = our_destinations(client, session, slot).await?;
    let urls = ours.iter().map(|o| o.url.clone()).collect();
    let rest = serde_json::to_value(Read { ours, credential: None }).unwrap_or_default();
    Ok(Subscription { id, urls, secrets: None, rest })
}

pub async fn write_subscription(
    client: &SapClient,
    session: &Session,
    slot: Slot,
    urls: &[String],
) -> Result<(), ConnectorError> {
    let read = read_subscription(client, session, slot, false).await?;
    write_back(client, session, slot, &read, urls).await
}

/// Make Storelink's destinations for `slot` the ones `urls` name: ours that are no longer named are
/// deleted with their webhook configurations; new ones are created (upserted) with the credential
/// the read minted, with their webhook configuration.
pub async fn write_back(
    client: &SapClient,
    session: &Session,
    slot: Slot,
    read: &Subscription,
    urls: &[String],
) -> Result<(), ConnectorError> {
    let (object, event) = slot_event(slot, &crate::bound::open(session).objects.order)?;
    let state: Read = serde_json::from_value(read.rest.clone()).unwrap_or_default();
    for gone in state.ours.iter().filter(|o| !urls.contains(&o.url)) {
        remove(client, session, gone).await?;
    }
    for url in urls.iter().filter(|u| !read.urls.contains(u)) {
        let credential = state.credential.as_ref().ok_or_else(|| ConnectorError::Refused {
            message: "a new SAP webhook destination needs the credential minted when reading it".into(),
        })?;
        add(client, session, &object, event, url, credential).await?;
    }
    Ok(())
}

async fn post(client: &SapClient, session: &Session, path: &str, body: Value) -> Result<(), ConnectorError> {
    let call = Call {
        method: Method::POST,
        url: service_url(&session.store, SERVICE, path, &[])?,
        authorization: Some(&crate::bound::open(session).authorization),
        body: Body::Json(body),
        // SAP's POST upserts by integrationKey.
        idempotent: true,
        limit: DOCUMENT_LIMIT,
    };
    client.send(call).await.map(drop)
}

async fn add(
    client: &SapClient,
    session: &Session,
    object: &str,
    event: &str,
    url: &str,
    credential: &Credential,
) -> Result<(), ConnectorError> {
    let id = destination_id(url);
    let destination = json!({
        "id": id,
        "url": url,
        "active": true,
        "destinationTarget": {"id": TARGET},
        "endpoint": {"id": id, "version": "unknown", "name": "Storelink", "specUrl": url},
        "credentialBasic": {"id": id, "username": credential.username, "password": credential.password},
    });
    post(client, session, "ConsumedDestinations", destination).await?;
    let webhook = json!({
        "eventType": format!("{EVENT_PREFIX}{event}"),
        "integrationObject": {"code": object},
        "destination": {"id": id, "destinationTarget": {"id": TARGET}},
    });
    post(client, session, "WebhookConfigurations", webhook).await
}

async fn delete(client: &SapClient, session: &Session, path: &str) -> Result<(), ConnectorError> {
    let call = Call {
        method: Method::DELETE,
        url: service_url(&session.store, SERVICE, path, &[])?,
        authorization: Some(&crate::bound::open(session).authorization),
        body: Body::Empty,
        idempotent: true,
        limit: DOCUMENT_LIMIT,
    };
    match client.send(call).await {
        Ok(_) | Err(ConnectorError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Our destination's webhook configurations, then the destination (SAP refuses to delete a
/// destination in use).
async fn remove(client: &SapClient, session: &Session, ours: &Ours) -> Result<(), ConnectorError> {
    let filter = format!("destination/id eq '{}'", ours.id.replace('\'', "''"));
    for webhook in list(client, session, "WebhookConfigurations", Some(&filter)).await? {
        if let Some(key) = webhook["integrationKey"].as_str() {
            delete(client, session, &entity("WebhookConfigurations", key)).await?;
        }
    }
    delete(client, session, &entity("ConsumedDestinations", &ours.key)).await
}

/// What the merchant enters in Backoffice for `slot` when Storelink may not register it: the
/// webhook names the merchant's own order object, as registration would have.
pub fn manual_setup(session: &Session, slot: Slot, url: &str, secrets: &[u8]) -> Option<ManualSetup> {
    let (object, event) = slot_event(slot, &crate::bound::open(session).objects.order).ok()?;
    let credential = Credential::open(secrets)?;
    let id = destination_id(url);
    let values = vec![
        ("Destination (System > API > Destinations) id".to_owned(), id.clone()),
        ("destination target".to_owned(), TARGET.to_owned()),
        ("URL".to_owned(), url.to_owned()),
        ("Basic credential id".to_owned(), id),
        ("username".to_owned(), credential.username.clone()),
        ("Webhook (Integration UI Tool > Webhooks) integration object".to_owned(), object),
        ("event type".to_owned(), format!("{EVENT_PREFIX}{event}")),
    ];
    Some(ManualSetup { values, secret: ("password".to_owned(), SecretString::from(credential.password)) })
}

/// `Authorization: Basic` against the credential sealed for the slot, in constant time.
pub fn verify_delivery(secrets: &[u8], headers: Headers<'_>, _body: &[u8]) -> Result<(), VerifyError> {
    let credential = Credential::open(secrets).ok_or(VerifyError::NoSecret)?;
    let header = headers("authorization").ok_or(VerifyError::Missing)?;
    let encoded =
        header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic ")).ok_or(VerifyError::Malformed)?;
    let given = STANDARD.decode(encoded.trim()).map_err(|_| VerifyError::Malformed)?;
    let expected = format!("{}:{}", credential.username, credential.password);
    if bool::from(given.ct_eq(expected.as_bytes())) { Ok(()) } else { Err(VerifyError::Mismatch) }
}

/// CloudEvents name an event by its source and id.
pub fn delivery_id(headers: Headers<'_>) -> Option<String> {
    let id = headers("ce-id").filter(|id| !id.is_empty())?;
    Some(format!("{} {id}", headers("ce-source").unwrap_or_default()))
}

/// A delivery to an order slot is the order converted through the order integration object.
pub fn delivery_records(slot: &str, body: &Value) -> Result<Delivery, String> {
    match slot.parse::<Slot>() {
        Ok(Slot::OrderSubmit | Slot::OrderUpdate) => {}
        _ => return Err(format!("SAP sends nothing to the slot {slot}")),
    }
    let order = crate::order_map::order(body)?;
    Ok(Delivery { orders: vec![order], returns: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_credential_authenticates_deliveries_and_nothing_else() {
        let credential = Credential::generate();
        let secrets = serde_json::to_vec(&credential).expect("secrets");
        let pair = |user: &str, password: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        let good = pair(&credential.username, &credential.password);
        let verify = |value: Option<&str>| {
            let header = |name: &str| if name == "authorization" { value } else { None };
            verify_delivery(&secrets, &header, b"{}")
        };
        assert_eq!(verify(Some(&good)), Ok(()));
        assert_eq!(verify(None), Err(VerifyError::Missing));
        assert_eq!(verify(Some("Bearer x")), Err(VerifyError::Malformed));
        assert_eq!(verify(Some("Basic !!")), Err(VerifyError::Malformed));
        assert_eq!(verify(Some(&pair(&credential.username, "wrong"))), Err(VerifyError::Mismatch));
        assert_eq!(verify(Some(&pair("other", &credential.password))), Err(VerifyError::Mismatch));
        let none = |_: &str| None;
        assert_eq!(verify_delivery(b"", &none, b"{}"), Err(VerifyError::NoSecret));
        assert_eq!(
            verify_delivery(br#"{"username":"u","password":"short"}"#, &none, b"{}"),
            Err(VerifyError::NoSecret)
        );
        assert!(Credential::generate().password != credential.password);
    }

    #[test]
    fn destinations_are_named_for_the_merchant_and_slot() {
        let url = "https://storelink.example/webhooks/sap/0b0f7d7e-2c1c-4e8a-9c1e-6f3a2b1c0d9e/order-submit";
        assert_eq!(destination_id(url), "storelink-0b0f7d7e-2c1c-4e8a-9c1e-6f3a2b1c0d9e-order-submit");
        assert_eq!(
            entity("ConsumedDestinations", "storelink-a|webhookServices"),
            "ConsumedDestinations('storelink-a%7CwebhookServices')"
        );
        assert_eq!(subscription_id(Slot::OrderSubmit), "StorelinkOrder/ItemCreatedEvent");
        assert!(matches!(slot_event(Slot::ShipmentCreate, "StorelinkOrder"), Err(ConnectorError::Unsupported(_))));
        let secrets = serde_json::to_vec(&Credential::generate()).expect("secrets");
        let store = std::sync::Arc::new(url::Url::parse("https://api.example.com").expect("url"));
        let objects = crate::credentials::Objects { order: "MyOrders".into(), ..Default::default() };
        let token = crate::bound::token("Bearer t".into(), &objects);
        let session = Session { store: store.clone(), storefront: store, token };
        let manual = manual_setup(&session, Slot::OrderUpdate, url, &secrets).expect("manual");
        assert!(manual.values.iter().any(|(_, v)| v.ends_with("ItemUpdatedEvent")));
        let object = manual.values.iter().find(|(k, _)| k.contains("integration object")).map(|(_, v)| v.as_str());
        assert_eq!(object, Some("MyOrders"));
        assert!(!format!("{manual:?}").contains(&Credential::open(&secrets).expect("open").password));
    }
}
