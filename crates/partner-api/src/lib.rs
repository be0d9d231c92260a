//! The partner API under `/v1`: client-credentials tokens (short-lived JWTs); each partner's merchants
//! and their synced data (from read replicas when configured, with read-your-writes); orders placed into the merchant's store through its connector (no
//! platform's error codes here); webhook endpoints; the OpenAPI document and its docs page. Scoped
//! to the calling partner in SQL. Errors are RFC 9457 problem+json with stable codes. Must never
//! return another partner's data (another partner's merchant or endpoint is a 404) or any stored secret.

mod auth;
mod catalog;
mod consistency;
mod cursor;
mod docs;
mod fulfilment;
mod idempotency;
mod orders;
mod problem;
mod returns;
mod routes;
mod throttle;
mod webhooks;

pub use auth::{AUDIENCE, Claims, TokenIssuer};
pub use consistency::{READ_AFTER, READ_SOURCE, Sticky};
pub use docs::ApiDoc;
pub use problem::{ApiError, Problem};
pub use routes::{PUBLIC_ROUTES, PartnerApi, RouteSpec, routes};
pub use throttle::TokenThrottle;
