//! Partner webhooks: the endpoints partners register (URL vetted by the SSRF guard, event types, a
//! signing secret sealed by the master key and rotatable with an overlap) and the `deliver` job that
//! sends the outbox to them. The outbox is `partner_events`, filled by database triggers in the same
//! transaction as each change; deliveries are signed per Standard Webhooks, sent in order per
//! (endpoint, merchant), retried on a fixed schedule and logged attempt by attempt.
//! Owns `partner_endpoints`, `partner_endpoint_secrets`, `partner_deliveries` and
//! `partner_delivery_attempts`. Must not decide what changed (sync, inbound and tenants record that),
//! serve HTTP, or ever return a secret except the one just created.

mod deliver;
mod endpoints;
mod sign;

pub use deliver::{DeliverHandler, DeliveryConfig, ScheduleError};
pub use endpoints::{
    Delivery, Endpoint, EndpointError, EndpointPatch, Endpoints, NewEndpoint, open_all_secrets, rewrap_secrets,
    secrets_under,
};
pub use sign::{SigningSecret, signature_header};

/// Job kind of the deliverer (one live job per merchant keeps each merchant's events in order).
pub const KIND: &str = "deliver";

/// Every event type a partner can subscribe to.
pub const EVENT_TYPES: [&str; 12] = [
    "merchant.connected",
    "merchant.credentials_invalid",
    "merchant.revoked",
    "product.created",
    "product.updated",
    "product.deleted",
    "inventory.updated",
    "order.created",
    "order.updated",
    "shipment.created",
    "shipment.updated",
    "return.updated",
];
