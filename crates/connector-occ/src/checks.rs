//! OCC's connection checks, run right after a successful test login: are shipping methods
//! configured, and may the key read what Storelink syncs? Findings are warnings, never failures.
//! Their requests differ from the syncs' (one item, enabled methods only), so no sync request repeats one.

use futures::future::join_all;
use secrecy::SecretString;
use storelink_connector::Check as CheckResult;
use storelink_occ::{ListParams, OccClient, OccError, Resource};
use url::Url;

const PROBES: [(Resource, &str, &str); 3] = [
    (Resource::Products, "products", "products"),
    (Resource::Orders, "orders", "orders"),
    (Resource::Inventories, "inventories", "inventory"),
];

/// Runs every check concurrently (one round trip in total).
pub async fn run(occ: &OccClient, store: &Url, token: &SecretString) -> Vec<CheckResult> {
    let shipping = shipping_methods(occ, store, token);
    let probes = join_all(PROBES.map(|(resource, name, noun)| probe(occ, store, token, resource, name, noun)));
    let (mut shipping, probes) = futures::join!(shipping, probes);
    shipping.extend(probes);
    shipping
}

/// One-item read: enough to learn whether the integration's role allows reading the resource.
async fn probe(
    occ: &OccClient,
    store: &Url,
    token: &SecretString,
    resource: Resource,
    name: &str,
    noun: &str,
) -> CheckResult {
    let params = ListParams { limit: 1, ..ListParams::default() };
    let check = format!("permission:{name}");
    match occ.list::<serde_json::Value>(store, token, resource, &params).await {
        Ok(_) => CheckResult::ok(check),
        Err(e) => CheckResult::warning(check, permission_detail(noun, &e)),
    }
}

/// Shipping methods double as the shipping-methods permission probe.
async fn shipping_methods(occ: &OccClient, store: &Url, token: &SecretString) -> Vec<CheckResult> {
    const PERMISSION: &str = "permission:shipping_methods";
    match occ.shipping_methods(store, token, true, None).await {
        Ok(methods) if methods.is_empty() => vec![
            CheckResult::ok(PERMISSION),
            CheckResult::warning(
                "shipping_methods",
                "Your store has no enabled shipping methods, so partners cannot offer delivery. \
                 Add one in the OCC admin under Settings > Shipping Methods.",
            ),
        ],
        Ok(_) => vec![CheckResult::ok(PERMISSION), CheckResult::ok("shipping_methods")],
        Err(e) => vec![
            CheckResult::warning(PERMISSION, permission_detail("shipping methods", &e)),
            CheckResult::warning("shipping_methods", "Shipping methods could not be checked."),
        ],
    }
}

fn permission_detail(noun: &str, error: &OccError) -> String {
    match error {
        OccError::Forbidden { .. } => {
            format!("The integration's role does not allow reading {noun}. Ask your OCC administrator to grant it.")
        }
        other => format!(
            "Reading {noun} could not be checked ({}); it is checked again on the first sync.",
            other.kind_code()
        ),
    }
}
