//! The connection checks run right after a successful test login: are shipping methods
//! configured, and may the credentials read what Storelink syncs? Findings are warnings, never failures.

use futures::future::join_all;
use storelink_connector::{ConnectorError, PageRequest, Records};
use storelink_core::SyncKind;
use storelink_tenants::CheckResult;
use storelink_token_cache::StoreSession;

const PROBES: [(SyncKind, &str, &str); 3] = [
    (SyncKind::Catalog, "products", "products"),
    (SyncKind::Orders, "orders", "orders"),
    (SyncKind::Inventory, "inventories", "inventory"),
];

/// Runs every check concurrently (one round trip in total).
pub async fn run(store: &StoreSession) -> Vec<CheckResult> {
    let shipping = shipping_methods(store);
    let probes = join_all(PROBES.map(|(kind, name, noun)| probe(store, kind, name, noun)));
    let (mut shipping, probes) = futures::join!(shipping, probes);
    shipping.extend(probes);
    shipping
}

fn first_page(kind: SyncKind, limit: u32) -> PageRequest {
    PageRequest { kind, offset: 0, limit, since: None }
}

/// One-item read: enough to learn whether the integration's role allows reading the resource.
async fn probe(store: &StoreSession, kind: SyncKind, name: &str, noun: &str) -> CheckResult {
    let check = format!("permission:{name}");
    match store.connector.list(store, first_page(kind, 1)).await {
        Ok(_) => CheckResult::ok(check),
        Err(e) => CheckResult::warning(check, permission_detail(noun, &e)),
    }
}

/// Shipping methods double as the shipping-methods permission probe.
async fn shipping_methods(store: &StoreSession) -> Vec<CheckResult> {
    const PERMISSION: &str = "permission:shipping_methods";
    let enabled = |page: &storelink_connector::Page| match &page.records {
        Records::Shipping(rows) => rows.iter().filter(|m| m.row.enabled).count(),
        _ => 0,
    };
    match store.connector.list(store, first_page(SyncKind::Shipping, 0)).await {
        Ok(page) if enabled(&page) == 0 => vec![
            CheckResult::ok(PERMISSION),
            CheckResult::warning(
                "shipping_methods",
                "Your store has no enabled shipping methods, so partners cannot offer delivery. \
                 Add one in your store's admin (in OCC: Settings > Shipping Methods).",
            ),
        ],
        Ok(_) => vec![CheckResult::ok(PERMISSION), CheckResult::ok("shipping_methods")],
        Err(e) => vec![
            CheckResult::warning(PERMISSION, permission_detail("shipping methods", &e)),
            CheckResult::warning("shipping_methods", "Shipping methods could not be checked."),
        ],
    }
}

fn permission_detail(noun: &str, error: &ConnectorError) -> String {
    match error {
        ConnectorError::PermissionMissing { .. } => {
            format!("The integration's role does not allow reading {noun}. Ask your store administrator to grant it.")
        }
        other => format!(
            "Reading {noun} could not be checked ({}); it is checked again on the first sync.",
            other.kind_code()
        ),
    }
}
