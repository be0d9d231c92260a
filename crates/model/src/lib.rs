//! Storelink's commerce model: the platform-neutral records connectors produce and sync stores.
//! Owns types only; must not know any platform's field names, talk to a store or touch the database.

pub mod records;
