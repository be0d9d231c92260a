//! An OCC store's two hosts (issue 16 item 4): the admin host serves `/ccadmin` (logins, lists,
//! webhooks), the storefront host `/ccstore` and `/ccappagent` (the agent API placing orders). The
//! storefront is found from the store's default site (`productionURL`), else from the host-name
//! pattern, else it is taken to be the admin host; an agent login probes it (docs/occ.md).

use secrecy::SecretString;
use storelink_connector::{Check, Session, Site, Storefront};
use storelink_occ::{OccClient, OccError};
use url::Url;

/// Host-name patterns of OCC stores (reference section 6): `<instance>-admin.occa.ocs.oraclecloud.com`
/// beside `<instance>-store.occa...`, and the older `ccadmin-<env>` / `ccstore-<env>.oracleoutsourcing.com`.
/// Each entry: (admin form, storefront form, domain suffix); `*` is the instance part.
const PATTERNS: [(&str, &str, &str); 2] =
    [("*-admin", "*-store", ".oraclecloud.com"), ("ccadmin-*", "ccstore-*", ".oracleoutsourcing.com")];

/// The host's first label rewritten from one form to the other, when the host follows a pattern.
fn swap(url: &Url, to_admin: bool) -> Option<Url> {
    let host = url.host_str()?;
    let (first, rest) = host.split_once('.')?;
    for (admin, store, suffix) in PATTERNS {
        if !host.ends_with(suffix) {
            continue;
        }
        let (from, to) = if to_admin { (store, admin) } else { (admin, store) };
        let (prefix, postfix) = from.split_once('*').unwrap_or((from, ""));
        let instance = first.strip_prefix(prefix).and_then(|i| i.strip_suffix(postfix)).filter(|i| !i.is_empty());
        if let Some(instance) = instance {
            let mut swapped = url.clone();
            swapped.set_host(Some(&format!("{}.{rest}", to.replace('*', instance)))).ok()?;
            return Some(swapped);
        }
    }
    None
}

/// The admin host for the address the merchant entered: a storefront address following a pattern
/// becomes its admin twin; anything else is taken as the admin host.
pub fn admin_for(entered: &Url) -> Url {
    swap(entered, true).unwrap_or_else(|| entered.clone())
}

/// The storefront twin of an admin host that follows a pattern.
pub fn storefront_for(admin: &Url) -> Option<Url> {
    swap(admin, false)
}

/// A site's `productionURL`, which OCC gives "without the schema": `https://` is added (`http://`
/// only under the development switch, for the simulator); path, query and fragment are dropped.
pub fn production_url(value: &str, allow_insecure: bool) -> Option<Url> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let scheme = if allow_insecure { "http" } else { "https" };
    let url = match value.split_once("://") {
        Some(("https", _)) => Url::parse(value).ok()?,
        Some(("http", _)) if allow_insecure => Url::parse(value).ok()?,
        Some(_) => return None,
        None => Url::parse(&format!("{scheme}://{value}")).ok()?,
    };
    url.host_str()?;
    let mut base = url;
    base.set_path("");
    base.set_query(None);
    base.set_fragment(None);
    Some(base)
}

/// The default site's production URL (from `GET /ccadmin/v1/sites`, as `Connector::sites` listed
/// them), else the first enabled site's.
pub fn from_sites(sites: &[Site], allow_insecure: bool) -> Option<Url> {
    let default = sites.iter().find(|s| s.default);
    let enabled = sites.iter().find(|s| s.enabled);
    let site = default.or(enabled)?;
    production_url(site.production_url.as_deref()?, allow_insecure)
}

/// Find the storefront and probe it with an agent login (what placing an order starts with).
pub async fn locate(client: &OccClient, session: &Session, key: &SecretString, sites: &[Site]) -> Storefront {
    let (url, source) = match from_sites(sites, client.allows_insecure()) {
        Some(url) => (url, "sites"),
        None => match storefront_for(&session.store) {
            Some(url) => (url, "host_pattern"),
            None => ((*session.store).clone(), "admin_host"),
        },
    };
    let mut login = url.clone();
    login.set_path(AGENT_LOGIN_PATH);
    let check = match client.agent_login(&login, key).await {
        Ok(_) => Check::ok("storefront"),
        Err(e) => Check::warning("storefront", probe_detail(&url, source, &e)),
    };
    Storefront { url, source, check: Some(check) }
}

fn probe_detail(url: &Url, source: &str, error: &OccError) -> String {
    let host = url.host_str().unwrap_or_default();
    let found = match source {
        "sites" => "your default site's production URL",
        "host_pattern" => "your admin address",
        _ => "your admin address (no storefront address was found)",
    };
    let why = match error {
        OccError::KeyRejected { .. } | OccError::Unauthorized | OccError::Forbidden { .. } => {
            "refused the Application Key for the Agent API: allow the integration to use the Agent API"
        }
        OccError::NoLoginEndpoint { .. } | OccError::NotFound { .. } => {
            "has no Agent API: set your default site's production URL in the OCC admin (Settings > Sites)"
        }
        _ => "did not answer: if it stays so, check your default site's production URL",
    };
    format!(
        "Partners cannot place orders yet: the storefront {host} (taken from {found}) {why}. Everything else works; \
         Storelink support can also set the storefront address for you."
    )
}

/// The agent API's login, on the storefront host.
pub const AGENT_LOGIN_PATH: &str = "/ccappagent/v1/login";

/// The URL of an agent API call (`/ccappagent/v1/...`): on the storefront host, never the admin host.
pub fn agent_url(session: &Session, path: &str) -> Url {
    let mut url = (*session.storefront).clone();
    url.set_path(path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn either_host_of_a_pattern_gives_both() {
        let admin = url("https://a1b2c3-admin.occa.ocs.oraclecloud.com");
        let store = url("https://a1b2c3-store.occa.ocs.oraclecloud.com");
        assert_eq!(admin_for(&store), admin);
        assert_eq!(admin_for(&admin), admin);
        assert_eq!(storefront_for(&admin), Some(store.clone()));
        assert_eq!(storefront_for(&store), None, "a storefront has no storefront twin");
        let old = url("https://ccadmin-z9.oracleoutsourcing.com");
        assert_eq!(storefront_for(&old), Some(url("https://ccstore-z9.oracleoutsourcing.com")));
        assert_eq!(admin_for(&url("https://ccstore-z9.oracleoutsourcing.com")), old);
        let custom = url("https://shop.example.com");
        assert_eq!(admin_for(&custom), custom);
        assert_eq!(storefront_for(&custom), None);
        assert_eq!(storefront_for(&url("https://-admin.occa.ocs.oraclecloud.com")), None, "no instance");
    }

    #[test]
    fn production_urls_come_without_a_scheme() {
        assert_eq!(production_url("www.shop.com", false), Some(url("https://www.shop.com")));
        assert_eq!(production_url("www.shop.com/en?x=1", false), Some(url("https://www.shop.com")));
        assert_eq!(production_url("127.0.0.1:9000", true), Some(url("http://127.0.0.1:9000")));
        assert_eq!(production_url("http://www.shop.com", false), None, "plain http only in development");
        assert_eq!(production_url("ftp://www.shop.com", true), None);
        assert_eq!(production_url(" ", false), None);
    }

    #[test]
    fn agent_calls_go_to_the_storefront() {
        let session = Session {
            store: url("https://x-admin.occa.ocs.oraclecloud.com").into(),
            storefront: url("https://x-store.occa.ocs.oraclecloud.com").into(),
            token: SecretString::from("t".to_owned()),
        };
        assert_eq!(
            agent_url(&session, "/ccappagent/v1/orders").as_str(),
            "https://x-store.occa.ocs.oraclecloud.com/ccappagent/v1/orders"
        );
    }
}
