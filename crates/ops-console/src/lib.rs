//! The ops console under `/ops`: login for ops users (argon2 passwords, HttpOnly SameSite=Strict
//! session cookies, rate-limited), the tenants list (counts per status, needs-attention order, sync lag,
//! search, keyset pages over `storelink_tenants::health`), a tenant page with the last day in hourly bars
//! (checklist, slots, token, syncs, recent inbound and outbound events, audit trail; the list and the
//! page read from standbys when configured, after the operator's own last action) and the actions,
//! admin only, each form CSRF-protected. Server-rendered with askama, no JavaScript. Owns `ops_users`
//! and `ops_sessions`; reads every other table through the functions of the crate that owns it.
//! Must not carry out actions itself (crates/ops does, and audits them) or show any secret.

mod auth;
mod pages;
mod routes;
pub mod users;

pub use routes::Console;
