//! The `storelink` binary's library half: configuration, database bootstrap, and the assembly of
//! the roles (serve, worker, demo, migrate, the CLI) from the domain crates. It holds no business
//! rules of its own; those live in the crates it wires together.

pub mod config;
pub mod database;
pub mod demo;
pub mod keys;
pub mod server;
pub mod sync_cli;
pub mod telemetry;
pub mod tenants_cli;
