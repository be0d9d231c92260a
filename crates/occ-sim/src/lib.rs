//! An OCC Admin API stand-in over real HTTP (actix-web) for tests, the demo and benchmarks: login and
//! expiring tokens, paged catalog/inventory/orders, shipping methods, webhooks (with retries and failed messages), order updates, a call
//! log, fault injection and admin routes under `/__sim/`. Must never be pointed at real stores or
//! hold real data, and holds no Storelink logic; it binds where told (loopback by default).

mod catalog;
mod deliver;
mod faults;
mod fleet;
mod functions;
mod options;
mod profiles;
mod returns;
mod routes;
mod rql;
mod scim;
mod server;
mod state;

pub use faults::{Fault, FaultKind};
pub use fleet::OccFleet;
pub use options::{Permissions, SimOptions, SimSite};
pub use server::OccSim;
pub use state::Call;
