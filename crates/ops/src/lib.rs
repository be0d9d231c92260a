//! Ops actions on tenants: revoke (crypto-shred), rotate the merchant's credentials (test login through its connector), pause, resume,
//! resync a kind, retry failed slots. Every action is written to the append-only `audit_log` (who,
//! what, when, from where, outcome), refused and failed ones included. Owns `audit_log`. Used by the
//! `storelink tenants` CLI and the ops console; must not render pages or check ops logins.

mod action;
mod actions;
mod audit;

pub use action::OpsAction;
pub use actions::{Ops, OpsError, RevokeReport, RotateReport};
pub use audit::{Actor, AuditEntry, recent};
