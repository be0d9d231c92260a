//! The typed OCC Admin/Agent API client: URLs, timeouts, retries with backoff and jitter for idempotent
//! calls (honouring Retry-After), and errors that tell a rejected key from an expired token, a missing
//! permission, a rate limit, a transient and a permanent failure. Must not touch the database, cache
//! tokens (crates/token-cache does) or put keys and tokens into logs or errors.

mod calls;
mod error;
mod order_query;
mod request;
mod types;

pub use calls::decode_page;
pub use error::OccError;
pub use order_query::{OrderQuery, profile_email_query};
pub use request::{OccClient, OccConfig, ReplyLimit};
pub use types::{AccessToken, ListParams, Page, Resource, ShippingMethod, SiteInfo, Webhook};
