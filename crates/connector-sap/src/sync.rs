//! Lists and point reads over OData v2 (docs/sap.md, "For the connector > Sync"): `$top`/`$skip`
//! paging with `$inlinecount=allpages`, a stable `$orderby`, `$expand` of the nested items each object
//! maps, and incremental runs through `$filter=modifiedtime gt datetime'...'`; mapped into Storelink's
//! records by `normalize`. SAP has no sites: `PageRequest::site` is always `None` and ignored.

use serde_json::Value;
use serde_json::value::RawValue;
use storelink_connector::{ConnectorError, Page, PageRequest, Records, Session, SiteScope};
use storelink_core::SyncKind;
use url::Url;

use crate::client::{Call, DOCUMENT_LIMIT, PAGE_LIMIT, SapClient};
use crate::credentials::Objects;
use crate::normalize::{self, ProductKeys, Store};
use crate::odata::{self, Listing};
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
    pub(crate) fn expand(self) -> &'static str {
        match self {
            // Only what `normalize` maps: a price row's currency and the catalog version are left as
            // links (the run filters on the version; the mapping reads neither), a quarter of a page.
            Object::Product => {
                "europe1Prices,picture,normal,supercategories,variants/europe1Prices,variants/supercategories"
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
pub(crate) fn entity(set: &str, key: &str) -> String {
    format!("{set}('{}')", encode(&key.replace('\'', "''")))
}

/// A GET of an OData JSON answer: its body, read by `odata`.
async fn get(client: &SapClient, session: &Session, url: Url, limit: usize) -> Result<Vec<u8>, ConnectorError> {
    Ok(client.send(Call::get(url, &crate::bound::open(session).authorization, limit)).await?.body)
}

/// One list page's body: `$skip` is the run's cursor, `$top` the page size (at most 1,000).
async fn page(
    client: &SapClient,
    session: &Session,
    object: Object,
    page: &PageRequest<'_>,
) -> Result<Vec<u8>, ConnectorError> {
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
    let url =
        service_url(&session.store, object.code(&crate::bound::open(session).objects), object.root_set(), &query)?;
    match get(client, session, url, PAGE_LIMIT).await {
        // A service that cannot filter on `modifiedtime` answers 400: the run goes on in full.
        Err(ConnectorError::Refused { message }) if since.is_some() => Err(ConnectorError::FilterRefused { message }),
        other => other,
    }
}

/// How product keys are built from codes, learnt from one product of the catalog version read;
/// `None` when it has no product.
async fn product_keys(client: &SapClient, session: &Session) -> Result<Option<ProductKeys>, ConnectorError> {
    let scope = Object::Product.scope().unwrap_or_default();
    let query = [("$top", "1"), ("$filter", scope.as_str())];
    let url =
        service_url(&session.store, Object::Product.code(&crate::bound::open(session).objects), "Products", &query)?;
    let body = get(client, session, url, DOCUMENT_LIMIT).await?;
    let listing = Listing::parse(&body, "Products")?;
    Ok(listing.items.first().and_then(|raw| odata::item(raw)).and_then(|p| ProductKeys::learn(&p)))
}

pub async fn list(client: &SapClient, session: &Session, request: PageRequest<'_>) -> Result<Page, ConnectorError> {
    let object = Object::of(request.kind);
    let (body, keys) = if object == Object::Stock {
        let (listed, keys) = futures::join!(page(client, session, object, &request), product_keys(client, session));
        (listed?, keys?)
    } else {
        match page(client, session, object, &request).await {
            Ok(body) => (body, None),
            // The order object is optional (a store without it takes no partner orders): no orders to
            // read. Orders are never swept, so an empty run deletes nothing.
            Err(ConnectorError::NotFound { .. }) if object == Object::Order => {
                return Ok(Page { records: Records::Orders(Vec::new()), items: 0, total: Some(0), last: true });
            }
            Err(e) => return Err(e),
        }
    };
    let (store, top, offset) = (session.store.as_str().to_owned(), request.limit.clamp(1, MAX_TOP), request.offset);
    Page::read_off_thread(object.root_set(), move || {
        let listing = Listing::parse(&body, object.root_set())?;
        let read = offset + listing.items.len() as u64;
        let last = listing.items.len() < top as usize || listing.total.is_some_and(|total| read >= total);
        let records = records(object, &listing.items, &store, keys.as_ref());
        Ok(Page { records, items: listing.items.len() as u64, total: listing.total, last })
    })
    .await
}

/// Maps the items of a page, leaving out each item that does not map (no key, or not an item of
/// the object's shape), as OCC's are. Media URLs are made absolute on `store`.
fn records(object: Object, items: &[&RawValue], store: &str, keys: Option<&ProductKeys>) -> Records {
    match object {
        Object::Product => {
            let store = Store { base_url: store };
            let (products, skus): (Vec<_>, Vec<_>) =
                items.iter().filter_map(|raw| normalize::product(&odata::item(raw)?, store)).unzip();
            Records::Catalog(products, skus.into_iter().flatten().collect())
        }
        Object::Stock => Records::Inventory(
            items.iter().filter_map(|raw| normalize::stock_level(&odata::item(raw)?, keys)).collect(),
        ),
        Object::DeliveryMode => {
            Records::Shipping(items.iter().filter_map(|raw| normalize::delivery_mode(&odata::item(raw)?)).collect())
        }
        // Orders are read as `Value`s: the mapping is shared with webhook payloads (`order_map`).
        Object::Order => Records::Orders(
            items
                .iter()
                .filter_map(|raw| order_map::order(&serde_json::from_str::<Value>(raw.get()).ok()?).ok())
                .collect(),
        ),
    }
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
    let objects = crate::bound::open(session).objects;
    match Object::of(kind) {
        Object::Product => {
            let query = [("$expand", Object::Product.expand())];
            let url = service_url(&session.store, Object::Product.code(&objects), &entity("Products", id), &query)?;
            let body = get(client, session, url, DOCUMENT_LIMIT).await?;
            Ok(records(Object::Product, &[odata::single(&body, "Products")?], session.store.as_str(), None))
        }
        Object::Stock => {
            let keys = product_keys(client, session).await?;
            let code = keys.as_ref().and_then(|k| k.code(id)).unwrap_or(id);
            let filter = format!("productCode eq '{}'", code.replace('\'', "''"));
            let query = [("$top", "1000"), ("$filter", filter.as_str()), ("$expand", Object::Stock.expand())];
            let url = service_url(&session.store, Object::Stock.code(&objects), "StockLevels", &query)?;
            let body = get(client, session, url, PAGE_LIMIT).await?;
            let levels = Listing::parse(&body, "StockLevels")?.items;
            if levels.is_empty() {
                return Err(ConnectorError::NotFound { what: format!("stock of {id}") });
            }
            Ok(records(Object::Stock, &levels, session.store.as_str(), keys.as_ref()))
        }
        Object::DeliveryMode | Object::Order => Err(ConnectorError::Unsupported("point reads of this kind")),
    }
}
