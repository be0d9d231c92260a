//! Inbound store webhooks: `POST /webhooks/{platform}/{merchant_id}/{slot}` (OCC's stores call
//! `/webhooks/occ/...`) has the merchant's connector verify the signature with the slot's sealed
//! secret, stores the raw delivery durably and idempotently before answering 2xx, and an `inbound`
//! job processes stored deliveries into orders. `.../return-request-validation` answers the store's
//! synchronous return validation call from the return policy and the synced orders (`validation`).
//! Owns `inbound_events`. Must not call a store, know a
//! platform's signature scheme, or answer 2xx before the delivery is committed.

mod batch;
mod lookup;
mod process;
mod routes;
mod store;
mod validation;

pub use batch::Batcher;
pub use lookup::{Lookups, STATUS_CHANNEL};
pub use process::{Drained, EnqueueError, InboundHandler, KIND, enqueue_stale, settle_revoked};
pub use routes::{Inbound, MAX_BODY};
pub use store::{
    HourOfDeliveries, PRUNE_CONDITION, RecentDelivery, WAITING_MERCHANTS_SQL, last_day, prune, purge_merchant, recent,
};
pub use validation::{RETURN_VALIDATION, decide as decide_returns, secret_purpose as return_validation_secret_purpose};
