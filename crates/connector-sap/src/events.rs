//! Webhook registration through the Webhook Configuration Service and inbound deliveries (Basic
//! credentials Storelink generates per merchant; CloudEvents headers). (Filled in by the events
//! work of issue 17.)

use serde_json::Value;
use storelink_connector::{ConnectorError, Delivery, Headers, Session, Subscription, VerifyError};
use storelink_core::Slot;

use crate::client::SapClient;

pub fn subscription_id(slot: Slot) -> String {
    format!("storelink-{}", slot.as_str())
}

pub async fn read_subscription(
    _client: &SapClient,
    _session: &Session,
    _slot: Slot,
    _with_secrets: bool,
) -> Result<Subscription, ConnectorError> {
    Err(ConnectorError::Unsupported("webhooks (not built yet)"))
}

pub async fn write_subscription(
    _client: &SapClient,
    _session: &Session,
    _slot: Slot,
    _urls: &[String],
) -> Result<(), ConnectorError> {
    Err(ConnectorError::Unsupported("webhooks (not built yet)"))
}

pub fn verify_delivery(_secrets: &[u8], _headers: Headers<'_>, _body: &[u8]) -> Result<(), VerifyError> {
    Err(VerifyError::NoSecret)
}

pub fn delivery_records(_slot: &str, _body: &Value) -> Result<Delivery, String> {
    Err("SAP deliveries are not read yet".into())
}
