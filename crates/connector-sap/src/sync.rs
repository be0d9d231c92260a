//! Lists and point reads over OData v2 (docs/sap.md, "For the connector > Sync"): `$top`/`$skip`
//! paging with `$inlinecount=allpages`, a stable `$orderby`, `$expand` of the nested items each object
//! maps, and incremental runs through `$filter=modifiedtime gt datetime'...'`; mapped into Storelink's
//! records by `normalize`. SAP has no sites: `PageRequest::site` is always `None` and ignored.

use serde_json::Value;
use storelink_connector::{ConnectorError, Page, PageRequest, Records, Session, SiteScope};
use storelink_core::SyncKind;
use url::Url;

use crate::client::{Call, DOCUMENT_LIMIT, PAGE_LIMIT, SapClient};
use crate::credentials::Objects;
use crate::normalize::{self, ProductKeys, Store};
use crate::order_map;

/// `odata2services.page.size.max`: a larger `$top` is clamped or refused (docs/sap.md, "Paging").
pub const MAX_TOP: u32 = 1000;
/// The catalog version Storelink reads products from (docs/sap.md, "Choices and assumptions").
pub const CATALOG_VERSION: &str = "Online";

/// The integration objects Storelink reads, by what they hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Object {
    Product,
    Stock,
    DeliveryMode,
    Order,
}

impl Object {
    pub const ALL: [Object; 4] = [Object::Product, Object::Stock, Object::DeliveryMode, Object::Order];

    fn of(kind: SyncKind) -> Self {
        match kind {
            SyncKind::Catalog => Object::Product,
            SyncKind::Inventory => Object::Stock,
            SyncKind::Shipping => Object::DeliveryMode,
            _ => Object::Order,
        }
    }

    /// The merchant's name for the object (`IntegrationObject.code`).
    pub fn code(self, objects: &Objects) -> &str {
        match self {
            Object::Product => &objects.product,
            Object::Stock => &objects.stock,
            Object::DeliveryMode => &objects.delivery_mode,
            Object::Order => &objects.order,
        }
    }

    /// The root item's entity set.
    pub fn root_set(self) -> &'static str {
        match self {
            Object::Product => "Products",
            Object::Stock => "StockLevels",
            Object::DeliveryMode => "ZoneDeliveryModes",
            Object::Order => "Orders",
        }
    }

    /// The navigation paths a list or point read inlines.
    fn expand(self) -> &'static str {
        match self {
            Object::Product => {
                "europe1Prices/currency,picture,normal,supercategories,variants/europe1Prices/currency,\
                 variants/supercategories,catalogVersion/catalog"
            }
            Object::Stock => "warehouse,inStockStatus",
            Object::DeliveryMode => "values/zone,values/currency",
            Object::Order => {
                "status,paymentStatus,deliveryStatus,currency,user,store,deliveryMode,deliveryAddress/country,\
                 paymentAddress/country,entries/product"
            }
        }
    }

    /// A stable order for full runs (`integrationKey` cannot be ordered by).
    fn order_by(self) -> &'static str {
        match self {
            Object::Stock => "productCode",
            _ => "code",
        }
    }

    /// A `$filter` every read of the object carries: products of the catalog version Storelink reads.
    fn scope(self) -> Option<String> {
        (self == Object::Product).then(|| format!("catalogVersion/version eq '{CATALOG_VERSION}'"))
    }
}

/// `{api}/odata2webservices/<object>/<resource>` with `query` (`$`-options), values percent-encoded
/// (spaces as `%20`, which every OData server reads; `+` is not read as a space by all).
pub(crate) fn service_url(
    store: &Url,
    object: &str,
    resource: &str,
    query: &[(&str, &str)],
) -> Result<Url, ConnectorError> {
    let base = store.as_str().trim_end_matches('/');
    let mut url = Url::parse(&format!("{base}/odata2webservices/{}/{resource}", encode(object)))
        .map_err(|e| ConnectorError::Refused { message: format!("the API URL does not form a service URL: {e}") })?;
    if !query.is_empty() {
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        url.set_query(Some(&query.join("&")));
    }
    Ok(url)
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// `Products('<key>')`: an entity's address by integrationKey, quotes doubled (the caller encodes).
fn entity(set: &str, key: &str) -> String {
    format!("{set}('{}')", encode(&key.replace('\'', "''")))
}

/// A GET of an OData JSON answer (`d`).
async fn get(client: &SapClient, session: &Session, url: Url, limit: usize) -> Result<Value, ConnectorError> {
    let what = url.path().to_owned();
    let mut body = client.send(Call::get(url, &session.token, limit)).await?.json(&what)?;
    Ok(body.get_mut("d").map(Value::take).unwrap_or(Value::Null))
}

/// One list page: `$skip` is the run's cursor, `$top` the page size (at most 1,000).
async fn page(
    client: &SapClient,
    session: &Session,
    object: Object,
    page: &PageRequest<'_>,
) -> Result<(Vec<Value>, Option<u64>, bool), ConnectorError> {
    let top = page.limit.clamp(1, MAX_TOP);
    let since = page.since.map(|since| format!("modifiedtime gt datetime'{}'", since.format("%Y-%m-%dT%H:%M:%S%.3f")));
    let filter: Vec<String> = object.scope().into_iter().chain(since.clone()).collect();
    let filter = filter.join(" and ");
    let (top_s, skip_s) = (top.to_string(), page.offset.to_string());
    let mut query = vec![("$top", top_s.as_str()), ("$skip", skip_s.as_str()), ("$inlinecount", "allpages")];
    query.push(("$orderby", if since.is_some() { "modifiedtime" } else { object.order_by() }));
    if !filter.is_empty() {
        query.push(("$filter", filter.as_str()));
    }
    query.push(("$expand", object.expand()));
    let url = service_url(&session.store, object.code(&Objects::default()), object.root_set(), &query)?;
    let mut d = match get(client, session, url, PAGE_LIMIT).await {
        Ok(d) => d,
        // A service that cannot filter on `modifiedtime` answers 400: the run goes on in full.
        Err(ConnectorError::Refused { message }) if since.is_some() => {
            return Err(ConnectorError::FilterRefused { message });
        }
        Err(e) => return Err(e),
    };
    let results = match d.get_mut("results").map(Value::take) {
        Some(Value::Array(results)) => results,
        _ => return Err(ConnectorError::BadReply { what: object.root_set().into(), detail: "no d.results".into() }),
    };
    let total = normalize::number(&d, "__count").map(|n| n as u64);
    let read = page.offset + results.len() as u64;
    let last = results.len() < top as usize || total.is_some_and(|total| read >= total);
    Ok((results, total, last))
}

/// How product keys are built from codes, learnt from one product of the catalog version read;
/// `None` when it has no product.
async fn product_keys(client: &SapClient, session: &Session) -> Result<Option<ProductKeys>, ConnectorError> {
    let scope = Object::Product.scope().unwrap_or_default();
    let query = [("$top", "1"), ("$filter", scope.as_str())];
    let url = service_url(&session.store, Object::Product.code(&Objects::default()), "Products", &query)?;
    let d = get(client, session, url, DOCUMENT_LIMIT).await?;
    Ok(normalize::many(&d, "results").first().and_then(ProductKeys::learn))
}

pub async fn list(client: &SapClient, session: &Session, request: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let object = Object::of(request.kind);
    let ((items, total, last), keys) = if object == Object::Stock {
        let (listed, keys) = futures::join!(page(client, session, object, &request), product_keys(client, session));
        (listed?, keys?)
    } else {
        (page(client, session, object, &request).await?, None)
    };
    let records = records(object, &items, session, keys.as_ref())?;
    Ok(Page { records, items: items.len() as u64, total, last })
}

fn records(
    object: Object,
    items: &[Value],
    session: &Session,
    keys: Option<&ProductKeys>,
) -> Result<Records, ConnectorError> {
    Ok(match object {
        Object::Product => {
            let store = Store { base_url: session.store.as_str() };
            let (products, skus): (Vec<_>, Vec<_>) = items.iter().filter_map(|p| normalize::product(p, store)).unzip();
            Records::Catalog(products, skus.into_iter().flatten().collect())
        }
        Object::Stock => Records::Inventory(items.iter().filter_map(|s| normalize::stock_level(s, keys)).collect()),
        Object::DeliveryMode => Records::Shipping(items.iter().filter_map(normalize::delivery_mode).collect()),
        // An order that does not map (no code) is left out, as OCC's are.
        Object::Order => Records::Orders(items.iter().filter_map(|o| order_map::order(o).ok()).collect()),
    })
}

/// The point read confirming a deletion: the product by its integrationKey, or the stock levels of
/// the product whose key is `id` (`NotFound` when it has none).
pub async fn read(
    client: &SapClient,
    session: &Session,
    kind: SyncKind,
    id: &str,
    _site: Option<SiteScope<'_>>,
) -> Result<Records, ConnectorError> {
    let objects = Objects::default();
    match Object::of(kind) {
        Object::Product => {
            let query = [("$expand", Object::Product.expand())];
            let url = service_url(&session.store, Object::Product.code(&objects), &entity("Products", id), &query)?;
            let product = get(client, session, url, DOCUMENT_LIMIT).await?;
            records(Object::Product, &[product], session, None)
        }
        Object::Stock => {
            let keys = product_keys(client, session).await?;
            let code = keys.as_ref().and_then(|k| k.code(id)).unwrap_or(id);
            let filter = format!("productCode eq '{}'", code.replace('\'', "''"));
            let query = [("$top", "1000"), ("$filter", filter.as_str()), ("$expand", Object::Stock.expand())];
            let url = service_url(&session.store, Object::Stock.code(&objects), "StockLevels", &query)?;
            let d = get(client, session, url, PAGE_LIMIT).await?;
            let levels = normalize::many(&d, "results");
            if levels.is_empty() {
                return Err(ConnectorError::NotFound { what: format!("stock of {id}") });
            }
            records(Object::Stock, levels, session, keys.as_ref())
        }
        Object::DeliveryMode | Object::Order => Err(ConnectorError::Unsupported("point reads of this kind")),
    }
}
