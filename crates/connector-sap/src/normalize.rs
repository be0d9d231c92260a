//! SAP Integration API items (OData v2 verbose JSON read by `odata`: expanded navigation properties
//! as `{"results": [...]}` or an object, `/Date(ms)/`, numbers as strings) -> Storelink's normalized
//! rows, each with a content hash of what is stored. The `integrationKey` is the platform id of
//! products, variants, stock levels' products, delivery modes and orders (docs/sap.md, "For the
//! connector"). Each item is read into a typed struct of the attributes the mapping uses (the ImpEx's,
//! `validate::mapped`); the rest of the item is skipped. Lenient like OCC's: a missing optional
//! attribute becomes NULL; a missing key, or an item not of the shape below, drops the item.

use serde::Deserialize;
use serde_json::{Map, Value};
use storelink_model::records::{Hashed, InventoryRow, ProductRow, ShippingRow, SkuRow, hashed};
use storelink_model::views::{Price, ShippingRate};

use crate::odata::{Code, Flag, Many, Text};

/// A `Product` of the product object, with the navigation properties `sync::Object::expand` inlines.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product<'a> {
    #[serde(borrow, default)]
    integration_key: Text<'a>,
    #[serde(borrow, default)]
    code: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    description: Text<'a>,
    /// An enum code (`approved`, `check`, `unapproved`), as text or as an `ArticleApprovalStatus`.
    #[serde(borrow, default)]
    approval_status: Code<'a>,
    #[serde(rename = "europe1Prices", borrow, default)]
    prices: Many<PriceRow<'a>>,
    #[serde(borrow, default)]
    variants: Many<Variant<'a>>,
    #[serde(borrow, default)]
    picture: Option<Media<'a>>,
    #[serde(borrow, default)]
    normal: Many<Media<'a>>,
    #[serde(borrow, default)]
    supercategories: Many<Category<'a>>,
    #[serde(borrow, default)]
    modifiedtime: Text<'a>,
}

/// A `VariantProduct` inlined in its base product's `variants`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variant<'a> {
    #[serde(borrow, default)]
    integration_key: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(rename = "europe1Prices", borrow, default)]
    prices: Many<PriceRow<'a>>,
    #[serde(borrow, default)]
    supercategories: Many<Category<'a>>,
}

#[derive(Clone, Debug, Deserialize)]
struct PriceRow<'a> {
    #[serde(borrow, default)]
    minqtd: Text<'a>,
    #[serde(borrow, default)]
    price: Text<'a>,
}

#[derive(Debug, Deserialize)]
struct Media<'a> {
    #[serde(rename = "URL", borrow, default)]
    url: Text<'a>,
}

#[derive(Clone, Debug, Deserialize)]
struct Category<'a> {
    #[serde(borrow, default)]
    code: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
}

/// A `StockLevel` of the stock object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLevel<'a> {
    #[serde(borrow, default)]
    product_code: Text<'a>,
    #[serde(borrow, default)]
    available: Text<'a>,
    #[serde(borrow, default)]
    reserved: Text<'a>,
    #[serde(borrow, default)]
    warehouse: Code<'a>,
    #[serde(borrow, default)]
    in_stock_status: Code<'a>,
}

/// A `ZoneDeliveryMode` of the delivery mode object, with its values.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMode<'a> {
    #[serde(borrow, default)]
    integration_key: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(default)]
    active: Flag,
    #[serde(borrow, default)]
    values: Many<DeliveryModeValue<'a>>,
}

#[derive(Debug, Deserialize)]
struct DeliveryModeValue<'a> {
    #[serde(borrow, default)]
    minimum: Text<'a>,
    #[serde(borrow, default)]
    value: Text<'a>,
    #[serde(borrow, default)]
    currency: Code<'a>,
}

/// Where the store's media are served: `Media.URL` is relative to the API host (`/medias/...`) [A].
#[derive(Clone, Copy, Debug)]
pub struct Store<'a> {
    pub base_url: &'a str,
}

impl Store<'_> {
    fn absolute(&self, url: String) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            return url;
        }
        format!("{}/{}", self.base_url.trim_end_matches('/'), url.trim_start_matches('/'))
    }
}

/// The price of a product or variant: its `PriceRow` for one item (`minqtd` 1, or the smallest), as
/// docs/sap.md's "Prices" choice says.
fn price(rows: &Many<PriceRow>) -> Option<f64> {
    rows.0
        .iter()
        .min_by_key(|row| row.minqtd.number().map_or(i64::MAX, |q| q as i64))
        .and_then(|row| row.price.number())
}

/// A product (the `Products` root) and its variants as SKUs. A product without variants is sold
/// as itself: one SKU with the product's key.
pub fn product(p: &Product, store: Store<'_>) -> Option<(Hashed<ProductRow>, Vec<Hashed<SkuRow>>)> {
    let product_id = p.integration_key.filled()?;
    // `approvalStatus` absent: sold [A].
    let active = p.approval_status.0.get().is_none_or(|s| s.eq_ignore_ascii_case("approved"));
    let list_price = price(&p.prices);
    let skus = if p.variants.0.is_empty() {
        let own = Variant {
            integration_key: p.integration_key.clone(),
            name: p.name.clone(),
            prices: p.prices.clone(),
            supercategories: p.supercategories.clone(),
        };
        sku(&own, &product_id, active, list_price).into_iter().collect()
    } else {
        p.variants.0.iter().filter_map(|s| sku(s, &product_id, active, list_price)).collect()
    };
    let url = |m: &Media| m.url.filled();
    let image = p.picture.as_ref().and_then(url).or_else(|| p.normal.0.first().and_then(url));
    let row = ProductRow {
        display_name: p.name.owned(),
        description: p.description.owned(),
        brand: None,
        active,
        list_price,
        sale_price: None,
        image_url: image.map(|u| store.absolute(u)),
        route: None,
        category_ids: p.supercategories.0.iter().filter_map(|c| c.code.owned()).collect(),
        source_modified_at: p.modifiedtime.time(),
        product_id,
        site_id: String::new(),
    };
    Some((hashed(row), skus))
}

/// A variant: its option values are its variant value categories, named `<option>-<value>`
/// (`size-M`), the category's name the value [A: generic variants, docs/sap.md].
fn sku(v: &Variant, product_id: &str, active: bool, product_price: Option<f64>) -> Option<Hashed<SkuRow>> {
    let attributes: Map<String, Value> = v
        .supercategories
        .0
        .iter()
        .filter_map(|c| {
            let (option, value) = c.code.get()?.split_once('-')?;
            Some((option.to_owned(), Value::from(c.name.owned().unwrap_or_else(|| value.to_owned()))))
        })
        .collect();
    Some(hashed(SkuRow {
        sku_id: v.integration_key.filled()?,
        product_id: product_id.to_owned(),
        display_name: v.name.owned(),
        active,
        list_price: price(&v.prices).or(product_price),
        sale_price: None,
        attributes: Value::Object(attributes),
        site_id: String::new(),
    }))
}

/// How the catalog version Storelink reads builds a product's integrationKey from its code, learnt
/// from one product's key and code (`Online|<catalog>|P1` and `P1`): SAP joins the unique attributes
/// with `|` in an order Storelink does not assume [A].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductKeys {
    before: String,
    after: String,
}

impl ProductKeys {
    pub fn learn(product: &Product) -> Option<Self> {
        let (key, code) = (product.integration_key.get().filter(|k| !k.is_empty())?, product.code.get()?);
        let at = key.rfind(code)?;
        Some(Self { before: key[..at].to_owned(), after: key[at + code.len()..].to_owned() })
    }

    pub fn key(&self, code: &str) -> String {
        format!("{}{code}{}", self.before, self.after)
    }

    /// The code in a product key built this way.
    pub fn code<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.before.as_str())?.strip_suffix(self.after.as_str())
    }
}

/// A `StockLevel`: stock per product code and warehouse. Its SKU id is the stocked product's
/// integrationKey (a stock level names the product by code only, so `keys` builds it), and the
/// stocked product stands as its own product id (SAP's stock has no parent product). Sellable stock
/// is `available` less `reserved` [A].
pub fn stock_level(s: &StockLevel, keys: Option<&ProductKeys>) -> Option<Hashed<InventoryRow>> {
    let code = s.product_code.get()?;
    let sku_id = keys.map_or_else(|| code.to_owned(), |k| k.key(code));
    let available = s.available.number().unwrap_or(0.0) as i64;
    let reserved = s.reserved.number().unwrap_or(0.0) as i64;
    Some(hashed(InventoryRow {
        product_id: sku_id.clone(),
        sku_id,
        location_id: s.warehouse.owned().unwrap_or_default(),
        stock_level: available - reserved,
        availability: s.in_stock_status.owned(),
        site_id: String::new(),
    }))
}

/// A `ZoneDeliveryMode` with its `ZoneDeliveryModeValue`s as rates: the value applies from the
/// order amount `minimum` in its currency (SAP's zone delivery mode values) [H4 contents] [A].
pub fn delivery_mode(m: &DeliveryMode) -> Option<Hashed<ShippingRow>> {
    let mut rates: Vec<ShippingRate> = m
        .values
        .0
        .iter()
        .filter_map(|r| {
            Some(ShippingRate {
                min_order_amount: r.minimum.decimal(),
                max_order_amount: None,
                price: Price { amount: r.value.decimal()?, currency: r.currency.owned() },
            })
        })
        .collect();
    rates.sort_by(|a, b| {
        let order = |r: &ShippingRate| r.min_order_amount.as_deref().and_then(|m| m.parse::<f64>().ok()).unwrap_or(0.0);
        order(a).total_cmp(&order(b)).then_with(|| a.price.currency.cmp(&b.price.currency))
    });
    Some(hashed(ShippingRow {
        method_id: m.integration_key.filled()?,
        display_name: m.name.owned(),
        enabled: m.active.0.unwrap_or(true),
        calculator: None,
        rates,
        site_id: String::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<'a, T: Deserialize<'a>>(json: &'a str) -> T {
        serde_json::from_str(json).expect("reads")
    }

    #[test]
    fn a_product_without_variants_is_its_own_sku() {
        let p: Product = read(
            r#"{"integrationKey": "Online|cat|P1", "name": "P", "approvalStatus": "approved",
            "europe1Prices": {"results": [{"minqtd": "5", "price": "8.0"}, {"minqtd": "1", "price": "10.5"}]},
            "variants": {"results": []}, "picture": {"URL": "/medias/p.jpg"}}"#,
        );
        let (row, skus) = product(&p, Store { base_url: "https://api.example.com/" }).expect("product");
        assert_eq!(row.row.list_price, Some(10.5));
        assert_eq!(row.row.image_url.as_deref(), Some("https://api.example.com/medias/p.jpg"));
        assert_eq!(skus.len(), 1);
        assert_eq!((skus[0].row.sku_id.as_str(), skus[0].row.list_price), ("Online|cat|P1", Some(10.5)));
    }

    #[test]
    fn a_product_reads_its_variants_enum_references_and_deferred_links() {
        let p: Product = read(
            r#"{"__metadata": {"uri": "u", "type": "HybrisCommerceOData.Product"}, "integrationKey": "Online|cat|P2",
            "code": "P2", "approvalStatus": {"__metadata": {}, "code": "unapproved"}, "modifiedtime": "/Date(1764561600000)/",
            "picture": {"__deferred": {"uri": "u"}}, "normal": {"results": [{"URL": "https://cdn.example.com/n.jpg"}]},
            "supercategories": {"results": [{"code": "shoes", "name": "Shoes"}]},
            "variants": {"results": [{"integrationKey": "Online|cat|P2-M", "name": "M",
                "europe1Prices": {"results": [{"minqtd": 1, "price": 12}]},
                "supercategories": {"results": [{"code": "size-M", "name": null}, {"code": "plain"}]}}]}}"#,
        );
        let (row, skus) = product(&p, Store { base_url: "https://api.example.com" }).expect("product");
        assert!(!row.row.active);
        assert_eq!(row.row.image_url.as_deref(), Some("https://cdn.example.com/n.jpg"));
        assert_eq!(row.row.category_ids, ["shoes"]);
        assert_eq!(row.row.source_modified_at.map(|t| t.timestamp_millis()), Some(1_764_561_600_000));
        assert_eq!(skus.len(), 1);
        assert_eq!(skus[0].row.attributes, serde_json::json!({"size": "M"}));
        assert_eq!(skus[0].row.list_price, Some(12.0));
        assert_eq!(ProductKeys::learn(&p).map(|k| k.key("P9")).as_deref(), Some("Online|cat|P9"));
        let keyless: Product = read(r#"{"integrationKey": "", "name": "x"}"#);
        assert!(product(&keyless, Store { base_url: "https://api.example.com" }).is_none());
    }

    #[test]
    fn stock_levels_and_delivery_modes_are_read() {
        let s: StockLevel = read(
            r#"{"productCode": "P1", "available": "10", "reserved": "3", "warehouse": {"code": "w1"},
            "inStockStatus": {"code": "notSpecified"}}"#,
        );
        let keys = ProductKeys { before: "Online|cat|".into(), after: String::new() };
        let row = stock_level(&s, Some(&keys)).expect("stock").row;
        assert_eq!((row.sku_id.as_str(), row.stock_level, row.location_id.as_str()), ("Online|cat|P1", 7, "w1"));
        assert_eq!(row.availability.as_deref(), Some("notSpecified"));
        let m: DeliveryMode = read(
            r#"{"integrationKey": "standard", "name": "Standard", "active": false, "values": {"results": [
            {"minimum": "50", "value": "0", "currency": {"isocode": "USD"}}, {"minimum": "0.0", "value": "5.99", "currency": {"isocode": "USD"}}]}}"#,
        );
        let row = delivery_mode(&m).expect("mode").row;
        assert!(!row.enabled);
        let rates: Vec<_> =
            row.rates.iter().map(|r| (r.min_order_amount.as_deref(), r.price.amount.as_str())).collect();
        assert_eq!(rates, [(Some("0"), "5.99"), (Some("50"), "0")]);
    }
}
