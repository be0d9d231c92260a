//! Hostile tenants (docs/SECURITY.md): one scenario per attack, each driving the real server, the
//! real simulator and a real database. Three attackers: a merchant who controls its "store" server
//! and holds its own inbound webhook secrets, a partner with valid API credentials, and a stranger on
//! the public port. Each module covers one area; every test fails on the code before its defence.

mod common;
#[path = "hostile/crash.rs"]
mod crash;
#[path = "hostile/edges.rs"]
mod edges;
#[path = "hostile/inbound.rs"]
mod inbound;
#[path = "hostile/store.rs"]
mod store;
