//! Storelink's commerce model: the platform-neutral records connectors produce and sync stores, the
//! typed views partners read, their status enums and the partner webhook events.
//! Owns types only; must not know any platform's field names, talk to a store or touch the database.

pub mod events;
pub mod records;
pub mod status;
pub mod views;
