//! The Oracle Commerce Cloud connector: maps OCC's JSON into Storelink's records.
//! Owns everything OCC-specific about the data; must not touch the database or serve partners.

pub mod normalize;
