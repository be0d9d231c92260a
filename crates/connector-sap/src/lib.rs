//! The SAP Commerce Cloud connector, over SAP's Integration API (OData v2 services of integration
//! objects under `/odata2webservices`; not SAP's own "OCC" REST API, and nothing to do with Oracle
//! Commerce Cloud): `SapConnector` implements `storelink_connector::Connector`. Owns the merchant's
//! SAP credentials format, the HTTP calls (`client`), validation of the integration objects, the
//! mapping of OData JSON into Storelink's records, webhook registration through the Webhook
//! Configuration Service and inbound authentication. Must not touch the database or serve partners;
//! docs/sap.md is its reference, each fact with its source.

mod bound;
pub mod client;
mod connector;
pub mod credentials;
mod events;
mod normalize;
mod odata;
pub mod order_map;
mod orders;
mod session;
mod sync;
mod validate;

pub use client::{SapClient, SapConfig};
pub use connector::{CREDENTIALS_PURPOSE, PLATFORM, SapConnector};
pub use credentials::{Auth, Objects, SapCredentials};
