//! The partner API under `/v1`: client-credentials tokens (short-lived JWTs), and each partner's
//! merchants and their synced data, scoped to the calling partner in SQL. Errors are RFC 9457
//! problem+json with stable codes. Reads the tenant and sync tables; must never return another
//! partner's data (another partner's merchant is a 404) or any secret.

mod auth;
mod cursor;
mod problem;
mod routes;

pub use auth::{AUDIENCE, Claims, TokenIssuer};
pub use problem::ApiError;
pub use routes::PartnerApi;
