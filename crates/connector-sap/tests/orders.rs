//! Orders through the SAP connector against sap-sim over real HTTP: placing one under the partner
//! reference and finding it again (the same row as a webhook would carry), never overwriting an
//! existing order, unknown SKUs, an interrupted POST whose order exists, a store without the order
//! object, and cancelling (not offered).

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use storelink_connector::{Connector, ConnectorError, NewOrder, OrderLine, OrderRefusal, Session, Shopper};
use storelink_connector_sap::{SapConfig, SapConnector, SapCredentials, order_map};
use storelink_model::status::{OrderStatus, PaymentStatus};
use storelink_model::views::Address;
use storelink_netguard::Policy;
use storelink_sap_sim::{CATALOG, Fault, FaultKind, GROUP_STORELINK, ORDER, PRODUCT, SapSim, SimOptions, VERSION};
use url::Url;

const ORDERS_PATH: &str = "/odata2webservices/StorelinkOrder/Orders";

struct Store {
    sim: SapSim,
    credentials: SecretString,
}

async fn store(options: SimOptions) -> Store {
    let sim = SapSim::spawn(options).await.expect("sim");
    sim.add_user("storelink", "pw", &[GROUP_STORELINK]);
    sim.add_oauth_client("storelink-client", "client-secret", "storelink");
    Store { sim, credentials: SapCredentials::oauth("storelink-client", "client-secret").to_secret() }
}

fn connector(request_timeout: Duration) -> SapConnector {
    let config = SapConfig { request_timeout, retry_base: Duration::from_millis(10), ..SapConfig::default() };
    SapConnector::with_config(config, Policy::insecure()).expect("connector")
}

async fn session(connector: &SapConnector, store: &Store) -> Session {
    let api = Url::parse(&store.sim.base_url()).expect("url");
    let login = connector.login(&api, &store.credentials).await.expect("login");
    let api = Arc::new(api);
    Session { store: api.clone(), storefront: api, token: login.token }
}

fn key(code: &str) -> String {
    format!("{VERSION}|{CATALOG}|{code}")
}

fn address() -> Address {
    Address {
        first_name: Some("Grace".into()),
        last_name: Some("Hopper".into()),
        company: None,
        line1: Some("1 Navy Way".into()),
        line2: None,
        city: Some("Arlington".into()),
        region: None,
        postal_code: Some("22202".into()),
        country: Some("US".into()),
        phone: Some("+1 555 0199".into()),
        email: None,
    }
}

fn new_order<'a>(reference: &'a str, lines: Vec<OrderLine<'a>>, to: &'a Address) -> NewOrder<'a> {
    NewOrder {
        reference,
        lines,
        shipping_method: "standard-gross",
        shipping_address: to,
        shopper: Shopper::Email("grace@example.com"),
        site: None,
    }
}

/// The unit price sap-sim sells a product's variants at.
fn unit_price(sim: &SapSim, product: &str) -> f64 {
    let item = sim.item(PRODUCT, &key(product)).expect("product");
    item["variants"][0]["europe1Prices"][0]["price"].as_f64().expect("price")
}

#[tokio::test]
async fn an_order_is_placed_under_the_partner_reference_and_found_again() {
    let store = store(SimOptions::default()).await;
    let connector = connector(Duration::from_secs(10));
    let session = session(&connector, &store).await;
    assert!(connector.find_order(&session, "PARTNER-1").await.expect("find").is_none());

    let to = address();
    let (sku_1, product_1, sku_2, product_2) = (key("P00001-S"), key("P00001"), key("P00002-M"), key("P00002"));
    let lines = vec![
        OrderLine { sku_id: &sku_1, product_id: &product_1, quantity: 2 },
        OrderLine { sku_id: &sku_2, product_id: &product_2, quantity: 1 },
    ];
    let placing = new_order("PARTNER-1", lines, &to);
    let created = connector.create_order(&session, &store.credentials, &placing).await.expect("create");
    let row = &created.row;
    assert_eq!(row.order_id, "PARTNER-1");
    assert_eq!((row.status, row.state.as_deref()), (OrderStatus::Submitted, Some("CREATED")));
    assert_eq!(row.payment_status, PaymentStatus::Pending);
    assert_eq!(row.currency.as_deref(), Some("USD"));
    assert_eq!(row.lines.len(), 2);
    assert_eq!(row.lines[0].variant_id.as_deref(), Some(sku_1.as_str()));
    assert_eq!(row.lines[0].quantity, 2);
    let (price_1, price_2) = (unit_price(&store.sim, "P00001"), unit_price(&store.sim, "P00002"));
    let expected = order_map::amount(price_1 * 2.0 + price_2);
    assert_eq!(row.totals.total.as_deref(), Some(expected.as_str()));
    assert_eq!(row.lines[0].unit_price, Some(order_map::amount(price_1)));
    let shipping = row.shipping_address.as_ref().expect("address");
    assert_eq!((shipping.city.as_deref(), shipping.country.as_deref()), (Some("Arlington"), Some("US")));
    assert_eq!(shipping.email.as_deref(), Some("grace@example.com"));
    assert!(row.submitted_at.is_some() && row.source_modified_at.is_some());

    // The body SAP got: the reference as code, the buyer by email, each line's product and catalog version.
    let post = store.sim.calls().into_iter().find(|c| c.method == "POST" && c.path == ORDERS_PATH).expect("POST");
    let body: serde_json::Value = serde_json::from_str(&post.body).expect("body");
    assert_eq!(body["code"], "PARTNER-1");
    assert_eq!(body["user"]["uid"], "grace@example.com");
    assert_eq!(body["entries"][0]["product"]["code"], "P00001-S");
    assert_eq!(body["entries"][0]["product"]["catalogVersion"]["catalog"]["id"], CATALOG);
    assert_eq!(body["entries"][0]["quantity"], "2");
    assert_eq!(post.auth, "bearer");

    // Found by the reference, and the same row (and hash) a webhook delivery of it maps to.
    let found = connector.find_order(&session, "PARTNER-1").await.expect("find").expect("found");
    assert_eq!(found, created);
    let delivered = store.sim.item(ORDER, "PARTNER-1").expect("item");
    assert_eq!(order_map::order(&delivered).expect("payload"), created);

    // A second create under the same reference never writes over the order.
    let posts = store.sim.count("POST", ORDERS_PATH);
    let again = connector.create_order(&session, &store.credentials, &placing).await;
    assert!(matches!(again, Err(ConnectorError::OrderRefused { reason: OrderRefusal::Other, .. })), "{again:?}");
    assert_eq!(store.sim.count("POST", ORDERS_PATH), posts);

    // Cancelling is not offered through SAP's Integration API.
    let cancelled = connector.cancel_order(&session, "PARTNER-1").await;
    assert!(matches!(cancelled, Err(ConnectorError::Unsupported(_))), "{cancelled:?}");
}

#[tokio::test]
async fn unknown_skus_are_refused_before_anything_is_written() {
    let store = store(SimOptions::default()).await;
    let connector = connector(Duration::from_secs(10));
    let session = session(&connector, &store).await;
    let to = address();
    let (no_product, no_sku, product) = (key("P99999"), key("P00001-XXL"), key("P00001"));
    for (sku, product) in [(&no_product, &no_product), (&no_sku, &product)] {
        let lines = vec![OrderLine { sku_id: sku, product_id: product, quantity: 1 }];
        let result = connector.create_order(&session, &store.credentials, &new_order("PARTNER-2", lines, &to)).await;
        assert!(
            matches!(result, Err(ConnectorError::OrderRefused { reason: OrderRefusal::UnknownSku, .. })),
            "{result:?}"
        );
    }
    assert_eq!(store.sim.count("POST", ORDERS_PATH), 0);
}

#[tokio::test]
async fn an_interrupted_post_has_an_unknown_outcome_that_find_resolves() {
    let store = store(SimOptions::default()).await;
    let connector = connector(Duration::from_millis(700));
    let session = session(&connector, &store).await;
    // The store creates the order, but answers after the client gave up.
    store.sim.inject(Fault::new(Some("POST"), ORDERS_PATH, FaultKind::Delay(Duration::from_millis(1500))).times(1));
    let to = address();
    let (sku, product) = (key("P00003-S"), key("P00003"));
    let lines = vec![OrderLine { sku_id: &sku, product_id: &product, quantity: 1 }];
    let result = connector.create_order(&session, &store.credentials, &new_order("PARTNER-3", lines, &to)).await;
    let error = result.expect_err("timed out");
    assert!(error.outcome_unknown(), "{error:?}");
    assert_eq!(store.sim.count("POST", ORDERS_PATH), 1, "the POST is never retried inside");
    let mut found = None;
    for _ in 0..30 {
        found = connector.find_order(&session, "PARTNER-3").await.expect("find");
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = found.expect("the order the interrupted POST created");
    assert_eq!(found.row.lines[0].variant_id.as_deref(), Some(sku.as_str()));
}

#[tokio::test]
async fn a_store_without_the_order_object_cannot_take_orders() {
    let options = SimOptions { hidden_objects: vec![ORDER.to_owned()], ..SimOptions::default() };
    let store = store(options).await;
    let connector = connector(Duration::from_secs(10));
    let session = session(&connector, &store).await;
    let to = address();
    let (sku, product) = (key("P00001-S"), key("P00001"));
    let lines = vec![OrderLine { sku_id: &sku, product_id: &product, quantity: 1 }];
    let result = connector.create_order(&session, &store.credentials, &new_order("PARTNER-4", lines, &to)).await;
    assert!(matches!(result, Err(ConnectorError::Unsupported(_))), "{result:?}");
    assert!(connector.find_order(&session, "PARTNER-4").await.expect("find").is_none());
}
