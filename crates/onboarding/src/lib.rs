//! Merchant onboarding: the `/connect` form and the connect pipeline behind it (normalize and vet the
//! Store URL, read the credentials from the platform's fields, test-login, save the merchant with them sealed, check
//! shipping methods and permissions, register the four webhook slots, send the merchant back).
//! Owns no tables (it calls tenants, vault and registrar); it must never echo or log the key.

mod csrf;
mod error;
mod limits;
mod pages;
mod pipeline;
mod routes;

pub use csrf::Csrf;
pub use error::ConnectError;
pub use limits::{ConnectLimits, Limiters};
pub use pipeline::{Connected, Pipeline};
pub use routes::{Onboarding, configure};
