//! An SAP Commerce Cloud Integration API stand-in over real HTTP (actix-web) for tests, the demo and
//! benchmarks: the integration objects of Storelink's ImpEx as OData v2 services (`$metadata` EDMX,
//! JSON lists with paging, `$filter`, `$expand`, point reads by integrationKey, order creation),
//! Basic and OAuth2 client-credentials authentication with expiring tokens, the Webhook
//! Configuration Service and real webhook deliveries, fault injection and a call log.
//! Must never be pointed at real stores or hold real data, holds no Storelink logic, and delivers
//! webhooks to loopback only unless told otherwise; it binds where told (loopback by default).

mod edmx;
mod faults;
mod odata;
mod options;
mod routes;
pub mod schema;
mod server;
mod state;
mod store;
mod webhooks;

pub use faults::{Fault, FaultKind};
pub use options::{InboundAuth, SimOptions};
pub use server::SapSim;
pub use state::{Call, Delivery};
pub use store::{CATALOG, Change, DELIVERY, ORDER, PRODUCT, STOCK, VERSION, WAREHOUSE};
pub use webhooks::{EVENT_PREFIX, WEBHOOK_SERVICE, WEBHOOK_TARGET};

/// The group the ImpEx creates for Storelink's user: read (and order create) on Storelink's objects.
pub const GROUP_STORELINK: &str = "storelinkgroup";
/// SAP's integration administrators: every object, the WebhookService included.
pub const GROUP_ADMIN: &str = "integrationadmingroup";
/// The OAuth token endpoint's path on the API host.
pub const TOKEN_PATH: &str = routes::TOKEN_PATH;
/// Page sizes of the Integration API (`odata2services.page.size.default` / `.max`).
pub const DEFAULT_PAGE: usize = odata::DEFAULT_PAGE;
pub const MAX_PAGE: usize = odata::MAX_PAGE;
