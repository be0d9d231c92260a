//! The SAP connector against the SAP simulator over loopback: OAuth and Basic logins, the connect
//! validation of the integration objects (each failure naming what to fix), the `order_object`
//! check, list paging into the model, the incremental filter and the point reads confirming deletions.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use storelink_connector::{Connector, ConnectorError, Page, PageRequest, Records, Session};
use storelink_connector_sap::{Auth, Objects, SapConfig, SapConnector, SapCredentials};
use storelink_core::SyncKind;
use storelink_netguard::Policy;
use storelink_sap_sim::{GROUP_STORELINK, InboundAuth, PRODUCT, STOCK, SapSim, SimOptions};
use url::Url;

struct Store {
    sim: SapSim,
    connector: SapConnector,
    url: Url,
}

async fn store(options: SimOptions) -> Store {
    let sim = SapSim::spawn(options).await.expect("sim");
    sim.add_user("storelink", "pw", &[GROUP_STORELINK]);
    sim.add_oauth_client("storelink-client", "secret", "storelink");
    let config =
        SapConfig { retry_base: Duration::from_millis(5), retry_cap: Duration::from_millis(20), ..Default::default() };
    let connector = SapConnector::with_config(config, Policy::insecure()).expect("connector");
    let url = Url::parse(&sim.base_url()).expect("url");
    Store { sim, connector, url }
}

fn oauth(secret: &str) -> SecretString {
    let auth = Auth::OAuth { client_id: "storelink-client".into(), client_secret: secret.into(), token_url: None };
    SapCredentials { auth, objects: Objects::default() }.to_secret()
}

fn basic(password: &str) -> SecretString {
    let auth = Auth::Basic { user: "storelink".into(), password: password.into() };
    SapCredentials { auth, objects: Objects::default() }.to_secret()
}

impl Store {
    async fn session(&self, credentials: &SecretString) -> Result<Session, ConnectorError> {
        let login = self.connector.login(&self.url, credentials).await?;
        let url = Arc::new(self.url.clone());
        Ok(Session { store: url.clone(), storefront: url, token: login.token })
    }

    /// Log in and validate, as the connect form does.
    async fn connect(&self, credentials: &SecretString) -> Result<Session, ConnectorError> {
        let session = self.session(credentials).await?;
        self.connector.validate(&session, credentials).await?;
        Ok(session)
    }

    async fn list(&self, session: &Session, kind: SyncKind, offset: u64, limit: u32) -> Page {
        let request = PageRequest { kind, offset, limit, since: None, site: None };
        self.connector.list(session, request).await.expect("list")
    }
}

fn not_set_up(result: Result<Session, ConnectorError>) -> String {
    match result {
        Err(ConnectorError::NotSetUp { message }) => message,
        other => panic!("expected NotSetUp, got {:?}", other.map(|_| "a session")),
    }
}

#[tokio::test]
async fn oauth_and_basic_logins_pass_validation_and_the_order_check() {
    let s = store(SimOptions::default()).await;
    let session = s.connect(&oauth("secret")).await.expect("oauth connect");
    assert_eq!(s.sim.issued_tokens(), 1);
    let checks = s.connector.check(&session).await;
    assert!(checks.iter().any(|c| c.name == "order_object" && c.ok), "{checks:?}");
    // Validation read each object's $metadata and one item.
    for object in ["StorelinkProduct", "StorelinkStock", "StorelinkDeliveryMode", "StorelinkOrder"] {
        assert!(s.sim.count("GET", &format!("/odata2webservices/{object}/$metadata")) >= 1, "{object}");
    }
    assert!(s.sim.calls().iter().any(|c| c.path.ends_with("/StockLevels") && c.query == "$top=1"));

    let s = store(SimOptions { inbound_auth: InboundAuth::Basic, ..SimOptions::default() }).await;
    s.connect(&basic("pw")).await.expect("basic connect");
    assert_eq!(s.sim.issued_tokens(), 0, "Basic needs no token");
    assert!(s.sim.calls().iter().all(|c| c.auth == "basic:storelink"));
}

#[tokio::test]
async fn refused_credentials_are_named() {
    let s = store(SimOptions::default()).await;
    assert!(matches!(s.connect(&oauth("wrong")).await, Err(ConnectorError::CredentialsRefused { .. })));
    // Basic against an OAuth inbound channel: refused by the object (401).
    assert!(matches!(s.connect(&basic("pw")).await, Err(ConnectorError::CredentialsRefused { status: 401 })));
    let s = store(SimOptions { inbound_auth: InboundAuth::Basic, ..SimOptions::default() }).await;
    assert!(matches!(s.connect(&basic("wrong")).await, Err(ConnectorError::CredentialsRefused { status: 401 })));
}

#[tokio::test]
async fn a_user_without_the_group_is_told_to_add_it() {
    let s = store(SimOptions::default()).await;
    s.sim.add_user("storelink", "pw", &[]);
    let message = not_set_up(s.connect(&oauth("secret")).await);
    assert!(message.contains("lacks the storelinkgroup group"), "{message}");
}

#[tokio::test]
async fn a_missing_object_or_attribute_is_named() {
    let options = SimOptions { hidden_objects: vec!["StorelinkStock".into()], ..SimOptions::default() };
    let s = store(options).await;
    let message = not_set_up(s.connect(&oauth("secret")).await);
    assert!(
        message.contains("the integration object StorelinkStock is missing: import the Storelink ImpEx"),
        "{message}"
    );
    assert!(!message.contains("StorelinkProduct"), "{message}");

    let hidden =
        vec!["StorelinkProduct:VariantProduct:ean".into(), "StorelinkDeliveryMode:ZoneDeliveryMode:active".into()];
    let s = store(SimOptions { hidden_attributes: hidden, ..SimOptions::default() }).await;
    let message = not_set_up(s.connect(&oauth("secret")).await);
    assert!(message.contains("StorelinkProduct:VariantProduct:ean"), "{message}");
    assert!(message.contains("StorelinkDeliveryMode:ZoneDeliveryMode:active"), "{message}");
}

#[tokio::test]
async fn a_missing_order_object_is_a_warning_not_a_failure() {
    let s = store(SimOptions { hidden_objects: vec!["StorelinkOrder".into()], ..SimOptions::default() }).await;
    let session = s.connect(&oauth("secret")).await.expect("connects without the order object");
    let checks = s.connector.check(&session).await;
    let check = checks.iter().find(|c| c.name == "order_object").expect("order_object check");
    assert!(!check.ok);
    assert!(check.detail.starts_with("orders cannot be placed through Storelink: import StorelinkOrder"), "{check:?}");

    let s =
        store(SimOptions { hidden_attributes: vec!["StorelinkOrder:Order:totalPrice".into()], ..Default::default() })
            .await;
    let session = s.connect(&oauth("secret")).await.expect("connects");
    let checks = s.connector.check(&session).await;
    assert!(
        checks
            .iter()
            .any(|c| c.name == "order_object" && !c.ok && c.detail.contains("StorelinkOrder:Order:totalPrice"))
    );
}

#[tokio::test]
async fn lists_page_with_skip_and_top_into_the_model() {
    let s = store(SimOptions { products: 25, orders: 5, ..SimOptions::default() }).await;
    let session = s.connect(&oauth("secret")).await.expect("connect");
    let (mut products, mut skus, mut offset) = (Vec::new(), Vec::new(), 0);
    loop {
        let page = s.list(&session, SyncKind::Catalog, offset, 10).await;
        assert_eq!(page.total, Some(25));
        let Records::Catalog(p, k) = page.records else { panic!("catalog") };
        assert_eq!(p.len() as u64, page.items);
        products.extend(p);
        skus.extend(k);
        offset += page.items;
        if page.last {
            break;
        }
    }
    assert_eq!(offset, 25);
    let mut ids: Vec<String> = products.iter().map(|p| p.row.product_id.clone()).collect();
    let mut expected = s.sim.keys(PRODUCT);
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected, "integrationKey is the product id");
    let first = products.iter().find(|p| p.row.product_id.ends_with("|P00001")).expect("P00001");
    assert_eq!(first.row.display_name.as_deref(), Some("Product 1"));
    assert!(first.row.image_url.as_deref().is_some_and(|u| u.starts_with(&s.sim.base_url())));
    assert!(first.row.list_price.is_some() && first.row.source_modified_at.is_some());
    assert_eq!(skus.len(), 50);
    let sku = skus.iter().find(|k| k.row.sku_id.ends_with("|P00001-M")).expect("variant M");
    assert_eq!(sku.row.product_id, first.row.product_id);
    assert_eq!(sku.row.attributes["size"], "M");
    let pages = s.sim.calls().into_iter().filter(|c| c.path.ends_with("/Products") && c.query.contains("$skip"));
    let queries: Vec<String> = pages.map(|c| c.query).collect();
    assert_eq!(queries.len(), 3);
    assert!(queries[2].starts_with("$top=10&$skip=20&$inlinecount=allpages&$orderby=code"), "{}", queries[2]);

    // Stock rows name the SKUs by the same keys; delivery modes and orders map too.
    let page = s.list(&session, SyncKind::Inventory, 0, 1000).await;
    let Records::Inventory(stock) = page.records else { panic!("inventory") };
    assert_eq!(stock.len(), 50);
    let sku_ids: std::collections::BTreeSet<&str> = skus.iter().map(|k| k.row.sku_id.as_str()).collect();
    assert!(stock.iter().all(|r| sku_ids.contains(r.row.sku_id.as_str()) && r.row.location_id == "warehouse_s"));
    let Records::Shipping(modes) = s.list(&session, SyncKind::Shipping, 0, 1000).await.records else { panic!() };
    assert_eq!(modes.len(), 3);
    assert!(modes.iter().any(|m| m.row.method_id == "standard-gross" && m.row.rates[0].price.amount == "9.99"));
    let Records::Orders(orders) = s.list(&session, SyncKind::Orders, 0, 1000).await.records else { panic!() };
    assert_eq!(orders.len(), 5);
    assert!(
        orders.iter().all(|o| o.row.lines.iter().all(|l| l.variant_id.as_deref().is_some_and(|v| sku_ids.contains(v))))
    );
}

#[tokio::test]
async fn an_incremental_list_reads_only_what_changed_since() {
    let s = store(SimOptions { products: 30, ..SimOptions::default() }).await;
    let session = s.connect(&oauth("secret")).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.sim.update_product("P00007").await.expect("updated");
    let request = PageRequest { kind: SyncKind::Catalog, offset: 0, limit: 100, since: Some(since), site: None };
    let page = s.connector.list(&session, request).await.expect("list");
    let Records::Catalog(products, _) = page.records else { panic!("catalog") };
    assert_eq!(products.len(), 1);
    assert!(products[0].row.product_id.ends_with("|P00007") && page.last);
    let call = s.sim.calls().into_iter().rev().find(|c| c.path.ends_with("/Products")).expect("call");
    assert!(call.query.contains("$orderby=modifiedtime"), "{}", call.query);
    assert!(call.query.contains("modifiedtime%20gt%20datetime%27"), "{}", call.query);
}

#[tokio::test]
async fn point_reads_confirm_a_deletion_with_not_found() {
    let s = store(SimOptions { products: 5, ..SimOptions::default() }).await;
    let session = s.connect(&oauth("secret")).await.expect("connect");
    let key = s.sim.keys(PRODUCT)[2].clone();
    let read = s.connector.read(&session, SyncKind::Catalog, &key, None).await.expect("read");
    let Records::Catalog(products, skus) = read else { panic!("catalog") };
    assert_eq!((products.len(), skus.len()), (1, 2));
    assert_eq!(products[0].row.product_id, key);
    let sku = skus[0].row.sku_id.clone();
    let Records::Inventory(stock) = s.connector.read(&session, SyncKind::Inventory, &sku, None).await.expect("stock")
    else {
        panic!("inventory")
    };
    assert_eq!(stock.len(), 1);
    assert_eq!(stock[0].row.sku_id, sku);

    s.sim.delete_product("P00003").await.expect("deleted");
    let gone = s.connector.read(&session, SyncKind::Catalog, &key, None).await;
    assert!(matches!(gone, Err(ConnectorError::NotFound { .. })), "{:?}", gone.err());
    let missing = s.connector.read(&session, SyncKind::Inventory, &format!("{key}-NONE"), None).await;
    assert!(matches!(missing, Err(ConnectorError::NotFound { .. })));
    assert!(!s.sim.keys(STOCK).is_empty());
}
