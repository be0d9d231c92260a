//! The Oracle Commerce Cloud connector (OCC, the Oracle platform; not SAP's "Omni Commerce Connect"):
//! `OccConnector` implements `storelink_connector::Connector` over the OCC HTTP client
//! (`storelink-occ`), maps OCC's JSON into Storelink's records (`normalize`), OCC's errors into
//! `ConnectorError`, Storelink's slots to OCC webhook ids (`slots`) and checks OCC webhook signatures
//! (`verify`). Owns everything OCC-specific; must not touch the database or serve partners.

mod checks;
mod connector;
mod fulfilment;
pub mod hosts;
pub mod normalize;
pub mod returns;
mod slots;
pub mod verify;

pub use connector::{APP_KEY_PURPOSE, OccConnector, PLATFORM};
pub use hosts::agent_url;
pub use slots::{SlotMap, SlotMapError};
