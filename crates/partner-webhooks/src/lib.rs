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

pub use deliver::{
    DeliverHandler, DeliveryConfig, MerchantDelivery, PENDING_DELIVERIES_SQL, ScheduleError, merchant_deliveries,
    pending_deliveries,
};
pub use endpoints::{
    Delivery, Endpoint, EndpointError, EndpointPatch, Endpoints, NewEndpoint, open_all_secrets, rewrap_secrets,
    secrets_under,
};
pub use sign::{SigningSecret, signature_header};

/// Retention: deletes outbox events created more than `older_than` ago that no delivery still waits
/// for, with their deliveries and the attempts in the delivery log (so those can no longer be listed
/// or replayed). Events still pending for an endpoint (a disabled one too) are kept.
pub async fn prune(pool: &sqlx::PgPool, older_than: std::time::Duration) -> Result<u64, sqlx::Error> {
    storelink_core::db::delete_in_batches(pool, "partner_events", PRUNE_CONDITION, older_than).await
}

/// Which partner events `prune` deletes (`storelink_core::db::delete_in_batches`'s condition).
pub const PRUNE_CONDITION: &str = "t.created_at < now() - make_interval(secs => $1)
    AND NOT EXISTS (SELECT 1 FROM partner_deliveries d
                    WHERE d.merchant_id = t.merchant_id AND d.event_id = t.event_id AND d.state = 'pending')";

/// Job kind of the deliverer (one live job per merchant keeps each merchant's events in order).
pub const KIND: &str = "deliver";

/// Every event type a partner can subscribe to.
pub const EVENT_TYPES: [&str; 13] = [
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
    "sync.completed",
];
